//! Merkle tree hashing as RFC 9162 §2.1 specifies (the Certificate Transparency
//! tree): leaves are `SHA-256(0x00 || data)`, interior nodes `SHA-256(0x01 || left ||
//! right)`, and a tree of `n` leaves splits at the largest power of two below `n`.
//!
//! Stored trees keep their *perfect subtrees* (aligned blocks of `2^level` leaves), so
//! any root or proof is a fold over a few stored hashes; [`Frontier`] builds them as
//! leaves arrive.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 tree hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeHash(pub [u8; 32]);

impl TreeHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hash in hex: {0:?}")]
pub struct BadHash(pub String);

impl FromStr for TreeHash {
    type Err = BadHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| BadHash(s.to_owned()))?;
        Ok(TreeHash(bytes))
    }
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> TreeHash {
    TreeHash(Sha256::digest([]).into())
}

pub fn leaf_hash(data: &[u8]) -> TreeHash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    TreeHash(hasher.finalize().into())
}

pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    TreeHash(hasher.finalize().into())
}

/// An aligned block of `2^level` leaves starting at leaf `index << level`; level 0 is a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    pub level: u32,
    pub index: u64,
}

impl Subtree {
    pub fn leaves(&self) -> Range<u64> {
        let start = self.index << self.level;
        start..start + (1 << self.level)
    }
}

/// The largest power of two strictly below `n` (`n` ≥ 2): RFC 9162's split point.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees whose right fold is `MTH(D[range])`, largest first. The range
/// must be one the RFC's recursion visits (its start a multiple of a power of two at
/// least its length), which holds for `0..n` and for every range in a proof.
pub fn range_subtrees(range: Range<u64>) -> Vec<Subtree> {
    let mut subtrees = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let len = range.end - start;
        let level = 63 - len.leading_zeros();
        subtrees.push(Subtree {
            level,
            index: start >> level,
        });
        start += 1 << level;
    }
    subtrees
}

/// Folds perfect subtree hashes (largest first, as [`range_subtrees`] lists them) into
/// the range's root: `H(a, H(b, c))`.
pub fn fold_subtrees(hashes: &[TreeHash]) -> TreeHash {
    match hashes.split_last() {
        None => empty_root(),
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |right, left| node_hash(left, &right)),
    }
}

/// The ranges whose roots form the RFC 9162 §2.1.3.1 inclusion path of leaf `index`
/// in a tree of `size` leaves, from the leaf upwards.
pub fn inclusion_path_ranges(index: u64, size: u64) -> Vec<Range<u64>> {
    assert!(index < size, "leaf {index} is outside a tree of {size}");
    let mut path = Vec::new();
    // Walk down from the root, collecting the sibling ranges, then reverse.
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            path.push(start + k..end);
            end = start + k;
        } else {
            path.push(start..start + k);
            start += k;
        }
    }
    path.reverse();
    path
}

/// RFC 9162 §2.1.3.2: does `proof` lead from `leaf` at `index` to `root` of a tree of `size`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &TreeHash,
    proof: &[TreeHash],
    root: &TreeHash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// `MTH` of a whole list of leaf hashes, straight from the RFC's definition; for tests
/// and small trees.
pub fn root_of(leaves: &[TreeHash]) -> TreeHash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The right edge of a growing tree: the perfect subtrees covering leaves `0..size`,
/// largest first. Pushing a leaf completes zero or more interior nodes, which the
/// caller stores; the root needs only the frontier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<TreeHash>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree of {size} leaves has {expected} perfect subtrees, not {given}")]
pub struct FrontierMismatch {
    pub size: u64,
    pub expected: usize,
    pub given: usize,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes from stored hashes of `range_subtrees(0..size)`, in that order.
    pub fn resume(size: u64, subtrees: Vec<TreeHash>) -> Result<Self, FrontierMismatch> {
        let expected = size.count_ones() as usize;
        if subtrees.len() != expected {
            return Err(FrontierMismatch {
                size,
                expected,
                given: subtrees.len(),
            });
        }
        Ok(Self { size, subtrees })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns the interior nodes it completed, lowest first.
    pub fn push(&mut self, leaf: TreeHash) -> Vec<(Subtree, TreeHash)> {
        let index = self.size;
        self.subtrees.push(leaf);
        self.size += 1;
        let mut completed = Vec::new();
        let mut level = 0;
        // Each trailing one bit of the old size is a perfect subtree the new leaf pairs with.
        while (index >> level) & 1 == 1 {
            let right = self
                .subtrees
                .pop()
                .expect("the frontier holds the right sibling");
            let left = self
                .subtrees
                .pop()
                .expect("the frontier holds the left sibling");
            let parent = node_hash(&left, &right);
            level += 1;
            completed.push((
                Subtree {
                    level,
                    index: index >> level,
                },
                parent,
            ));
            self.subtrees.push(parent);
        }
        completed
    }

    pub fn root(&self) -> TreeHash {
        fold_subtrees(&self.subtrees)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaf inputs of the Certificate Transparency reference tests (RFC 6962's
    /// hashing, which RFC 9162 keeps).
    fn ct_leaves() -> Vec<TreeHash> {
        [
            &b""[..],
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ]
        .iter()
        .map(|data| leaf_hash(data))
        .collect()
    }

    /// Roots for the first 1..=8 of those leaves, as published with the reference tests.
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn hash(hex: &str) -> TreeHash {
        hex.parse().unwrap()
    }

    #[test]
    fn the_empty_tree_hashes_to_sha256_of_nothing() {
        assert_eq!(
            empty_root(),
            hash("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn roots_match_the_certificate_transparency_reference_vectors() {
        let leaves = ct_leaves();
        for (n, expected) in CT_ROOTS.iter().enumerate() {
            assert_eq!(root_of(&leaves[..=n]), hash(expected), "size {}", n + 1);
        }
    }

    #[test]
    fn a_three_leaf_root_is_the_pair_then_the_lone_leaf() {
        let leaves = ct_leaves();
        let by_hand = node_hash(&node_hash(&leaves[0], &leaves[1]), &leaves[2]);
        assert_eq!(root_of(&leaves[..3]), by_hand);
    }

    #[test]
    fn the_frontier_reaches_every_reference_root_and_completes_each_node_once() {
        let leaves = ct_leaves();
        let mut frontier = Frontier::new();
        let mut nodes = Vec::new();
        for (n, leaf) in leaves.iter().enumerate() {
            nodes.extend(frontier.push(*leaf));
            assert_eq!(frontier.root(), hash(CT_ROOTS[n]), "size {}", n + 1);
        }
        // 8 leaves: 4 + 2 + 1 interior nodes, the last being the root.
        assert_eq!(nodes.len(), 7);
        assert_eq!(nodes.last().unwrap().0, Subtree { level: 3, index: 0 });
        assert_eq!(nodes.last().unwrap().1, hash(CT_ROOTS[7]));
        let pair = nodes
            .iter()
            .find(|(s, _)| *s == Subtree { level: 1, index: 2 })
            .unwrap();
        assert_eq!(pair.1, node_hash(&leaves[4], &leaves[5]));
    }

    #[test]
    fn a_resumed_frontier_continues_where_the_stored_one_stopped() {
        let leaves = ct_leaves();
        let mut whole = Frontier::new();
        for leaf in &leaves[..6] {
            whole.push(*leaf);
        }
        // 6 = 4 + 2: the first four leaves' root and the pair 4..6.
        let stored = vec![root_of(&leaves[..4]), root_of(&leaves[4..6])];
        let mut resumed = Frontier::resume(6, stored).unwrap();
        for leaf in &leaves[6..] {
            resumed.push(*leaf);
        }
        assert_eq!(resumed.root(), hash(CT_ROOTS[7]));
        assert!(Frontier::resume(6, vec![leaves[0]]).is_err());
    }

    #[test]
    fn a_range_decomposes_into_aligned_perfect_subtrees_largest_first() {
        assert_eq!(
            range_subtrees(0..7),
            vec![
                Subtree { level: 2, index: 0 },
                Subtree { level: 1, index: 2 },
                Subtree { level: 0, index: 6 },
            ]
        );
        assert_eq!(range_subtrees(4..6), vec![Subtree { level: 1, index: 2 }]);
        assert!(range_subtrees(5..5).is_empty());
        let leaves = ct_leaves();
        let hashes: Vec<TreeHash> = range_subtrees(0..7)
            .iter()
            .map(|s| root_of(&leaves[s.leaves().start as usize..s.leaves().end as usize]))
            .collect();
        assert_eq!(fold_subtrees(&hashes), hash(CT_ROOTS[6]));
    }

    fn proof(leaves: &[TreeHash], index: u64) -> Vec<TreeHash> {
        inclusion_path_ranges(index, leaves.len() as u64)
            .into_iter()
            .map(|r| root_of(&leaves[r.start as usize..r.end as usize]))
            .collect()
    }

    #[test]
    fn the_inclusion_path_of_leaf_0_in_8_matches_the_rfcs_example() {
        // RFC 9162 §2.1.5: the path for leaf a in the 7-leaf example is [b, h, l];
        // in 8 leaves it is [b, H(c,d), H(e..h)].
        let leaves = ct_leaves();
        assert_eq!(
            proof(&leaves, 0),
            vec![
                leaves[1],
                node_hash(&leaves[2], &leaves[3]),
                root_of(&leaves[4..8])
            ]
        );
        // Leaf d (index 3) of 7: [c, g, k] = [leaf 2, H(a,b), H(H(e,f), g)].
        assert_eq!(
            proof(&leaves[..7], 3),
            vec![
                leaves[2],
                node_hash(&leaves[0], &leaves[1]),
                root_of(&leaves[4..7])
            ]
        );
    }

    #[test]
    fn every_inclusion_path_verifies_and_a_wrong_one_does_not() {
        let leaves: Vec<TreeHash> = (0..38_u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for size in 1..leaves.len() {
            let root = root_of(&leaves[..size]);
            for index in 0..size {
                let path = proof(&leaves[..size], index as u64);
                assert!(
                    verify_inclusion(index as u64, size as u64, &leaves[index], &path, &root),
                    "leaf {index} of {size}"
                );
                let other = (index + 1) % size;
                if other != index {
                    assert!(!verify_inclusion(
                        index as u64,
                        size as u64,
                        &leaves[other],
                        &path,
                        &root
                    ));
                }
                let other_root = root_of(&leaves[..size + 1]);
                assert!(!verify_inclusion(
                    index as u64,
                    size as u64,
                    &leaves[index],
                    &path,
                    &other_root
                ));
            }
        }
    }

    #[test]
    fn hashes_parse_only_from_64_hex_digits() {
        assert!("ab".parse::<TreeHash>().is_err());
        let text = CT_ROOTS[0];
        assert_eq!(text.parse::<TreeHash>().unwrap().to_hex(), text);
    }
}
