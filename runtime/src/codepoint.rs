//! Codepoints: an operation, an optional immediate, and the hash of the codepoint after it.

use std::cell::OnceCell;
use std::fmt;
use std::sync::LazyLock;

use primitive_types::U256;

use crate::hash::hash_codepoint;
use crate::heap::{Frozen, Shared};
use crate::value::{Unhashed, Value, fill_hashes, release};

/// An AVM codepoint value (AVM.md §2.3, §4).
///
/// Two codepoints with the same hash behave the same however they were built; the [`Next`]
/// link only says where an engine finds the following instruction. Loaded codepoints are hashed
/// when the program is linked; codepoints built at run time are hashed on first request (most
/// are only ever executed), without recursion however long their chain.
#[derive(Clone)]
pub struct CodePoint(Shared<CodeNode>);

pub(crate) struct CodeNode {
    opcode: u8,
    immediate: Option<Value>,
    /// The next codepoint's hash, for every kind but [`Next::Dynamic`] (whose next knows it).
    fixed_next_hash: U256,
    hash: OnceCell<U256>,
    next: Next,
}

/// Where execution continues after a codepoint that does not transfer control.
#[derive(Clone, Debug)]
pub enum Next {
    /// Instruction `pc + 1` of the loaded program that holds this codepoint at `pc`.
    Loaded {
        /// This codepoint's index in its program.
        pc: u32,
    },
    /// A codepoint built at run time by `pushinsn`/`pushinsnimm`: continue at this one.
    Dynamic(CodePoint),
    /// Only the next codepoint's hash is known (a value decoded from bytes).
    HashOnly,
    /// This is `ERR` (or equal to it): executing it raises an error.
    End,
}

static ERR: LazyLock<Frozen<CodePoint>> =
    LazyLock::new(|| Frozen::new(CodePoint::build(0, None, U256::zero(), Next::End)));

impl CodePoint {
    fn build(opcode: u8, immediate: Option<Value>, next_hash: U256, next: Next) -> CodePoint {
        let node = CodeNode {
            opcode,
            immediate,
            fixed_next_hash: next_hash,
            hash: OnceCell::new(),
            next,
        };
        CodePoint(Shared::new(node, std::iter::empty()))
    }

    /// The error codepoint `ERR` (opcode 0, no immediate, next hash 0), immortal.
    pub fn err() -> CodePoint {
        ERR.get().clone()
    }

    /// Instruction `pc` of a loaded program whose following instruction hashes to `next_hash`.
    pub fn loaded(opcode: u8, immediate: Option<Value>, next_hash: U256, pc: u32) -> CodePoint {
        let cp = CodePoint::build(opcode, immediate, next_hash, Next::Loaded { pc });
        cp.hash();
        cp
    }

    /// A codepoint made at run time that continues at `next` (`pushinsn`, `pushinsnimm`).
    pub fn dynamic(opcode: u8, immediate: Option<Value>, next: CodePoint) -> CodePoint {
        CodePoint::build(opcode, immediate, U256::zero(), Next::Dynamic(next))
    }

    /// A codepoint known only by its parts, with the next codepoint given by hash.
    pub fn detached(opcode: u8, immediate: Option<Value>, next_hash: U256) -> CodePoint {
        CodePoint::build(opcode, immediate, next_hash, Next::HashOnly)
    }

    /// The opcode byte.
    pub fn opcode(&self) -> u8 {
        self.0.header().opcode
    }

    /// The immediate value, if any.
    pub fn immediate(&self) -> Option<&Value> {
        self.0.header().immediate.as_ref()
    }

    /// The hash of the codepoint that follows.
    pub fn next_hash(&self) -> U256 {
        let node = self.node();
        match &node.next {
            Next::Dynamic(next) => next.hash(),
            _ => node.fixed_next_hash,
        }
    }

    /// This codepoint's hash (AVM.md §2.3).
    pub fn hash(&self) -> U256 {
        if let Some(hash) = self.node().hash.get() {
            return *hash;
        }
        fill_hashes(Unhashed::Code(self.node()));
        *self.node().hash.get().expect("hashed above")
    }

    /// Where execution continues after this codepoint.
    pub fn next(&self) -> &Next {
        &self.node().next
    }

    /// Whether this codepoint counts as "no error handler" (AVM.md §4.4): its hash is `H_ERR`.
    ///
    /// Decided without hashing: only opcode 0 with no immediate and next hash 0 hashes to
    /// `H_ERR`, and a run-time codepoint's next hash is a real codepoint's keccak, never 0.
    pub fn is_err(&self) -> bool {
        let node = self.node();
        node.opcode == 0
            && node.immediate.is_none()
            && !matches!(node.next, Next::Dynamic(_))
            && node.fixed_next_hash.is_zero()
    }

    /// Whether both handles share the same node.
    pub fn ptr_eq(&self, other: &CodePoint) -> bool {
        self.0.ptr_eq(&other.0)
    }

    pub(crate) fn node(&self) -> &CodeNode {
        self.0.header()
    }

    pub(crate) fn shared(&self) -> &Shared<CodeNode> {
        &self.0
    }

    /// The values this codepoint holds: its immediate, then a run-time next codepoint.
    pub(crate) fn children(&self) -> impl Iterator<Item = Value> + '_ {
        let node = self.node();
        let next = match &node.next {
            Next::Dynamic(next) => Some(Value::CodePoint(next.clone())),
            _ => None,
        };
        node.immediate.iter().cloned().chain(next)
    }

    /// A codepoint equal to this one whose [`CodePoint::children`] are `parts`: for a deep copy.
    pub(crate) fn copy_with(&self, mut parts: Vec<Value>) -> CodePoint {
        let node = self.node();
        let next = match &node.next {
            Next::Dynamic(_) => match parts.pop() {
                Some(Value::CodePoint(next)) => Next::Dynamic(next),
                _ => unreachable!("a run-time codepoint's copy gets its next codepoint"),
            },
            other => other.clone(),
        };
        let copy = CodeNode {
            opcode: node.opcode,
            immediate: parts.pop(),
            fixed_next_hash: node.fixed_next_hash,
            hash: node.hash.clone(),
            next,
        };
        CodePoint(Shared::new(copy, std::iter::empty()))
    }

    /// Whether this is the last handle to a node that owns further structure.
    pub(crate) fn is_unique_parent(&self) -> bool {
        self.owns_children() && self.0.is_unique()
    }

    /// Whether dropping this node may have to walk owned values (an immediate or a run-time
    /// chain), which iterative drop handles.
    pub(crate) fn owns_children(&self) -> bool {
        let node = self.node();
        node.immediate.is_some() || matches!(node.next, Next::Dynamic(_))
    }

    /// Takes the values this node owns if this is the last handle to it; used by iterative drop.
    pub(crate) fn into_children_if_unique(self) -> Option<Vec<Value>> {
        let (mut node, _) = self.0.into_parts().ok()?;
        Some(node.take_children())
    }
}

impl CodeNode {
    pub(crate) fn is_hashed(&self) -> bool {
        self.hash.get().is_some()
    }

    /// An operand of this node's hash that is not hashed yet.
    pub(crate) fn unhashed_part(&self) -> Option<Unhashed<'_>> {
        let next = match &self.next {
            Next::Dynamic(next) if !next.node().is_hashed() => Some(Unhashed::Code(next.node())),
            _ => None,
        };
        next.or_else(|| self.immediate.as_ref().and_then(Value::unhashed))
    }

    /// Computes and caches the hash; every part is already hashed.
    pub(crate) fn store_hash(&self) {
        let next_hash = match &self.next {
            Next::Dynamic(next) => *next.node().hash.get().expect("parts are hashed first"),
            _ => self.fixed_next_hash,
        };
        let immediate = self.immediate.as_ref().map(Value::hash);
        let _ = self
            .hash
            .set(hash_codepoint(self.opcode, immediate.as_ref(), &next_hash));
    }

    fn take_children(&mut self) -> Vec<Value> {
        let mut children: Vec<Value> = self.immediate.take().into_iter().collect();
        if let Next::Dynamic(next) = std::mem::replace(&mut self.next, Next::End) {
            children.push(Value::CodePoint(next));
        }
        children
    }
}

/// Frees run-time chains of any length without recursion: a node that holds the last handle to
/// its next node or to a structured immediate hands them to [`release`].
impl Drop for CodeNode {
    fn drop(&mut self) {
        let unique_next = matches!(&self.next, Next::Dynamic(next) if next.0.is_unique());
        let unique_immediate = self.immediate.as_ref().is_some_and(Value::is_unique_parent);
        if unique_next || unique_immediate {
            release(self.take_children().into_iter());
        }
    }
}

impl fmt::Debug for CodePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Value::CodePoint(self.clone()), f)
    }
}
