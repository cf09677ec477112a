//! Buffers: persistent, sparse byte arrays with a canonical Merkle hash (AVM.md §2.4).

use std::fmt;
use std::sync::{Arc, OnceLock};

use primitive_types::U256;

use crate::hash::{ZERO_ROOTS, hash2, keccak};

/// Bytes per Merkle leaf.
pub const LEAF_BYTES: usize = 32;

/// An AVM buffer: 2^64 bytes, all zero except those written.
///
/// A complete binary tree of 32-byte leaves whose all-zero subtrees are absent, so memory grows
/// with the bytes written, never with the highest offset. Updates copy the path to one leaf
/// (O(depth)) and share the rest. The tree is kept at the canonical depth of AVM.md §2.4 (the
/// smallest that holds the last non-zero byte), so the root of the stored tree is the root the
/// hash needs and the hash never depends on the history of writes.
#[derive(Clone, Default)]
pub struct Buffer {
    root: Option<Arc<Node>>,
    /// The tree holds `2^depth` leaves.
    depth: u8,
}

struct Node {
    hash: OnceLock<U256>,
    kind: Kind,
}

enum Kind {
    Leaf([u8; LEAF_BYTES]),
    Branch(Option<Arc<Node>>, Option<Arc<Node>>),
}

impl Node {
    fn new(kind: Kind) -> Arc<Node> {
        Arc::new(Node {
            hash: OnceLock::new(),
            kind,
        })
    }

    fn children(node: Option<&Arc<Node>>) -> (Option<Arc<Node>>, Option<Arc<Node>>) {
        match node.map(|n| &n.kind) {
            Some(Kind::Branch(l, r)) => (l.clone(), r.clone()),
            Some(Kind::Leaf(_)) => unreachable!("leaves sit only at depth 0"),
            None => (None, None),
        }
    }
}

/// The Merkle root of a subtree of `2^depth` leaves.
fn subtree_root(node: Option<&Arc<Node>>, depth: u8) -> U256 {
    let Some(node) = node else {
        return ZERO_ROOTS[depth as usize];
    };
    *node.hash.get_or_init(|| match &node.kind {
        Kind::Leaf(bytes) => keccak(&[bytes]),
        Kind::Branch(l, r) => hash2(
            &subtree_root(l.as_ref(), depth - 1),
            &subtree_root(r.as_ref(), depth - 1),
        ),
    })
}

/// Replaces leaf `index` below `node` (a subtree of `2^depth` leaves); `None` clears it.
fn replace_leaf(
    node: Option<&Arc<Node>>,
    depth: u8,
    index: u64,
    leaf: Option<Arc<Node>>,
) -> Option<Arc<Node>> {
    if depth == 0 {
        return leaf;
    }
    let (mut left, mut right) = Node::children(node);
    if (index >> (depth - 1)) & 1 == 0 {
        left = replace_leaf(left.as_ref(), depth - 1, index, leaf);
    } else {
        right = replace_leaf(right.as_ref(), depth - 1, index, leaf);
    }
    if left.is_none() && right.is_none() {
        None
    } else {
        Some(Node::new(Kind::Branch(left, right)))
    }
}

impl Buffer {
    /// The empty buffer (`newbuffer`).
    pub fn new() -> Buffer {
        Buffer::default()
    }

    /// A buffer holding `bytes` from offset 0.
    pub fn from_bytes(bytes: &[u8]) -> Buffer {
        let mut level: Vec<Option<Arc<Node>>> = bytes
            .chunks(LEAF_BYTES)
            .map(|chunk| {
                let mut leaf = [0u8; LEAF_BYTES];
                leaf[..chunk.len()].copy_from_slice(chunk);
                (leaf != [0; LEAF_BYTES]).then(|| Node::new(Kind::Leaf(leaf)))
            })
            .collect();
        while level.last().is_some_and(Option::is_none) {
            level.pop();
        }
        let mut depth = 0u8;
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| {
                    let left = pair[0].clone();
                    let right = pair.get(1).cloned().flatten();
                    (left.is_some() || right.is_some())
                        .then(|| Node::new(Kind::Branch(left, right)))
                })
                .collect();
            depth += 1;
        }
        Buffer {
            root: level.pop().flatten(),
            depth,
        }
    }

    /// The 32 bytes of leaf `index` (bytes `32·index …`).
    pub fn leaf(&self, index: u64) -> [u8; LEAF_BYTES] {
        if self.depth < 64 && index >> self.depth != 0 {
            return [0; LEAF_BYTES];
        }
        let mut node = self.root.as_ref();
        for level in (0..self.depth).rev() {
            node = match node.map(|n| &n.kind) {
                Some(Kind::Branch(l, r)) => {
                    if (index >> level) & 1 == 0 {
                        l.as_ref()
                    } else {
                        r.as_ref()
                    }
                }
                _ => None,
            };
        }
        match node.map(|n| &n.kind) {
            Some(Kind::Leaf(bytes)) => *bytes,
            _ => [0; LEAF_BYTES],
        }
    }

    /// A copy of this buffer with leaf `index` replaced.
    pub fn with_leaf(&self, index: u64, bytes: [u8; LEAF_BYTES]) -> Buffer {
        let leaf = (bytes != [0; LEAF_BYTES]).then(|| Node::new(Kind::Leaf(bytes)));
        let mut out = self.clone();
        let fits = out.depth >= 64 || index >> out.depth == 0;
        if leaf.is_none() && !fits {
            return out;
        }
        while out.depth < 64 && index >> out.depth != 0 {
            out.root = out.root.map(|r| Node::new(Kind::Branch(Some(r), None)));
            out.depth += 1;
        }
        out.root = replace_leaf(out.root.as_ref(), out.depth, index, leaf);
        out.shrink();
        out
    }

    /// The non-zero leaves as `(index, bytes)`, in index order. With [`Buffer::with_leaf`] this
    /// rebuilds the buffer exactly (stores save buffers this way); the walk uses an explicit
    /// stack, so no tree depth reaches the native one.
    pub fn nonzero_leaves(&self) -> Vec<(u64, [u8; LEAF_BYTES])> {
        let mut leaves = Vec::new();
        let mut pending: Vec<(&Arc<Node>, u8, u64)> = Vec::new();
        if let Some(root) = &self.root {
            pending.push((root, self.depth, 0));
        }
        while let Some((node, depth, index)) = pending.pop() {
            match &node.kind {
                Kind::Leaf(bytes) => leaves.push((index, *bytes)),
                Kind::Branch(left, right) => {
                    // Right first so that the left subtree pops (and is listed) first.
                    if let Some(right) = right {
                        pending.push((right, depth - 1, index | 1 << (depth - 1)));
                    }
                    if let Some(left) = left {
                        pending.push((left, depth - 1, index));
                    }
                }
            }
        }
        leaves
    }

    /// Restores the canonical depth after a write of zeros.
    fn shrink(&mut self) {
        loop {
            match self.root.as_ref().map(|n| &n.kind) {
                None => {
                    self.depth = 0;
                    return;
                }
                Some(Kind::Branch(left, None)) if self.depth > 0 => {
                    self.root = left.clone();
                    self.depth -= 1;
                }
                _ => return,
            }
        }
    }

    /// Reads `out.len()` bytes starting at `offset`; the caller keeps `offset + len ≤ 2^64`.
    pub fn read(&self, offset: u64, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let at = offset + done as u64;
            let leaf = self.leaf(at / LEAF_BYTES as u64);
            let start = (at % LEAF_BYTES as u64) as usize;
            let n = (LEAF_BYTES - start).min(out.len() - done);
            out[done..done + n].copy_from_slice(&leaf[start..start + n]);
            done += n;
        }
    }

    /// A copy with `bytes` written at `offset`; the caller keeps `offset + len ≤ 2^64`.
    pub fn write(&self, offset: u64, bytes: &[u8]) -> Buffer {
        let mut out = self.clone();
        let mut done = 0;
        while done < bytes.len() {
            let at = offset + done as u64;
            let index = at / LEAF_BYTES as u64;
            let mut leaf = out.leaf(index);
            let start = (at % LEAF_BYTES as u64) as usize;
            let n = (LEAF_BYTES - start).min(bytes.len() - done);
            leaf[start..start + n].copy_from_slice(&bytes[done..done + n]);
            out = out.with_leaf(index, leaf);
            done += n;
        }
        out
    }

    /// Byte `offset`.
    pub fn get8(&self, offset: u64) -> u8 {
        self.leaf(offset / LEAF_BYTES as u64)[(offset % LEAF_BYTES as u64) as usize]
    }

    /// The offset of the last non-zero byte plus one; 0 for an all-zero buffer. At most 2^64.
    pub fn data_len(&self) -> u128 {
        let mut node = self.root.as_ref();
        let mut index = 0u64;
        for level in (0..self.depth).rev() {
            node = match node.map(|n| &n.kind) {
                Some(Kind::Branch(l, None)) => l.as_ref(),
                Some(Kind::Branch(_, r)) => {
                    index |= 1 << level;
                    r.as_ref()
                }
                _ => None,
            };
        }
        match node.map(|n| &n.kind) {
            Some(Kind::Leaf(bytes)) => {
                let last = bytes.iter().rposition(|&b| b != 0).unwrap_or(0);
                index as u128 * LEAF_BYTES as u128 + last as u128 + 1
            }
            _ => 0,
        }
    }

    /// The canonical depth `d` of AVM.md §2.4.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The unwrapped Merkle root over the canonical depth (proofs carry this).
    pub fn root(&self) -> U256 {
        subtree_root(self.root.as_ref(), self.depth)
    }

    /// The value hash `keccak(be32(123) ‖ be32(root))`.
    pub fn hash(&self) -> U256 {
        hash2(&U256::from(123), &self.root())
    }

    /// The bytes up to the data length, or `None` if that exceeds `limit`.
    pub fn to_bytes(&self, limit: usize) -> Option<Vec<u8>> {
        let len = usize::try_from(self.data_len())
            .ok()
            .filter(|&l| l <= limit)?;
        let mut bytes = vec![0; len];
        self.read(0, &mut bytes);
        Some(bytes)
    }

    /// The Merkle proof of the leaf holding byte `offset` (PROOFS.md §5.2, the C++
    /// `makeProof`): word 0 is that leaf's 32 bytes (read big-endian), then the sibling hash at
    /// each level from the leaf's up to the one just below the root. An offset past the tree
    /// proves the leaf at `offset mod 32·2^depth` instead: the path bits are the same, and the
    /// checker reads the leftover high bits as "outside the tree, hence zero".
    ///
    /// Walks the canonical tree down once, so it costs `depth` (at most 59) cached hashes.
    pub fn merkle_proof(&self, offset: u64) -> Vec<U256> {
        let index = self.wrapped_leaf_index(offset);
        let mut siblings = Vec::with_capacity(self.depth as usize);
        let mut node = self.root.clone();
        for level in (0..self.depth).rev() {
            let (left, right) = Node::children(node.as_ref());
            let (next, sibling) = if (index >> level) & 1 == 0 {
                (left, right)
            } else {
                (right, left)
            };
            siblings.push(subtree_root(sibling.as_ref(), level));
            node = next;
        }
        let leaf = match node.as_ref().map(|n| &n.kind) {
            Some(Kind::Leaf(bytes)) => U256::from_big_endian(bytes),
            _ => U256::zero(),
        };
        std::iter::once(leaf)
            .chain(siblings.into_iter().rev())
            .collect()
    }

    /// The index of the leaf holding byte `offset`, reduced modulo the tree's leaf count.
    fn wrapped_leaf_index(&self, offset: u64) -> u64 {
        let index = offset / LEAF_BYTES as u64;
        if self.depth >= 64 {
            index
        } else {
            index & ((1u64 << self.depth) - 1)
        }
    }

    /// The normalization proof of this buffer (PROOFS.md §5.3, the C++
    /// `makeNormalizationProof`): `[depth, left, right]`, where `left`/`right` are the roots of
    /// the two halves, or for a depth-0 tree the root itself and 0. It lets a checker rebuild
    /// the root of a buffer that shrank after a write of zeros.
    pub fn normalization_proof(&self) -> [U256; 3] {
        let depth = U256::from(self.depth);
        if self.depth == 0 {
            return [depth, self.root(), U256::zero()];
        }
        let (left, right) = Node::children(self.root.as_ref());
        [
            depth,
            subtree_root(left.as_ref(), self.depth - 1),
            subtree_root(right.as_ref(), self.depth - 1),
        ]
    }

    /// Whether both handles share the same tree (equal without hashing).
    pub fn ptr_eq(&self, other: &Buffer) -> bool {
        self.depth == other.depth
            && match (&self.root, &other.root) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&crate::Value::Buffer(self.clone()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> U256 {
        U256::from_str_radix(s, 16).unwrap()
    }

    fn one_byte(offset: u64, byte: u8) -> Buffer {
        Buffer::new().write(offset, &[byte])
    }

    #[test]
    fn nonzero_leaves_rebuild_the_buffer() {
        let buffer = Buffer::new()
            .write(5, b"hello")
            .write(4096, &[7; 70])
            .write(1 << 60, b"far")
            .write(u64::MAX, &[1]);
        let leaves = buffer.nonzero_leaves();
        assert!(leaves.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(leaves.len(), 1 + 3 + 1 + 1);
        let rebuilt = leaves.iter().fold(Buffer::new(), |b, (index, bytes)| {
            b.with_leaf(*index, *bytes)
        });
        assert_eq!(rebuilt.hash(), buffer.hash());
        assert!(Buffer::new().nonzero_leaves().is_empty());
    }

    #[test]
    fn worked_examples_of_avm_spec() {
        let cases = [
            (
                Buffer::new(),
                0,
                "290decd9548b62a8d60345a988386fc84ba6bc95484008f6362f93160ef3e563",
                "c7475bc300e0a371cfa639ceb1e1d08802941c2df94c0ffe34929c5fed808638",
            ),
            (
                one_byte(0, 1),
                0,
                "48078cfed56339ea54962e72c37c7f588fc4f8e5bc173827ba75cb10a63a96a5",
                "5959ad3da1b40fb46c2d40f6bdaed53537bf6570c78e3e1e031c4fbf6c89de41",
            ),
            (
                one_byte(40, 0xaa),
                1,
                "16f5562b2f915463ce3939f9446f13eb9e7dfcfb6a5567506ac457c5a22a86f6",
                "faecd9ef1aa77bc3302f92b40ad70bf3b928e5bffd4368b901aceb85d0dc3467",
            ),
            (
                one_byte(100, 5),
                2,
                "b207e3ec37256ceaf3d301099a612020c99de7356304417a25e99da28db911c0",
                "7f93c3923de400561bdac630ea543ba01172c31c9a6b0c37bd29447f428b3b4a",
            ),
        ];
        for (buffer, depth, root, hash) in cases {
            assert_eq!(buffer.depth(), depth);
            assert_eq!(buffer.root(), h(root));
            assert_eq!(buffer.hash(), h(hash));
        }
    }

    #[test]
    fn vectors_section_5() {
        let two = Buffer::new().write(0, &[1]).write(40, &[0xff]);
        assert_eq!(
            two.root(),
            h("1e16fe8420e59ccf5cd2178aeaa9f51277e786eabba9600546fbdd92dc2640de")
        );
        assert_eq!(
            two.hash(),
            h("cd1522a9ee805cd9c478f2f11cf6edb28a98521618b5aae355a0492cf176b24b")
        );
        let cleared = two.write(40, &[0]);
        assert_eq!(
            cleared.root(),
            h("48078cfed56339ea54962e72c37c7f588fc4f8e5bc173827ba75cb10a63a96a5")
        );
        assert_eq!(
            cleared.hash(),
            h("5959ad3da1b40fb46c2d40f6bdaed53537bf6570c78e3e1e031c4fbf6c89de41")
        );
        assert_eq!(
            one_byte(100, 7).root(),
            h("b73488e190ddb889c11e4efb2e6aa51c40d274503a2e05c1708e591574691c4e")
        );
        let mut bytes = vec![0u8; 65];
        bytes[64] = 1;
        assert_eq!(
            Buffer::from_bytes(&bytes).root(),
            h("bf38eea74387aaaff410814985904c94a38f6b190b800c1bb8454c67fec61193")
        );
        for zeros in [0, 4, 40, 80, 128] {
            assert_eq!(Buffer::from_bytes(&vec![0; zeros]).root(), ZERO_ROOTS[0]);
        }
    }

    #[test]
    fn hash_ignores_write_history() {
        let back = one_byte(100, 5).write(100, &[0]);
        assert_eq!(back.hash(), Buffer::new().hash());
        assert_eq!(back.depth(), 0);
        let far = one_byte(u64::MAX, 9).write(u64::MAX, &[0]);
        assert_eq!(far.hash(), Buffer::new().hash());
    }

    #[test]
    fn copies_are_independent() {
        let base = one_byte(1000, 123);
        assert_eq!(base.get8(1000), 123);
        let a = base.write(10, &[100]);
        let b = base.write(10, &[150]);
        assert_eq!((a.get8(10), b.get8(10), base.get8(10)), (100, 150, 0));
    }

    #[test]
    fn last_index_tracks_the_highest_write() {
        let mut buffer = Buffer::new();
        assert_eq!(buffer.data_len(), 0);
        for offset in [
            0u64,
            1,
            10,
            31,
            1000,
            2000,
            20000,
            300000,
            90_000_000_000,
            1 << 63,
        ] {
            buffer = buffer.write(offset, &[1]);
            assert_eq!(buffer.data_len(), offset as u128 + 1);
        }
        let top = buffer.write(u64::MAX, &[1]);
        assert_eq!(top.data_len(), 1u128 << 64);
        assert_eq!(top.get8(u64::MAX), 1);
    }

    #[test]
    fn reads_and_writes_straddle_leaves() {
        let buffer = Buffer::new().write(28, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut out = [0u8; 8];
        buffer.read(28, &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(buffer.get8(32), 5);
    }

    #[test]
    fn from_bytes_matches_byte_writes() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut written = Buffer::new();
        for (i, b) in bytes.iter().enumerate() {
            written = written.write(i as u64, &[*b]);
        }
        let built = Buffer::from_bytes(&bytes);
        assert_eq!(built.hash(), written.hash());
        assert_eq!(
            built.to_bytes(usize::MAX).unwrap(),
            bytes[..bytes.iter().rposition(|&b| b != 0).unwrap() + 1]
        );
    }

    /// The checker's `get` (PROOFS.md §5.2): the word at `word_index`, or `None` if the proof
    /// does not lead to `root`.
    fn checker_get(root: U256, word_index: u64, proof: &[U256]) -> Option<U256> {
        let mut acc = keccak(&[&proof[0].to_big_endian()]);
        let mut loc = word_index;
        for sibling in &proof[1..] {
            acc = if loc & 1 == 1 {
                hash2(sibling, &acc)
            } else {
                hash2(&acc, sibling)
            };
            loc >>= 1;
        }
        (acc == root).then(|| if loc > 0 { U256::zero() } else { proof[0] })
    }

    #[test]
    fn merkle_proofs_lead_to_the_root_and_the_word() {
        let buffers = [
            Buffer::new(),
            one_byte(0, 1),
            one_byte(40, 0xaa),
            Buffer::new()
                .write(0, &[1])
                .write(100, &[5])
                .write(3000, &[7]),
            one_byte(1 << 40, 3).write(5, &[9]),
        ];
        for buffer in &buffers {
            for offset in [0u64, 5, 31, 32, 40, 100, 3000, 4095, 1 << 40, u64::MAX] {
                let proof = buffer.merkle_proof(offset);
                assert_eq!(proof.len(), 1 + buffer.depth() as usize);
                let word = checker_get(buffer.root(), offset / 32, &proof)
                    .unwrap_or_else(|| panic!("{buffer:?} at {offset}"));
                let mut expected = [0u8; 32];
                buffer.read(offset / 32 * 32, &mut expected);
                assert_eq!(
                    word,
                    U256::from_big_endian(&expected),
                    "{buffer:?} at {offset}"
                );
            }
        }
    }

    #[test]
    fn normalization_proofs_name_depth_and_halves() {
        assert_eq!(
            one_byte(0, 1).normalization_proof(),
            [
                U256::zero(),
                h("48078cfed56339ea54962e72c37c7f588fc4f8e5bc173827ba75cb10a63a96a5"),
                U256::zero()
            ]
        );
        let two = Buffer::new().write(0, &[1]).write(40, &[0xff]);
        let [depth, left, right] = two.normalization_proof();
        assert_eq!(depth, U256::one());
        assert_eq!(hash2(&left, &right), two.root());
        assert_eq!(left, one_byte(0, 1).root());
    }

    #[test]
    fn memory_follows_bytes_written_not_offsets() {
        let buffer = one_byte(1 << 62, 1).write(3, &[2]);
        assert_eq!(buffer.depth(), 58);
        assert_eq!(
            (buffer.get8(1 << 62), buffer.get8(3), buffer.get8(4)),
            (1, 2, 0)
        );
    }
}
