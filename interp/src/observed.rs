//! What a run leaves that anyone can observe: the unit of comparison between engines.

use avm_runtime::{U256, Value};

use crate::{Machine, Stop};

/// Everything observable after a run: why it stopped, its counters, the machine hash, its
/// outputs and both stacks. Two engines agree on a run exactly when these are equal.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Why the run returned.
    pub stop: Stop,
    /// Steps since the program started.
    pub steps: u64,
    /// Gas used since the program started.
    pub gas_used: u128,
    /// Gas remaining.
    pub gas_remaining: U256,
    /// The machine hash.
    pub hash: U256,
    /// Logged values.
    pub logs: Vec<Value>,
    /// Sent messages.
    pub sends: Vec<Vec<u8>>,
    /// The data stack, bottom first.
    pub stack: Vec<Value>,
    /// The aux stack, bottom first.
    pub aux: Vec<Value>,
}

impl Observed {
    /// What `machine` shows after a run that returned `stop`.
    pub fn of(machine: &mut Machine, stop: Stop) -> Observed {
        let out = machine.outputs();
        let (steps, gas_used, logs, sends) =
            (out.steps, out.gas_used, out.logs.clone(), out.sends.clone());
        Observed {
            stop,
            steps,
            gas_used,
            gas_remaining: machine.gas_remaining(),
            hash: machine.hash(),
            logs,
            sends,
            stack: machine.stack().values().to_vec(),
            aux: machine.aux_stack().values().to_vec(),
        }
    }
}
