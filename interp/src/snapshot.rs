//! Plain-data snapshots of a machine, for checkpoint stores and hosts that move machines.
//!
//! A [`Snapshot`] is everything a [`Machine`] is apart from its program and caches: values,
//! numbers and the pc. [`Machine::restore`] with the same program gives back a machine with the
//! same hash that continues exactly as the original would. The run loop never looks at this
//! module; taking a snapshot clones handles (values are shared, not copied).

use std::collections::VecDeque;
use std::sync::Arc;

use avm_runtime::{CodePoint, Program, U256, Value};

use crate::code::{Code, Pc};
use crate::machine::{Machine, Outputs, Status};
use crate::stack::Stack;

/// A machine's complete state without its program.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Where the machine is: a loaded instruction index (`len` is `ERR`) or a run-time
    /// codepoint.
    pub pc: Pc,
    /// The data stack, bottom first.
    pub stack: Vec<Value>,
    /// The aux stack, bottom first.
    pub aux: Vec<Value>,
    /// The register.
    pub register: Value,
    /// The static value.
    pub static_value: Value,
    /// Remaining AVM gas.
    pub gas: U256,
    /// The error handler codepoint (`CodePoint::err()` for none).
    pub err_handler: CodePoint,
    /// Running, halted or error-stopped.
    pub status: Status,
    /// Steps, gas used, pending logs/sends/prints and the accumulators.
    pub outputs: Outputs,
    /// Inbox messages queued and not yet read, oldest first.
    pub inbox: Vec<Value>,
    /// Sideload values queued and not yet read, oldest first.
    pub sideloads: Vec<Value>,
}

/// Why a snapshot does not fit the program it was restored with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// The pc names an instruction past the program's `ERR`.
    PcOutOfRange {
        /// The pc's index.
        index: u32,
        /// The program's instruction count.
        len: usize,
    },
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::PcOutOfRange { index, len } => {
                write!(f, "pc {index} is outside the program ({len} instructions)")
            }
        }
    }
}

impl std::error::Error for RestoreError {}

impl Machine {
    /// The machine's complete state apart from its program. Cheap: values are shared.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            pc: self.pc.clone(),
            stack: self.stack.values().to_vec(),
            aux: self.aux.values().to_vec(),
            register: self.register.clone(),
            static_value: self.static_value.clone(),
            gas: self.gas,
            err_handler: self.err_handler.clone(),
            status: self.status,
            outputs: self.out.clone(),
            inbox: self.inbox.iter().cloned().collect(),
            sideloads: self.sideloads.iter().cloned().collect(),
        }
    }

    /// A machine running `program` in the state `snapshot` describes. A loaded pc must be an
    /// instruction of `program`; a dynamic pc (or error handler) that is one of the program's
    /// own codepoints is resolved to its index, as a jump to it would be.
    pub fn restore(program: Arc<Program>, snapshot: Snapshot) -> Result<Machine, RestoreError> {
        let code = Arc::new(Code::new(program));
        let pc = match snapshot.pc {
            Pc::Loaded(index) if index as usize > code.program.len() => {
                return Err(RestoreError::PcOutOfRange {
                    index,
                    len: code.program.len(),
                });
            }
            Pc::Loaded(index) => Pc::Loaded(index),
            Pc::Dynamic(cp) => code.resolve(&cp),
        };
        let mut machine = Machine {
            code,
            pc,
            stack: Stack::from_values(snapshot.stack),
            aux: Stack::from_values(snapshot.aux),
            register: snapshot.register,
            static_value: snapshot.static_value,
            gas: snapshot.gas,
            err_handler: CodePoint::err(),
            err_target: None,
            status: snapshot.status,
            out: snapshot.outputs,
            inbox: VecDeque::from(snapshot.inbox),
            sideloads: VecDeque::from(snapshot.sideloads),
        };
        machine.set_error_handler(snapshot.err_handler);
        Ok(machine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn restored_machines_continue_identically() {
        let program = Arc::new(
            avm_runtime::asm::assemble(
                "push 0\nloop:\npush 1\nadd\ndup0\nlog\ndup0\npush 50\ngt\ncjump @loop\nhalt",
            )
            .unwrap(),
        );
        let mut original = Machine::new(Arc::clone(&program));
        for chunk in [0u64, 1, 3, 7, 40] {
            original.run(&Limits {
                max_steps: Some(chunk),
                ..Limits::default()
            });
            let mut copy = Machine::restore(Arc::clone(&program), original.snapshot()).unwrap();
            assert_eq!(copy.hash(), original.hash());
            let mut reference = original.clone();
            reference.run(&Limits::default());
            copy.run(&Limits::default());
            assert_eq!(copy.hash(), reference.hash());
            assert_eq!(copy.outputs().logs, reference.outputs().logs);
            assert_eq!(copy.outputs().steps, reference.outputs().steps);
        }
    }
}
