//! The reference AVM interpreter.
//!
//! It defines the semantics every other engine is checked against: the step algorithm of
//! AVM.md §7.1, every opcode of §8 and §10, blocking (§9), the machine hash (§5.2) and the
//! host-level step and gas limits (§6.1). It is also built for speed, because cold code and
//! every proving run go through it: code is pre-decoded into an array indexed by pc, Ints live
//! inline, tuple operations share their slots, and nothing is hashed until a hash is asked for.
//!
//! ```
//! use std::sync::Arc;
//!
//! use avm_interp::{Limits, Machine, Status, Stop};
//! use avm_runtime::asm::assemble;
//!
//! // Sums its one inbox message's first slot with 5, logs the result and halts.
//! let program = Arc::new(assemble("inbox\ntget 0\nadd 5\nlog\nhalt\n")?);
//! let mut machine = Machine::new(Arc::clone(&program));
//! assert_eq!(machine.run(&Limits::default()), Stop::Blocked(avm_interp::BlockReason::Inbox));
//! machine.push_inbox(avm_runtime::Value::tuple(vec![avm_runtime::Value::int(37u64)]));
//! assert_eq!(machine.run(&Limits::default()), Stop::Halted);
//! assert_eq!(machine.status(), Status::Halted);
//! assert_eq!(machine.outputs().logs, [avm_runtime::Value::int(42u64)]);
//! assert_eq!(machine.outputs().gas_used, 40 + 2 + 3 + 100 + 10);
//! // Steps and gas are counted exactly, and the state has its Merkle-style hash.
//! assert_eq!(machine.outputs().steps, 5);
//! let _hash = machine.hash();
//! # Ok::<(), avm_runtime::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod challenge;
mod code;
pub mod engine_hooks;
pub mod l1_inbox;
mod machine;
mod observed;
mod ops;
pub mod proof;
pub mod prove;
mod run;
mod snapshot;
mod stack;
pub mod verify;

pub use code::Pc;
pub use ops::int_pair;

/// Where compiled code finds a machine's core: [`Machine`], [`Stack`] and [`Pc`] have fixed
/// layouts, checked against `offset_of!` when this crate compiles.
pub mod layout {
    pub use crate::machine::layout::*;

    /// The fields of a [`crate::Stack`], from the stack's own offset.
    pub mod stack {
        pub use crate::stack::layout::*;
    }
}
pub use machine::{Machine, Outputs, Status};
pub use observed::{DetachedObserved, Observed};
pub use run::{BlockReason, GasBound, Limits, StepOutcome, Stop};
pub use snapshot::{Detached, RestoreError, Snapshot};
pub use stack::Stack;

/// Why an instruction raised an AVM error (AVM.md §6.2).
///
/// This is machine semantics, not a host failure: the machine removes the operands and jumps to
/// its error handler (or stops in ErrorStop). It never leaves the interpreter as a Rust error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OpError {
    /// Fewer operands on a stack than the opcode pops.
    Underflow,
    /// Not enough gas remaining for the instruction's cost.
    OutOfGas,
    /// The opcode byte is not in the table (including `ERR`'s 0).
    InvalidOpcode,
    /// An operand of the wrong kind.
    WrongKind,
    /// Division or modulus by zero.
    DivisionByZero,
    /// A tuple index past the end.
    IndexOutOfRange,
    /// A buffer offset or value outside its allowed range.
    OutOfRange,
    /// A `send` whose size or data is not allowed.
    BadSend,
    /// An elliptic-curve operand that is not a valid point, or a malformed pairing list.
    BadCurvePoint,
    /// The `error` opcode.
    Raised,
}

impl OpError {
    /// A short snake_case name for traces and reports.
    pub const fn name(self) -> &'static str {
        match self {
            OpError::Underflow => "underflow",
            OpError::OutOfGas => "out_of_gas",
            OpError::InvalidOpcode => "invalid_opcode",
            OpError::WrongKind => "wrong_kind",
            OpError::DivisionByZero => "division_by_zero",
            OpError::IndexOutOfRange => "index_out_of_range",
            OpError::OutOfRange => "out_of_range",
            OpError::BadSend => "bad_send",
            OpError::BadCurvePoint => "bad_curve_point",
            OpError::Raised => "error",
        }
    }
}
