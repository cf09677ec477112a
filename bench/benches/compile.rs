//! JIT compile time: what turning AVM blocks into native code costs, per block and per
//! program.
//!
//! A program is run once per iteration on a fresh `Jit` at threshold 0, which compiles every
//! block the run reaches (inline, before it first runs; blocks shorter than the JIT's minimum
//! stay interpreted), and the JIT's own compile-time counter (Cranelift code generation and
//! installing the code) is what is measured: running, analysis and setup are not. The JIT's
//! code module is private, so this is how a block's compile time is observed.
//!
//! Groups (ids are `GROUP/PROGRAM/WHAT`):
//! - `compile`: `PROGRAM/per_program` is the compile time of one run (throughput: blocks
//!   compiled, so criterion reports blocks/s); `PROGRAM/per_block` is that time divided by the
//!   blocks compiled (runs are repeated until criterion's iteration count of blocks is reached).
//! - `analyze`: `PROGRAM/every_pc` is `avm_engine::analysis::analyze` (the block analysis that
//!   precedes code generation) at every pc of the program; throughput is pcs.
//!
//! Programs: the project's examples (`examples/*.avm`; one that compiles no block is skipped
//! with a message), and, when `../shared` is present (`$AVM_SHARED` or beside the checkout),
//! ArbOS (`arbos.mexe`) running the replay `evm_xcontract_call_using_batch`, the one that
//! reaches the most blocks (about 1,800).
//!
//! Run all: `cargo bench -p avm-bench --bench compile`; only ArbOS:
//! `cargo bench -p avm-bench --bench compile -- arbos`.
//!
//! Plots are off (rendering them costs seconds per benchmark); add `--plotting-backend plotters`
//! after the `--` for criterion's HTML report under `target/criterion/`.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use avm_engine::analysis::analyze;
use avm_engine::{Jit, JitStats};
use avm_interp::{Limits, Machine};
use avm_runtime::{Program, asm, mexe, parse_inbox_json};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

/// The ArbOS replay whose run compiles the most blocks.
const ARBOS_REPLAY: &str = "evm_xcontract_call_using_batch";

/// A program and the machine a compiling run starts from.
struct Target {
    name: String,
    program: Arc<Program>,
    template: Machine,
}

impl Target {
    fn new(name: String, program: Program) -> Target {
        let program = Arc::new(program);
        Target {
            name,
            template: Machine::new(Arc::clone(&program)),
            program,
        }
    }

    /// One run on a fresh JIT that compiles every block it reaches; what the JIT counted.
    fn compile_run(&self) -> JitStats {
        let mut m = self.template.clone();
        let mut jit = Jit::new(Arc::clone(&self.program), 0).expect("jit");
        jit.run(&mut m, &Limits::default());
        jit.stats()
    }
}

fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn examples() -> Vec<Target> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ is readable")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "avm"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_stem().expect("a file name").to_string_lossy();
            let text = std::fs::read_to_string(&path).expect("example is readable");
            let program = asm::assemble(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            Target::new(name.into_owned(), program)
        })
        .collect()
}

/// ArbOS with the inbox of [`ARBOS_REPLAY`] queued, or `None` after printing why not.
fn arbos() -> Option<Target> {
    let dir = common::shared("arbos")?.join("corpus/arbos");
    let program = mexe::load_file(dir.join("arbos.mexe")).expect("arbos.mexe loads");
    let mut target = Target::new("arbos".into(), program);
    let inbox = std::fs::read(dir.join(format!("{ARBOS_REPLAY}.inbox.json"))).expect("inbox");
    for message in parse_inbox_json(&inbox).expect("inbox parses") {
        target.template.push_inbox(message.to_value());
    }
    Some(target)
}

fn compile(c: &mut Criterion) {
    let targets: Vec<Target> = examples().into_iter().chain(arbos()).collect();
    let mut g = c.benchmark_group("compile");
    g.sampling_mode(SamplingMode::Flat);
    for target in &targets {
        let first = target.compile_run();
        let blocks = u64::from(first.compiled_blocks);
        if blocks == 0 {
            say(format_args!(
                "skipping compile/{}: its run compiles no block",
                target.name
            ));
            continue;
        }
        say(format_args!(
            "compile/{}: {blocks} blocks per run; first run {:.2} ms, {:.1} µs per block",
            target.name,
            first.compile_time.as_secs_f64() * 1e3,
            first.compile_time.as_secs_f64() * 1e6 / blocks as f64
        ));
        g.throughput(Throughput::Elements(blocks));
        g.bench_function(BenchmarkId::new(&target.name, "per_program"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| target.compile_run().compile_time).sum())
        });
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new(&target.name, "per_block"), |b| {
            b.iter_custom(|iters| {
                let (mut blocks, mut time) = (0u64, Duration::ZERO);
                while blocks < iters {
                    let stats = target.compile_run();
                    blocks += u64::from(stats.compiled_blocks);
                    time += stats.compile_time;
                }
                time.mul_f64(iters as f64 / blocks as f64)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("analyze");
    g.sampling_mode(SamplingMode::Flat);
    for target in &targets {
        let pcs = target.program.len() as u32;
        g.throughput(Throughput::Elements(u64::from(pcs)));
        g.bench_function(BenchmarkId::new(&target.name, "every_pc"), |b| {
            b.iter(|| {
                (0..pcs)
                    .filter_map(|pc| analyze(&target.program, pc))
                    .count()
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = compile
}
criterion_main!(benches);
