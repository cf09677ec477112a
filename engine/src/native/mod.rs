//! The region JIT: native code that runs the machine itself.
//!
//! It is being built beside the block JIT of [`crate::jit`], which it is to replace. A loaded pc
//! where control arrives often enough becomes the entry of a region ([`region`]): straight-line
//! code, static jumps and both arms of static `cjump`s, compiled to one native function
//! ([`lower`]) that changes the machine in place and leaves it exactly as the interpreter would.
//! Everything else runs in the interpreter, which hands control back when it arrives at a
//! compiled entry. Regions compile on the machine's thread, which waits, or on a compile thread
//! of the JIT's own ([`worker`]) while the machine goes on interpreting.

mod helpers;
pub mod lower;
mod module;
pub mod region;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use avm_interp::{Limits, Machine, Pc, Status, Stop};
use avm_runtime::Program;

use crate::JitError;
use crate::jit::{CompileMode, DEFAULT_THRESHOLD};
use lower::{Ctx, DONE, GUARD, SIDE};
use module::{Entry, Extras, RegionFn, RegionModule};

pub use module::RegionText;
use worker::{Outcome, Worker};

/// What a region JIT did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegionStats {
    /// Regions compiled.
    pub regions: u32,
    /// Instructions in them (each copy counted).
    pub compiled_instructions: u64,
    /// Calls into native code.
    pub calls: u64,
    /// Steps run natively.
    pub native_steps: u64,
    /// Calls whose entry guard failed (the interpreter ran instead).
    pub guard_exits: u64,
    /// Calls that left before an instruction native code does not handle there.
    pub side_exits: u64,
    /// Time spent compiling (on the compile thread, in background mode).
    pub compile_time: Duration,
    /// Regions Cranelift refused (their entries stay interpreted): a bug if ever above 0.
    pub failed_compiles: u32,
    /// Bytes of machine code compiled.
    pub code_bytes: u64,
}

/// How a region JIT works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionOptions {
    /// A region compiles once control has arrived at its entry more than this many times (0:
    /// before it first runs, always inline).
    pub threshold: u32,
    /// Where regions compile.
    pub compile: CompileMode,
    /// Keep each region's Cranelift IR and disassembly ([`RegionJit::texts`]).
    pub keep_text: bool,
    /// Name each region's code for `perf` in `/tmp/perf-PID.map`.
    pub perf_map: bool,
    /// Steps the JIT leaves to the interpreter alone, counting nothing, before it starts
    /// counting arrivals (see [`DEFAULT_WARMUP`]).
    pub warmup: u64,
    /// Keep counts per region and per side exit ([`RegionJit::profile`]): one branch per call
    /// into native code when off.
    pub profile: bool,
}

/// Per-region counts of a run ([`RegionOptions::profile`]), for profilers. Region code goes on
/// from region to region without returning, so counts are per region entered from Rust (the
/// chain it starts) and per pc where control came back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionProfile {
    /// Every region compiled, in the order installed.
    pub compiled: Vec<CompiledRegion>,
    /// Per entry pc of a region entered from Rust: what the chains started there did.
    pub entries: std::collections::HashMap<u32, EntryCounts>,
    /// Per loaded pc: side exits there (native code left before that instruction, which the
    /// interpreter then ran).
    pub side_exits: std::collections::HashMap<u32, u64>,
}

/// A compiled region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompiledRegion {
    /// Its entry pc.
    pub entry: u32,
    /// Its instructions (each copy counted).
    pub instructions: u64,
    /// Bytes of its machine code.
    pub code_bytes: u64,
}

/// What the calls into one region from Rust did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryCounts {
    /// Calls.
    pub calls: u64,
    /// Steps run natively from there (the regions it went on into included).
    pub native_steps: u64,
    /// Calls whose entry guard failed (nothing ran).
    pub guard_exits: u64,
    /// Calls that ended in a side exit.
    pub side_exits: u64,
}

/// The default [`RegionOptions::warmup`]: about 0.1 s of the interpreter. Compiling costs
/// the machine's thread (on this project's 2-vCPU measuring machine a busy compile thread
/// slows the interpreter on the other vCPU by 20-60%) and code that lands late runs little, so
/// short runs are best left alone. Measured with `avm bench --engine all` and 10 M-step
/// speedtest kernels: at 16 M the region JIT is 0.96-1.06x the interpreter on every workload
/// and kernel tried; at 4 M it gains on the 20-40 M-step workloads (kv_store 1.38x, sort
/// 1.29x) but loses up to half on kernels (add_2_1 0.53x, mul_2_1 0.71x).
pub const DEFAULT_WARMUP: u64 = 16_000_000;

impl Default for RegionOptions {
    fn default() -> RegionOptions {
        RegionOptions {
            threshold: DEFAULT_THRESHOLD,
            compile: CompileMode::Background,
            keep_text: false,
            perf_map: false,
            warmup: DEFAULT_WARMUP,
            profile: false,
        }
    }
}

/// A pc whose region is decided: compiled, or not worth compiling.
const DECIDED: u32 = u32::MAX;

/// Where regions compile.
enum Compiler {
    /// On the machine's thread, which waits. (Boxed: it holds Cranelift's compile context.)
    Inline(Box<RegionModule>),
    /// On the JIT's compile thread.
    Background(Worker),
}

/// Arrivals at each pc by a control transfer (or [`DECIDED`]), written by the machine's thread
/// and read by the compile thread when it forms a region. Relaxed loads and stores: no more
/// than plain ones on the hardware, and a count seen late only changes which arms a region
/// leaves out.
#[derive(Clone)]
struct Arrivals(Arc<[AtomicU32]>);

impl Arrivals {
    fn new(slots: usize) -> Arrivals {
        Arrivals((0..slots).map(|_| AtomicU32::new(0)).collect())
    }

    fn get(&self, pc: u32) -> u32 {
        self.0[pc as usize].load(Ordering::Relaxed)
    }

    fn set(&self, pc: u32, count: u32) {
        self.0[pc as usize].store(count, Ordering::Relaxed);
    }
}

/// Forms the region entered at `pc` of `program`, leaving out the arms `arrivals` never
/// counted (unless `all_reached`), and compiles it into `module`, going on through `table`.
fn build(
    module: &mut RegionModule,
    program: &Program,
    arrivals: &Arrivals,
    all_reached: bool,
    pc: u32,
    table: *const u64,
) -> Outcome {
    let reached = |pc: u32| all_reached || arrivals.get(pc) > 0;
    let region = region::form(program, pc, &reached);
    if region.is_empty() {
        return Outcome::Empty;
    }
    match module.compile(program, &region, table) {
        Ok(compiled) => Outcome::Compiled {
            entry: compiled.entry as usize,
            instructions: region.len() as u64,
            code_bytes: compiled.code_bytes,
            text: compiled.text,
        },
        Err(_) => Outcome::Refused,
    }
}

/// A region JIT for one program.
pub struct RegionJit {
    program: Arc<Program>,
    compiler: Compiler,
    /// The compiled region entered at each pc (null: none). Region code reads it to go on
    /// into the next region; its address stays put.
    table: Box<[u64]>,
    /// Arrivals at each pc by a control transfer, until [`DECIDED`].
    arrivals: Arrivals,
    /// Whether the interpreter hands control back at each pc (a region starts there).
    handback: Vec<bool>,
    threshold: u32,
    stats: RegionStats,
    /// The text of each region compiled, when kept.
    texts: Vec<RegionText>,
    /// Steps to warm up for, and the steps warmed up so far.
    warmup: u64,
    warming: u64,
    /// Per-region counts, when kept.
    profile: Option<Box<RegionProfile>>,
}

impl std::fmt::Debug for RegionJit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionJit")
            .field("threshold", &self.threshold)
            .field("stats", &self.stats)
            .finish()
    }
}

impl RegionProfile {
    /// Counts a call into the region at `entry` that ran `steps` and returned `code` with the
    /// machine at `pc`.
    fn count(&mut self, entry: u32, steps: u64, code: u32, pc: &Pc) {
        let counts = self.entries.entry(entry).or_default();
        counts.calls += 1;
        counts.native_steps += steps;
        match code {
            GUARD => counts.guard_exits += 1,
            SIDE => {
                counts.side_exits += 1;
                if let Pc::Loaded(at) = pc {
                    *self.side_exits.entry(*at).or_default() += 1;
                }
            }
            _ => {}
        }
    }
}

impl RegionJit {
    /// A region JIT for `program` that compiles the region at a pc, on the machine's thread,
    /// once control has arrived there more than `threshold` times (0: before it first runs),
    /// with no warm-up.
    pub fn new(program: Arc<Program>, threshold: u32) -> Result<RegionJit, JitError> {
        let options = RegionOptions {
            threshold,
            compile: CompileMode::Inline,
            warmup: 0,
            ..RegionOptions::default()
        };
        RegionJit::with_options(program, options)
    }

    /// A region JIT for `program` that works as `options` say.
    pub fn with_options(
        program: Arc<Program>,
        options: RegionOptions,
    ) -> Result<RegionJit, JitError> {
        let RegionOptions {
            threshold, compile, ..
        } = options;
        let extras = Extras {
            keep_text: options.keep_text,
            perf_map: options.perf_map,
        };
        let slots = program.len() + 1;
        let table = vec![0; slots].into_boxed_slice();
        let arrivals = Arrivals::new(slots);
        let compiler = match compile {
            CompileMode::Background if threshold > 0 => Compiler::Background(Worker::spawn(
                Arc::clone(&program),
                arrivals.clone(),
                table.as_ptr(),
                extras,
            )?),
            _ => Compiler::Inline(Box::new(RegionModule::new(extras).map_err(JitError::Host)?)),
        };
        Ok(RegionJit {
            program,
            compiler,
            table,
            arrivals,
            handback: vec![false; slots],
            threshold,
            stats: RegionStats::default(),
            texts: Vec::new(),
            // Threshold 0 compiles before anything runs: no warm-up.
            warmup: if threshold == 0 { 0 } else { options.warmup },
            warming: 0,
            profile: options.profile.then(Box::default),
        })
    }

    /// The Cranelift IR and disassembly of every region compiled so far, in the order they
    /// were installed (empty unless [`RegionOptions::keep_text`]).
    pub fn texts(&self) -> &[RegionText] {
        &self.texts
    }

    /// Where this JIT compiles.
    pub fn compile_mode(&self) -> CompileMode {
        match self.compiler {
            Compiler::Inline(_) => CompileMode::Inline,
            Compiler::Background(_) => CompileMode::Background,
        }
    }

    /// The function through which Rust enters a region.
    fn entry(&self) -> Entry {
        match &self.compiler {
            Compiler::Inline(module) => module.entry(),
            Compiler::Background(worker) => worker.entry(),
        }
    }

    /// What the JIT did so far.
    pub fn stats(&self) -> RegionStats {
        self.stats
    }

    /// Per-region counts so far, if [`RegionOptions::profile`] asked for them.
    pub fn profile(&self) -> Option<&RegionProfile> {
        self.profile.as_deref()
    }

    /// Runs `machine` (which must run this JIT's program) exactly as [`Machine::run`] would.
    pub fn run(&mut self, machine: &mut Machine, limits: &Limits) -> Stop {
        assert!(
            Arc::ptr_eq(machine.program(), &self.program),
            "a JIT runs the program it was made for"
        );
        let ceiling = limits.gas_ceiling();
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
            if self.warming < self.warmup {
                // Warming up: the interpreter alone, counting nothing.
                let slice = budget.min(self.warmup - self.warming);
                let segment = Limits {
                    max_steps: Some(slice),
                    continues: !first,
                    ..*limits
                };
                let before = machine.outputs().steps;
                let stop = machine.run(&segment);
                let ran = machine.outputs().steps - before;
                budget -= ran;
                first &= ran == 0;
                self.warming += ran;
                match stop {
                    Stop::StepLimit if ran == slice => continue,
                    stop => return stop,
                }
            }
            self.install_compiled();
            if let Pc::Loaded(pc) = *machine.pc()
                && let Some(region) = self.region_at(pc)
            {
                let before = machine.outputs().steps;
                let ctx = Ctx {
                    step_limit: before + budget,
                    ceiling_lo: ceiling as u64,
                    ceiling_hi: (ceiling >> 64) as u64,
                };
                let entry = self.entry();
                // SAFETY: `region` was compiled for this JIT's program, which `machine` runs
                // (asserted above), from a pc it is at, and so were the regions of the table
                // it goes on into; the machine is not otherwise borrowed during the call, and
                // the module that holds the code and the table live in `self`.
                let code = unsafe { entry(machine, &ctx, region) };
                let ran = machine.outputs().steps - before;
                budget -= ran;
                first &= ran == 0;
                self.stats.calls += 1;
                self.stats.native_steps += ran;
                match code {
                    DONE => {}
                    GUARD => self.stats.guard_exits += 1,
                    SIDE => self.stats.side_exits += 1,
                    _ => unreachable!("region code returns DONE, GUARD or SIDE"),
                }
                if let Some(profile) = &mut self.profile {
                    profile.count(pc, ran, code, machine.pc());
                }
                if budget == 0 {
                    return Stop::StepLimit;
                }
                if code == DONE {
                    continue;
                }
            }
            let before = machine.outputs().steps;
            let segment = Limits {
                max_steps: Some(budget),
                ..*limits
            };
            let (threshold, arrivals, handback) = (self.threshold, &self.arrivals, &self.handback);
            let ready = match &self.compiler {
                Compiler::Background(worker) => Some(worker.ready_flag()),
                Compiler::Inline(_) => None,
            };
            let arrive = |pc: u32| {
                if handback[pc as usize] || ready.is_some_and(|r| r.load(Ordering::Relaxed)) {
                    return true;
                }
                match arrivals.get(pc) {
                    DECIDED => false,
                    count => {
                        arrivals.set(pc, count + 1);
                        count + 1 > threshold
                    }
                }
            };
            let stop = machine.run_segment(&segment, first, arrive);
            let ran = machine.outputs().steps - before;
            budget -= ran;
            first &= ran == 0;
            if let Some(stop) = stop {
                return stop;
            }
        }
    }

    /// The compiled region at `pc`, compiling it if control has arrived often enough.
    fn region_at(&mut self, pc: u32) -> Option<RegionFn> {
        let index = pc as usize;
        if self.table[index] != 0 {
            return Some(self.table[index] as RegionFn);
        }
        match self.arrivals.get(pc) {
            DECIDED => return None,
            count if count < self.threshold => {
                self.arrivals.set(pc, count + 1);
                return None;
            }
            _ => self.arrivals.set(pc, DECIDED),
        }
        let module = match &mut self.compiler {
            Compiler::Inline(module) => module,
            Compiler::Background(worker) => {
                // The entry stays decided: it is interpreted until the code arrives, or for
                // good if the thread is gone.
                worker.request(pc);
                return None;
            }
        };
        let start = Instant::now();
        // At threshold 0 nothing ran yet: every arm is in.
        let all_reached = self.threshold == 0;
        let table = self.table.as_ptr();
        let outcome = build(
            module,
            &self.program,
            &self.arrivals,
            all_reached,
            pc,
            table,
        );
        self.install(pc, outcome, start.elapsed())
    }

    /// Installs the regions the compile thread has finished since the last call.
    fn install_compiled(&mut self) {
        let Compiler::Background(worker) = &self.compiler else {
            return;
        };
        if !worker.ready() {
            return;
        }
        for reply in worker.take_replies() {
            self.install(reply.pc, reply.outcome, reply.time);
        }
    }

    /// Records what became of the region at `pc`, which took `time`: a compiled entry goes in
    /// the table (and the interpreter hands control back there).
    fn install(&mut self, pc: u32, outcome: Outcome, time: Duration) -> Option<RegionFn> {
        self.stats.compile_time += time;
        let (entry, instructions, code_bytes, text) = match outcome {
            Outcome::Compiled {
                entry,
                instructions,
                code_bytes,
                text,
            } => (entry, instructions, code_bytes, text),
            Outcome::Empty => return None,
            Outcome::Refused => {
                self.stats.failed_compiles += 1;
                tracing::info!(
                    pc,
                    "region refused by the compiler; its entry stays interpreted"
                );
                return None;
            }
        };
        tracing::info!(
            pc,
            instructions,
            code_bytes,
            compile_us = time.as_micros() as u64,
            "region compiled"
        );
        if let Some(profile) = &mut self.profile {
            profile.compiled.push(CompiledRegion {
                entry: pc,
                instructions,
                code_bytes: code_bytes as u64,
            });
        }
        self.stats.regions += 1;
        self.stats.code_bytes += code_bytes as u64;
        self.texts.extend(text);
        self.stats.compiled_instructions += instructions;
        self.table[pc as usize] = entry as u64;
        self.handback[pc as usize] = true;
        Some(entry as RegionFn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use avm_interp::{GasBound, Observed};
    use avm_runtime::asm;

    /// Runs `source` on the interpreter and on a region JIT at threshold 0 within `limits`,
    /// asserts they end in the same state, and returns what the JIT did.
    fn exits(source: &str, limits: &Limits) -> RegionStats {
        let program = Arc::new(asm::assemble(source).expect("assembles"));
        let mut reference = Machine::new(Arc::clone(&program));
        let stop = reference.run(limits);
        let expected = Observed::of(&mut reference, stop);
        let mut jit = RegionJit::new(Arc::clone(&program), 0).expect("cranelift");
        let mut machine = Machine::new(program);
        let stop = jit.run(&mut machine, limits);
        assert_eq!(Observed::of(&mut machine, stop), expected, "{source}");
        jit.stats()
    }

    const LOOP: &str =
        "push 0\npush 50\nloop:\ndup0\nswap2\nadd\nswap1\nadd -1\ndup0\ncjump @loop\nhalt";

    #[test]
    fn a_path_that_ends_leaves_done() {
        let stats = exits(LOOP, &Limits::default());
        assert!(stats.native_steps > 300, "{stats:?}");
        assert_eq!((stats.guard_exits, stats.side_exits), (0, 0), "{stats:?}");
    }

    #[test]
    fn a_stack_too_shallow_fails_the_entry_guard() {
        // The region at 0 pops a value the empty stack does not have: the interpreter runs
        // `pop` and raises the error.
        let stats = exits("pop\nhalt", &Limits::default());
        assert_eq!(stats.guard_exits, 1, "{stats:?}");
        assert_eq!(stats.native_steps, 0, "{stats:?}");
    }

    #[test]
    fn a_step_budget_too_small_fails_the_entry_guard() {
        for steps in [1, 2, 3, 7, 100] {
            let limits = Limits {
                max_steps: Some(steps),
                ..Limits::default()
            };
            let stats = exits(LOOP, &limits);
            assert!(stats.guard_exits > 0, "{steps}: {stats:?}");
        }
    }

    #[test]
    fn a_gas_bound_too_close_fails_the_entry_guard() {
        for go_over in [false, true] {
            let limits = Limits {
                gas: Some(GasBound {
                    max_gas: 40,
                    go_over,
                }),
                ..Limits::default()
            };
            let stats = exits(LOOP, &limits);
            assert!(stats.guard_exits > 0, "go_over {go_over}: {stats:?}");
        }
    }

    #[test]
    fn division_and_signed_compares_agree_with_the_interpreter() {
        // Small operands inline; a product past 64 bits, a negative (wide) operand and a zero
        // divisor through the helper, the last raising the error the handler catches.
        let source = "errset @handler
            push 7\n push 100\n div\n push 7\n push 100\n mod\n push 3\n push 9\n sdiv
            push 4\n push 9\n smod\n push 5\n push 3\n slt\n push 5\n push 3\n sgt
            push 0xffffffffffffffff\n push 0xffffffffffffffff\n mul
            push 1\n push 0\n sub\n push 2\n swap1\n sdiv
            push 1\n push 0\n sub\n push 2\n slt
            push 0\n push 5\n div
            halt
            handler:
            push 11
            halt";
        let stats = exits(source, &Limits::default());
        assert!(stats.native_steps > 30, "{stats:?}");
        assert!(stats.side_exits > 0, "{stats:?}");
    }

    #[test]
    fn byte_signextend_and_not_agree_with_the_interpreter() {
        // Each case pushes B, then A, and applies the opcode; the results pile up on the
        // stack, which the comparison with the interpreter covers (hash included).
        let values = [
            "0",
            "1",
            "0x7f",
            "0x80",
            "0xff",
            "0x8000",
            "0x7fffffff",
            "0x80000000",
            "0x0123456789abcdef",
            "0xffffffffffffffff",
            "0x10000000000000000",
        ];
        let indexes = [
            "0",
            "1",
            "3",
            "6",
            "7",
            "8",
            "23",
            "24",
            "25",
            "30",
            "31",
            "32",
            "100",
            "0x10000000000000000",
        ];
        let mut source = String::new();
        for value in values {
            source += &format!("push {value}\nnot\npop\n");
            for index in indexes {
                for op in ["byte", "signextend"] {
                    source += &format!("push {value}\npush {index}\n{op}\n");
                }
            }
        }
        source += "halt\n";
        let stats = exits(&source, &Limits::default());
        assert!(stats.native_steps > 900, "{stats:?}");
    }

    #[test]
    fn a_loop_through_its_own_codepoint_runs_natively() {
        // `pcpush` pushes a constant (its own codepoint), and the jump back resolves through
        // the jump cache: nearly every step native.
        let source = "push 300\npcpush\nauxpush\nadd -1\ndup0\niszero\ncjump @out
            auxpop\njump\nout:\nauxpop\nhalt";
        let stats = exits(source, &Limits::default());
        assert!(stats.native_steps > 2_000, "{stats:?}");
        assert!(stats.calls < 10, "{stats:?}");
    }

    #[test]
    fn stack_tests_and_the_error_handler_run_natively() {
        // Depths seen through the values held above the floor, on both stacks; the handler
        // before and after errset, and a jump through it.
        let source = "stackempty\nauxstackempty\nerrpush\npop\npush 5\nauxpush\nauxstackempty
            stackempty\nerrset @handler\nerrpush\nerrpush\npop\njump\nhalt
            handler:\nauxpop\nauxstackempty\nstackempty\nhalt";
        let stats = exits(source, &Limits::default());
        assert!(stats.native_steps > 12, "{stats:?}");
    }

    #[test]
    fn operands_that_raise_an_error_leave_by_a_side_exit() {
        // `add` on a tuple: native code leaves before it, the interpreter raises the error and
        // jumps to the handler, and native code goes on there.
        let source = "errset @handler\npush (1, 2)\nadd 1\nhalt\nhandler:\npush 7\nhalt";
        let stats = exits(source, &Limits::default());
        assert!(stats.side_exits > 0, "{stats:?}");
    }
}
