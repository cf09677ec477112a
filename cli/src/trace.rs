//! `--trace[=FILE]`: one JSON object per executed step, in the spirit of EIP-3155 (the trace
//! format of geth's and revm's `evm` tools), so line-oriented diff tools apply.
//!
//! Steps in the window `[--trace-from, --trace-to)` (counted since the program started, as a
//! report's `steps`) run one at a time on the interpreter through
//! [`Machine::step_outcome`]; the engine runs the rest at full speed. A run without `--trace`
//! never reaches this module.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use avm_interp::{Limits, Machine, Pc, StepOutcome, Stop};
use avm_runtime::hash::hex_hash;
use avm_runtime::opcode;
use serde_json::json;

use crate::out::Failure;
use crate::run::big_number;

/// Values of the data stack shown per step, top first.
const STACK_SHOWN: usize = 4;

/// Longest rendering of one value in a trace line.
const VALUE_CHARS: usize = 64;

/// Where trace lines go and which steps they cover.
pub struct Tracer {
    out: Box<dyn Write>,
    /// Where `out` writes, for error messages.
    target: PathBuf,
    /// The first step traced.
    from: u64,
    /// The step before which tracing ends, if it does.
    to: Option<u64>,
}

impl Tracer {
    /// A tracer writing to `file`, or to standard error when `file` is `-` (the report keeps
    /// standard output).
    pub fn new(file: &Path, from: u64, to: Option<u64>) -> Result<Tracer, Failure> {
        let (out, target): (Box<dyn Write>, PathBuf) = if file.as_os_str() == "-" {
            (
                Box::new(BufWriter::new(io::stderr())),
                PathBuf::from("standard error"),
            )
        } else {
            let created = File::create(file).map_err(|e| Failure::io(file, e))?;
            (Box::new(BufWriter::new(created)), file.to_path_buf())
        };
        Ok(Tracer {
            out,
            target,
            from,
            to,
        })
    }

    /// Whether step number `step` (the machine's count of steps before it) is traced.
    pub fn covers(&self, step: u64) -> bool {
        step >= self.from && self.to.is_none_or(|to| step < to)
    }

    /// Steps the engine may run from `step` before the window starts (`None`: no bound from
    /// the trace, the window is behind).
    pub fn steps_until_window(&self, step: u64) -> Option<u64> {
        (step < self.from).then(|| self.from - step)
    }

    /// Runs one step on the interpreter and writes its line. Returns why the machine did not
    /// run it, if it did not (nothing is written then).
    pub fn step(
        &mut self,
        machine: &mut Machine,
        limits: &Limits,
    ) -> Result<Option<Stop>, Failure> {
        let before = Before::of(machine);
        let outcome = machine.step_outcome(&Limits {
            max_steps: Some(1),
            ..*limits
        });
        let error = match outcome {
            StepOutcome::Stopped(stop) => return Ok(Some(stop)),
            StepOutcome::Ran => None,
            StepOutcome::Raised(e) => Some(e.name()),
        };
        let mut line = json!({
            "step": before.step,
            "pc": before.pc,
            "op": before.opcode,
            "opName": opcode::mnemonic(before.opcode),
            "gas": big_number(before.gas),
            "gasCost": big_number(machine.outputs().gas_used - before.gas),
            "stackDepth": before.depth,
            "auxDepth": before.aux_depth,
            "stack": before.stack,
            "next": pc_json(machine),
        });
        if let Some(immediate) = before.immediate {
            line["immediate"] = json!(immediate);
        }
        if let Some(error) = error {
            line["error"] = json!(error);
        }
        writeln!(self.out, "{line}").map_err(|e| Failure::io(&self.target, e))?;
        Ok(None)
    }

    /// Writes out what is buffered.
    pub fn finish(&mut self) -> Result<(), Failure> {
        self.out.flush().map_err(|e| Failure::io(&self.target, e))
    }
}

/// What a trace line says about the machine before its step.
struct Before {
    step: u64,
    pc: serde_json::Value,
    opcode: u8,
    immediate: Option<String>,
    gas: u128,
    depth: usize,
    aux_depth: usize,
    stack: Vec<String>,
}

impl Before {
    fn of(machine: &Machine) -> Before {
        let instruction = machine.current_codepoint();
        let stack = machine.stack();
        Before {
            step: machine.outputs().steps,
            pc: pc_json(machine),
            opcode: instruction.opcode(),
            immediate: instruction.immediate().map(|v| v.brief(VALUE_CHARS)),
            gas: machine.outputs().gas_used,
            depth: stack.len(),
            aux_depth: machine.aux_stack().len(),
            stack: (0..stack.len().min(STACK_SHOWN))
                .map(|depth| stack.peek(depth).brief(VALUE_CHARS))
                .collect(),
        }
    }
}

/// The machine's pc: a loaded instruction's index, or the hash of a codepoint made at run time.
fn pc_json(machine: &Machine) -> serde_json::Value {
    match machine.pc() {
        Pc::Loaded(index) => json!(index),
        Pc::Dynamic(_) => json!(hex_hash(&machine.current_codepoint().hash())),
    }
}
