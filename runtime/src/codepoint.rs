//! Codepoints: an operation, an optional immediate, and the hash of the codepoint after it.

use std::fmt;
use std::sync::{Arc, LazyLock};

use primitive_types::U256;

use crate::hash::{ERR_CODEPOINT_HASH, hash_codepoint};
use crate::value::{Value, dismantle};

/// An AVM codepoint value (AVM.md §2.3, §4).
///
/// A codepoint knows its own hash, computed once when it is built. Two codepoints with the same
/// hash behave the same however they were built; the [`Next`] link only says where an engine
/// finds the following instruction.
#[derive(Clone)]
pub struct CodePoint(Arc<CodeNode>);

struct CodeNode {
    opcode: u8,
    immediate: Option<Value>,
    next_hash: U256,
    hash: U256,
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

static ERR: LazyLock<CodePoint> =
    LazyLock::new(|| CodePoint::build(0, None, U256::zero(), Next::End));

impl CodePoint {
    fn build(opcode: u8, immediate: Option<Value>, next_hash: U256, next: Next) -> CodePoint {
        let hash = hash_codepoint(
            opcode,
            immediate.as_ref().map(Value::hash).as_ref(),
            &next_hash,
        );
        CodePoint(Arc::new(CodeNode {
            opcode,
            immediate,
            next_hash,
            hash,
            next,
        }))
    }

    /// The error codepoint `ERR` (opcode 0, no immediate, next hash 0), shared.
    pub fn err() -> CodePoint {
        ERR.clone()
    }

    /// Instruction `pc` of a loaded program whose following instruction hashes to `next_hash`.
    pub fn loaded(opcode: u8, immediate: Option<Value>, next_hash: U256, pc: u32) -> CodePoint {
        CodePoint::build(opcode, immediate, next_hash, Next::Loaded { pc })
    }

    /// A codepoint made at run time that continues at `next` (`pushinsn`, `pushinsnimm`).
    pub fn dynamic(opcode: u8, immediate: Option<Value>, next: CodePoint) -> CodePoint {
        let next_hash = next.hash();
        CodePoint::build(opcode, immediate, next_hash, Next::Dynamic(next))
    }

    /// A codepoint known only by its parts, with the next codepoint given by hash.
    pub fn detached(opcode: u8, immediate: Option<Value>, next_hash: U256) -> CodePoint {
        CodePoint::build(opcode, immediate, next_hash, Next::HashOnly)
    }

    /// The opcode byte.
    pub fn opcode(&self) -> u8 {
        self.0.opcode
    }

    /// The immediate value, if any.
    pub fn immediate(&self) -> Option<&Value> {
        self.0.immediate.as_ref()
    }

    /// The hash of the codepoint that follows.
    pub fn next_hash(&self) -> U256 {
        self.0.next_hash
    }

    /// This codepoint's hash.
    pub fn hash(&self) -> U256 {
        self.0.hash
    }

    /// Where execution continues after this codepoint.
    pub fn next(&self) -> &Next {
        &self.0.next
    }

    /// Whether this codepoint counts as "no error handler" (AVM.md §4.4): its hash is `H_ERR`.
    pub fn is_err(&self) -> bool {
        self.0.hash == *ERR_CODEPOINT_HASH
    }

    /// Whether both handles share the same node.
    pub fn ptr_eq(&self, other: &CodePoint) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Whether dropping this node may have to walk owned values (an immediate or a run-time
    /// chain), which iterative drop handles.
    pub(crate) fn owns_children(&self) -> bool {
        self.0.immediate.is_some() || matches!(self.0.next, Next::Dynamic(_))
    }

    /// Takes the values this node owns if this is the last handle to it; used by iterative drop.
    pub(crate) fn into_children_if_unique(self) -> Option<Vec<Value>> {
        Arc::into_inner(self.0).map(|mut node| node.take_children())
    }
}

impl CodeNode {
    fn take_children(&mut self) -> Vec<Value> {
        let mut children: Vec<Value> = self.immediate.take().into_iter().collect();
        if let Next::Dynamic(next) = std::mem::replace(&mut self.next, Next::End) {
            children.push(Value::CodePoint(next));
        }
        children
    }
}

impl Drop for CodeNode {
    fn drop(&mut self) {
        let chained = matches!(self.next, Next::Dynamic(_));
        let deep_immediate = matches!(&self.immediate, Some(v) if v.owns_children());
        if chained || deep_immediate {
            dismantle(self.take_children());
        }
    }
}

impl fmt::Debug for CodePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Value::CodePoint(self.clone()), f)
    }
}
