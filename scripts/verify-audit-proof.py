#!/usr/bin/env python3
"""Checks the JSON of `speciosa audit prove` on its own (Python 3 standard library only).

It recomputes the RFC 9162 inclusion path from leaf_hash to root_hash (§2.1.3.2) and
checks that root and tree size against the checkpoint's signed text. It does NOT check
the Ed25519 signature (the standard library has no Ed25519): do that with any signed-note
tool, e.g. golang.org/x/mod/sumdb/note, using checkpoint.note and checkpoint.verifier_key.

Usage: speciosa audit prove --data-dir DIR ID | scripts/verify-audit-proof.py [FILE]
Exit 0 when the proof holds, 1 when it does not.
"""
import base64, hashlib, json, sys

def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()

def root_from_path(index, size, leaf, path):
    if index >= size:
        raise ValueError("leaf index outside the tree")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("proof too short")
    return r

def main():
    doc = json.load(open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin)
    leaf, root = bytes.fromhex(doc["leaf_hash"]), bytes.fromhex(doc["root_hash"])
    path = [bytes.fromhex(h) for h in doc["proof"]]
    computed = root_from_path(doc["leaf_index"], doc["tree_size"], leaf, path)
    lines = doc["checkpoint"]["signed_text"].split("\n")
    signed_size, signed_root = int(lines[1]), base64.b64decode(lines[2])
    checks = {
        "the path leads to root_hash": computed == root,
        "root_hash is the signed root": signed_root == root,
        "tree_size is the signed size": signed_size == doc["tree_size"],
    }
    for name, ok in checks.items():
        print(("ok      " if ok else "FAILED  ") + name)
    print("(the checkpoint's Ed25519 signature is not checked here)")
    return 0 if all(checks.values()) else 1

if __name__ == "__main__":
    sys.exit(main())
