//! `avm bench`: run programs on each engine several times and compare their speed.
//!
//! Each cell of the table (one program on one engine) is measured in a process of its own:
//! `avm bench` starts itself again with the hidden `--worker ENGINE` option, and that process
//! loads the program, makes one unmeasured warm-up run and the K measured runs, printing one
//! JSON line per run. A fresh process per cell keeps one row's memory out of the next: the
//! allocator keeps freed pages resident, so in one process a small program measured after a
//! large one reported the large one's peak.
//!
//! Every run starts from a fresh machine and, for a JIT, a fresh code cache, so compile time is
//! included; with `--keep-code` a JIT keeps its code from run to run, as a node that runs one
//! program all day does (the warm-up and the first runs compile, later runs reuse). Speed is
//! steps over the run's wall time, load excluded. Peak RSS is the
//! high-water mark of the whole process that ran that program on that engine: start-up, load,
//! the warm-up and the K runs (Linux `VmHWM`; elsewhere not reported).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use avm_engine::Jit;
use avm_engine::native::{RegionJit, RegionOptions};
use avm_engine::workloads::{self, Workload};
use avm_interp::{Limits, Machine};
use avm_runtime::{InboxMessage, Program, Value};
use serde_json::{Value as Json, json};

use crate::memory;
use crate::numbers::{count, u64_count};
use crate::out::{self, Failure, Out};
use crate::run::Runner;
use crate::{load_program, read_inbox};

/// The options of `avm bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Programs (`.mexe` or assembler text); none: the built-in macro workloads.
    files: Vec<PathBuf>,
    /// Which engines to run.
    #[arg(long, value_enum, default_value_t = Engines::Both)]
    engine: Engines,
    /// Stop each run after this many steps.
    #[arg(long, value_parser = u64_count)]
    max_steps: Option<u64>,
    /// Runs per program and engine (at least 1); the table shows the median and the range.
    #[arg(long, default_value_t = 3, value_parser = runs)]
    repeat: usize,
    /// Inbox messages for every file (a JSON list as in the corpus `*.inbox.json` files, or an
    /// L1 inbox: README, "Inbox files").
    #[arg(long, requires = "files")]
    inbox: Option<PathBuf>,
    /// Print a JSON list, one object per program and engine.
    #[arg(long)]
    json: bool,
    /// Keep each JIT's compiled code from run to run (the warm-up included) instead of
    /// starting every run with an empty code cache.
    #[arg(long)]
    keep_code: bool,
    /// Internal: measure the one program given on this engine in this process, printing one
    /// JSON line per run (run 0 is the warm-up). `avm bench` starts itself with it for each
    /// cell so that every cell's peak RSS is its own.
    #[arg(long, value_enum, hide = true)]
    worker: Option<Engine>,
    /// Internal, with `--worker`: the built-in workload to measure instead of a file.
    #[arg(long, hide = true, requires = "worker", conflicts_with = "files")]
    workload: Option<String>,
}

/// The clap parser of `--repeat`: a count of at least 1 (no runs would leave nothing to report).
fn runs(text: &str) -> Result<usize, String> {
    match count(text)? {
        0 => Err("at least 1 run per program and engine is needed".into()),
        runs => Ok(runs),
    }
}

/// The engines `avm bench` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Engines {
    Interp,
    Jit,
    Regions,
    /// The interpreter and the block JIT.
    Both,
    /// The interpreter and both JITs.
    All,
}

/// One engine, as a row names it and as `--worker` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Engine {
    Interp,
    Jit,
    Regions,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
            Engine::Regions => "regions",
        }
    }
}

/// Where a measured program comes from.
enum Source {
    /// A built-in workload (with its own inbox).
    Workload(&'static Workload),
    /// A file, with the `--inbox` file when given.
    File {
        path: PathBuf,
        inbox: Option<PathBuf>,
    },
}

/// A program to measure, with the names its rows carry.
struct Subject {
    /// The row's name: the program, and `< INBOX` when an inbox file is given.
    label: String,
    /// The workload's name or the file's stem.
    program: String,
    /// The inbox file's stem without `.inbox`, when one is given.
    inbox: Option<String>,
    source: Source,
}

/// One run's measurements, as the worker reports them.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// 0 for the warm-up, then 1..=K.
    run: usize,
    steps: u64,
    seconds: f64,
    compile_ms: f64,
    /// The worker process's peak RSS so far.
    peak_rss_mb: Option<f64>,
}

impl Sample {
    fn minstr_per_s(&self) -> f64 {
        self.steps as f64 / self.seconds / 1e6
    }

    fn to_json(self) -> Json {
        json!({
            "run": self.run,
            "steps": self.steps,
            "seconds": self.seconds,
            "compile_ms": self.compile_ms,
            "peak_rss_mb": self.peak_rss_mb,
        })
    }

    /// Reads one line of a worker's report.
    fn from_json(line: &str) -> Option<Sample> {
        let value: Json = serde_json::from_str(line).ok()?;
        Some(Sample {
            run: usize::try_from(value["run"].as_u64()?).ok()?,
            steps: value["steps"].as_u64()?,
            seconds: value["seconds"].as_f64()?,
            compile_ms: value["compile_ms"].as_f64()?,
            peak_rss_mb: match &value["peak_rss_mb"] {
                Json::Null => None,
                mb => Some(mb.as_f64()?),
            },
        })
    }
}

/// The summary of K runs of one program on one engine.
struct Row<'a> {
    subject: &'a Subject,
    engine: Engine,
    steps: u64,
    median: f64,
    min: f64,
    max: f64,
    compile_ms: f64,
    peak_rss_mb: Option<f64>,
}

/// `avm bench`: measures every program on every engine asked for and prints the table or the
/// JSON list; with `--worker`, measures one cell in this process instead.
pub fn bench(args: BenchArgs, out: &mut Out) -> Result<(), Failure> {
    if let Some(engine) = args.worker {
        return worker(&args, engine, out);
    }
    let subjects = subjects(&args)?;
    let engines: &[Engine] = match args.engine {
        Engines::Interp => &[Engine::Interp],
        Engines::Jit => &[Engine::Jit],
        Engines::Regions => &[Engine::Regions],
        Engines::Both => &[Engine::Interp, Engine::Jit],
        Engines::All => &[Engine::Interp, Engine::Jit, Engine::Regions],
    };
    let rows = measure_all(&subjects, engines, &args)?;
    if args.json {
        print_json(&rows, out)
    } else {
        print_table(&rows, out)
    }
}

/// The programs to measure. Files and the inbox are loaded here once, so that a bad one fails
/// before anything is measured; the workers load them again.
fn subjects(args: &BenchArgs) -> Result<Vec<Subject>, Failure> {
    if args.files.is_empty() {
        return Ok(workloads::ALL
            .iter()
            .map(|w| Subject {
                label: w.name.to_string(),
                program: w.name.to_string(),
                inbox: None,
                source: Source::Workload(w),
            })
            .collect());
    }
    let inbox = match &args.inbox {
        Some(path) => {
            read_inbox(path)?;
            let stem = stem(path);
            Some(stem.strip_suffix(".inbox").unwrap_or(&stem).to_string())
        }
        None => None,
    };
    args.files
        .iter()
        .map(|path| {
            load_program(path)?;
            let program = stem(path);
            Ok(Subject {
                label: match &inbox {
                    Some(inbox) => format!("{program} < {inbox}"),
                    None => program.clone(),
                },
                program,
                inbox: inbox.clone(),
                source: Source::File {
                    path: path.clone(),
                    inbox: args.inbox.clone(),
                },
            })
        })
        .collect()
}

/// A file's name without its last extension (the whole path when it has no name).
fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into(),
    )
}

fn measure_all<'a>(
    subjects: &'a [Subject],
    engines: &[Engine],
    args: &BenchArgs,
) -> Result<Vec<Row<'a>>, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::engine("bench", format!("cannot find the avm executable: {e}")))?;
    let mut rows = Vec::new();
    for subject in subjects {
        for &engine in engines {
            let samples = measure_in_worker(&exe, subject, engine, args)?;
            rows.push(summarize(subject, engine, &samples));
        }
    }
    Ok(rows)
}

/// Measures `subject` on `engine` in a worker process; returns the measured runs (not the
/// warm-up). Each carries the worker's peak RSS so far, so the last run's is the worker's peak.
fn measure_in_worker(
    exe: &Path,
    subject: &Subject,
    engine: Engine,
    args: &BenchArgs,
) -> Result<Vec<Sample>, Failure> {
    let cell = format!("{} on {}", subject.label, engine.name());
    let fail = |message: String| Failure::engine(&cell, message);
    let mut command = Command::new(exe);
    command
        .args(["bench", "--worker", engine.name(), "--repeat"])
        .arg(args.repeat.to_string());
    if args.keep_code {
        command.arg("--keep-code");
    }
    if let Some(steps) = args.max_steps {
        command.arg("--max-steps").arg(steps.to_string());
    }
    match &subject.source {
        Source::Workload(w) => {
            command.args(["--workload", w.name]);
        }
        Source::File { path, inbox } => {
            if let Some(inbox) = inbox {
                command.arg("--inbox").arg(inbox);
            }
            command.arg("--").arg(path);
        }
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start the measuring process: {e}")))?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(fail("the measuring process has no output pipes".into()));
    };
    // Read stderr beside stdout so that neither pipe can fill up and stall the worker.
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut progress = out::Progress::new();
    progress.set(|| format!("bench: {cell} (warm-up)"));
    let mut samples = Vec::with_capacity(args.repeat + 1);
    let mut unreadable = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match Sample::from_json(&line) {
            Some(sample) => {
                let next = sample.run + 1;
                if next <= args.repeat {
                    progress.set(|| format!("bench: {cell} ({next}/{})", args.repeat));
                }
                samples.push(sample);
            }
            None => {
                unreadable.get_or_insert(line);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| fail(format!("cannot wait for the measuring process: {e}")))?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        // The worker reports its own failures as `avm: SUBJECT: REASON` lines.
        let reason: Vec<&str> = errors
            .lines()
            .map(|l| l.trim().trim_start_matches("avm: "))
            .filter(|l| !l.is_empty())
            .collect();
        return Err(fail(if reason.is_empty() {
            format!("the measuring process failed ({status})")
        } else {
            format!(
                "the measuring process failed ({status}): {}",
                reason.join("; ")
            )
        }));
    }
    if let Some(line) = unreadable {
        return Err(fail(format!(
            "the measuring process printed an unreadable line: {line}"
        )));
    }
    let runs: Vec<usize> = samples.iter().map(|s| s.run).collect();
    if runs != (0..=args.repeat).collect::<Vec<_>>() {
        return Err(fail(format!(
            "the measuring process reported runs {runs:?}, not 0..={}",
            args.repeat
        )));
    }
    Ok(samples.split_off(1))
}

/// `avm bench --worker ENGINE`: the warm-up and the K runs of one program in this process, one
/// JSON line each, written as soon as the run ends.
fn worker(args: &BenchArgs, engine: Engine, out: &mut Out) -> Result<(), Failure> {
    let (program, inbox) = match (&args.workload, args.files.as_slice()) {
        (Some(name), []) => {
            let workload = workloads::by_name(name)
                .ok_or_else(|| Failure::engine("bench", format!("no workload `{name}`")))?;
            let inbox = workload
                .inbox()
                .iter()
                .map(InboxMessage::to_value)
                .collect();
            (workload.program(), inbox)
        }
        (None, [path]) => {
            let inbox = match &args.inbox {
                Some(path) => read_inbox(path)?.messages().to_vec(),
                None => Vec::new(),
            };
            (load_program(path)?, inbox)
        }
        _ => {
            return Err(Failure::engine(
                "bench --worker",
                "measures exactly one program: one file or --workload NAME",
            ));
        }
    };
    let program = Arc::new(program);
    // Run 0 is unmeasured, as criterion warms up: it pays the process's one-time costs (first
    // touch of code and data, lazily built tables, the compiler's first setup) that no later
    // run of a long-lived node pays again.
    let mut kept = None;
    for run in 0..=args.repeat {
        let mut fresh = None;
        let runner = match args.keep_code {
            true => kept.get_or_insert(runner(&program, engine)?),
            false => fresh.insert(runner(&program, engine)?),
        };
        let sample = measure(&program, &inbox, runner, args.max_steps, run)?;
        writeln!(out, "{}", sample.to_json())?;
        out.flush()?;
    }
    Ok(())
}

/// `engine`, made for `program` with default settings.
fn runner(program: &Arc<Program>, engine: Engine) -> Result<Runner, Failure> {
    let program = Arc::clone(program);
    Ok(match engine {
        Engine::Interp => Runner::Interp,
        Engine::Jit => Runner::Blocks(Box::new(
            Jit::new(program, avm_engine::DEFAULT_THRESHOLD)
                .map_err(|message| Failure::engine("jit", message))?,
        )),
        Engine::Regions => Runner::Regions(Box::new(
            RegionJit::with_options(program, RegionOptions::default())
                .map_err(|message| Failure::engine("regions", message))?,
        )),
    })
}

/// One run from a fresh machine on `runner`.
fn measure(
    program: &Arc<Program>,
    inbox: &[Value],
    runner: &mut Runner,
    max_steps: Option<u64>,
    run: usize,
) -> Result<Sample, Failure> {
    let mut machine = Machine::new(Arc::clone(program));
    for message in inbox {
        machine.push_inbox(message.clone());
    }
    let limits = Limits {
        max_steps,
        ..Limits::default()
    };
    let compiled_before = runner.compile_time();
    let start = Instant::now();
    runner.run(&mut machine, &limits);
    let seconds = start.elapsed().as_secs_f64();
    let compile_ms = (runner.compile_time() - compiled_before).as_secs_f64() * 1e3;
    Ok(Sample {
        run,
        steps: machine.outputs().steps,
        seconds,
        compile_ms,
        peak_rss_mb: memory::peak_resident().map(|bytes| bytes as f64 / f64::from(1 << 20)),
    })
}

fn summarize<'a>(subject: &'a Subject, engine: Engine, samples: &[Sample]) -> Row<'a> {
    let mut speeds: Vec<f64> = samples.iter().map(Sample::minstr_per_s).collect();
    speeds.sort_by(f64::total_cmp);
    let mut compile: Vec<f64> = samples.iter().map(|s| s.compile_ms).collect();
    compile.sort_by(f64::total_cmp);
    Row {
        subject,
        engine,
        steps: samples[0].steps,
        median: speeds[speeds.len() / 2],
        min: speeds[0],
        max: speeds[speeds.len() - 1],
        compile_ms: compile[compile.len() / 2],
        peak_rss_mb: samples
            .iter()
            .filter_map(|s| s.peak_rss_mb)
            .max_by(f64::total_cmp),
    }
}

fn print_table(rows: &[Row], out: &mut Out) -> Result<(), Failure> {
    let width = rows
        .iter()
        .map(|r| r.subject.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(28);
    writeln!(
        out,
        "{:<width$} {:>12} {:<7} {:>10} {:>19} {:>9} {:>10} {:>9}",
        "program", "steps", "engine", "Minstr/s", "min..max", "/ interp", "compile ms", "peak MB"
    )?;
    for row in rows {
        let ratio = match row.engine {
            Engine::Jit | Engine::Regions => interp_median(rows, &row.subject.label)
                .map_or(String::new(), |base| format!("{:.2}x", row.median / base)),
            Engine::Interp => String::new(),
        };
        writeln!(
            out,
            "{:<width$} {:>12} {:<7} {:>10.1} {:>19} {:>9} {:>10.2} {:>9}",
            row.subject.label,
            row.steps,
            row.engine.name(),
            row.median,
            format!("{:.1}..{:.1}", row.min, row.max),
            ratio,
            row.compile_ms,
            row.peak_rss_mb.map_or("-".into(), |mb| format!("{mb:.1}")),
        )?;
    }
    Ok(())
}

fn interp_median(rows: &[Row], label: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.subject.label == label && r.engine == Engine::Interp)
        .map(|r| r.median)
}

fn print_json(rows: &[Row], out: &mut Out) -> Result<(), Failure> {
    let list: Vec<_> = rows
        .iter()
        .map(|row| {
            json!({
                "label": row.subject.label,
                "program": row.subject.program,
                "inbox": row.subject.inbox,
                "engine": row.engine.name(),
                "steps": row.steps,
                "minstr_per_s": row.median,
                "min_minstr_per_s": row.min,
                "max_minstr_per_s": row.max,
                "compile_ms": row.compile_ms,
                "peak_rss_mb": row.peak_rss_mb,
            })
        })
        .collect();
    writeln!(out, "{}", Json::Array(list))
}
