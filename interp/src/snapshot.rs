//! Plain-data snapshots of a machine, for checkpoint stores, and machines moving to another
//! thread.
//!
//! A [`Snapshot`] is everything a [`Machine`] is apart from its program and caches: values,
//! numbers and the pc. [`Machine::restore`] with the same program gives back a machine with the
//! same hash that continues exactly as the original would. The run loop never looks at this
//! module; taking a snapshot clones handles (values are shared, not copied).
//!
//! Values count their handles with plain integers and stay on their thread
//! ([`avm_runtime::heap`]), so neither a machine nor a snapshot is `Send`. A machine moves to
//! another thread as a [`Detached`]: [`Machine::detach`] deep-copies its values, sharing only
//! the program's (immortal) ones, so the copy shares no counted object with the source.

use std::collections::VecDeque;
use std::sync::Arc;

use avm_runtime::{CodePoint, Isolated, Program, U256, Value};

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

/// A machine on its way to another thread: `Send`, unlike [`Machine`] (module doc).
#[derive(Debug)]
pub struct Detached(Isolated<Parts>);

/// What a machine holds besides values.
#[derive(Debug)]
struct Parts {
    code: Arc<Code>,
    /// The loaded pc, or `None` when the pc is a run-time codepoint (the first value).
    loaded_pc: Option<u32>,
    gas: U256,
    status: Status,
    tally: Tally,
    /// How many values each list holds: data stack, aux stack, logs, debug prints, inbox,
    /// sideloads.
    lens: [usize; 6],
}

/// A machine's [`Outputs`] apart from the logged and printed values.
#[derive(Debug)]
struct Tally {
    steps: u64,
    gas_used: u128,
    log_acc: U256,
    log_count: u64,
    sends: Vec<Vec<u8>>,
    send_acc: U256,
    send_count: u64,
    inbox_consumed: u64,
    inbox_acc: U256,
}

impl Machine {
    /// A deep copy of this machine that can move to another thread (module doc). The copy
    /// shares the program and its compiled form with this machine, and no counted value.
    pub fn detach(&self) -> Detached {
        let out = &self.out;
        let tally = Tally {
            steps: out.steps,
            gas_used: out.gas_used,
            log_acc: out.log_acc,
            log_count: out.log_count,
            sends: out.sends.clone(),
            send_acc: out.send_acc,
            send_count: out.send_count,
            inbox_consumed: out.inbox_consumed,
            inbox_acc: out.inbox_acc,
        };
        let (loaded_pc, dynamic_pc) = match &self.pc {
            Pc::Loaded(index) => (Some(*index), None),
            Pc::Dynamic(cp) => (None, Some(Value::CodePoint(cp.clone()))),
        };
        let handler = Value::CodePoint(self.err_handler.clone());
        let values = dynamic_pc
            .iter()
            .chain([&self.register, &self.static_value, &handler])
            .chain(self.stack.values())
            .chain(self.aux.values())
            .chain(&out.logs)
            .chain(&out.debug_prints)
            .chain(&self.inbox)
            .chain(&self.sideloads);
        let parts = Parts {
            code: Arc::clone(&self.code),
            loaded_pc,
            gas: self.gas,
            status: self.status,
            tally,
            lens: [
                self.stack.len(),
                self.aux.len(),
                out.logs.len(),
                out.debug_prints.len(),
                self.inbox.len(),
                self.sideloads.len(),
            ],
        };
        Detached(Isolated::new(parts, values))
    }
}

impl Detached {
    /// The machine, on this thread.
    pub fn attach(self) -> Machine {
        let (parts, values) = self.0.into_parts();
        let mut values = values.into_iter();
        let codepoint = |values: &mut std::vec::IntoIter<Value>| match values.next() {
            Some(Value::CodePoint(cp)) => cp,
            _ => unreachable!("detach stores codepoints where attach reads them"),
        };
        let pc = match parts.loaded_pc {
            Some(index) => Pc::Loaded(index),
            None => Pc::Dynamic(codepoint(&mut values)),
        };
        let register = values.next().expect("detached with a register");
        let static_value = values.next().expect("detached with a static value");
        let handler = codepoint(&mut values);
        let [stack, aux, logs, debug_prints, inbox, sideloads] = parts
            .lens
            .map(|n| values.by_ref().take(n).collect::<Vec<Value>>());
        let Tally {
            steps,
            gas_used,
            log_acc,
            log_count,
            sends,
            send_acc,
            send_count,
            inbox_consumed,
            inbox_acc,
        } = parts.tally;
        let mut machine = Machine {
            code: parts.code,
            pc,
            stack: Stack::from_values(stack),
            aux: Stack::from_values(aux),
            register,
            static_value,
            gas: parts.gas,
            err_handler: CodePoint::err(),
            err_target: None,
            status: parts.status,
            out: Outputs {
                steps,
                gas_used,
                logs,
                log_acc,
                log_count,
                sends,
                send_acc,
                send_count,
                debug_prints,
                inbox_consumed,
                inbox_acc,
            },
            inbox: VecDeque::from(inbox),
            sideloads: VecDeque::from(sideloads),
        };
        machine.set_error_handler(handler);
        machine
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use avm_runtime::heap::counted_objects;

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

    /// Every value a machine holds, for the ownership checks.
    fn values(m: &Machine) -> Vec<Value> {
        let s = m.snapshot();
        let mut all = vec![s.register, s.static_value, Value::CodePoint(s.err_handler)];
        if let Pc::Dynamic(cp) = s.pc {
            all.push(Value::CodePoint(cp));
        }
        all.extend(
            s.stack
                .into_iter()
                .chain(s.aux)
                .chain(s.inbox)
                .chain(s.sideloads),
        );
        all.extend(s.outputs.logs.into_iter().chain(s.outputs.debug_prints));
        all
    }

    #[test]
    fn a_detached_copy_shares_no_counted_value_and_continues_identically() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Detached>();
        // Builds a tuple at run time and holds it in the register, both stacks and the logs.
        let program = Arc::new(
            avm_runtime::asm::assemble(
                "push 9\npush (1, (2, 3))\npush 0\ntset\ndup0\nrset\ndup0\nauxpush\n\
                 dup0\nlog\nerrpush\npush 1\nadd\nhalt",
            )
            .unwrap(),
        );
        let mut original = Machine::new(Arc::clone(&program));
        original.push_inbox(Value::tuple(vec![Value::int(4u64), Value::none()]));
        original.run(&Limits {
            max_steps: Some(11),
            ..Limits::default()
        });
        let ours = counted_objects(&values(&original));
        assert!(ours.len() >= 2, "the run made counted values: {ours:?}");
        let mut reference = original.clone();
        reference.run(&Limits::default());

        let detached = original.detach();
        let (theirs, hash, logs, steps, back) = std::thread::spawn(move || {
            let mut copy = detached.attach();
            let theirs = counted_objects(&values(&copy));
            copy.run(&Limits::default());
            let logs: Vec<U256> = copy.outputs().logs.iter().map(Value::hash).collect();
            (
                theirs,
                copy.hash(),
                logs,
                copy.outputs().steps,
                copy.detach(),
            )
        })
        .join()
        .unwrap();
        assert!(
            ours.is_disjoint(&theirs),
            "a copy on another thread shares nothing counted"
        );
        assert_eq!(ours.len(), theirs.len());
        assert_eq!(hash, reference.hash());
        let reference_logs: Vec<U256> = reference.outputs().logs.iter().map(Value::hash).collect();
        assert_eq!(logs, reference_logs);
        assert_eq!(steps, reference.outputs().steps);
        let mut back = back.attach();
        assert_eq!(back.hash(), reference.hash());
        assert_eq!(back.outputs().logs, reference.outputs().logs);
    }
}
