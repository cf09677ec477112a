//! What a run leaves that anyone can observe: the unit of comparison between engines.

use avm_runtime::{Isolated, U256, Value};

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

/// An [`Observed`] on its way to another thread: its values deep-copied, as a machine's are
/// ([`crate::Detached`]).
#[derive(Debug)]
pub struct DetachedObserved(Isolated<Counts>);

/// An [`Observed`] apart from its values, and how many of them each list holds.
#[derive(Debug)]
struct Counts {
    stop: Stop,
    steps: u64,
    gas_used: u128,
    gas_remaining: U256,
    hash: U256,
    sends: Vec<Vec<u8>>,
    lens: [usize; 3],
}

impl Observed {
    /// A copy that can move to another thread.
    pub fn detach(&self) -> DetachedObserved {
        let counts = Counts {
            stop: self.stop.clone(),
            steps: self.steps,
            gas_used: self.gas_used,
            gas_remaining: self.gas_remaining,
            hash: self.hash,
            sends: self.sends.clone(),
            lens: [self.logs.len(), self.stack.len(), self.aux.len()],
        };
        let values = self.logs.iter().chain(&self.stack).chain(&self.aux);
        DetachedObserved(Isolated::new(counts, values))
    }
}

impl DetachedObserved {
    /// The observation, on this thread.
    pub fn attach(self) -> Observed {
        let (counts, values) = self.0.into_parts();
        let mut values = values.into_iter();
        let [logs, stack, aux] = counts.lens.map(|n| values.by_ref().take(n).collect());
        Observed {
            stop: counts.stop,
            steps: counts.steps,
            gas_used: counts.gas_used,
            gas_remaining: counts.gas_remaining,
            hash: counts.hash,
            logs,
            sends: counts.sends,
            stack,
            aux,
        }
    }
}
