//! Signed checkpoints of the audit log's Merkle tree, in the C2SP formats
//! (`tlog-checkpoint` inside a `signed-note`, <https://c2sp.org/tlog-checkpoint>,
//! <https://c2sp.org/signed-note>), so standard tooling can read them:
//!
//! ```text
//! speciosa/audit/3f2a…            origin: names the log (and its key)
//! 1234                            tree size
//! 9sY…=                           root hash, base64
//! time 2026-12-02T10:00:00Z       extension line: when it was signed
//!
//! — speciosa/audit/3f2a… AbCd…    Ed25519 signature line
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::merkle::TreeHash;

/// The signature type byte for Ed25519 in signed-note key hashes and key encodings.
const ED25519: u8 = 0x01;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error("malformed key: {0}")]
    Key(String),
    #[error("no signature by {0} verifies")]
    BadSignature(String),
}

fn malformed(what: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(what.into())
}

/// What a checkpoint asserts: the log `origin` had `tree_size` leaves with `root_hash` at `time`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: TreeHash,
    pub time: Timestamp,
}

impl Checkpoint {
    /// The note text that is signed, ending in a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root_hash.0),
            self.time
        )
    }

    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("the text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|l| !l.is_empty());
        let origin = origin
            .ok_or_else(|| malformed("no origin line"))?
            .to_owned();
        let tree_size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| malformed("the second line is not a tree size"))?;
        let root = lines
            .next()
            .and_then(|l| BASE64.decode(l).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| malformed("the third line is not a base64 SHA-256 root hash"))?;
        let time = lines
            .find_map(|l| l.strip_prefix("time "))
            .and_then(|t| t.parse::<Timestamp>().ok())
            .ok_or_else(|| malformed("no time line"))?;
        Ok(Checkpoint {
            origin,
            tree_size,
            root_hash: TreeHash(root),
            time,
        })
    }
}

/// The 4-byte key id: the first bytes of SHA-256(name || "\n" || type || public key).
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['+', ' ', '\n']) && !name.chars().any(char::is_whitespace)
}

/// An Ed25519 key that signs notes under a name (the log's origin).
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl NoteSigner {
    /// A signer from a 32-byte secret seed; its name derives from the public key, so a
    /// new key names a new log.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let fingerprint = hex::encode(Sha256::digest(key.verifying_key().as_bytes()));
        NoteSigner {
            name: format!("speciosa/audit/{}", &fingerprint[..16]),
            key,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::new(self.name.clone(), self.key.verifying_key())
    }

    /// The signed note: `text`, a blank line, then this key's signature line.
    pub fn sign(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = key_id(&self.name, &self.key.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        )
    }

    /// The key file's text: `PRIVATE+KEY+<name>+<key id>+<base64(type || seed)>`.
    pub fn to_key_file(&self) -> String {
        let mut encoded = vec![ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}\n",
            self.name,
            hex::encode(key_id(&self.name, &self.key.verifying_key())),
            BASE64.encode(encoded)
        )
    }
}

impl FromStr for NoteSigner {
    type Err = CheckpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || CheckpointError::Key("expected PRIVATE+KEY+name+id+key".into());
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(bad)?;
        let (name, id, key) = split_key(rest).ok_or_else(bad)?;
        let seed: [u8; 32] = key.try_into().map_err(|_| bad())?;
        let key = SigningKey::from_bytes(&seed);
        if hex::encode(key_id(&name, &key.verifying_key())) != id {
            return Err(CheckpointError::Key(
                "its key id does not match the key".into(),
            ));
        }
        Ok(NoteSigner { name, key })
    }
}

/// `name+id+base64(type || key)` → (name, id, key bytes), checking the type byte.
fn split_key(text: &str) -> Option<(String, String, Vec<u8>)> {
    let mut parts = text.splitn(3, '+');
    let (name, id, encoded) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = BASE64.decode(encoded).ok()?;
    let (kind, key) = bytes.split_first()?;
    (*kind == ED25519 && valid_name(name)).then(|| (name.to_owned(), id.to_owned(), key.to_vec()))
}

/// A public key that checks notes signed under its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: String, key: VerifyingKey) -> Self {
        NoteVerifier { name, key }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    /// Checks `note`'s signature by this key; returns the signed text and the signature
    /// (base64, key id included) on success.
    pub fn open<'n>(&self, note: &'n str) -> Result<(&'n str, String), CheckpointError> {
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
        let id = key_id(&self.name, &self.key);
        for line in signatures.lines() {
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(malformed("a signature line does not start with an em dash"));
            };
            let Some((name, encoded)) = rest.split_once(' ') else {
                return Err(malformed("a signature line has no signature"));
            };
            let Ok(blob) = BASE64.decode(encoded) else {
                return Err(malformed("a signature is not base64"));
            };
            if name != self.name || blob.len() != 68 || blob[..4] != id {
                continue;
            }
            let signature = Signature::from_slice(&blob[4..])
                .map_err(|_| malformed("a signature has the wrong length"))?;
            if self.key.verify(text.as_bytes(), &signature).is_ok() {
                return Ok((text, encoded.to_owned()));
            }
        }
        Err(CheckpointError::BadSignature(self.name.clone()))
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut encoded = vec![ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &self.key)),
            BASE64.encode(encoded)
        )
    }
}

impl FromStr for NoteVerifier {
    type Err = CheckpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || CheckpointError::Key("expected name+id+base64 key".into());
        let (name, id, key) = split_key(text.trim()).ok_or_else(bad)?;
        let key: [u8; 32] = key.try_into().map_err(|_| bad())?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
        if hex::encode(key_id(&name, &key)) != id {
            return Err(CheckpointError::Key(
                "its key id does not match the key".into(),
            ));
        }
        Ok(NoteVerifier { name, key })
    }
}

/// Splits a checkpoint file into its signed notes. Each record is a signed note
/// followed by one blank line.
pub fn split_checkpoint_log(text: &str) -> Result<Vec<String>, CheckpointError> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut in_signatures = false;
    for line in text.split_inclusive('\n') {
        let blank = line == "\n";
        match (in_signatures, blank) {
            (false, true) if current.is_empty() => {
                return Err(malformed("a record starts with a blank line"));
            }
            (false, true) => in_signatures = true,
            (true, true) => {
                notes.push(std::mem::take(&mut current));
                in_signatures = false;
                continue;
            }
            (true, false) if !line.starts_with(SIGNATURE_PREFIX) => {
                return Err(malformed("a line after the signatures is not a signature"));
            }
            _ => {}
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        if !in_signatures || !current.ends_with('\n') {
            return Err(malformed("the last record is cut short"));
        }
        notes.push(current);
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::from_seed([7; 32])
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: signer().name().to_owned(),
            tree_size: 12,
            root_hash: crate::merkle::leaf_hash(b"x"),
            time: "2026-12-02T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_checkpoint_body_has_origin_size_base64_root_and_time() {
        let body = checkpoint().body();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines[0], signer().name());
        assert_eq!(lines[1], "12");
        assert_eq!(BASE64.decode(lines[2]).unwrap().len(), 32);
        assert_eq!(lines[3], "time 2026-12-02T10:00:00Z");
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), checkpoint());
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_and_not_after_any_edit() {
        let note = signer().sign(&checkpoint().body());
        let verifier = signer().verifier();
        let (text, _) = verifier.open(&note).unwrap();
        assert_eq!(text, checkpoint().body());
        let edited = note.replacen("\n12\n", "\n13\n", 1);
        assert_eq!(
            verifier.open(&edited),
            Err(CheckpointError::BadSignature(verifier.name().to_owned()))
        );
        let other = NoteSigner::from_seed([8; 32]).verifier();
        assert!(other.open(&note).is_err());
    }

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let signer = signer();
        let reread: NoteSigner = signer.to_key_file().parse().unwrap();
        assert_eq!(reread.verifier(), signer.verifier());
        let verifier: NoteVerifier = signer.verifier().to_string().parse().unwrap();
        assert_eq!(verifier, signer.verifier());
        assert!("PRIVATE+KEY+x+00000000+AQ==".parse::<NoteSigner>().is_err());
        let mut tampered = signer.verifier().to_string();
        tampered.replace_range(..1, "t");
        assert!(tampered.parse::<NoteVerifier>().is_err());
    }

    #[test]
    fn the_signature_line_follows_the_signed_note_format() {
        let note = signer().sign("a\n");
        let (text, signatures) = note.split_once("\n\n").unwrap();
        assert_eq!(text, "a");
        let line = signatures.strip_suffix('\n').unwrap();
        let rest = line.strip_prefix("\u{2014} ").unwrap();
        let (name, blob) = rest.split_once(' ').unwrap();
        assert_eq!(name, signer().name());
        assert_eq!(BASE64.decode(blob).unwrap().len(), 4 + 64);
    }

    #[test]
    fn a_checkpoint_log_splits_into_its_notes_and_refuses_a_cut_record() {
        let a = signer().sign(&checkpoint().body());
        let b = signer().sign(
            &Checkpoint {
                tree_size: 20,
                ..checkpoint()
            }
            .body(),
        );
        let log = format!("{a}\n{b}\n");
        assert_eq!(split_checkpoint_log(&log).unwrap(), vec![a.clone(), b]);
        assert_eq!(split_checkpoint_log("").unwrap(), Vec::<String>::new());
        assert!(split_checkpoint_log(&a[..a.len() - 10]).is_err());
    }
}
