//! Buffers: persistent, sparse byte arrays with a canonical Merkle hash (AVM.md §2.4).
//!
//! The Merkle tree is a complete binary tree of 32-byte leaves whose all-zero subtrees are
//! absent and whose runs of single-child levels are compressed: a node is a leaf, or a branch
//! whose two halves both hold data, placed in a *slot* (the subtree its parent's child, or the
//! whole tree, stands for) some levels above itself; the levels in between have one non-zero
//! half each, and the node's leaf index says which. A lone leaf far from the others therefore
//! costs one leaf node plus the one branch where its path splits off, not one node per level:
//! `n` leaves always take fewer than `2n` nodes, so memory grows with the leaves written, not
//! with the depth of their offsets (`memory_per_scattered_write` in the tests reports the
//! figures). Hashes are those of the full tree: hashing a compressed run of `k` levels is `k`
//! `hash2` calls with the all-zero subtree roots `ZERO_ROOTS` as siblings, done lazily and
//! cached per node.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use primitive_types::U256;
use triomphe::Arc;

use crate::hash::{ZERO_ROOTS, hash2, keccak};

/// Bytes per Merkle leaf.
pub const LEAF_BYTES: usize = 32;

/// An AVM buffer: 2^64 bytes, all zero except those written.
///
/// A complete binary tree of 32-byte leaves whose all-zero subtrees are absent and whose
/// single-child levels are compressed (see the module docs), so memory grows with the leaves
/// written, never with the highest offset or the spread of the offsets. Updates copy the
/// branches on the path to one leaf (at most one per level) and share the rest. The tree is
/// kept at the canonical depth of AVM.md §2.4 (the smallest that holds the last non-zero byte),
/// so the root of the stored tree is the root the hash needs and the hash never depends on the
/// history of writes.
#[derive(Clone, Default)]
pub struct Buffer {
    /// The non-zero part of the tree, placed in the slot of the whole tree, whose `2^top`
    /// leaves are the canonical depth's; `None` for an all-zero buffer (depth 0).
    root: Option<Arc<Node>>,
}

/// A non-empty subtree placed in a slot of `2^top` leaves. Its content (a leaf, or a branch
/// whose two halves both hold data) covers `2^base` leaves; between the slot and the content
/// lie `top - base` levels with one non-zero half each, the half on the side of bit `level` of
/// `key` at each `level` in `base..top`.
///
/// 80 bytes (checked by a test): with the one count of `triomphe::Arc` (no weak count) a node
/// is an 88-byte allocation, which the mimalloc the `avm` tool links serves from its 96-byte
/// class (measured: an 8-aligned request takes its size plus 7 rounded up to a class, so 96
/// bytes, as with `std::sync::Arc`'s two counts, would take 112) and glibc from a 96-byte chunk.
/// Hence the hash cache holds no lock or flag (`OnceLock<U256>` is 40 bytes) and the slot
/// heights live in the padding of the body's tag.
struct Node {
    /// The Merkle root of the slot, once computed.
    hash: HashCache,
    /// The index of the content's first leaf: the bits from `base` up say where the content
    /// lies, the bits below are zero.
    key: u64,
    body: Body,
}

enum Body {
    Leaf {
        top: u8,
        bytes: [u8; LEAF_BYTES],
    },
    /// Both children are placed in slots of `2^(base - 1)` leaves: `children[b]` in the half
    /// whose leaf indexes have bit `base - 1` equal to `b`.
    Branch {
        top: u8,
        base: u8,
        children: [Arc<Node>; 2],
    },
}

/// A lazily filled 256-bit hash, without a lock or a flag: a limb of 0 means "not stored yet".
/// Every thread that fills it stores the same value, so each limb only ever reads as 0 or as
/// that value, and four non-zero limbs are the whole hash. A hash with a zero limb (chance about
/// 2^-62) is never cached, only recomputed when asked for.
#[derive(Default)]
struct HashCache([AtomicU64; 4]);

impl HashCache {
    fn get(&self) -> Option<U256> {
        let limbs = self.0.each_ref().map(|limb| limb.load(Ordering::Relaxed));
        limbs.iter().all(|&limb| limb != 0).then_some(U256(limbs))
    }

    fn set(&self, hash: U256) {
        for (cell, limb) in self.0.iter().zip(hash.0) {
            cell.store(limb, Ordering::Relaxed);
        }
    }
}

/// The mask of the bits at and above `level` (none for 64).
fn high_bits(level: u8) -> u64 {
    u64::MAX.checked_shl(u32::from(level)).unwrap_or(0)
}

/// The number of significant bits of `x`: the canonical depth of a tree whose last leaf is `x`.
fn bit_len(x: u64) -> u8 {
    (u64::BITS - x.leading_zeros()) as u8
}

/// Lifts `hash`, the root of a subtree of `2^from` leaves, to the root of the subtree of
/// `2^to` leaves around it whose other leaves are zero: at each `level` in `from..to` the
/// subtree so far is the half on the side of bit `level` of `key`, the other half all zero.
fn lift(mut hash: U256, key: u64, from: u8, to: u8) -> U256 {
    for level in from..to {
        let zero = &ZERO_ROOTS[level as usize];
        hash = if (key >> level) & 1 == 0 {
            hash2(&hash, zero)
        } else {
            hash2(zero, &hash)
        };
    }
    hash
}

impl Node {
    fn leaf(index: u64, top: u8, bytes: [u8; LEAF_BYTES]) -> Arc<Node> {
        Arc::new(Node {
            hash: HashCache::default(),
            key: index,
            body: Body::Leaf { top, bytes },
        })
    }

    /// The branch over `children` (left, right; placed in sibling slots) in a slot of `2^top`
    /// leaves.
    fn branch(top: u8, children: [Arc<Node>; 2]) -> Arc<Node> {
        let base = children[0].top() + 1;
        Arc::new(Node {
            hash: HashCache::default(),
            key: children[0].key & high_bits(base),
            body: Body::Branch {
                top,
                base,
                children,
            },
        })
    }

    fn top(&self) -> u8 {
        match self.body {
            Body::Leaf { top, .. } | Body::Branch { top, .. } => top,
        }
    }

    fn base(&self) -> u8 {
        match self.body {
            Body::Leaf { .. } => 0,
            Body::Branch { base, .. } => base,
        }
    }

    /// The same subtree placed in a slot of `2^top` leaves (a new node unless it is there).
    fn placed(node: &Arc<Node>, top: u8) -> Arc<Node> {
        if node.top() == top {
            return node.clone();
        }
        match &node.body {
            Body::Leaf { bytes, .. } => Node::leaf(node.key, top, *bytes),
            Body::Branch { children, .. } => Node::branch(top, children.clone()),
        }
    }

    /// The Merkle root of the node's slot, cached.
    fn hash(&self) -> U256 {
        if let Some(hash) = self.hash.get() {
            return hash;
        }
        let hash = lift(self.content_hash(), self.key, self.base(), self.top());
        self.hash.set(hash);
        hash
    }

    /// The Merkle root of the subtree of `2^top` leaves around the content, `base ≤ top ≤` the
    /// node's slot height: cached for the slot itself, computed for a slot inside it.
    fn hash_at(&self, top: u8) -> U256 {
        if top == self.top() {
            self.hash()
        } else {
            lift(self.content_hash(), self.key, self.base(), top)
        }
    }

    /// The Merkle root of the content alone (a subtree of `2^base` leaves).
    fn content_hash(&self) -> U256 {
        match &self.body {
            Body::Leaf { bytes, .. } => keccak(&[bytes]),
            Body::Branch { children, .. } => hash2(&children[0].hash(), &children[1].hash()),
        }
    }
}

/// The subtree placed in a slot of `2^top` leaves that holds `node`'s leaves with leaf `index`
/// replaced by `leaf` (`None`: zero). `node` (if any) and `index` must both lie in that slot.
/// Recurses once per branch on the path, so at most 64 deep.
fn set(
    node: Option<&Arc<Node>>,
    top: u8,
    index: u64,
    leaf: Option<[u8; LEAF_BYTES]>,
) -> Option<Arc<Node>> {
    let Some(node) = node else {
        return leaf.map(|bytes| Node::leaf(index, top, bytes));
    };
    let outside = (index ^ node.key) & high_bits(node.base());
    if outside != 0 {
        // The leaf lies in a zero half on the run above the content: the paths split at the
        // highest bit in which they differ.
        let Some(bytes) = leaf else {
            return Some(Node::placed(node, top));
        };
        let split = bit_len(outside) - 1;
        let old = Node::placed(node, split);
        let new = Node::leaf(index, split, bytes);
        let children = if (index >> split) & 1 == 0 {
            [new, old]
        } else {
            [old, new]
        };
        return Some(Node::branch(top, children));
    }
    match &node.body {
        Body::Leaf { .. } => leaf.map(|bytes| Node::leaf(index, top, bytes)),
        Body::Branch { base, children, .. } => {
            let side = ((index >> (base - 1)) & 1) as usize;
            let Some(child) = set(Some(&children[side]), base - 1, index, leaf) else {
                // That half is now all zero: the other one continues the run.
                return Some(Node::placed(&children[1 - side], top));
            };
            let other = children[1 - side].clone();
            Some(Node::branch(
                top,
                if side == 0 {
                    [child, other]
                } else {
                    [other, child]
                },
            ))
        }
    }
}

/// A subtree built by [`Buffer::from_bytes`] before it knows its slot.
enum Loose {
    Leaf(u64, [u8; LEAF_BYTES]),
    Branch([Arc<Node>; 2]),
}

impl Loose {
    fn placed(self, top: u8) -> Arc<Node> {
        match self {
            Loose::Leaf(index, bytes) => Node::leaf(index, top, bytes),
            Loose::Branch(children) => Node::branch(top, children),
        }
    }
}

impl Buffer {
    /// The empty buffer (`newbuffer`).
    pub fn new() -> Buffer {
        Buffer::default()
    }

    /// A buffer holding `bytes` from offset 0.
    pub fn from_bytes(bytes: &[u8]) -> Buffer {
        let mut level: Vec<Option<Loose>> = bytes
            .chunks(LEAF_BYTES)
            .enumerate()
            .map(|(index, chunk)| {
                let mut leaf = [0u8; LEAF_BYTES];
                leaf[..chunk.len()].copy_from_slice(chunk);
                (leaf != [0; LEAF_BYTES]).then_some(Loose::Leaf(index as u64, leaf))
            })
            .collect();
        while level.last().is_some_and(Option::is_none) {
            level.pop();
        }
        let mut depth = 0u8;
        while level.len() > 1 {
            let mut pairs = level.into_iter();
            let mut next = Vec::with_capacity(pairs.len().div_ceil(2));
            while let Some(left) = pairs.next() {
                next.push(match (left, pairs.next().flatten()) {
                    (Some(left), Some(right)) => {
                        Some(Loose::Branch([left.placed(depth), right.placed(depth)]))
                    }
                    (one, None) | (None, one) => one,
                });
            }
            level = next;
            depth += 1;
        }
        Buffer {
            root: level.pop().flatten().map(|root| root.placed(depth)),
        }
    }

    /// The buffer whose tree is `root` (placed in any slot that holds it), at canonical depth.
    fn with_root(root: Option<Arc<Node>>) -> Buffer {
        let Some(root) = root else {
            return Buffer::default();
        };
        // A value with the bit length of the last leaf's index: a branch's last leaf has its
        // key's bits from `base` up and bit `base - 1` set.
        let last = match root.body {
            Body::Leaf { .. } => root.key,
            Body::Branch { base, .. } => root.key | 1 << (base - 1),
        };
        let depth = bit_len(last);
        Buffer {
            root: Some(Node::placed(&root, depth)),
        }
    }

    /// The 32 bytes of leaf `index` (bytes `32·index …`).
    pub fn leaf(&self, index: u64) -> [u8; LEAF_BYTES] {
        let mut node = self.root.as_ref();
        while let Some(n) = node {
            node = match &n.body {
                Body::Leaf { bytes, .. } if n.key == index => return *bytes,
                Body::Leaf { .. } => None,
                Body::Branch { base, children, .. } => {
                    // The key's bit `base - 1` is zero: this is the side if every bit above
                    // matches, more than 1 if the leaf lies outside the content.
                    let side = (index ^ n.key) >> (base - 1);
                    children.get(side as usize)
                }
            };
        }
        [0; LEAF_BYTES]
    }

    /// A copy of this buffer with leaf `index` replaced.
    pub fn with_leaf(&self, index: u64, bytes: [u8; LEAF_BYTES]) -> Buffer {
        let leaf = (bytes != [0; LEAF_BYTES]).then_some(bytes);
        let depth = self.depth();
        let fits = depth >= 64 || index >> depth == 0;
        if leaf.is_none() && !fits {
            return self.clone();
        }
        let top = depth.max(bit_len(index));
        Buffer::with_root(set(self.root.as_ref(), top, index, leaf))
    }

    /// The non-zero leaves as `(index, bytes)`, in index order. With [`Buffer::with_leaf`] this
    /// rebuilds the buffer exactly (stores save buffers this way); the walk uses an explicit
    /// stack, so no tree depth reaches the native one.
    pub fn nonzero_leaves(&self) -> Vec<(u64, [u8; LEAF_BYTES])> {
        let mut leaves = Vec::new();
        let mut pending: Vec<&Arc<Node>> = self.root.iter().collect();
        while let Some(node) = pending.pop() {
            match &node.body {
                Body::Leaf { bytes, .. } => leaves.push((node.key, *bytes)),
                Body::Branch { children, .. } => {
                    // Right first so that the left subtree pops (and is listed) first.
                    pending.push(&children[1]);
                    pending.push(&children[0]);
                }
            }
        }
        leaves
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
        let Some(mut node) = self.root.as_ref() else {
            return 0;
        };
        loop {
            match &node.body {
                Body::Branch { children, .. } => node = &children[1],
                Body::Leaf { bytes, .. } => {
                    let last = bytes.iter().rposition(|&b| b != 0).unwrap_or(0);
                    return node.key as u128 * LEAF_BYTES as u128 + last as u128 + 1;
                }
            }
        }
    }

    /// The canonical depth `d` of AVM.md §2.4.
    pub fn depth(&self) -> u8 {
        self.root.as_ref().map_or(0, |root| root.top())
    }

    /// The unwrapped Merkle root over the canonical depth (proofs carry this).
    pub fn root(&self) -> U256 {
        self.root
            .as_ref()
            .map_or(ZERO_ROOTS[self.depth() as usize], |root| root.hash())
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
    /// Walks the canonical tree down once. Siblings are cached node hashes or all-zero roots,
    /// except where the path leaves a compressed run for a zero half: that sibling is the run's
    /// content lifted to the level, at most `depth` (at most 64) `hash2` calls.
    pub fn merkle_proof(&self, offset: u64) -> Vec<U256> {
        let index = self.wrapped_leaf_index(offset);
        // Sibling hashes from the top level down; `level` is the height of the slot the walk
        // has reached, `node` the subtree placed there.
        let mut siblings = Vec::with_capacity(self.depth() as usize);
        let mut word = U256::zero();
        let mut level = self.depth();
        let mut node = self.root.as_ref();
        while let Some(n) = node {
            let outside = (index ^ n.key) & high_bits(n.base());
            let stop = if outside == 0 {
                n.base()
            } else {
                bit_len(outside)
            };
            siblings.extend((stop..level).rev().map(|l| ZERO_ROOTS[l as usize]));
            if outside != 0 {
                // The path turns into a zero half at level `stop - 1`; the content's side is
                // its sibling.
                level = stop - 1;
                siblings.push(n.hash_at(level));
                break;
            }
            node = match &n.body {
                Body::Leaf { bytes, .. } => {
                    word = U256::from_big_endian(bytes);
                    level = 0;
                    None
                }
                Body::Branch { base, children, .. } => {
                    level = base - 1;
                    let side = ((index >> level) & 1) as usize;
                    siblings.push(children[1 - side].hash());
                    Some(&children[side])
                }
            };
        }
        siblings.extend((0..level).rev().map(|l| ZERO_ROOTS[l as usize]));
        std::iter::once(word)
            .chain(siblings.into_iter().rev())
            .collect()
    }

    /// The index of the leaf holding byte `offset`, reduced modulo the tree's leaf count.
    fn wrapped_leaf_index(&self, offset: u64) -> u64 {
        let index = offset / LEAF_BYTES as u64;
        if self.depth() >= 64 {
            index
        } else {
            index & ((1u64 << self.depth()) - 1)
        }
    }

    /// The normalization proof of this buffer (PROOFS.md §5.3, the C++
    /// `makeNormalizationProof`): `[depth, left, right]`, where `left`/`right` are the roots of
    /// the two halves, or for a depth-0 tree the root itself and 0. It lets a checker rebuild
    /// the root of a buffer that shrank after a write of zeros.
    ///
    /// When all the data lies in one half (a compressed run at the root), that half's root is
    /// the content lifted to it: at most `depth` `hash2` calls, not cached.
    pub fn normalization_proof(&self) -> [U256; 3] {
        let depth = U256::from(self.depth());
        let Some(root) = self.root.as_ref().filter(|_| self.depth() > 0) else {
            return [depth, self.root(), U256::zero()];
        };
        let half = self.depth() - 1;
        match &root.body {
            Body::Branch { base, children, .. } if *base == self.depth() => {
                [depth, children[0].hash(), children[1].hash()]
            }
            _ => {
                let data = root.hash_at(half);
                let zero = ZERO_ROOTS[half as usize];
                if (root.key >> half) & 1 == 0 {
                    [depth, data, zero]
                } else {
                    [depth, zero, data]
                }
            }
        }
    }

    /// Whether both handles share the same tree (equal without hashing).
    pub fn ptr_eq(&self, other: &Buffer) -> bool {
        match (&self.root, &other.root) {
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

    /// A fixed pseudo-random stream (splitmix64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The reference for the property test: the non-zero leaves in a map, every hash computed
    /// from the definition (AVM.md §2.4) without any tree.
    #[derive(Clone, Default)]
    struct Model {
        leaves: std::collections::BTreeMap<u64, [u8; LEAF_BYTES]>,
    }

    impl Model {
        fn from_bytes(bytes: &[u8]) -> Model {
            let mut model = Model::default();
            model.write(0, bytes);
            model
        }

        fn leaf(&self, index: u64) -> [u8; LEAF_BYTES] {
            self.leaves.get(&index).copied().unwrap_or([0; LEAF_BYTES])
        }

        fn set_leaf(&mut self, index: u64, bytes: [u8; LEAF_BYTES]) {
            if bytes == [0; LEAF_BYTES] {
                self.leaves.remove(&index);
            } else {
                self.leaves.insert(index, bytes);
            }
        }

        fn write(&mut self, offset: u64, bytes: &[u8]) {
            for (i, &byte) in bytes.iter().enumerate() {
                let at = offset + i as u64;
                let mut leaf = self.leaf(at / 32);
                leaf[(at % 32) as usize] = byte;
                self.set_leaf(at / 32, leaf);
            }
        }

        fn get8(&self, offset: u64) -> u8 {
            self.leaf(offset / 32)[(offset % 32) as usize]
        }

        /// The smallest `d` with every non-zero leaf index below `2^d`.
        fn depth(&self) -> u8 {
            self.leaves
                .last_key_value()
                .map_or(0, |(&index, _)| (64 - index.leading_zeros()) as u8)
        }

        fn data_len(&self) -> u128 {
            self.leaves.last_key_value().map_or(0, |(&index, bytes)| {
                let last = bytes.iter().rposition(|&b| b != 0).unwrap();
                index as u128 * 32 + last as u128 + 1
            })
        }
    }

    /// Subtree roots of a [`Model`], memoized for one state.
    struct Roots<'a> {
        model: &'a Model,
        memo: std::collections::HashMap<(u64, u8), U256>,
    }

    impl Roots<'_> {
        /// The Merkle root of the `2^height` leaves from leaf `start`: `Z(height)` if all are
        /// zero, else the leaf's keccak or the `hash2` of the two halves.
        fn subtree(&mut self, start: u64, height: u8) -> U256 {
            if let Some(&root) = self.memo.get(&(start, height)) {
                return root;
            }
            let end = start as u128 + (1u128 << height);
            let empty = self
                .model
                .leaves
                .range(start..)
                .next()
                .is_none_or(|(&index, _)| index as u128 >= end);
            let root = if empty {
                ZERO_ROOTS[height as usize]
            } else if height == 0 {
                keccak(&[&self.model.leaf(start)])
            } else {
                let half = 1u64 << (height - 1);
                let left = self.subtree(start, height - 1);
                let right = self.subtree(start + half, height - 1);
                hash2(&left, &right)
            };
            self.memo.insert((start, height), root);
            root
        }

        fn root(&mut self) -> U256 {
            self.subtree(0, self.model.depth())
        }

        /// PROOFS.md §5.2 from the definition: the word, then the sibling of the path's
        /// subtree at each level from the leaf's up.
        fn merkle_proof(&mut self, offset: u64) -> Vec<U256> {
            let depth = self.model.depth();
            let mut index = offset / 32;
            if depth < 64 {
                index &= (1u64 << depth) - 1;
            }
            let mut proof = vec![U256::from_big_endian(&self.model.leaf(index))];
            for level in 0..depth {
                proof.push(self.subtree(((index >> level) ^ 1) << level, level));
            }
            proof
        }

        fn normalization_proof(&mut self) -> [U256; 3] {
            let depth = self.model.depth();
            if depth == 0 {
                return [U256::zero(), self.root(), U256::zero()];
            }
            let half = depth - 1;
            [
                U256::from(depth),
                self.subtree(0, half),
                self.subtree(1 << half, half),
            ]
        }
    }

    /// Compares every observation of `buffer` with `model`, at offsets drawn around the
    /// model's leaves and at random.
    fn check(buffer: &Buffer, model: &Model, rng: &mut Rng, context: &str) {
        let mut roots = Roots {
            model,
            memo: Default::default(),
        };
        let root = roots.root();
        assert_eq!(buffer.depth(), model.depth(), "{context}: depth");
        assert_eq!(buffer.root(), root, "{context}: root");
        assert_eq!(
            buffer.hash(),
            hash2(&U256::from(123), &root),
            "{context}: hash"
        );
        assert_eq!(buffer.data_len(), model.data_len(), "{context}: data_len");
        let leaves: Vec<_> = model.leaves.iter().map(|(&i, &b)| (i, b)).collect();
        assert_eq!(buffer.nonzero_leaves(), leaves, "{context}: nonzero_leaves");
        assert_eq!(
            buffer.normalization_proof(),
            roots.normalization_proof(),
            "{context}: normalization_proof"
        );
        let mut offsets = vec![0, 31, 32, u64::MAX, u64::MAX - 31, 1 << 63];
        for _ in 0..6 {
            offsets.push(rng.next());
        }
        for _ in 0..6.min(leaves.len()) {
            let (index, _) = leaves[rng.below(leaves.len() as u64) as usize];
            let at = index.wrapping_mul(32);
            offsets.extend([at, at.wrapping_add(rng.below(32)), at.wrapping_sub(1)]);
            offsets.push(at.wrapping_add(32));
            offsets.push(at ^ (1 << rng.below(64)));
        }
        for &offset in &offsets {
            let index = offset / 32;
            assert_eq!(buffer.leaf(index), model.leaf(index), "{context}: leaf");
            assert_eq!(buffer.get8(offset), model.get8(offset), "{context}: get8");
            assert_eq!(
                buffer.merkle_proof(offset),
                roots.merkle_proof(offset),
                "{context}: merkle_proof at {offset:#x}"
            );
            let len = (rng.below(100) as usize).min((u64::MAX - offset) as usize + 1);
            let mut got = vec![0u8; len];
            buffer.read(offset, &mut got);
            let want: Vec<u8> = (0..len as u64).map(|i| model.get8(offset + i)).collect();
            assert_eq!(got, want, "{context}: read {len} at {offset:#x}");
        }
        let data_len = model.data_len();
        if data_len <= 1 << 16 {
            let want: Vec<u8> = (0..data_len as u64).map(|i| model.get8(i)).collect();
            assert_eq!(buffer.to_bytes(1 << 16), Some(want), "{context}: to_bytes");
        }
        if data_len > 0 {
            let limit = (data_len - 1).min(1 << 20) as usize;
            assert_eq!(buffer.to_bytes(limit), None, "{context}: to_bytes limit");
        }
    }

    /// An offset: clustered near a few places of the 2^64 range, or anywhere.
    fn offset(rng: &mut Rng) -> u64 {
        const CLUSTERS: [u64; 6] = [0, 4096, 1 << 40, 1 << 62, 1 << 63, u64::MAX - 8191];
        match rng.below(3) {
            0 => rng.next(),
            _ => CLUSTERS[rng.below(6) as usize] + rng.below(8192),
        }
    }

    /// Bytes with runs of zeros; all zero one time in four.
    fn bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
        let zeros = rng.below(4) == 0;
        (0..len)
            .map(|_| match rng.below(3) {
                _ if zeros => 0,
                0 => 0,
                _ => rng.next() as u8,
            })
            .collect()
    }

    #[test]
    fn agrees_with_a_map_model() {
        for seed in 0..12 {
            let mut rng = Rng(seed);
            let (mut buffer, mut model) = (Buffer::new(), Model::default());
            let mut history = Vec::new();
            for step in 0..400 {
                let context = format!("seed {seed} step {step}");
                match rng.below(20) {
                    0 => {
                        let len = rng.below(700) as usize;
                        let data = bytes(&mut rng, len);
                        (buffer, model) = (Buffer::from_bytes(&data), Model::from_bytes(&data));
                    }
                    1..=4 => {
                        // A leaf replaced directly: an existing one (cleared or overwritten)
                        // or a new one.
                        let index = match model.leaves.keys().nth(rng.below(8) as usize) {
                            Some(&index) if rng.below(2) == 0 => index,
                            _ => offset(&mut rng) / 32,
                        };
                        let mut leaf = [0u8; LEAF_BYTES];
                        leaf.copy_from_slice(&bytes(&mut rng, LEAF_BYTES));
                        buffer = buffer.with_leaf(index, leaf);
                        model.set_leaf(index, leaf);
                    }
                    5..=7 if !model.leaves.is_empty() => {
                        // Clearing a leaf, so that trees shrink and runs merge.
                        let n = model.leaves.len() as u64;
                        let index = *model.leaves.keys().nth(rng.below(n) as usize).unwrap();
                        buffer = buffer.write(index * 32, &[0; LEAF_BYTES]);
                        model.write(index * 32, &[0; LEAF_BYTES]);
                    }
                    _ => {
                        let at = offset(&mut rng);
                        let len = (1 + rng.below(70)).min(u64::MAX - at + 1) as usize;
                        let data = bytes(&mut rng, len);
                        buffer = buffer.write(at, &data);
                        model.write(at, &data);
                    }
                }
                check(&buffer, &model, &mut rng, &context);
                history.push((buffer.clone(), model.clone()));
            }
            // Every earlier version is untouched by the writes that followed it.
            for (i, (old, model)) in history.iter().enumerate().step_by(7) {
                check(old, model, &mut rng, &format!("seed {seed} version {i}"));
            }
        }
    }

    #[test]
    fn proofs_through_compressed_runs() {
        // Lone leaves far apart: every sibling on a proof's path is a run, a zero half or
        // the content of a run lifted to a lower level.
        let buffers = [
            one_byte(1 << 62, 1),
            one_byte(1 << 62, 1).write(3, &[2]),
            one_byte(u64::MAX, 1).write(1 << 40, &[2]).write(77, &[3]),
            one_byte((1 << 63) + 4096, 9).write((1 << 63) + (1 << 50), &[8]),
        ];
        let mut rng = Rng(99);
        for buffer in &buffers {
            let model = Model {
                leaves: buffer.nonzero_leaves().into_iter().collect(),
            };
            check(buffer, &model, &mut rng, &format!("{buffer:?}"));
            for offset in [
                0,
                3,
                77,
                1 << 40,
                1 << 62,
                (1 << 62) + 32,
                1 << 63,
                u64::MAX,
            ] {
                let proof = buffer.merkle_proof(offset);
                let word = checker_get(buffer.root(), offset / 32, &proof)
                    .unwrap_or_else(|| panic!("{buffer:?} at {offset}"));
                let mut expected = [0u8; 32];
                buffer.read(offset / 32 * 32, &mut expected);
                assert_eq!(word, U256::from_big_endian(&expected));
            }
        }
    }

    /// The nodes of `buffer`'s tree (no tree shares a node with itself).
    fn node_count(buffer: &Buffer) -> usize {
        let mut count = 0;
        let mut pending: Vec<&Arc<Node>> = buffer.root.iter().collect();
        while let Some(node) = pending.pop() {
            count += 1;
            if let Body::Branch { children, .. } = &node.body {
                pending.extend(children);
            }
        }
        count
    }

    /// The nodes a tree without compressed runs has for the leaves of `buffer`: one per
    /// distinct leaf-index prefix at each level up to the root.
    fn uncompressed_node_count(buffer: &Buffer) -> usize {
        let indexes: Vec<u64> = buffer.nonzero_leaves().iter().map(|(i, _)| *i).collect();
        (0..=buffer.depth())
            .map(|level| {
                let mut prefixes: Vec<u64> = indexes
                    .iter()
                    .map(|i| i.checked_shr(level.into()).unwrap_or(0))
                    .collect();
                prefixes.dedup();
                prefixes.len()
            })
            .sum()
    }

    /// The allocation behind one node: `Arc`'s count and the node.
    const NODE_ALLOCATION: usize = size_of::<usize>() + size_of::<Node>();

    #[test]
    fn nodes_fit_an_88_byte_allocation() {
        assert_eq!(size_of::<Node>(), 80);
        assert_eq!(NODE_ALLOCATION, 88);
    }

    /// Reports (with `--nocapture`) the tree's bytes per 32-byte write, scattered and
    /// sequential, beside what a tree without compressed runs needs for the same leaves.
    #[test]
    fn memory_per_scattered_write() {
        const WRITES: usize = 100_000;
        let mut rng = Rng(7);
        let word = [0xabu8; LEAF_BYTES];
        let scattered = (0..WRITES).fold(Buffer::new(), |b, _| {
            b.write(rng.next() & 0x7fff_ffff_ffff_ffe0, &word)
        });
        let sequential = (0..WRITES as u64).fold(Buffer::new(), |b, i| b.write(32 * i, &word));
        for (name, buffer) in [("scattered", &scattered), ("sequential", &sequential)] {
            let leaves = buffer.nonzero_leaves().len();
            let nodes = node_count(buffer);
            let uncompressed = uncompressed_node_count(buffer);
            eprintln!(
                "{name}: {WRITES} writes, {leaves} leaves, depth {}: {nodes} nodes of {} bytes \
                 = {:.0} bytes per write (without compressed runs: {uncompressed} nodes, \
                 {:.0} bytes per write)",
                buffer.depth(),
                NODE_ALLOCATION,
                (nodes * NODE_ALLOCATION) as f64 / WRITES as f64,
                (uncompressed * NODE_ALLOCATION) as f64 / WRITES as f64,
            );
            // A full binary tree over its leaves: n leaves, n - 1 branches.
            assert_eq!(nodes, 2 * leaves - 1, "{name}");
        }
        assert!(uncompressed_node_count(&scattered) > 15 * node_count(&scattered));
    }
}
