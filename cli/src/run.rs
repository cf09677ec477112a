//! `avm run`: load a program, feed it inbox messages, run it within limits, report.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use avm_engine::jit::{CompileMode, JitOptions};
use avm_engine::node::{Store, StoreError, program_from_source};
use avm_engine::{Jit, JitStats};
use avm_interp::{BlockReason, GasBound, Limits, Machine, Status, Stop};
use avm_runtime::hash::{hex_bytes, hex_hash};
use avm_runtime::{Error, Program, parse_inbox_json};
use serde_json::json;

use crate::{Failure, io_failure, load_program};

/// The options of `avm run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A `.mexe` file or assembler text.
    file: std::path::PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    bounds: BoundArgs,
    /// Inbox messages: a JSON list in the format of the corpus `*.inbox.json` files.
    #[arg(long)]
    inbox: Option<std::path::PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
    /// Save checkpoints in this directory (its store file is `checkpoints.redb`): one when the
    /// run stops, and more with --checkpoint-every. `avm resume DIR` continues from them.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// With --checkpoint-dir: also save a checkpoint every N steps.
    #[arg(long, requires = "checkpoint_dir")]
    checkpoint_every: Option<u64>,
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
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
    /// Also save a checkpoint every N steps (one is always saved when the run stops).
    #[arg(long)]
    checkpoint_every: Option<u64>,
}

/// The engine options `avm run` and `avm resume` share.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// The engine that runs the program.
    #[arg(long, value_enum, default_value_t = EngineKind::Jit)]
    engine: EngineKind,
    /// JIT: compile a block once control has arrived at it this many times (0: before it
    /// first runs).
    #[arg(long, default_value_t = avm_engine::DEFAULT_THRESHOLD)]
    jit_threshold: u32,
    /// JIT: where hot blocks compile. `inline`: the run waits while a block compiles.
    /// `background`: a worker thread compiles while the run goes on interpreting the block
    /// until its code arrives. Results are the same either way; only the speed differs. With
    /// --jit-threshold 0 blocks always compile inline (each must compile before it first runs).
    #[arg(long, value_enum, default_value_t = JitCompile::from(JitOptions::default().compile))]
    jit_compile: JitCompile,
}

impl EngineArgs {
    /// A JIT for `program`, or `None` for the interpreter.
    fn jit(&self, program: &Arc<Program>) -> Result<Option<Jit>, Failure> {
        if self.engine == EngineKind::Interp {
            return Ok(None);
        }
        let options = JitOptions {
            threshold: self.jit_threshold,
            compile: self.jit_compile.into(),
            ..JitOptions::default()
        };
        Jit::with_options(Arc::clone(program), options)
            .map(Some)
            .map_err(|message| Failure {
                subject: "jit".into(),
                error: Error::Engine(message),
            })
    }
}

/// The step and gas bounds `avm run` and `avm resume` share.
#[derive(Debug, clap::Args)]
pub struct BoundArgs {
    /// Stop after this many steps (of this run).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Stop on a bound on total gas used since the program started (before the instruction
    /// that would exceed it).
    #[arg(long)]
    max_gas: Option<u128>,
    /// With --max-gas: stop once gas used has reached the bound instead of before exceeding it.
    #[arg(long, requires = "max_gas")]
    go_over_gas: bool,
}

impl BoundArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_steps: self.max_steps,
            gas: self.max_gas.map(|max_gas| GasBound {
                max_gas,
                go_over: self.go_over_gas,
            }),
            ..Limits::default()
        }
    }
}

/// The options of `avm checkpoints`.
#[derive(Debug, clap::Args)]
pub struct CheckpointsArgs {
    /// A checkpoint directory written by `avm run --checkpoint-dir`.
    dir: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// First delete all but the newest N checkpoints (freeing what only they use) and shrink
    /// the store file.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    keep: Option<u64>,
}

/// Which engine runs the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT, tiered over the interpreter.
    Jit,
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

impl From<CompileMode> for JitCompile {
    fn from(mode: CompileMode) -> JitCompile {
        match mode {
            CompileMode::Inline => JitCompile::Inline,
            CompileMode::Background => JitCompile::Background,
        }
    }
}

/// How many steps run between progress checks.
const PROGRESS_CHUNK: u64 = 1 << 22;

pub fn run(args: RunArgs) -> Result<(), Failure> {
    let load_start = Instant::now();
    let program = Arc::new(load_program(&args.file)?);
    let mut machine = Machine::new(Arc::clone(&program));
    if let Some(path) = &args.inbox {
        for message in read_inbox(path)? {
            machine.push_inbox(message.to_value());
        }
    }
    let checkpoints = match &args.checkpoint_dir {
        None => None,
        Some(dir) => {
            let source = std::fs::read(&args.file).map_err(|e| io_failure(&args.file, e))?;
            Some(Checkpointing {
                store: open_store(dir, true)?,
                source,
                every: args.checkpoint_every,
            })
        }
    };
    let load_ms = load_start.elapsed().as_secs_f64() * 1e3;
    let limits = args.bounds.limits();
    let jit = args.engine.jit(&program)?;
    execute(
        machine,
        &program,
        &limits,
        jit,
        checkpoints.as_ref(),
        args.json,
        load_ms,
    )
}

/// `avm resume`: continue a checkpointed run; the report counts steps and gas since the
/// program started, as one uninterrupted `avm run` would.
pub fn resume(args: ResumeArgs) -> Result<(), Failure> {
    let load_start = Instant::now();
    let store = open_store(&args.dir, false)?;
    let id = match args.checkpoint {
        Some(id) => id,
        None => store.latest().map_err(store_failure)?.ok_or_else(|| {
            store_failure(StoreError::Corrupt("the store has no checkpoint".into()))
        })?,
    };
    let (_, source) = store.program_source(id).map_err(store_failure)?;
    let program = Arc::new(program_from_source(&source).map_err(|error| Failure {
        subject: "checkpointed program".into(),
        error,
    })?);
    let mut machine = store
        .load(id, Arc::clone(&program))
        .map_err(store_failure)?;
    if let Some(path) = &args.inbox {
        for message in read_inbox(path)? {
            machine.push_inbox(message.to_value());
        }
    }
    let load_ms = load_start.elapsed().as_secs_f64() * 1e3;
    let limits = args.bounds.limits();
    let jit = args.engine.jit(&program)?;
    let checkpoints = Checkpointing {
        store,
        source,
        every: args.checkpoint_every,
    };
    execute(
        machine,
        &program,
        &limits,
        jit,
        Some(&checkpoints),
        args.json,
        load_ms,
    )
}

/// `avm checkpoints`: list a directory's checkpoints, oldest first (after pruning them, with
/// `--keep`).
pub fn list_checkpoints(args: CheckpointsArgs) -> Result<(), Failure> {
    let mut store = open_store(&args.dir, false)?;
    if let Some(keep) = args.keep {
        prune(&mut store, keep).map_err(store_failure)?;
    }
    let list = store.checkpoints().map_err(store_failure)?;
    let stats = store.stats().map_err(store_failure)?;
    let file_bytes = std::fs::metadata(store_path(&args.dir))
        .map_err(|e| io_failure(&store_path(&args.dir), e))?
        .len();
    let status = |s: Status| match s {
        Status::Running => "running",
        Status::Halted => "halted",
        Status::ErrorStop => "errorstop",
    };
    if args.json {
        let entries: Vec<serde_json::Value> = list
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "status": status(c.status),
                    "steps": c.steps,
                    "gas_used": c.gas_used.to_string(),
                    "inbox_consumed": c.inbox_consumed,
                    "pending_inbox": c.pending_inbox,
                    "machine_hash": hex_hash(&c.machine_hash),
                    "program": hex_hash(&c.program),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "checkpoints": entries,
                "nodes": stats.nodes,
                "node_bytes": stats.node_bytes,
                "file_bytes": file_bytes,
            })
        );
        return Ok(());
    }
    println!("id  status  steps  gas used  inbox consumed  pending inbox  machine hash");
    for c in &list {
        println!(
            "{}  {}  {}  {}  {}  {}  {}",
            c.id,
            status(c.status),
            c.steps,
            c.gas_used,
            c.inbox_consumed,
            c.pending_inbox,
            hex_hash(&c.machine_hash)
        );
    }
    println!(
        "{} checkpoints, {} values in {} bytes, file {} bytes",
        stats.checkpoints, stats.nodes, stats.node_bytes, file_bytes
    );
    Ok(())
}

/// Deletes all but the newest `keep` checkpoints, then compacts the file.
fn prune(store: &mut Store, keep: u64) -> Result<(), StoreError> {
    let list = store.checkpoints()?;
    let old = list.len().saturating_sub(keep as usize);
    for info in &list[..old] {
        store.delete(info.id)?;
    }
    store.compact()
}

/// Where and how often a run saves checkpoints.
struct Checkpointing {
    store: Store,
    source: Vec<u8>,
    every: Option<u64>,
}

/// The store file of a checkpoint directory.
fn store_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints.redb")
}

/// The store of a checkpoint directory (created with the directory when `create`).
fn open_store(dir: &Path, create: bool) -> Result<Store, Failure> {
    let path = store_path(dir);
    if create {
        std::fs::create_dir_all(dir).map_err(|e| io_failure(dir, e))?;
    } else if !path.is_file() {
        return Err(io_failure(
            &path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no checkpoint store"),
        ));
    }
    Store::open(&path).map_err(store_failure)
}

fn store_failure(e: StoreError) -> Failure {
    Failure {
        subject: "checkpoints".into(),
        error: Error::Engine(e.to_string()),
    }
}

/// Runs to the end (saving checkpoints on the way when asked) and reports.
fn execute(
    mut machine: Machine,
    program: &Program,
    limits: &Limits,
    mut jit: Option<Jit>,
    checkpoints: Option<&Checkpointing>,
    as_json: bool,
    load_ms: f64,
) -> Result<(), Failure> {
    let start = Instant::now();
    let stop = match checkpoints {
        None => run_with_progress(&mut machine, limits, jit.as_mut()),
        Some(c) => {
            let mut remaining = limits.max_steps;
            let stop = loop {
                let chunk = match (remaining, c.every) {
                    (Some(r), Some(n)) => Some(r.min(n)),
                    (r, n) => r.or(n),
                };
                let before = machine.outputs().steps;
                let stop = run_with_progress(
                    &mut machine,
                    &Limits {
                        max_steps: chunk,
                        ..*limits
                    },
                    jit.as_mut(),
                );
                remaining = remaining.map(|r| r - (machine.outputs().steps - before));
                if stop != Stop::StepLimit || remaining == Some(0) {
                    break stop;
                }
                c.store
                    .save(program, &c.source, &mut machine)
                    .map_err(store_failure)?;
            };
            c.store
                .save(program, &c.source, &mut machine)
                .map_err(store_failure)?;
            stop
        }
    };
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    report(
        &mut machine,
        &stop,
        as_json,
        load_ms,
        wall_ms,
        jit.map(|j| j.stats()),
    );
    Ok(())
}

pub(crate) fn read_inbox(path: &Path) -> Result<Vec<avm_runtime::InboxMessage>, Failure> {
    let bytes = std::fs::read(path).map_err(|source| io_failure(path, source))?;
    parse_inbox_json(&bytes).map_err(|error: Error| Failure {
        subject: path.display().to_string(),
        error,
    })
}

/// Runs to the end, in chunks of steps when stderr is a terminal so that long runs can show
/// their speed. Running N steps and then M is the same as running N + M.
fn run_with_progress(machine: &mut Machine, limits: &Limits, mut jit: Option<&mut Jit>) -> Stop {
    let mut run = |machine: &mut Machine, limits: &Limits| match jit.as_deref_mut() {
        Some(jit) => jit.run(machine, limits),
        None => machine.run(limits),
    };
    if !std::io::stderr().is_terminal() {
        return run(machine, limits);
    }
    let start = Instant::now();
    let mut last_report = start;
    let mut remaining = limits.max_steps;
    loop {
        let chunk = remaining.map_or(PROGRESS_CHUNK, |r| r.min(PROGRESS_CHUNK));
        let before = machine.outputs().steps;
        let stop = run(
            machine,
            &Limits {
                max_steps: Some(chunk),
                ..*limits
            },
        );
        let ran = machine.outputs().steps - before;
        remaining = remaining.map(|r| r - ran);
        if stop != Stop::StepLimit || remaining == Some(0) {
            if last_report != start {
                eprint!("\r\x1b[K");
            }
            return stop;
        }
        if last_report.elapsed() > Duration::from_millis(500) {
            let rate = machine.outputs().steps as f64 / start.elapsed().as_secs_f64();
            eprint!(
                "\r\x1b[K{} steps, {:.1} M steps/s",
                machine.outputs().steps,
                rate / 1e6
            );
            let _ = std::io::stderr().flush();
            last_report = Instant::now();
        }
    }
}

fn stop_fields(stop: &Stop) -> (&'static str, Option<&'static str>) {
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

fn report(
    machine: &mut Machine,
    stop: &Stop,
    as_json: bool,
    load_ms: f64,
    wall_ms: f64,
    jit: Option<JitStats>,
) {
    let hash = hex_hash(&machine.hash());
    let out = machine.outputs();
    let (status, why) = stop_fields(stop);
    if as_json {
        let mut object = json!({
            "status": status,
            "steps": out.steps,
            "gas_used": out.gas_used.to_string(),
            "gas_remaining": machine.gas_remaining().to_string(),
            "machine_hash": hash,
            "logs": out.logs.iter().map(|v| hex_hash(&v.hash())).collect::<Vec<_>>(),
            "sends": out.sends.iter().map(|s| hex_bytes(s)).collect::<Vec<_>>(),
            "inbox_consumed": out.inbox_consumed,
            "load_ms": load_ms,
            "wall_ms": wall_ms,
        });
        if let Some(stats) = jit {
            object["compiled_blocks"] = json!(stats.compiled_blocks);
            object["compile_ms"] = json!(stats.compile_time.as_secs_f64() * 1e3);
        }
        match stop {
            Stop::Blocked(_) => object["blocked_on"] = json!(why),
            Stop::StepLimit | Stop::GasLimit => object["stopped_by"] = json!(why),
            _ => {}
        }
        println!("{object}");
        return;
    }
    let status = match why {
        Some(why) => format!("{status} ({})", why.replace('_', " ")),
        None => status.to_string(),
    };
    let rate = out.steps as f64 / (wall_ms / 1e3) / 1e6;
    println!("status: {status}");
    println!(
        "steps: {}  gas used: {}  gas remaining: {}",
        out.steps,
        out.gas_used,
        machine.gas_remaining()
    );
    println!(
        "logs: {}  sends: {}  inbox consumed: {}",
        out.logs.len(),
        out.sends.len(),
        out.inbox_consumed
    );
    println!("machine hash: {hash}");
    println!("load: {load_ms:.1} ms  run: {wall_ms:.1} ms ({rate:.1} M steps/s)");
    if let Some(stats) = jit {
        let compile_ms = stats.compile_time.as_secs_f64() * 1e3;
        println!(
            "jit: {} blocks compiled in {compile_ms:.1} ms",
            stats.compiled_blocks
        );
    }
}
