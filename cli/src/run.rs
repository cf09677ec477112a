//! `avm run` and `avm resume`: run a machine within bounds, in slices that save checkpoints,
//! show progress and notice SIGINT and SIGTERM at step boundaries, then report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use avm_engine::jit::{CompileMode, JitOptions};
use avm_engine::native::{DEFAULT_WARMUP, RegionJit, RegionOptions, RegionStats};
use avm_engine::node::Store;
use avm_engine::{Jit, JitStats};
use avm_interp::{BlockReason, GasBound, Limits, Machine, Stop};
use avm_runtime::Program;
use avm_runtime::hash::{hex_bytes, hex_hash};
use serde_json::json;

use crate::checkpoints::{open_store, open_store_to_resume, store_failure};
use crate::expect::{Difference, Expectation};
use crate::memory;
use crate::numbers::{gas_bound, u64_count};
use crate::out::{self, Exit, Failure, Out};
use crate::signals::{Signal, StopRequests};
use crate::trace::Tracer;
use crate::{load_source, read_inbox};

/// The options of `avm run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A `.mexe` file or assembler text.
    file: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    bounds: BoundArgs,
    /// Inbox messages: a JSON list in the format of the corpus `*.inbox.json` files, or an L1
    /// inbox (README, "Inbox files").
    #[arg(long)]
    inbox: Option<PathBuf>,
    /// Print one JSON object instead of a summary (its fields: the README's `avm run --json`).
    #[arg(long)]
    json: bool,
    /// Compare the run's report with FILE (the format of the corpus's `*.expect.json`): print
    /// the verdict or each difference, and exit 4 on a mismatch (0 on a match, even for an
    /// error stop the file expects).
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    #[command(flatten)]
    trace: TraceArgs,
    /// Save checkpoints in this directory (its store file is `checkpoints.redb`): one when the
    /// run stops (also on SIGINT or SIGTERM), and more with --checkpoint-every. `avm resume
    /// DIR` continues from them.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// With --checkpoint-dir: also save a checkpoint every N steps (N ≥ 1).
    #[arg(long, value_name = "N", requires = "checkpoint_dir", value_parser = every)]
    checkpoint_every: Option<u64>,
}

impl RunArgs {
    /// Rules between options that clap cannot state.
    pub fn check(&self) -> Result<(), String> {
        self.engine.check()
    }
}

impl ResumeArgs {
    /// Rules between options that clap cannot state.
    pub fn check(&self) -> Result<(), String> {
        self.engine.check()
    }
}

/// The options of `avm resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// A checkpoint directory written by `avm run --checkpoint-dir`.
    dir: PathBuf,
    /// The checkpoint to resume (default: the newest).
    #[arg(long)]
    checkpoint: Option<u64>,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    bounds: BoundArgs,
    /// More inbox messages to queue after those the checkpoint holds (JSON, as for `avm run`).
    #[arg(long)]
    inbox: Option<PathBuf>,
    /// Print one JSON object instead of a summary (its fields: the README's `avm run --json`).
    #[arg(long)]
    json: bool,
    /// Compare the run's report with FILE, as `avm run --expect` does.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    #[command(flatten)]
    trace: TraceArgs,
    /// Also save a checkpoint every N steps (N ≥ 1; one is always saved when the run stops).
    #[arg(long, value_name = "N", value_parser = every)]
    checkpoint_every: Option<u64>,
}

/// The trace options `avm run` and `avm resume` share.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Write one JSON line per step (EIP-3155 style: step, pc, opName, immediate, gas before
    /// and gasCost, stack depths, the top values, error, next pc) to FILE (`--trace=FILE`), or
    /// to standard error with no FILE or `-`.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "-")]
    trace: Option<PathBuf>,
    /// With --trace: the first step traced (counted since the program started); the engine
    /// runs the steps before it at full speed.
    #[arg(long, value_name = "STEP", requires = "trace", value_parser = u64_count)]
    trace_from: Option<u64>,
    /// With --trace: the step before which tracing ends; the run then goes on untraced.
    #[arg(long, value_name = "STEP", requires = "trace", value_parser = u64_count)]
    trace_to: Option<u64>,
}

impl TraceArgs {
    /// The tracer the options ask for, if any.
    fn tracer(&self) -> Result<Option<Tracer>, Failure> {
        self.trace
            .as_deref()
            .map(|file| Tracer::new(file, self.trace_from.unwrap_or(0), self.trace_to))
            .transpose()
    }
}

/// The engine options `avm run` and `avm resume` share.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// The engine that runs the program.
    #[arg(long, value_enum, default_value_t = EngineKind::Interp)]
    engine: EngineKind,
    /// JIT: a block (`jit`) or region (`regions`) compiles once control has arrived at it more
    /// than N times and, for blocks unless --jit-hot-steps 0, its arrivals × its length reach
    /// --jit-hot-steps (0: every block or region compiles before it first runs). [default: 32]
    #[arg(long, value_name = "N")]
    jit_threshold: Option<u32>,
    /// JIT: the steps a block must have run (arrivals × length) before it compiles, on top of
    /// --jit-threshold; 0 lets the threshold alone decide. [default: 16384]
    #[arg(long, value_name = "STEPS", value_parser = u64_count)]
    jit_hot_steps: Option<u64>,
    /// JIT: where hot blocks or regions compile. `inline`: the run waits while one compiles.
    /// `background`: a worker thread compiles while the run goes on interpreting until the code
    /// arrives. Results are the same either way; only the speed differs. With --jit-threshold 0
    /// code always compiles inline (each must compile before it first runs). [default:
    /// background]
    #[arg(long, value_enum)]
    jit_compile: Option<JitCompile>,
    /// Regions: steps left to the interpreter alone before the JIT starts counting arrivals
    /// (a run shorter than that compiles nothing). [default: 16000000]
    #[arg(long, value_name = "STEPS", value_parser = u64_count)]
    jit_warmup: Option<u64>,
    /// Regions: name each compiled region for `perf` in /tmp/perf-PID.map.
    #[arg(long)]
    perf_map: bool,
    /// Regions: when the run ends, write each compiled region's Cranelift IR (`PC.clif`) and
    /// machine code (`PC.s`) into DIR (created if missing). With `--jit-compile background`
    /// only regions that landed before the end are written.
    #[arg(long, value_name = "DIR")]
    dump_regions: Option<PathBuf>,
}

impl EngineArgs {
    /// Refuses options the chosen engine does not take: they would be silently ignored.
    pub fn check(&self) -> Result<(), String> {
        use EngineKind::{Jit, Regions};
        let options: [(&str, bool, &[EngineKind]); 6] = [
            (
                "--jit-threshold",
                self.jit_threshold.is_some(),
                &[Jit, Regions],
            ),
            ("--jit-hot-steps", self.jit_hot_steps.is_some(), &[Jit]),
            ("--jit-compile", self.jit_compile.is_some(), &[Jit, Regions]),
            ("--jit-warmup", self.jit_warmup.is_some(), &[Regions]),
            ("--perf-map", self.perf_map, &[Regions]),
            ("--dump-regions", self.dump_regions.is_some(), &[Regions]),
        ];
        match options
            .iter()
            .find(|(_, given, takes)| *given && !takes.contains(&self.engine))
        {
            Some((flag, _, [Jit])) if self.engine == Regions => Err(format!(
                "{flag} is an option of the block JIT and cannot be used with --engine regions"
            )),
            Some((flag, _, [Regions])) => Err(format!(
                "{flag} is an option of the region JIT (--engine regions)"
            )),
            Some((flag, ..)) => Err(format!(
                "{flag} is a JIT option and cannot be used with --engine interp"
            )),
            None => Ok(()),
        }
    }

    /// The engine, made for `program`.
    fn runner(&self, program: &Arc<Program>) -> Result<Runner, Failure> {
        let defaults = JitOptions::default();
        let threshold = self.jit_threshold.unwrap_or(defaults.threshold);
        let compile = self.jit_compile.map_or(defaults.compile, CompileMode::from);
        match self.engine {
            EngineKind::Interp => Ok(Runner::Interp),
            EngineKind::Jit => {
                let options = JitOptions {
                    threshold,
                    hot_steps: self.jit_hot_steps.unwrap_or(defaults.hot_steps),
                    compile,
                    ..defaults
                };
                Jit::with_options(Arc::clone(program), options)
                    .map(|jit| Runner::Blocks(Box::new(jit)))
                    .map_err(|message| Failure::engine("jit", message))
            }
            EngineKind::Regions => RegionJit::with_options(
                Arc::clone(program),
                RegionOptions {
                    threshold,
                    compile,
                    perf_map: self.perf_map,
                    keep_text: self.dump_regions.is_some(),
                    warmup: self.jit_warmup.unwrap_or(DEFAULT_WARMUP),
                    ..RegionOptions::default()
                },
            )
            .map(|jit| Runner::Regions(Box::new(jit)))
            .map_err(|message| Failure::engine("regions", message)),
        }
    }
}

/// The engine a run drives.
pub(crate) enum Runner {
    Interp,
    /// The JITs are boxed: each holds hundreds of bytes of state.
    Blocks(Box<Jit>),
    Regions(Box<RegionJit>),
}

/// What the engine of a run did, for the report.
#[derive(Clone, Copy, Debug)]
enum EngineReport {
    Interp,
    Blocks(JitStats),
    Regions(RegionStats),
}

impl Runner {
    pub(crate) fn run(&mut self, machine: &mut Machine, limits: &Limits) -> Stop {
        match self {
            Runner::Interp => machine.run(limits),
            Runner::Blocks(jit) => jit.run(machine, limits),
            Runner::Regions(jit) => jit.run(machine, limits),
        }
    }

    fn report(&self) -> EngineReport {
        match self {
            Runner::Interp => EngineReport::Interp,
            Runner::Blocks(jit) => EngineReport::Blocks(jit.stats()),
            Runner::Regions(jit) => EngineReport::Regions(jit.stats()),
        }
    }

    /// Time spent compiling so far (on compile threads too).
    pub(crate) fn compile_time(&self) -> Duration {
        match self.report() {
            EngineReport::Interp => Duration::ZERO,
            EngineReport::Blocks(stats) => stats.compile_time,
            EngineReport::Regions(stats) => stats.compile_time,
        }
    }
}

/// The bounds and stopping rules `avm run` and `avm resume` share.
#[derive(Debug, clap::Args)]
pub struct BoundArgs {
    /// Stop after this many steps of this run (`1e6`, `1_000_000` and `0x10` are understood).
    #[arg(long, value_name = "STEPS", value_parser = u64_count)]
    max_steps: Option<u64>,
    /// Stop on a bound on total gas used since the program started (before the instruction
    /// that would exceed it).
    #[arg(long, value_name = "GAS", value_parser = gas_bound)]
    max_gas: Option<u128>,
    /// With --max-gas: stop once gas used has reached the bound instead of before exceeding it.
    #[arg(long, requires = "max_gas")]
    go_over_gas: bool,
    /// Stop once the process holds more than this much memory (resident, checked about every
    /// 20 ms): `512M`, `4G`, bytes; `0` for no bound. The run stops as at a step bound, its
    /// state whole, with a checkpoint when checkpointing. [default: 80% of physical memory]
    #[arg(long, value_name = "SIZE", value_parser = memory::size)]
    max_memory: Option<u64>,
    /// Stop before a `breakpoint` (reported as blocked on breakpoint); the next run (`avm
    /// resume`) executes it.
    #[arg(long)]
    stop_on_breakpoint: bool,
    /// Stop before a `sideload` for which no value is queued (reported as blocked on sideload).
    #[arg(long)]
    stop_on_sideload: bool,
}

impl BoundArgs {
    /// The memory bound in bytes, if any: the one given, or the default share of physical
    /// memory where the OS says how much there is.
    fn memory_bound(&self) -> Option<u64> {
        match self.max_memory {
            Some(0) => None,
            Some(bytes) => Some(bytes),
            None => memory::physical().map(|total| (total as f64 * memory::DEFAULT_SHARE) as u64),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_steps: self.max_steps,
            gas: self.max_gas.map(|max_gas| GasBound {
                max_gas,
                go_over: self.go_over_gas,
            }),
            stop_on_sideload: self.stop_on_sideload,
            stop_on_breakpoint: self.stop_on_breakpoint,
            continues: false,
        }
    }
}

/// Which engine runs the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The reference interpreter.
    Interp,
    /// The block JIT (Cranelift), tiered over the interpreter.
    Jit,
    /// The region JIT (Cranelift): native code that runs the machine itself, over regions
    /// entered from the interpreter once hot.
    Regions,
}

/// Where the JIT compiles hot blocks (see [`CompileMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum JitCompile {
    /// On the thread that runs the machine, which waits for the code.
    Inline,
    /// On a worker thread, while the machine keeps interpreting.
    Background,
}

impl From<JitCompile> for CompileMode {
    fn from(mode: JitCompile) -> CompileMode {
        match mode {
            JitCompile::Inline => CompileMode::Inline,
            JitCompile::Background => CompileMode::Background,
        }
    }
}

/// `--checkpoint-every`: a step count of at least 1 (0 would save at the same step forever).
fn every(text: &str) -> Result<u64, String> {
    match u64_count(text)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

/// `avm run`.
pub fn run(args: RunArgs, out: &mut Out) -> Result<Exit, Failure> {
    let stop_requests = StopRequests::install()?;
    let expect = args.expect.as_deref().map(Expectation::load).transpose()?;
    let load_start = Instant::now();
    let (program, source) = load_source(&args.file)?;
    let program = Arc::new(program);
    let mut machine = Machine::new(Arc::clone(&program));
    queue_inbox(&mut machine, args.inbox.as_ref())?;
    // The source (the whole file) is kept only to save it with checkpoints.
    let checkpoints = match &args.checkpoint_dir {
        None => {
            drop(source);
            None
        }
        Some(dir) => Some(Checkpointing {
            store: open_store(dir, true)?,
            dir: dir.clone(),
            source,
            every: args.checkpoint_every,
        }),
    };
    let session = Session {
        runner: args.engine.runner(&program)?,
        dump_regions: args.engine.dump_regions.clone(),
        program,
        limits: args.bounds.limits(),
        memory_bound: args.bounds.memory_bound(),
        checkpoints,
        load_ms: elapsed_ms(load_start),
        stop_requests,
        expect,
        tracer: args.trace.tracer()?,
    };
    session.execute(machine, args.json, out)
}

/// `avm resume`: continue a checkpointed run; steps and gas count since the program started, as
/// one uninterrupted `avm run` would count them, and the report also says what this run did.
pub fn resume(args: ResumeArgs, out: &mut Out) -> Result<Exit, Failure> {
    let stop_requests = StopRequests::install()?;
    let expect = args.expect.as_deref().map(Expectation::load).transpose()?;
    let load_start = Instant::now();
    let (store, writable) = open_store_to_resume(&args.dir)?;
    if !writable && args.checkpoint_every.is_some() {
        return Err(Failure::engine(
            "checkpoints",
            format!(
                "{} is read-only: --checkpoint-every cannot save there",
                args.dir.display()
            ),
        ));
    }
    let id = match args.checkpoint {
        Some(id) => id,
        None => store
            .latest()
            .map_err(store_failure)?
            .ok_or_else(|| Failure::engine("checkpoints", "the store has no checkpoint yet"))?,
    };
    let (_, source) = store.program_source(id).map_err(store_failure)?;
    let program = Arc::new(
        Program::from_source(&source)
            .map_err(|error| Failure::about("checkpointed program", error))?,
    );
    let mut machine = store
        .load(id, Arc::clone(&program))
        .map_err(store_failure)?;
    queue_inbox(&mut machine, args.inbox.as_ref())?;
    if !writable {
        out::note(&format!(
            "{} is read-only: this run saves no checkpoint",
            args.dir.display()
        ));
    }
    let session = Session {
        runner: args.engine.runner(&program)?,
        dump_regions: args.engine.dump_regions.clone(),
        program,
        limits: args.bounds.limits(),
        memory_bound: args.bounds.memory_bound(),
        checkpoints: writable.then(|| Checkpointing {
            store,
            dir: args.dir.clone(),
            source,
            every: args.checkpoint_every,
        }),
        load_ms: elapsed_ms(load_start),
        stop_requests,
        expect,
        tracer: args.trace.tracer()?,
    };
    session.execute(machine, args.json, out)
}

fn queue_inbox(machine: &mut Machine, path: Option<&PathBuf>) -> Result<(), Failure> {
    if let Some(path) = path {
        for message in read_inbox(path)?.messages() {
            machine.push_inbox(message.clone());
        }
    }
    Ok(())
}

/// Where and how often a run saves checkpoints.
struct Checkpointing {
    store: Store,
    dir: PathBuf,
    source: Vec<u8>,
    every: Option<u64>,
}

/// A run about to start: what runs, on which engine, within which bounds, saving where.
struct Session {
    program: Arc<Program>,
    runner: Runner,
    /// Where to write the compiled regions' text when the run ends.
    dump_regions: Option<PathBuf>,
    limits: Limits,
    /// Resident bytes past which the run stops.
    memory_bound: Option<u64>,
    checkpoints: Option<Checkpointing>,
    load_ms: f64,
    /// Signals caught since the command started (also while it loaded).
    stop_requests: StopRequests,
    /// What the report must say, if the run is checked.
    expect: Option<Expectation>,
    /// Where a traced run's step lines go.
    tracer: Option<Tracer>,
}

/// Why a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ended {
    /// The machine stopped (halted, error-stopped, blocked) or reached a bound of the run.
    Machine(Stop),
    /// A signal asked the run to stop; it did at a step boundary.
    Signal(Signal),
    /// The process held more memory than the run's bound.
    MemoryLimit,
}

/// What the run did, for the report.
struct Summary {
    ended: Ended,
    /// Steps of this run (a resumed run's total counts from the program's start).
    steps_run: u64,
    wall_ms: f64,
    load_ms: f64,
    engine: EngineReport,
    /// The checkpoint saved when the run stopped, if checkpointing, and how long saving it took.
    checkpoint: Option<(u64, f64)>,
}

/// Steps in the first slice of a run; later slices are sized to take about [`SLICE_TIME`].
const FIRST_SLICE: u64 = 64;

/// How long one slice of a run should take: how late a signal is noticed, at most (one
/// instruction is never cut), and how often progress can change.
const SLICE_TIME: Duration = Duration::from_millis(20);

/// The longest slice, in steps.
const MAX_SLICE: u64 = 1 << 26;

impl Session {
    /// Runs to the end, saving checkpoints on the way when asked, and reports.
    fn execute(
        mut self,
        mut machine: Machine,
        as_json: bool,
        out: &mut Out,
    ) -> Result<Exit, Failure> {
        let start = Instant::now();
        let start_steps = machine.outputs().steps;
        let ended = self.drive(&mut machine)?;
        let wall_ms = elapsed_ms(start);
        if let (Some(dir), Runner::Regions(jit)) = (&self.dump_regions, &self.runner) {
            dump_regions(jit, dir)?;
        }
        let save_start = Instant::now();
        let checkpoint = match &self.checkpoints {
            Some(c) => Some((
                c.store
                    .save(&self.program, &c.source, &mut machine)
                    .map_err(store_failure)?
                    .id,
                elapsed_ms(save_start),
            )),
            None => None,
        };
        let summary = Summary {
            steps_run: machine.outputs().steps - start_steps,
            wall_ms,
            load_ms: self.load_ms,
            engine: self.runner.report(),
            checkpoint,
            ended,
        };
        let exit = match &summary.ended {
            Ended::Signal(signal) => signal.exit(),
            Ended::Machine(Stop::ErrorStop) => Exit::ErrorStop,
            Ended::Machine(_) | Ended::MemoryLimit => Exit::Success,
        };
        let mut report = report_object(&mut machine, &summary);
        let differences = self.expect.as_ref().map(|e| e.differences(&report));
        if let (Some(expect), Some(differences)) = (&self.expect, &differences) {
            report["expect"] = expect.verdict_json(differences);
        }
        match as_json {
            true => writeln!(out, "{report}")?,
            false => {
                let dir = self
                    .checkpoints
                    .as_ref()
                    .map(|c| c.dir.display().to_string());
                let hash = report["machine_hash"].as_str().unwrap_or_default();
                report_text(&machine, hash, &summary, dir.as_deref(), out)?;
                if let (Some(expect), Some(differences)) = (&self.expect, &differences) {
                    report_verdict(expect, differences, out)?;
                }
            }
        }
        Ok(match differences {
            Some(differences) if !differences.is_empty() => Exit::Rejected,
            Some(_) if exit == Exit::ErrorStop => Exit::Success,
            _ => exit,
        })
    }

    /// Runs slice after slice until the machine stops, a bound is reached or a signal asks to
    /// stop. Slices continue each other ([`Limits::continues`]), so they end where one run
    /// would.
    fn drive(&mut self, machine: &mut Machine) -> Result<Ended, Failure> {
        let start = Instant::now();
        let start_steps = machine.outputs().steps;
        let mut remaining = self.limits.max_steps;
        let every = self.checkpoints.as_ref().and_then(|c| c.every);
        let mut until_checkpoint = every;
        let mut slice = FIRST_SLICE;
        let mut progress = out::Progress::new();
        let ended = loop {
            if let Some(signal) = self.stop_requests.pending() {
                break Ended::Signal(signal);
            }
            let before = machine.outputs().steps;
            let limits = Limits {
                continues: before > start_steps,
                ..self.limits
            };
            let stop = match &mut self.tracer {
                Some(tracer) if tracer.covers(before) => {
                    tracer.step(machine, &limits)?.unwrap_or(Stop::StepLimit)
                }
                tracer => {
                    let to_window = tracer.as_ref().and_then(|t| t.steps_until_window(before));
                    let size = [Some(slice), remaining, until_checkpoint, to_window]
                        .into_iter()
                        .flatten()
                        .min()
                        .unwrap_or(slice);
                    let slice_start = Instant::now();
                    let limits = Limits {
                        max_steps: Some(size),
                        ..limits
                    };
                    let stop = self.runner.run(machine, &limits);
                    if machine.outputs().steps - before == size {
                        slice = next_slice(slice, size, slice_start.elapsed());
                    }
                    stop
                }
            };
            let ran = machine.outputs().steps - before;
            remaining = remaining.map(|r| r - ran);
            until_checkpoint = until_checkpoint.map(|n| n - ran);
            if stop != Stop::StepLimit || remaining == Some(0) {
                break Ended::Machine(stop);
            }
            if let Some(bound) = self.memory_bound
                && memory::resident().is_some_and(|held| held > bound)
            {
                break Ended::MemoryLimit;
            }
            if until_checkpoint == Some(0) {
                let c = self.checkpoints.as_ref().expect("checkpointing when due");
                c.store
                    .save(&self.program, &c.source, machine)
                    .map_err(store_failure)?;
                until_checkpoint = every;
            }
            progress.set(|| {
                let steps = machine.outputs().steps;
                let rate = (steps - start_steps) as f64 / start.elapsed().as_secs_f64();
                format!("{steps} steps, {:.1} M steps/s", rate / 1e6)
            });
        };
        drop(progress);
        if let Some(tracer) = &mut self.tracer {
            tracer.finish()?;
        }
        Ok(ended)
    }
}

/// Writes the Cranelift IR (`PC.clif`) and machine code (`PC.s`) of every region `jit`
/// compiled into `dir`.
fn dump_regions(jit: &RegionJit, dir: &std::path::Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::io(dir, e))?;
    for text in jit.texts() {
        for (extension, content) in [("clif", &text.clif), ("s", &text.disassembly)] {
            let path = dir.join(format!("{}.{extension}", text.entry));
            std::fs::write(&path, content).map_err(|e| Failure::io(&path, e))?;
        }
    }
    Ok(())
}

/// The size of the next slice, from how long a slice of `size` steps took: about
/// [`SLICE_TIME`], growing at most 8× at a time.
fn next_slice(current: u64, size: u64, took: Duration) -> u64 {
    if size < current {
        return current;
    }
    let target = SLICE_TIME.as_secs_f64();
    let scaled = size as f64 * target / took.as_secs_f64().max(1e-9);
    (scaled as u64).clamp(1, (current * 8).min(MAX_SLICE))
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// The report's status word and, for a block or a stop, why.
fn stop_fields(ended: &Ended) -> (&'static str, Option<&'static str>) {
    match ended {
        Ended::Machine(stop) => stop_words(stop),
        Ended::Signal(signal) => ("stopped", Some(signal.name())),
        Ended::MemoryLimit => ("stopped", Some("memory_limit")),
    }
}

/// The status word of a run the machine ended, and for a block or a bound, why: the words of
/// the JSON reports (`status`, `block_reason`, `stopped_by`).
pub fn stop_words(stop: &Stop) -> (&'static str, Option<&'static str>) {
    match stop {
        Stop::Halted => ("halted", None),
        Stop::ErrorStop => ("errorstop", None),
        Stop::Blocked(BlockReason::Inbox) => ("blocked", Some("inbox")),
        Stop::Blocked(BlockReason::Sideload { .. }) => ("blocked", Some("sideload")),
        Stop::Blocked(BlockReason::Breakpoint) => ("blocked", Some("breakpoint")),
        Stop::StepLimit => ("stopped", Some("step_limit")),
        Stop::GasLimit => ("stopped", Some("gas_limit")),
    }
}

/// The share of this run's steps that region code ran (0 when it ran none).
fn native_share(stats: &RegionStats, steps_run: u64) -> f64 {
    match steps_run {
        0 => 0.0,
        n => stats.native_steps as f64 / n as f64,
    }
}

/// Longest rendering of a debugprint value in a report.
const BRIEF_CHARS: usize = 120;

/// The version of the `avm run --json` report's fields (the README documents each): raised
/// whenever a field is renamed, removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 2;

/// The run's report as one JSON object. Field names are those of the corpus's `*.expect.json`
/// where they mean the same thing.
fn report_object(machine: &mut Machine, summary: &Summary) -> serde_json::Value {
    let hash = hex_hash(&machine.hash());
    let gas_remaining = machine.gas_remaining();
    let outputs = machine.outputs();
    let (status, why) = stop_fields(&summary.ended);
    let mut object = json!({
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "steps": outputs.steps,
        "steps_run": summary.steps_run,
        "gas": big_number(outputs.gas_used),
        "gas_remaining": gas_remaining.to_string(),
        "machine_hash": hash,
        "inbox_consumed": outputs.inbox_consumed,
        "inbox_acc": hex_hash(&outputs.inbox_acc),
        "log_count": outputs.log_count,
        "log_hashes": outputs.logs.iter().map(|v| hex_hash(&v.hash())).collect::<Vec<_>>(),
        "log_acc": hex_hash(&outputs.log_acc),
        "send_count": outputs.send_count,
        "sends": outputs.sends.iter().map(|s| hex_bytes(s)).collect::<Vec<_>>(),
        "send_acc": hex_hash(&outputs.send_acc),
        "debug_prints": outputs.debug_prints.iter().map(|v| json!({
            "hash": hex_hash(&v.hash()),
            "value": v.brief(BRIEF_CHARS),
        })).collect::<Vec<_>>(),
        "load_ms": summary.load_ms,
        "wall_ms": summary.wall_ms,
    });
    match summary.engine {
        EngineReport::Interp => {}
        EngineReport::Blocks(stats) => {
            object["compiled_blocks"] = json!(stats.compiled_blocks);
            object["compile_ms"] = json!(stats.compile_time.as_secs_f64() * 1e3);
        }
        EngineReport::Regions(stats) => {
            object["regions"] = json!({
                "compiled": stats.regions,
                "compiled_instructions": stats.compiled_instructions,
                "failed_compiles": stats.failed_compiles,
                "code_bytes": stats.code_bytes,
                "compile_ms": stats.compile_time.as_secs_f64() * 1e3,
                "native_steps": stats.native_steps,
                "native_share": native_share(&stats, summary.steps_run),
                "calls": stats.calls,
                "exits": { "guard": stats.guard_exits, "side": stats.side_exits },
            });
        }
    }
    if let Some((id, save_ms)) = summary.checkpoint {
        object["checkpoint"] = json!(id);
        object["save_ms"] = json!(save_ms);
    }
    match summary.ended {
        Ended::Machine(Stop::Blocked(_)) => object["block_reason"] = json!(why),
        Ended::Machine(Stop::StepLimit | Stop::GasLimit)
        | Ended::Signal(_)
        | Ended::MemoryLimit => object["stopped_by"] = json!(why),
        _ => {}
    }
    object
}

/// A count that is a JSON number while it fits 64 bits (as every real one does) and a decimal
/// string past that, so that no reader loses digits.
pub fn big_number(n: u128) -> serde_json::Value {
    match u64::try_from(n) {
        Ok(n) => json!(n),
        Err(_) => json!(n.to_string()),
    }
}

/// The `--expect` verdict under a text report: one line when everything matched, else a line
/// per difference.
fn report_verdict(
    expect: &Expectation,
    differences: &[Difference],
    out: &mut Out,
) -> Result<(), Failure> {
    let file = expect.path().display();
    if differences.is_empty() {
        return writeln!(out, "expect: match ({} fields of {file})", expect.len());
    }
    writeln!(
        out,
        "expect: MISMATCH ({} of {} fields of {file} differ)",
        differences.len(),
        expect.len()
    )?;
    for d in differences {
        writeln!(out, "  {}", d.describe())?;
    }
    Ok(())
}

/// The run's report as lines; `hash` is the machine hash the JSON report computed.
fn report_text(
    machine: &Machine,
    hash: &str,
    summary: &Summary,
    checkpoint_dir: Option<&str>,
    out: &mut Out,
) -> Result<(), Failure> {
    let gas_remaining = machine.gas_remaining();
    let outputs = machine.outputs();
    let (status, why) = stop_fields(&summary.ended);
    let status = match (&summary.ended, why) {
        (Ended::Signal(Signal::Interrupt), _) => "stopped (interrupted)".to_string(),
        (Ended::Signal(Signal::Terminate), _) => "stopped (terminated)".to_string(),
        (_, Some(why)) => format!("{status} ({})", why.replace('_', " ")),
        (_, None) => status.to_string(),
    };
    writeln!(out, "status: {status}")?;
    let steps = match outputs.steps == summary.steps_run {
        true => outputs.steps.to_string(),
        false => format!("{} ({} in this run)", outputs.steps, summary.steps_run),
    };
    writeln!(
        out,
        "steps: {steps}  gas used: {}  gas remaining: {gas_remaining}",
        outputs.gas_used
    )?;
    writeln!(
        out,
        "logs: {}  sends: {}  inbox consumed: {}",
        outputs.logs.len(),
        outputs.sends.len(),
        outputs.inbox_consumed
    )?;
    writeln!(out, "machine hash: {hash}")?;
    let wall_ms = summary.wall_ms;
    let speed = match summary.steps_run {
        0 => "no steps run".to_string(),
        n => format!("{:.1} M steps/s", n as f64 / (wall_ms / 1e3) / 1e6),
    };
    writeln!(
        out,
        "load: {:.1} ms  run: {wall_ms:.1} ms ({speed})",
        summary.load_ms
    )?;
    match summary.engine {
        EngineReport::Interp => {}
        EngineReport::Blocks(stats) => {
            let compile_ms = stats.compile_time.as_secs_f64() * 1e3;
            writeln!(
                out,
                "jit: {} blocks compiled in {compile_ms:.1} ms",
                stats.compiled_blocks
            )?;
        }
        EngineReport::Regions(stats) => {
            let compile_ms = stats.compile_time.as_secs_f64() * 1e3;
            writeln!(
                out,
                "regions: {} compiled ({} instructions) in {compile_ms:.1} ms; {:.1}% of steps \
                 native; {} side exits, {} guard exits",
                stats.regions,
                stats.compiled_instructions,
                100.0 * native_share(&stats, summary.steps_run),
                stats.side_exits,
                stats.guard_exits,
            )?;
        }
    }
    if let (Some((id, save_ms)), Some(dir)) = (summary.checkpoint, checkpoint_dir) {
        writeln!(out, "checkpoint: {id} saved in {dir} ({save_ms:.1} ms)")?;
    }
    for (i, value) in outputs.debug_prints.iter().enumerate() {
        writeln!(
            out,
            "debugprint {i}: {} {}",
            hex_hash(&value.hash()),
            value.brief(BRIEF_CHARS)
        )?;
    }
    Ok(())
}
