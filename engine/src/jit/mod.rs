//! The tiered JIT: hot blocks run as native code, everything else in the interpreter.
//!
//! The driver counts arrivals at loaded pcs where control lands (after a jump, an error, or at
//! the start). A pc reached more than the threshold compiles the block starting there
//! ([`crate::analysis`]). Before running a compiled block the driver checks, in one go, that
//! the block cannot do anything but succeed: enough values on both stacks, Ints where it
//! computes on entry values, gas for all of it, steps left in the budget, the gas bound not
//! reached inside it, and codepoints where it jumps. Then the native code computes the Ints
//! and the driver applies the block's static plan. When any check fails, the interpreter runs
//! the code instead, so results are the interpreter's to the step and the unit of gas.

mod module;
mod translate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use avm_interp::{GasBound, Limits, Machine, Pc, Status, Stop};
use avm_runtime::{Program, U256, Value};

use crate::analysis::{Block, Exit, Slot, analyze};
use module::{BlockFn, CodeModule};

/// The default number of arrivals at a pc before its block is compiled.
pub const DEFAULT_THRESHOLD: u32 = 32;

/// Counters a run reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct JitStats {
    /// Blocks compiled to native code.
    pub compiled_blocks: u32,
    /// Time spent compiling.
    pub compile_time: Duration,
    /// Block executions in native code.
    pub native_runs: u64,
}

/// The arrival count of a pc whose block will never be compiled.
const DECIDED: u32 = u32::MAX;

/// Blocks shorter than this stay in the interpreter: entering native code costs more than
/// interpreting a few instructions.
const MIN_BLOCK_STEPS: u64 = 4;

/// A block's native code and the plan that applies its effect.
struct Compiled {
    block: Block,
    code: BlockFn,
}

/// A JIT for one program. Field order matters: compiled entries (holding code pointers) drop
/// before the module that owns their memory.
pub struct Jit {
    /// The compiled block starting at each pc, if any.
    compiled: Vec<Option<Box<Compiled>>>,
    /// Arrivals at each pc by a control transfer, until it is compiled or [`DECIDED`].
    arrivals: Vec<u32>,
    /// `native[pc]`: a compiled block starts at `pc` (where the interpreter hands back).
    native: Vec<bool>,
    program: Arc<Program>,
    threshold: u32,
    stats: JitStats,
    inputs: Vec<u64>,
    results: Vec<u64>,
    module: CodeModule,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit")
            .field("threshold", &self.threshold)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Jit {
    /// A JIT for `program` that compiles a block after `threshold` arrivals (0: before its first
    /// run).
    pub fn new(program: Arc<Program>, threshold: u32) -> Result<Jit, String> {
        let slots = program.len() + 1;
        Ok(Jit {
            compiled: (0..slots).map(|_| None).collect(),
            arrivals: vec![0; slots],
            native: vec![false; slots],
            program,
            threshold,
            stats: JitStats::default(),
            inputs: Vec::new(),
            results: Vec::new(),
            module: CodeModule::new()?,
        })
    }

    /// What the JIT did so far.
    pub fn stats(&self) -> JitStats {
        self.stats
    }

    /// Runs `machine` (which must run this JIT's program) exactly as [`Machine::run`] would.
    pub fn run(&mut self, machine: &mut Machine, limits: &Limits) -> Stop {
        assert!(
            Arc::ptr_eq(machine.program(), &self.program),
            "a JIT runs the program it was made for"
        );
        let mut budget = limits.max_steps.unwrap_or(u64::MAX);
        let mut first = true;
        loop {
            match machine.status() {
                Status::Halted => return Stop::Halted,
                Status::ErrorStop => return Stop::ErrorStop,
                Status::Running => {}
            }
            if budget == 0 {
                return Stop::StepLimit;
            }
            if let Pc::Loaded(pc) = *machine.pc()
                && let Some(steps) = self.try_native(machine, pc, budget, limits.gas)
            {
                budget -= steps;
                first = false;
                continue;
            }
            let before = machine.outputs().steps;
            let segment = Limits {
                max_steps: Some(budget),
                ..*limits
            };
            let (threshold, arrivals, native) = (self.threshold, &mut self.arrivals, &self.native);
            let arrive = |pc: u32| {
                if native[pc as usize] {
                    return true;
                }
                let count = &mut arrivals[pc as usize];
                if *count == DECIDED {
                    return false;
                }
                *count += 1;
                *count > threshold
            };
            if let Some(stop) = machine.run_segment(&segment, first, native, arrive) {
                return stop;
            }
            let ran = machine.outputs().steps - before;
            budget -= ran;
            first &= ran == 0;
        }
    }

    /// Runs the compiled block at `pc` if there is one (compiling it when it becomes hot) and
    /// its entry checks pass; returns the steps it ran.
    fn try_native(
        &mut self,
        machine: &mut Machine,
        pc: u32,
        budget: u64,
        bound: Option<GasBound>,
    ) -> Option<u64> {
        if self.compiled[pc as usize].is_none() {
            let arrivals = &mut self.arrivals[pc as usize];
            if *arrivals == DECIDED || *arrivals < self.threshold {
                *arrivals = arrivals.saturating_add(1);
                return None;
            }
            *arrivals = DECIDED;
            self.compiled[pc as usize] = self.compile(pc);
        }
        let compiled = self.compiled[pc as usize].as_ref()?;
        let block = &compiled.block;
        if !admits(machine, block, budget, bound) || !self.load_inputs(machine, pc) {
            return None;
        }
        let compiled = self.compiled[pc as usize].as_ref().expect("checked above");
        self.results.resize(4 * compiled.block.results.len(), 0);
        // SAFETY: `code` was compiled from this block, which reads `4 * inputs.len()` limbs
        // and writes `4 * results.len()`: `load_inputs` filled exactly that many inputs and the
        // results buffer was just sized to match. The code touches no other memory, and its
        // module is alive (owned by `self`).
        unsafe { (compiled.code)(self.inputs.as_ptr(), self.results.as_mut_ptr()) };
        let steps = compiled.block.steps;
        apply(machine, &compiled.block, &self.results);
        self.stats.native_runs += 1;
        Some(steps)
    }

    fn compile(&mut self, pc: u32) -> Option<Box<Compiled>> {
        let block = analyze(&self.program, pc).filter(|b| b.steps >= MIN_BLOCK_STEPS)?;
        let start = Instant::now();
        let compiled = self.module.compile(&block);
        self.stats.compile_time += start.elapsed();
        match compiled {
            Ok(code) => {
                self.stats.compiled_blocks += 1;
                self.native[pc as usize] = true;
                Some(Box::new(Compiled { block, code }))
            }
            Err(_) => None,
        }
    }

    /// Copies the block's Int inputs into the input buffer; `false` if one is not an Int.
    fn load_inputs(&mut self, machine: &Machine, pc: u32) -> bool {
        let Some(compiled) = &self.compiled[pc as usize] else {
            return false;
        };
        self.inputs.clear();
        for &depth in &compiled.block.inputs {
            let Value::Int(x) = machine.stack().peek(depth) else {
                return false;
            };
            self.inputs.extend_from_slice(&x.0);
        }
        true
    }
}

/// The entry checks that guarantee the block runs whole, exactly as the interpreter would.
fn admits(machine: &Machine, block: &Block, budget: u64, bound: Option<GasBound>) -> bool {
    if machine.stack().len() < block.consumes
        || machine.aux_stack().len() < block.aux_consumes
        || budget < block.steps
        || machine.gas_remaining() < U256::from(block.gas)
    {
        return false;
    }
    let gas_used = machine.outputs().gas_used;
    let within_bound = match bound {
        None => true,
        Some(GasBound {
            max_gas,
            go_over: false,
        }) => gas_used + u128::from(block.gas) <= max_gas,
        Some(GasBound {
            max_gas,
            go_over: true,
        }) => gas_used + u128::from(block.gas_before_last) < max_gas,
    };
    let is_codepoint = |slot: &Slot| matches!(peek_slot(machine, slot), Some(Value::CodePoint(_)));
    within_bound
        && match &block.exit {
            Exit::Jump(target) | Exit::CondJump { target, .. } => is_codepoint(target),
            Exit::Fallthrough(_) | Exit::Halt => true,
        }
}

/// A slot's value if it exists before the block runs (not a native result).
fn peek_slot<'a>(machine: &'a Machine, slot: &'a Slot) -> Option<&'a Value> {
    match slot {
        Slot::Input(depth) => Some(machine.stack().peek(*depth)),
        Slot::AuxInput(depth) => Some(machine.aux_stack().peek(*depth)),
        Slot::Const(value) => Some(value),
        Slot::Static => Some(machine.static_value()),
        Slot::Register => Some(machine.register()),
        Slot::Int(_) | Slot::ErrorHandler => None,
    }
}

/// A slot's value after the block, given the native results.
fn slot_value(machine: &Machine, slot: &Slot, results: &[u64]) -> Value {
    match slot {
        Slot::Int(index) => {
            let limbs = &results[4 * index..4 * index + 4];
            Value::Int(U256([limbs[0], limbs[1], limbs[2], limbs[3]]))
        }
        Slot::ErrorHandler => Value::CodePoint(machine.error_handler().clone()),
        other => peek_slot(machine, other)
            .expect("every other slot exists before the block")
            .clone(),
    }
}

/// Applies a block's effect: stacks, gas, steps, then the pc.
fn apply(machine: &mut Machine, block: &Block, results: &[u64]) {
    let outputs: Vec<Value> = block
        .outputs
        .iter()
        .map(|s| slot_value(machine, s, results))
        .collect();
    let aux_outputs: Vec<Value> = block
        .aux_outputs
        .iter()
        .map(|s| slot_value(machine, s, results))
        .collect();
    let target = match &block.exit {
        Exit::Jump(target) => Some(slot_value(machine, target, results)),
        Exit::CondJump {
            target, condition, ..
        } => {
            let Value::Int(flag) = slot_value(machine, condition, results) else {
                unreachable!("conditions are Ints by analysis")
            };
            (!flag.is_zero()).then(|| slot_value(machine, target, results))
        }
        _ => None,
    };
    let stack = machine.stack_mut();
    stack.drop_top(block.consumes);
    outputs.into_iter().for_each(|v| stack.push(v));
    let aux = machine.aux_stack_mut();
    aux.drop_top(block.aux_consumes);
    aux_outputs.into_iter().for_each(|v| aux.push(v));
    machine.charge_executed(block.steps, block.gas);
    match (&block.exit, target) {
        (_, Some(Value::CodePoint(cp))) => machine.jump_to(&cp),
        (
            Exit::Fallthrough(pc)
            | Exit::CondJump {
                fallthrough: pc, ..
            },
            _,
        ) => machine.goto_loaded(*pc),
        (Exit::Halt, _) => machine.halt(),
        (Exit::Jump(_), _) => unreachable!("jump targets are checked to be codepoints"),
    }
}
