//! Machine state (AVM.md §5) and its hash.

use std::collections::VecDeque;
use std::sync::Arc;

use avm_runtime::hash::{ERR_CODEPOINT_HASH, MachineHashParts};
use avm_runtime::{CodePoint, Program, U256, Value};

use crate::code::{Code, Pc};
use crate::stack::Stack;

/// Whether a machine can run (AVM.md §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Running ("Extensive").
    Running,
    /// Stopped by `halt`; hashes to 0.
    Halted,
    /// Stopped by an error with no handler; hashes to 1.
    ErrorStop,
}

/// Cumulative outputs outside the machine hash (AVM.md §5.3). `#[repr(C)]`: the counters
/// compiled code keeps come first ([`layout`]).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct Outputs {
    /// Instructions executed, errors included, blocked attempts not.
    pub steps: u64,
    /// The sum of every gas charge (`setgas` does not change it).
    pub gas_used: u128,
    /// Values logged by `log`, in order.
    pub logs: Vec<Value>,
    /// `hash2(log_acc, hash(v))` over every log.
    pub log_acc: U256,
    /// Logs so far; unlike `logs.len()` it survives [`Machine::take_outputs`] (assertions,
    /// PROOFS.md §7, count every log since the start).
    pub log_count: u64,
    /// Messages sent by `send`, in order.
    pub sends: Vec<Vec<u8>>,
    /// `keccak(be32(send_acc) ‖ keccak(m))` over every send.
    pub send_acc: U256,
    /// Sends so far; survives [`Machine::take_outputs`] like `log_count`.
    pub send_count: u64,
    /// Values printed by `debugprint`.
    pub debug_prints: Vec<Value>,
    /// Inbox messages consumed by `inbox`.
    pub inbox_consumed: u64,
    /// The inbox accumulator after the consumed messages, advanced only when `inbox` runs (see
    /// [`crate::prove`] for the one-message-per-batch model it follows, PROOFS.md §6).
    pub inbox_acc: U256,
}

/// An AVM machine: a program and the state of a run of it.
///
/// Cloning shares the program and every value; only the stacks' vectors are copied.
///
/// `#[repr(C)]`: the core that a step reads and writes (the stacks, register, static value,
/// gas, pc, status, steps and gas used) comes first, at the offsets of [`layout`], so that
/// compiled code can run the machine in place.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Machine {
    pub(crate) stack: Stack,
    pub(crate) aux: Stack,
    pub(crate) register: Value,
    pub(crate) static_value: Value,
    pub(crate) gas: U256,
    pub(crate) pc: Pc,
    pub(crate) status: Status,
    pub(crate) out: Outputs,
    pub(crate) code: Arc<Code>,
    pub(crate) err_handler: CodePoint,
    /// Where an error jumps; `None` when the handler hashes to `H_ERR` (no handler).
    pub(crate) err_target: Option<Pc>,
    pub(crate) inbox: VecDeque<Value>,
    pub(crate) sideloads: VecDeque<Value>,
}

/// The layout of a [`Machine`]'s core, for compiled code. Each stack is a [`Stack`] (its own
/// offsets in [`crate::stack::layout`]), each value 16 bytes (`avm_runtime::value::layout`),
/// the gas four little-endian 64-bit limbs.
pub mod layout {
    /// The offset of the data stack.
    pub const STACK: usize = 0;
    /// The offset of the aux stack.
    pub const AUX: usize = 88;
    /// The offset of the register.
    pub const REGISTER: usize = 176;
    /// The offset of the static value.
    pub const STATIC: usize = 192;
    /// The offset of the remaining gas.
    pub const GAS: usize = 208;
    /// The offset of the pc's kind word (`u32`: 0 a loaded instruction, 1 a run-time
    /// codepoint).
    pub const PC_KIND: usize = 240;
    /// The offset of a loaded pc's index (`u32`).
    pub const PC_INDEX: usize = 244;
    /// The offset of the status (`u8`: 0 running, 1 halted, 2 error-stopped).
    pub const STATUS: usize = 256;
    /// The offset of the steps executed (`u64`).
    pub const STEPS: usize = 272;
    /// The offset of the gas used (`u128`).
    pub const GAS_USED: usize = 288;
    /// The pc's kind word for a loaded instruction.
    pub const PC_LOADED: u32 = 0;
    /// The offset of the error handler: a codepoint, one pointer word (the payload word of
    /// the `Value::CodePoint` that `errpush` pushes).
    pub const ERR_HANDLER: usize = std::mem::offset_of!(super::Machine, err_handler);
}

const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Machine, stack) == layout::STACK);
    assert!(offset_of!(Machine, aux) == layout::AUX);
    assert!(offset_of!(Machine, register) == layout::REGISTER);
    assert!(offset_of!(Machine, static_value) == layout::STATIC);
    assert!(offset_of!(Machine, gas) == layout::GAS);
    assert!(offset_of!(Machine, pc) == layout::PC_KIND);
    assert!(offset_of!(Machine, status) == layout::STATUS);
    assert!(offset_of!(Machine, out) + offset_of!(Outputs, steps) == layout::STEPS);
    assert!(offset_of!(Machine, out) + offset_of!(Outputs, gas_used) == layout::GAS_USED);
    assert!(std::mem::size_of::<Pc>() == 16);
    assert!(std::mem::size_of::<CodePoint>() == 8);
};

impl Machine {
    /// A fresh machine at the program's first instruction (AVM.md §5.1, MEXE.md §5).
    pub fn new(program: impl Into<Arc<Program>>) -> Machine {
        let program = program.into();
        let static_value = program.static_value().clone();
        Machine {
            code: Arc::new(Code::new(program)),
            pc: Pc::Loaded(0),
            stack: Stack::new(),
            aux: Stack::new(),
            register: Value::none(),
            static_value,
            gas: U256::MAX,
            err_handler: CodePoint::err(),
            err_target: None,
            status: Status::Running,
            out: Outputs::default(),
            inbox: VecDeque::new(),
            sideloads: VecDeque::new(),
        }
    }

    /// The program this machine runs.
    pub fn program(&self) -> &Arc<Program> {
        &self.code.program
    }

    /// Queues an inbox message (normally the 8-tuple of AVM.md §9) for `inbox` to read.
    pub fn push_inbox(&mut self, message: Value) {
        self.inbox.push_back(message);
    }

    /// Inbox messages queued and not yet read.
    pub fn pending_inbox(&self) -> usize {
        self.inbox.len()
    }

    /// Queues a value for the next `sideload` to push.
    pub fn push_sideload(&mut self, value: Value) {
        self.sideloads.push_back(value);
    }

    /// Running, halted or error-stopped.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Where the machine is.
    pub fn pc(&self) -> &Pc {
        &self.pc
    }

    /// The codepoint the machine executes next.
    pub fn current_codepoint(&self) -> CodePoint {
        self.code.codepoint(&self.pc)
    }

    /// The data stack.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The aux stack.
    pub fn aux_stack(&self) -> &Stack {
        &self.aux
    }

    /// The register.
    pub fn register(&self) -> &Value {
        &self.register
    }

    /// The static value.
    pub fn static_value(&self) -> &Value {
        &self.static_value
    }

    /// Remaining AVM gas.
    pub fn gas_remaining(&self) -> U256 {
        self.gas
    }

    /// The error handler codepoint.
    pub fn error_handler(&self) -> &CodePoint {
        &self.err_handler
    }

    /// Steps, gas used, logs, sends and the accumulators.
    pub fn outputs(&self) -> &Outputs {
        &self.out
    }

    /// Takes the logs, sends and debug prints collected so far (accumulators and counts stay).
    pub fn take_outputs(&mut self) -> (Vec<Value>, Vec<Vec<u8>>, Vec<Value>) {
        (
            std::mem::take(&mut self.out.logs),
            std::mem::take(&mut self.out.sends),
            std::mem::take(&mut self.out.debug_prints),
        )
    }

    /// The machine hash (AVM.md §5.2): 0 when halted, 1 in ErrorStop. Stack hashes are cached
    /// per depth, so asking after every step costs what the step changed.
    pub fn hash(&mut self) -> U256 {
        match self.status {
            Status::Halted => U256::zero(),
            Status::ErrorStop => U256::one(),
            Status::Running => self.hash_parts().hash(),
        }
    }

    /// The seven hashed fields of a running machine.
    pub fn hash_parts(&mut self) -> MachineHashParts {
        MachineHashParts {
            pc: self.current_codepoint().hash(),
            data_stack: self.stack.hash(),
            aux_stack: self.aux.hash(),
            register: self.register.hash(),
            static_value: self.static_value.hash(),
            gas_remaining: self.gas,
            error_handler: self.err_handler.hash(),
        }
    }

    /// Accounts for `steps` instructions costing `gas` in total, executed as one straight
    /// run (or elsewhere, by an engine). The caller has checked that the remaining gas covers
    /// `gas`.
    pub(crate) fn charge_executed(&mut self, steps: u64, gas: u64) {
        let (low, borrow) = self.gas.0[0].overflowing_sub(gas);
        if borrow {
            self.gas -= U256::from(gas);
        } else {
            self.gas.0[0] = low;
        }
        self.out.gas_used += u128::from(gas);
        self.out.steps += steps;
    }

    /// Whether the remaining gas covers `gas`.
    #[inline]
    pub fn gas_covers(&self, gas: u64) -> bool {
        self.gas.0[0] >= gas || self.gas.0[1..].iter().any(|&limb| limb != 0)
    }

    /// Installs `handler` as the error handler (`errset`).
    pub(crate) fn set_error_handler(&mut self, handler: CodePoint) {
        self.err_target =
            (handler.hash() != *ERR_CODEPOINT_HASH).then(|| self.code.resolve(&handler));
        self.err_handler = handler;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_program() {
        let program = avm_runtime::asm::assemble("push (1, 2)\nhalt").unwrap();
        let m = Machine::new(program);
        let copy = m.clone();
        assert!(Arc::ptr_eq(&m.code, &copy.code));
    }
}
