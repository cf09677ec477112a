//! Ways for an execution engine to change a machine without the interpreter: for the JITs of
//! `avm-engine`, which run parts of a program as native code and then apply what it did.
//!
//! Unstable, and not for other callers: these skip every check the interpreter makes, so a
//! caller that gets them wrong leaves a machine no execution could reach (operands that were
//! never there, a pc at no instruction, steps and gas that no run counts). They live behind a
//! trait of their own so that code using them says so with an import.

use avm_runtime::CodePoint;

use crate::code::Pc;
use crate::machine::{Machine, Status};
use crate::stack::Stack;

/// The engine's hooks into a [`Machine`].
pub trait EngineHooks {
    /// The data stack, to apply an effect computed elsewhere.
    fn stack_mut(&mut self) -> &mut Stack;

    /// The aux stack, to apply an effect computed elsewhere.
    fn aux_stack_mut(&mut self) -> &mut Stack;

    /// Accounts for `steps` instructions costing `gas` in total, executed elsewhere. The
    /// caller has checked that the remaining gas covers `gas` ([`Machine::gas_covers`]).
    fn charge_executed(&mut self, steps: u64, gas: u64);

    /// Moves the pc to loaded instruction `index`.
    fn goto_loaded(&mut self, index: u32);

    /// Moves the pc to `target`, as a jump to it does.
    fn jump_to(&mut self, target: &CodePoint);

    /// Stops the machine as `halt` does.
    fn halt(&mut self);
}

impl EngineHooks for Machine {
    fn stack_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }

    fn aux_stack_mut(&mut self) -> &mut Stack {
        &mut self.aux
    }

    fn charge_executed(&mut self, steps: u64, gas: u64) {
        Machine::charge_executed(self, steps, gas);
    }

    fn goto_loaded(&mut self, index: u32) {
        self.pc = Pc::Loaded(index);
    }

    fn jump_to(&mut self, target: &CodePoint) {
        self.pc = self.code.resolve(target);
    }

    fn halt(&mut self) {
        self.status = Status::Halted;
    }
}
