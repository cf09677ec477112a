//! `avm bench`: run programs on each engine several times and compare their speed.
//!
//! Every run starts from a fresh machine (and, for the JIT, a fresh code cache, so compile time
//! is included), after one unmeasured warm-up run per program and engine. Speed is steps over the run's wall time, load excluded. Peak RSS is the
//! process's high-water mark over the run, reset before it (Linux `clear_refs`), so it is the
//! memory the run needed on top of what was already resident.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use avm_engine::{Jit, workloads};
use avm_interp::{Limits, Machine};
use avm_runtime::{InboxMessage, Program};
use serde_json::json;

use crate::out::{Failure, Out};
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
    #[arg(long)]
    steps: Option<u64>,
    /// Runs per program and engine; the table shows the median and the range.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Inbox messages for every file (the format of the corpus `*.inbox.json` files).
    #[arg(long)]
    inbox: Option<PathBuf>,
    /// Print a JSON list, one object per program and engine.
    #[arg(long)]
    json: bool,
}

/// The engines `avm bench` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Engines {
    Interp,
    Jit,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Interp,
    Jit,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
        }
    }
}

/// A program to measure and the inbox it consumes.
struct Subject {
    name: String,
    program: Arc<Program>,
    inbox: Vec<InboxMessage>,
}

/// One run's measurements.
#[derive(Clone, Copy, Debug)]
struct Sample {
    steps: u64,
    seconds: f64,
    compile_ms: f64,
    peak_rss_mb: Option<f64>,
}

impl Sample {
    fn minstr_per_s(&self) -> f64 {
        self.steps as f64 / self.seconds / 1e6
    }
}

/// The summary of K runs of one program on one engine.
struct Row {
    program: String,
    engine: Engine,
    steps: u64,
    median: f64,
    min: f64,
    max: f64,
    compile_ms: f64,
    peak_rss_mb: Option<f64>,
}

pub fn bench(args: BenchArgs, out: &mut Out) -> Result<(), Failure> {
    let subjects = subjects(&args)?;
    let engines: &[Engine] = match args.engine {
        Engines::Interp => &[Engine::Interp],
        Engines::Jit => &[Engine::Jit],
        Engines::Both => &[Engine::Interp, Engine::Jit],
    };
    let repeat = args.repeat.max(1);
    let mut rows = Vec::new();
    for subject in &subjects {
        for &engine in engines {
            // One unmeasured run first, as criterion warms up: it pays the process's one-time
            // costs (first touch of code and data, lazily built tables, the compiler's first
            // setup) that no later run of a long-lived node pays again.
            eprint!(
                "\r\x1b[Kbench: {} on {} (warm-up)",
                subject.name,
                engine.name()
            );
            measure(subject, engine, args.steps)?;
            let mut samples = Vec::with_capacity(repeat);
            for run in 1..=repeat {
                eprint!(
                    "\r\x1b[Kbench: {} on {} ({run}/{repeat})",
                    subject.name,
                    engine.name()
                );
                samples.push(measure(subject, engine, args.steps)?);
            }
            rows.push(summarize(subject, engine, &samples));
        }
    }
    eprint!("\r\x1b[K");
    if args.json {
        print_json(&rows, out)
    } else {
        print_table(&rows, out)
    }
}

fn subjects(args: &BenchArgs) -> Result<Vec<Subject>, Failure> {
    if args.files.is_empty() {
        return Ok(workloads::ALL
            .iter()
            .map(|w| Subject {
                name: w.name.to_string(),
                program: Arc::new(w.program()),
                inbox: w.inbox(),
            })
            .collect());
    }
    let inbox = match &args.inbox {
        Some(path) => read_inbox(path)?,
        None => Vec::new(),
    };
    args.files
        .iter()
        .map(|path| {
            Ok(Subject {
                name: path.file_stem().map_or_else(
                    || path.display().to_string(),
                    |s| s.to_string_lossy().into(),
                ),
                program: Arc::new(load_program(path)?),
                inbox: inbox.clone(),
            })
        })
        .collect()
}

/// One run from a fresh machine.
fn measure(subject: &Subject, engine: Engine, steps: Option<u64>) -> Result<Sample, Failure> {
    let mut machine = Machine::new(Arc::clone(&subject.program));
    for message in &subject.inbox {
        machine.push_inbox(message.to_value());
    }
    let limits = Limits {
        max_steps: steps,
        ..Limits::default()
    };
    reset_peak_rss();
    let (seconds, compile_ms) = match engine {
        Engine::Interp => {
            let start = Instant::now();
            machine.run(&limits);
            (start.elapsed().as_secs_f64(), 0.0)
        }
        Engine::Jit => {
            let mut jit = Jit::new(Arc::clone(&subject.program), avm_engine::DEFAULT_THRESHOLD)
                .map_err(|message| Failure::engine("jit", message))?;
            let start = Instant::now();
            jit.run(&mut machine, &limits);
            let seconds = start.elapsed().as_secs_f64();
            (seconds, jit.stats().compile_time.as_secs_f64() * 1e3)
        }
    };
    Ok(Sample {
        steps: machine.outputs().steps,
        seconds,
        compile_ms,
        peak_rss_mb: peak_rss_mb(),
    })
}

fn summarize(subject: &Subject, engine: Engine, samples: &[Sample]) -> Row {
    let mut speeds: Vec<f64> = samples.iter().map(Sample::minstr_per_s).collect();
    speeds.sort_by(f64::total_cmp);
    let mut compile: Vec<f64> = samples.iter().map(|s| s.compile_ms).collect();
    compile.sort_by(f64::total_cmp);
    Row {
        program: subject.name.clone(),
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
    writeln!(
        out,
        "{:<28} {:>12} {:<6} {:>10} {:>19} {:>9} {:>10} {:>9}",
        "program", "steps", "engine", "Minstr/s", "min..max", "jit/int", "compile ms", "peak MB"
    )?;
    for row in rows {
        let ratio = match row.engine {
            Engine::Jit => interp_median(rows, &row.program)
                .map_or(String::new(), |base| format!("{:.2}x", row.median / base)),
            Engine::Interp => String::new(),
        };
        writeln!(
            out,
            "{:<28} {:>12} {:<6} {:>10.1} {:>19} {:>9} {:>10.2} {:>9}",
            row.program,
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

fn interp_median(rows: &[Row], program: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.program == program && r.engine == Engine::Interp)
        .map(|r| r.median)
}

fn print_json(rows: &[Row], out: &mut Out) -> Result<(), Failure> {
    let list: Vec<_> = rows
        .iter()
        .map(|row| {
            json!({
                "program": row.program,
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
    writeln!(out, "{}", serde_json::Value::Array(list))
}

/// Resets the process's peak RSS to its current RSS (Linux; elsewhere nothing happens and
/// the reported peak is the process's).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak RSS in MB since the last reset, where the OS reports it.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
