//! The values a proof carries, as the checker's `Value.Data` sees them (PROOFS.md §3.2).
//!
//! Values live in an [`Arena`] and refer to each other by [`ValId`]; each entry stores its hash
//! and size, computed once when the entry is made from entries that already exist. So hashing
//! never walks a structure, and neither building nor dropping the arena recurses: a proof may
//! legitimately nest values arbitrarily deep (a codepoint immediate is always expanded, PROOFS.md
//! §3.1), and a malformed one may nest as deep as it has bytes.

use avm_runtime::U256;
use avm_runtime::hash::{be32, hash_codepoint, hash_int, hash_preimage, hash2, keccak};

/// The constant a buffer's Merkle root is wrapped with to give its value hash (AVM.md §2.4).
const BUFFER_HASH_TAG: u64 = 123;

/// The value hash of a buffer with raw Merkle root `root`: `hash2(123, root)` (AVM.md §2.4,
/// PROOFS.md §3.2).
pub(super) fn buffer_hash(root: &U256) -> U256 {
    hash2(&U256::from(BUFFER_HASH_TAG), root)
}

/// A reference to a value in an [`Arena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ValId(usize);

/// The shape of a value, as far as the proof reveals it.
#[derive(Clone, Debug)]
pub(super) enum Node {
    /// An Int.
    Int(U256),
    /// A codepoint. Its opcode, immediate and next hash enter only its hash: no operation
    /// of the checker looks inside a codepoint operand.
    CodePoint,
    /// A value known only by hash and size: a tuple sent as its pre-image (type 2), or what
    /// `pcpush`, `errpush` and `errcodepoint` push. Not a tuple for any operation (§3.2).
    Hashed,
    /// An expanded tuple of 0 to 8 slots (types 3–11).
    Tuple(Vec<ValId>),
    /// A buffer, by its raw Merkle root (type 12).
    Buffer { root: U256 },
}

/// One arena entry: the value and its cached hash and size (AVM.md §1.3, §2).
#[derive(Clone, Debug)]
struct Entry {
    node: Node,
    hash: U256,
    size: U256,
}

/// Every value decoded from one proof or made while executing its step.
#[derive(Debug, Default)]
pub(super) struct Arena {
    entries: Vec<Entry>,
}

impl Arena {
    fn add(&mut self, node: Node, hash: U256, size: U256) -> ValId {
        self.entries.push(Entry { node, hash, size });
        ValId(self.entries.len() - 1)
    }

    fn entry(&self, id: ValId) -> &Entry {
        // Ids are only made by `add`, and entries are never removed, so the index is valid.
        &self.entries[id.0]
    }

    /// An Int.
    pub(super) fn int(&mut self, x: U256) -> ValId {
        self.add(Node::Int(x), hash_int(&x), U256::one())
    }

    /// The Int 1 or 0.
    pub(super) fn boolean(&mut self, b: bool) -> ValId {
        self.int(U256::from(u8::from(b)))
    }

    /// A codepoint, hashed as in AVM.md §2.3.
    pub(super) fn codepoint(&mut self, opcode: u8, immediate: Option<ValId>, next: U256) -> ValId {
        let imm_hash = immediate.map(|imm| self.hash(imm));
        let hash = hash_codepoint(opcode, imm_hash.as_ref(), &next);
        self.add(Node::CodePoint, hash, U256::one())
    }

    /// A tuple sent as its pre-image `(inner, size)`.
    pub(super) fn preimage(&mut self, inner: U256, size: U256) -> ValId {
        self.add(Node::Hashed, hash_preimage(&inner, &size), size)
    }

    /// A hash-only value of size 1 (PROOFS.md §4: `pcpush`, `errpush`, `errcodepoint`; §6:
    /// the data slot of an inbox message).
    pub(super) fn hash_only(&mut self, hash: U256) -> ValId {
        self.add(Node::Hashed, hash, U256::one())
    }

    /// An expanded tuple; the caller keeps `slots.len() <= 8`.
    pub(super) fn tuple(&mut self, slots: Vec<ValId>) -> ValId {
        let (inner, size) = self.tuple_preimage(&slots);
        self.add(Node::Tuple(slots), hash_preimage(&inner, &size), size)
    }

    /// The pre-image of a tuple with these slots (AVM.md §2.2), size wrapping at 2^256.
    fn tuple_preimage(&self, slots: &[ValId]) -> (U256, U256) {
        let mut bytes = Vec::with_capacity(1 + 32 * slots.len());
        bytes.push(slots.len() as u8);
        let mut size = U256::one();
        for &slot in slots {
            let entry = self.entry(slot);
            bytes.extend_from_slice(&be32(&entry.hash));
            size = size.overflowing_add(entry.size).0;
        }
        (keccak(&[&bytes]), size)
    }

    /// The empty tuple `()`.
    pub(super) fn empty_tuple(&mut self) -> ValId {
        self.tuple(Vec::new())
    }

    /// A buffer with this raw Merkle root.
    pub(super) fn buffer(&mut self, root: U256) -> ValId {
        self.add(Node::Buffer { root }, buffer_hash(&root), U256::one())
    }

    /// What the value is.
    pub(super) fn node(&self, id: ValId) -> &Node {
        &self.entry(id).node
    }

    /// The value hash (AVM.md §2).
    pub(super) fn hash(&self, id: ValId) -> U256 {
        self.entry(id).hash
    }

    /// The value size (AVM.md §1.3).
    pub(super) fn size(&self, id: ValId) -> U256 {
        self.entry(id).size
    }

    /// The Int's value, if it is an Int.
    pub(super) fn as_int(&self, id: ValId) -> Option<U256> {
        match self.node(id) {
            Node::Int(x) => Some(*x),
            _ => None,
        }
    }

    /// The slots, if it is an expanded tuple (a pre-image is not, PROOFS.md §3.2).
    pub(super) fn as_tuple(&self, id: ValId) -> Option<&[ValId]> {
        match self.node(id) {
            Node::Tuple(slots) => Some(slots),
            _ => None,
        }
    }

    /// The raw Merkle root, if it is a buffer.
    pub(super) fn as_buffer(&self, id: ValId) -> Option<U256> {
        match self.node(id) {
            Node::Buffer { root } => Some(*root),
            _ => None,
        }
    }

    /// Whether it is a codepoint.
    pub(super) fn is_codepoint(&self, id: ValId) -> bool {
        matches!(self.node(id), Node::CodePoint)
    }

    /// Whether every tuple within `level` levels of the top is expanded, as the prover's
    /// marshal level requires (PROOFS.md §3.1, §3.3). Codepoint immediates are not checked:
    /// no operation looks inside them. Iterative, with a worklist.
    pub(super) fn expanded_to(&self, id: ValId, level: u8) -> bool {
        let mut pending = vec![(id, level)];
        while let Some((id, level)) = pending.pop() {
            if level == 0 {
                continue;
            }
            match self.node(id) {
                Node::Hashed => return false,
                Node::Tuple(slots) => pending.extend(slots.iter().map(|&s| (s, level - 1))),
                Node::Int(_) | Node::CodePoint | Node::Buffer { .. } => {}
            }
        }
        true
    }
}
