//! The tiered JIT: hot blocks run as native code, everything else in the interpreter.
//!
//! The driver counts arrivals at loaded pcs where control lands (after a jump, a `cjump`, an
//! error, or at the start). A block is hot once its arrivals pass the threshold and, times its
//! length, reach [`JitOptions::hot_steps`] (16,384 by default); then it is compiled ([`crate::analysis`]). Before a compiled
//! block's effect is applied the driver checks stack depths, the step budget, gas and the gas
//! bound, runs the native code (which computes only Ints) and works out every value the block
//! produces (operand kinds, tuple slots, jump targets). If anything is missing, or a builtin
//! reports an AVM error, nothing has changed and the interpreter runs the code instead, so
//! results are the interpreter's to the step and the unit of gas.
//!
//! Blocks compile either inline, while the machine waits ([`CompileMode::Inline`]), or on a
//! worker thread while the interpreter keeps running them ([`CompileMode::Background`]). Every
//! JIT of one program shares what it compiled through a [`SharedCode`] table, so clones and
//! parallel machines of one program compile each block about once. Since native code is exact,
//! when a block's code arrives never changes a run's results, only its speed. Threshold 0
//! (compile every block before it first runs) always compiles inline: the machine must wait
//! for each block anyway, and a round trip to a worker per block only adds latency. So which
//! blocks run natively stays deterministic there.

mod module;
mod shared;
mod translate;
mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use avm_interp::engine_hooks::EngineHooks;
use avm_interp::{GasBound, Limits, Machine, Pc, Status, Stop};
use avm_runtime::{Program, U256, Value};

use crate::JitError;
use crate::analysis::{Block, Exit, Slot, analyze};
pub use shared::SharedCode;
use shared::{Compiled, SharedModule, new_module};
use worker::{Mailbox, Received, Reply};

/// The default number of arrivals at a pc before its block is compiled.
pub const DEFAULT_THRESHOLD: u32 = 32;

/// The default bound on blocks resident in the code cache.
pub const DEFAULT_CACHE_BLOCKS: u32 = 16_384;

/// Where blocks are compiled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompileMode {
    /// On the thread that runs the machine, which waits for the code.
    Inline,
    /// On the program's compile thread (one for all JITs of a [`SharedCode`]); the machine
    /// interprets a block until its code arrives. With
    /// threshold 0 blocks compile inline all the same (each must compile before it runs).
    ///
    /// The default: on the ArbOS replays it hides nearly all compile time (a few percent of
    /// the run); only where compiled code is vastly faster than interpreting the block it
    /// replaces (tight synthetic kernels) does handing the block to another thread cost a
    /// little latency.
    #[default]
    Background,
}

/// How a [`Jit`] compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitOptions {
    /// Arrivals at a pc before its block compiles (0: before its first run, whatever
    /// `hot_steps` says).
    pub threshold: u32,
    /// With a threshold above 0, a block also needs arrivals × its length in steps to reach
    /// this before it compiles (0: the threshold alone decides).
    pub hot_steps: u64,
    /// The most blocks resident in the code cache (see [`Jit::with_cache`]).
    pub cache_blocks: u32,
    /// Where blocks compile.
    pub compile: CompileMode,
}

impl Default for JitOptions {
    fn default() -> JitOptions {
        JitOptions {
            threshold: DEFAULT_THRESHOLD,
            hot_steps: DEFAULT_HOT_STEPS,
            cache_blocks: DEFAULT_CACHE_BLOCKS,
            compile: CompileMode::default(),
        }
    }
}

/// Counters a run reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct JitStats {
    /// Blocks compiled to native code (in background mode: whose code was installed).
    pub compiled_blocks: u32,
    /// Blocks taken compiled from other JITs of the program (see [`SharedCode`]).
    pub shared_blocks: u32,
    /// Time spent compiling (in background mode: all the program's compile thread did, for
    /// every JIT sharing it, including blocks
    /// discarded by an eviction or not yet installed).
    pub compile_time: Duration,
    /// Block executions in native code.
    pub native_runs: u64,
    /// Steps those blocks ran.
    pub native_steps: u64,
    /// Times the code cache was full and all its code was freed.
    pub evictions: u32,
    /// How compiled blocks that did not run natively handed over to the interpreter.
    pub exits: ExitCounts,
}

/// Counts of the ways a compiled block leaves its work to the interpreter, which then runs it
/// step by step (and raises whatever error the block would). Fuzzing reports which it reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitCounts {
    /// The entry guard failed: stack too shallow, step budget, gas or the gas bound.
    pub guard: u64,
    /// An input the native code reads as an Int was not one.
    pub operand: u64,
    /// A builtin reported that its operation raises an AVM error.
    pub builtin_error: u64,
    /// A value the effect needs is missing: a tuple slot, a tuple operand, a jump target.
    pub missing_value: u64,
}

impl std::ops::AddAssign for ExitCounts {
    fn add_assign(&mut self, other: ExitCounts) {
        self.guard += other.guard;
        self.operand += other.operand;
        self.builtin_error += other.builtin_error;
        self.missing_value += other.missing_value;
    }
}

/// The arrival count of a pc whose block will never be compiled.
const DECIDED: u32 = u32::MAX;

/// The default of [`JitOptions::hot_steps`]: long blocks compile soon, short ones only when they
/// are run a great deal, since compiling one costs tens of microseconds and saves a little on
/// each run.
pub const DEFAULT_HOT_STEPS: u64 = 1 << 14;

/// Blocks shorter than this stay in the interpreter: entering native code costs more than
/// interpreting a few instructions.
const MIN_BLOCK_STEPS: u64 = 4;

/// Where the code of a block that became hot comes from.
enum Source {
    /// Another JIT of the program compiled it.
    Shared(Arc<Compiled>),
    /// This JIT compiles it.
    Block(Box<Block>),
}

/// Where a [`Jit`] compiles its blocks.
enum Compiler {
    /// Into this module, on the machine's thread.
    Inline(SharedModule),
    /// On the program's compile thread, answering to this mailbox.
    Background(Mailbox),
}

/// A JIT for one program.
pub struct Jit {
    /// The compiled block starting at each pc, if any.
    compiled: Vec<Option<Arc<Compiled>>>,
    /// Arrivals at each pc by a control transfer, until it is compiled or [`DECIDED`].
    arrivals: Vec<u32>,
    /// Arrivals each pc needs before its block compiles: the threshold, raised for short blocks
    /// once the block was sized (see [`JitOptions::hot_steps`]).
    needed: Vec<u32>,
    /// Whether each pc's block was sized yet.
    sized: Vec<bool>,
    /// `handback[pc]`: the interpreter hands control back at `pc`, since a compiled block
    /// starts there or one is being compiled (background mode: the driver checks for its code).
    handback: Vec<bool>,
    /// `queued[pc]`: the block at `pc` is being compiled in the background, in this generation.
    queued: Vec<bool>,
    /// Blocks queued for the worker in this generation whose replies have not arrived.
    in_flight: u32,
    /// Counts evictions in background mode; replies of older generations are discarded.
    generation: u64,
    program: Arc<Program>,
    /// Blocks compiled by every JIT of this program.
    shared: Arc<SharedCode>,
    threshold: u32,
    /// See [`JitOptions::hot_steps`].
    hot_steps: u64,
    /// The most blocks resident at once; past it every block is freed and the cache refills.
    cache_blocks: u32,
    /// Blocks in the current module.
    resident: u32,
    stats: JitStats,
    inputs: Vec<u64>,
    results: Vec<u64>,
    effect: Effect,
    compiler: Compiler,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.compiler {
            Compiler::Inline(_) => CompileMode::Inline,
            Compiler::Background(_) => CompileMode::Background,
        };
        f.debug_struct("Jit")
            .field("threshold", &self.threshold)
            .field("compile", &mode)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Jit {
    /// A JIT for `program` that compiles a block after `threshold` arrivals (0: before its first
    /// run), where [`CompileMode::default`] says.
    pub fn new(program: Arc<Program>, threshold: u32) -> Result<Jit, JitError> {
        Jit::with_cache(program, threshold, DEFAULT_CACHE_BLOCKS)
    }

    /// A JIT as [`Jit::new`] whose code cache holds at most `cache_blocks` blocks. When it is
    /// full, it drops all its compiled code (unmapped once no other JIT of the program holds
    /// it) and blocks compile again as they become hot: a simple bound that never leaves stale
    /// code behind.
    pub fn with_cache(
        program: Arc<Program>,
        threshold: u32,
        cache_blocks: u32,
    ) -> Result<Jit, JitError> {
        Jit::with_options(
            program,
            JitOptions {
                threshold,
                cache_blocks,
                ..JitOptions::default()
            },
        )
    }

    /// A JIT as [`Jit::with_cache`] that compiles where `options` say. In background mode (with
    /// a threshold above 0) the program's compile thread starts with its first request and
    /// stops when the program's last JIT drops.
    pub fn with_options(program: Arc<Program>, options: JitOptions) -> Result<Jit, JitError> {
        Jit::with_shared_code(SharedCode::new(program, options.cache_blocks), options)
    }

    /// A JIT for `shared`'s program that shares its compiled blocks with every other JIT made
    /// from `shared`: it starts with all of them (up to its cache bound), takes a block from
    /// there instead of compiling it when one gets hot, and adds what it compiles itself.
    pub fn with_shared_code(shared: Arc<SharedCode>, options: JitOptions) -> Result<Jit, JitError> {
        let JitOptions {
            threshold,
            hot_steps,
            cache_blocks,
            compile,
        } = options;
        let program = Arc::clone(shared.program());
        let slots = program.len() + 1;
        let compiler = match compile {
            CompileMode::Background if threshold > 0 => Compiler::Background(Mailbox::default()),
            _ => Compiler::Inline(new_module().map_err(JitError::Host)?),
        };
        let mut jit = Jit {
            compiled: (0..slots).map(|_| None).collect(),
            arrivals: vec![0; slots],
            needed: vec![threshold; slots],
            sized: vec![false; slots],
            handback: vec![false; slots],
            queued: vec![false; slots],
            in_flight: 0,
            generation: 0,
            program,
            shared,
            threshold,
            hot_steps,
            cache_blocks: cache_blocks.max(1),
            resident: 0,
            stats: JitStats::default(),
            inputs: Vec::new(),
            results: Vec::new(),
            effect: Effect::default(),
            compiler,
        };
        for (pc, block) in jit.shared.table().snapshot() {
            if jit.resident >= jit.cache_blocks {
                break;
            }
            jit.stats.shared_blocks += 1;
            jit.adopt(pc, block);
        }
        Ok(jit)
    }

    /// The table of compiled blocks this JIT shares; pass it to [`Jit::with_shared_code`] so
    /// that another machine of this program runs them too.
    pub fn shared_code(&self) -> &Arc<SharedCode> {
        &self.shared
    }

    /// What the JIT did so far.
    pub fn stats(&self) -> JitStats {
        match &self.compiler {
            Compiler::Inline(_) => self.stats,
            Compiler::Background(_) => JitStats {
                compile_time: self.shared.background_compile_time().unwrap_or_default(),
                ..self.stats
            },
        }
    }

    /// Carries on counting from `stats`, which a detached machine took with it.
    pub(crate) fn resume_stats(&mut self, stats: JitStats) {
        self.stats = stats;
    }

    /// Waits until every block queued for background compilation is compiled and installed
    /// (nothing to do in inline mode). Runs never need this; it makes tests and measurements
    /// independent of when code arrives.
    pub fn finish_compiles(&mut self) {
        while self.in_flight > 0 {
            self.receive(true);
        }
    }

    /// Runs `machine` (which must run this JIT's program) exactly as [`Machine::run`] would.
    pub fn run(&mut self, machine: &mut Machine, limits: &Limits) -> Stop {
        assert!(
            Arc::ptr_eq(machine.program(), &self.program),
            "a JIT runs the program it was made for"
        );
        let mut budget = limits.max_steps.unwrap_or(u64::MAX);
        let mut first = !limits.continues;
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
            let (needed, arrivals, handback) = (&self.needed, &mut self.arrivals, &self.handback);
            let arrive = |pc: u32| {
                if handback[pc as usize] {
                    return true;
                }
                let count = &mut arrivals[pc as usize];
                if *count == DECIDED {
                    return false;
                }
                *count += 1;
                *count > needed[pc as usize]
            };
            if let Some(stop) = machine.run_segment(&segment, first, arrive) {
                return stop;
            }
            let ran = machine.outputs().steps - before;
            budget -= ran;
            first &= ran == 0;
        }
    }

    /// Runs the compiled block at `pc` if there is one (compiling it when it becomes hot) and
    /// it can run whole; returns the steps it ran. Installs code that arrived from the worker.
    fn try_native(
        &mut self,
        machine: &mut Machine,
        pc: u32,
        budget: u64,
        bound: Option<GasBound>,
    ) -> Option<u64> {
        while self.in_flight > 0 && self.receive(false) {}
        if self.compiled[pc as usize].is_none() {
            let index = pc as usize;
            if self.queued[index] {
                return None;
            }
            let arrivals = &mut self.arrivals[index];
            if *arrivals == DECIDED || *arrivals < self.needed[index] {
                *arrivals = arrivals.saturating_add(1);
                return None;
            }
            if self.threshold > 0 && !self.sized[index] {
                self.sized[index] = true;
                let steps = analyze(&self.program, pc).map_or(0, |b| b.steps);
                self.needed[index] = self.needed[index].max(
                    self.hot_steps
                        .div_ceil(steps.max(1))
                        .min(u64::from(DECIDED - 1)) as u32,
                );
                if self.arrivals[index] < self.needed[index] {
                    return None;
                }
            }
            self.arrivals[index] = DECIDED;
            self.compile(pc);
        }
        let compiled = self.compiled[pc as usize].as_ref()?;
        let block = &compiled.block;
        if !admits(machine, block, budget, bound) {
            self.stats.exits.guard += 1;
            return None;
        }
        self.inputs.clear();
        for slot in &block.inputs {
            let Some(x) = eval(machine, slot, &[])
                .ok()
                .as_ref()
                .and_then(Value::as_int)
            else {
                self.stats.exits.operand += 1;
                return None;
            };
            self.inputs.extend_from_slice(&x.0);
        }
        self.results.resize(4 * block.results.len(), 0);
        // SAFETY: `code` was compiled from this block, which reads `4 * inputs.len()` limbs
        // and writes `4 * results.len()`: the loop above filled exactly that many inputs and
        // the results buffer was just sized to match. The code touches no other memory, and
        // it is mapped: `compiled` holds the module it lives in (see `shared.rs`).
        let status = unsafe { (compiled.code)(self.inputs.as_ptr(), self.results.as_mut_ptr()) };
        if status != 0 {
            self.stats.exits.builtin_error += 1;
            return None;
        }
        let checked = block
            .checks
            .iter()
            .all(|(tuple, index)| has_field(machine, tuple, *index, &self.results));
        if !checked || self.effect.compute(machine, block, &self.results).is_err() {
            self.stats.exits.missing_value += 1;
            return None;
        }
        self.effect.apply(machine, block);
        self.stats.native_runs += 1;
        self.stats.native_steps += block.steps;
        Some(block.steps)
    }

    /// Takes the block at `pc` from the shared table, or compiles it (inline), or queues it
    /// for the worker (in the background). Blocks too short to pay off stay interpreted.
    fn compile(&mut self, pc: u32) {
        let source = match self.shared.table().get(pc) {
            Some(compiled) => Source::Shared(compiled),
            None => match analyze(&self.program, pc).filter(|b| b.steps >= MIN_BLOCK_STEPS) {
                Some(block) => Source::Block(Box::new(block)),
                None => return,
            },
        };
        // Blocks being compiled count against the cache bound too: they will be resident.
        if self.resident + self.in_flight >= self.cache_blocks && self.evict_all().is_err() {
            return;
        }
        self.arrivals[pc as usize] = DECIDED;
        let block = match source {
            Source::Shared(compiled) => {
                self.stats.shared_blocks += 1;
                return self.adopt(pc, compiled);
            }
            Source::Block(block) => block,
        };
        match &mut self.compiler {
            Compiler::Inline(module) => {
                let start = Instant::now();
                let compiled = Compiled::new(module, *block).ok().map(Arc::new);
                self.stats.compile_time += start.elapsed();
                self.install(pc, compiled, true);
            }
            Compiler::Background(mailbox) => {
                let queued = self
                    .shared
                    .worker()
                    .is_some_and(|worker| worker.request(mailbox, self.generation, pc, block));
                if !queued {
                    return; // no compile thread: the block stays interpreted
                }
                self.queued[pc as usize] = true;
                self.handback[pc as usize] = true;
                self.in_flight += 1;
            }
        }
    }

    /// Makes `compiled` (compiled for this JIT's current generation if `fresh`, else found in
    /// the shared table by the compile thread) the block at `pc` and offers it to the
    /// program's other JITs; `None` (it failed to compile) leaves the block interpreted (its
    /// arrivals stay `DECIDED`).
    fn install(&mut self, pc: u32, compiled: Option<Arc<Compiled>>, fresh: bool) {
        match compiled {
            Some(compiled) => {
                match fresh {
                    true => self.stats.compiled_blocks += 1,
                    false => self.stats.shared_blocks += 1,
                }
                tracing::info!(pc, shared = !fresh, "block compiled");
                self.shared.table().publish(pc, &compiled);
                self.adopt(pc, compiled);
            }
            None => self.handback[pc as usize] = false,
        }
    }

    /// Makes `compiled` the block at `pc`.
    fn adopt(&mut self, pc: u32, compiled: Arc<Compiled>) {
        let index = pc as usize;
        self.resident += 1;
        self.arrivals[index] = DECIDED;
        self.handback[index] = true;
        self.compiled[index] = Some(compiled);
    }

    /// Takes one reply from the worker (waiting for it if `wait`) and installs it if it is of
    /// the current generation; `false` if there was none.
    fn receive(&mut self, wait: bool) -> bool {
        let Compiler::Background(mailbox) = &self.compiler else {
            return false;
        };
        let Some(worker) = self.shared.worker() else {
            return false;
        };
        match if wait {
            worker.wait(mailbox)
        } else {
            worker.poll(mailbox)
        } {
            Received::Reply(Reply {
                generation,
                pc,
                compiled,
                fresh,
            }) => {
                // Code of an older generation is not installed: the cache was emptied since.
                if generation == self.generation {
                    self.in_flight -= 1;
                    self.queued[pc as usize] = false;
                    self.install(pc, compiled, fresh);
                }
                true
            }
            Received::Empty => false,
            Received::Gone => {
                // Nothing queued will compile: those blocks stay interpreted.
                for (pc, queued) in self.queued.iter_mut().enumerate() {
                    if *queued {
                        *queued = false;
                        self.handback[pc] = false;
                    }
                }
                self.in_flight = 0;
                false
            }
        }
    }
}

impl Jit {
    /// Drops every compiled block (their memory is unmapped once no other JIT holds them), and
    /// forgets what was hot and what was queued (in the background, code still on its way is
    /// discarded on arrival).
    fn evict_all(&mut self) -> Result<(), String> {
        self.compiled.iter_mut().for_each(|entry| *entry = None);
        self.handback.iter_mut().for_each(|h| *h = false);
        self.queued.iter_mut().for_each(|q| *q = false);
        self.arrivals.iter_mut().for_each(|a| *a = 0);
        self.needed.iter_mut().for_each(|n| *n = self.threshold);
        self.sized.iter_mut().for_each(|s| *s = false);
        tracing::info!(
            blocks = self.resident,
            evictions = self.stats.evictions + 1,
            "block code cache full: every block evicted"
        );
        self.resident = 0;
        self.in_flight = 0;
        self.stats.evictions += 1;
        // Old modules are unmapped once no JIT holds their blocks.
        match &mut self.compiler {
            Compiler::Inline(module) => *module = new_module()?,
            Compiler::Background(_) => {
                self.generation += 1;
            }
        }
        Ok(())
    }

    /// Blocks resident in the code cache now.
    pub fn resident_blocks(&self) -> u32 {
        self.resident
    }
}

/// The checks that need no evaluation: stack depths, the step budget, gas and the gas bound.
/// Everything else (operand kinds, tuple slots, jump targets) is checked while the effect is
/// worked out, before anything changes.
fn admits(machine: &Machine, block: &Block, budget: u64, bound: Option<GasBound>) -> bool {
    if machine.stack().len() < block.reads
        || machine.aux_stack().len() < block.aux_reads
        || budget < block.steps
        || !machine.gas_covers(block.gas)
    {
        return false;
    }
    let gas_used = machine.outputs().gas_used;
    match bound {
        None => true,
        Some(GasBound {
            max_gas,
            go_over: false,
        }) => gas_used + u128::from(block.gas) <= max_gas,
        Some(GasBound {
            max_gas,
            go_over: true,
        }) => gas_used + u128::from(block.gas_before_last) < max_gas,
    }
}

/// A slot whose value does not exist: the block would raise an error on the way, so the
/// interpreter runs it instead.
#[derive(Debug)]
struct Missing;

/// The value of a slot that exists before the block, borrowed; `None` for slots made by it.
fn existing<'a>(machine: &'a Machine, slot: &'a Slot) -> Option<Result<&'a Value, Missing>> {
    let value = match slot {
        Slot::Input(depth) => machine.stack().peek(*depth),
        Slot::AuxInput(depth) => machine.aux_stack().peek(*depth),
        Slot::Const(value) => value.get(),
        Slot::Static => machine.static_value(),
        Slot::Register => machine.register(),
        Slot::Field(tuple, index) => {
            return Some(existing(machine, tuple)?.and_then(|t| field(t, *index)));
        }
        Slot::Int(_) | Slot::Updated(..) | Slot::ErrorHandler => return None,
    };
    Some(Ok(value))
}

/// Slot `index` of `value`, which must be a tuple holding it.
fn field(value: &Value, index: u8) -> Result<&Value, Missing> {
    match value {
        Value::Tuple(t) => t.get(index as usize).ok_or(Missing),
        _ => Err(Missing),
    }
}

/// Whether the tuple in `slot` has slot `index` (a check the block's tuple operations need).
/// An updated tuple is as long as the tuple it updates, so no tuple is built to answer.
fn has_field(machine: &Machine, slot: &Slot, index: u8, results: &[u64]) -> bool {
    match slot {
        Slot::Updated(tuple, ..) => has_field(machine, tuple, index, results),
        _ => match existing(machine, slot) {
            Some(value) => value.is_ok_and(|t| field(t, index).is_ok()),
            None => eval(machine, slot, results).is_ok_and(|t| field(&t, index).is_ok()),
        },
    }
}

/// A slot's value after the block, given the native results.
fn eval(machine: &Machine, slot: &Slot, results: &[u64]) -> Result<Value, Missing> {
    if let Some(value) = existing(machine, slot) {
        return value.cloned();
    }
    match slot {
        Slot::Int(index) => {
            let limbs = &results[4 * index..4 * index + 4];
            Ok(Value::int(U256([limbs[0], limbs[1], limbs[2], limbs[3]])))
        }
        Slot::ErrorHandler => Ok(Value::CodePoint(machine.error_handler().clone())),
        Slot::Field(tuple, index) => field(&eval(machine, tuple, results)?, *index).cloned(),
        Slot::Updated(..) => updated(machine, slot, results),
        _ => unreachable!("existing() covers every other slot"),
    }
}

/// A chain of updates of one tuple, built as one new tuple.
fn updated(machine: &Machine, slot: &Slot, results: &[u64]) -> Result<Value, Missing> {
    let mut updates: Vec<(u8, &Slot)> = Vec::new();
    let mut base = slot;
    while let Slot::Updated(tuple, index, value) = base {
        updates.push((*index, value));
        base = tuple;
    }
    let owned;
    let base = match existing(machine, base) {
        Some(value) => value?,
        None => {
            owned = eval(machine, base, results)?;
            &owned
        }
    };
    let Value::Tuple(tuple) = base else {
        return Err(Missing);
    };
    let mut slots = tuple.slots().to_vec();
    for (index, value) in updates.into_iter().rev() {
        *slots.get_mut(index as usize).ok_or(Missing)? = eval(machine, value, results)?;
    }
    Ok(Value::Tuple(avm_runtime::Tuple::new(slots)))
}

/// Everything a block does to the machine, worked out before any of it is applied. The
/// buffers are reused from block to block.
#[derive(Default)]
struct Effect {
    outputs: Vec<Value>,
    aux_outputs: Vec<Value>,
    /// The codepoint to continue at, when the block jumps.
    target: Option<avm_runtime::CodePoint>,
}

impl Effect {
    /// Works out `block`'s effect on `machine`; `Err` if some value it needs does not exist
    /// (the block would raise an error on the way).
    fn compute(
        &mut self,
        machine: &Machine,
        block: &Block,
        results: &[u64],
    ) -> Result<(), Missing> {
        self.outputs.clear();
        self.aux_outputs.clear();
        for slot in &block.outputs {
            self.outputs.push(eval(machine, slot, results)?);
        }
        for slot in &block.aux_outputs {
            self.aux_outputs.push(eval(machine, slot, results)?);
        }
        let codepoint = |slot: &Slot| match eval(machine, slot, results)? {
            Value::CodePoint(cp) => Ok(cp),
            _ => Err(Missing),
        };
        self.target = match &block.exit {
            Exit::Jump(target) => Some(codepoint(target)?),
            Exit::CondJump {
                target, condition, ..
            } => {
                let target = codepoint(target)?;
                let Some(flag) = eval(machine, condition, results)?.as_int() else {
                    return Err(Missing);
                };
                (!flag.is_zero()).then_some(target)
            }
            Exit::Fallthrough(_) | Exit::Halt => None,
        };
        Ok(())
    }

    /// Applies the effect: stacks, gas, steps, then the pc.
    fn apply(&mut self, machine: &mut Machine, block: &Block) {
        let stack = machine.stack_mut();
        stack.drop_top(block.consumes);
        self.outputs.drain(..).for_each(|v| stack.push(v));
        let aux = machine.aux_stack_mut();
        aux.drop_top(block.aux_consumes);
        self.aux_outputs.drain(..).for_each(|v| aux.push(v));
        machine.charge_executed(block.steps, block.gas);
        match (&block.exit, self.target.take()) {
            (_, Some(cp)) => machine.jump_to(&cp),
            (
                Exit::Fallthrough(pc)
                | Exit::CondJump {
                    fallthrough: pc, ..
                },
                None,
            ) => machine.goto_loaded(*pc),
            (Exit::Halt, None) => machine.halt(),
            (Exit::Jump(_), None) => unreachable!("a jump always has a target"),
        }
    }
}
