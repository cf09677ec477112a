//! The checker contracts' operations (PROOFS.md §4, §5), one small function per opcode.
//!
//! An operation runs after the step has checked operand counts and charged the table gas. It
//! pops its operands from the work lists, checks them, and pushes results or changes the after
//! machine's fields; it returns [`Fault::Raise`] for an AVM error and [`Fault::Reject`] when the
//! proof itself is bad.

mod buffer;
mod hash;
mod main;

use avm_runtime::opcode::{self, Prover};

use super::Rejection;
use super::step::Step;
use crate::proof::ProverKind;

/// Why an operation did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// The instruction raises an AVM error: the step takes the error path.
    Raise,
    /// The proof is rejected.
    Reject(Rejection),
}

impl From<Rejection> for Fault {
    fn from(rejection: Rejection) -> Fault {
        Fault::Reject(rejection)
    }
}

/// An operation's outcome.
pub(super) type OpResult = Result<(), Fault>;

/// An operation.
pub(super) type OpFn = fn(&mut Step<'_>) -> OpResult;

/// The operation of `op` in contract `prover`. A contract reverts for opcodes that are not its
/// own (PROOFS.md §1, §4); the main contract takes every invalid opcode.
pub(super) fn operation(prover: ProverKind, op: u8) -> Result<OpFn, Rejection> {
    let wrong = Rejection::WrongProver { opcode: op, prover };
    if owner(op) != prover {
        return Err(wrong);
    }
    let found = match prover {
        ProverKind::Main => main::operation(op),
        ProverKind::Buffer => buffer::operation(op),
        ProverKind::Hash => hash::operation(op),
    };
    found.ok_or(wrong)
}

/// The contract that proves `op`, from the opcode table.
fn owner(op: u8) -> ProverKind {
    match opcode::info(op).map(|info| info.prover) {
        None | Some(Prover::Main) => ProverKind::Main,
        Some(Prover::Buffer) => ProverKind::Buffer,
        Some(Prover::Hash) => ProverKind::Hash,
    }
}

/// `error` and every invalid opcode: raise.
fn raise(_: &mut Step<'_>) -> OpResult {
    Err(Fault::Raise)
}
