//! Whole programs on both engines: the reference interpreter (`interp`) and the JIT at its
//! default threshold and compile mode (`jit`, a fresh `Jit` per run, so compiling is part of
//! the cost, as in `avm run`). Each run starts from a fresh copy of a prepared machine (inbox
//! queued); setup is not timed. Throughput is the run's AVM steps, so criterion reports
//! steps/s (`elem/s`).
//!
//! Groups (benchmark ids are `GROUP/NAME/ENGINE`):
//! - `workloads`: the project's macro workloads (`avm_engine::workloads::ALL`, tens of millions
//!   of steps, about a second each), run until they stop (halt, or block once their inbox is
//!   consumed). Their step counts come from one interpreted run each before measuring, which
//!   happens whatever the filter (a few seconds).
//! - `speedtest`: a selection of the speedtest kernels of `../shared/corpus/speedtest` (endless
//!   loops over one operation), each run to a step bound: 1M steps, fewer for the slow
//!   operations (hashing, `exp`, `ecrecover`).
//! - `arbos`: the 11 ArbOS replays of `../shared/corpus/arbos` (`arbos.mexe` fed
//!   `NAME.inbox.json`), each run until the inbox is empty.
//!
//! `../shared` is found at `$AVM_SHARED` or beside the checkout; without it the `speedtest` and
//! `arbos` groups are skipped with the reason printed to stderr.
//!
//! Before a case is measured (only when the filter selects it) it is run once on each engine,
//! the two runs are checked to agree (stop, steps, gas, machine hash), and a line with the
//! step count and what the JIT compiled is printed to stderr.
//!
//! Run all: `cargo bench -p avm-bench --bench programs`; one kernel on both engines:
//! `cargo bench -p avm-bench --bench programs -- add_2_1`; one group on one engine:
//! `cargo bench -p avm-bench --bench programs -- 'arbos/.*/jit'`.
//!
//! Plots are off (rendering them costs seconds per benchmark); add `--plotting-backend plotters`
//! after the `--` for criterion's HTML report under `target/criterion/`.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use avm_engine::{DEFAULT_THRESHOLD, Jit};
use avm_interp::{BlockReason, Limits, Machine, Stop};
use avm_runtime::{Program, mexe, parse_inbox_json};
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};

/// The speedtest kernels measured, with their step bounds.
const KERNELS: &[(&str, u64)] = &[
    ("add_2_1", 1_000_000),
    ("nop_0_0", 1_000_000),
    ("push_pop_0_0", 1_000_000),
    ("dup1_dup1_tget_0_1", 1_000_000),
    ("dup2_dup2_dup2_tset_0_1", 1_000_000),
    ("lt_2_1", 1_000_000),
    ("iszero_0_0", 1_000_000),
    ("mul_2_1", 1_000_000),
    ("div_2_1", 1_000_000),
    ("exp_2_1", 100_000),
    ("hash_0_0", 100_000),
    ("keccakf_1_1", 100_000),
    ("sha256f_3_1", 200_000),
    ("ecrecover_4_1", 2_000),
];

/// One program run to measure.
struct Case {
    name: String,
    program: Arc<Program>,
    /// The machine every run starts from (cloned: values and code are shared).
    template: Machine,
    limits: Limits,
    /// Steps a run takes (the throughput).
    steps: u64,
    /// How a run stops.
    stop: Stop,
}

impl Case {
    fn run_interp(&self) -> Machine {
        let mut m = self.template.clone();
        let stop = m.run(&self.limits);
        assert_eq!(stop, self.stop, "{}: interp stop", self.name);
        m
    }

    fn run_jit(&self) -> (Machine, Jit) {
        let mut m = self.template.clone();
        let mut jit = Jit::new(Arc::clone(&self.program), DEFAULT_THRESHOLD).expect("jit");
        let stop = jit.run(&mut m, &self.limits);
        assert_eq!(stop, self.stop, "{}: jit stop", self.name);
        (m, jit)
    }

    /// Runs once on each engine, checks they agree with each other and with the expected step
    /// count, and says what the run does.
    fn check(&self, group: &str) {
        let mut reference = self.run_interp();
        let (mut m, jit) = self.run_jit();
        assert_eq!(
            reference.outputs().steps,
            self.steps,
            "{}: steps",
            self.name
        );
        assert_eq!(m.outputs().steps, self.steps, "{}: jit steps", self.name);
        assert_eq!(
            m.outputs().gas_used,
            reference.outputs().gas_used,
            "{}: jit gas",
            self.name
        );
        assert_eq!(
            m.hash(),
            reference.hash(),
            "{}: jit machine hash",
            self.name
        );
        let stats = jit.stats();
        let _ = writeln!(
            std::io::stderr(),
            "{group}/{}: {} steps, stop {:?}; jit: {} blocks compiled in {:.2} ms, {:.1}% of \
             steps native",
            self.name,
            self.steps,
            self.stop,
            stats.compiled_blocks,
            stats.compile_time.as_secs_f64() * 1e3,
            100.0 * stats.native_steps as f64 / self.steps.max(1) as f64
        );
    }
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    // Runs take milliseconds: the same number of iterations in every sample.
    g.sampling_mode(SamplingMode::Flat);
    g
}

/// Measures `case` on both engines, after checking it once (only if the filter selects it).
fn bench_case(g: &mut BenchmarkGroup<'_, WallTime>, group: &str, case: &Case) {
    g.throughput(Throughput::Elements(case.steps));
    let mut checked = false;
    g.bench_function(BenchmarkId::new(&case.name, "interp"), |b| {
        if !std::mem::replace(&mut checked, true) {
            case.check(group);
        }
        b.iter_batched(
            || case.template.clone(),
            |mut m| {
                let stop = m.run(&case.limits);
                (stop, m)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function(BenchmarkId::new(&case.name, "jit"), |b| {
        if !std::mem::replace(&mut checked, true) {
            case.check(group);
        }
        b.iter_batched(
            || {
                let jit = Jit::new(Arc::clone(&case.program), DEFAULT_THRESHOLD).expect("jit");
                (case.template.clone(), jit)
            },
            |(mut m, mut jit)| {
                let stop = jit.run(&mut m, &case.limits);
                // Dropping the JIT (its worker thread, its code) is not part of the run.
                (stop, m, jit)
            },
            BatchSize::PerIteration,
        )
    });
}

fn workloads(c: &mut Criterion) {
    let mut g = group(c, "workloads");
    for w in avm_engine::workloads::ALL {
        let program = Arc::new(w.program());
        let template = w.machine(Arc::clone(&program));
        let limits = Limits::default();
        // The step count (the throughput) is needed before measuring: one interpreted run.
        let mut m = template.clone();
        let stop = m.run(&limits);
        let case = Case {
            name: w.name.to_string(),
            program,
            template,
            limits,
            steps: m.outputs().steps,
            stop,
        };
        bench_case(&mut g, "workloads", &case);
    }
    g.finish();
}

fn speedtest(c: &mut Criterion) {
    let Some(shared) = common::shared("the speedtest group") else {
        return;
    };
    let dir = shared.join("corpus/speedtest");
    let mut g = group(c, "speedtest");
    for &(name, steps) in KERNELS {
        let program = Arc::new(
            mexe::load_file(dir.join(format!("{name}.mexe")))
                .unwrap_or_else(|e| panic!("{name}.mexe: {e}")),
        );
        let case = Case {
            name: name.to_string(),
            template: Machine::new(Arc::clone(&program)),
            program,
            limits: Limits {
                max_steps: Some(steps),
                ..Limits::default()
            },
            steps,
            stop: Stop::StepLimit,
        };
        bench_case(&mut g, "speedtest", &case);
    }
    g.finish();
}

fn arbos(c: &mut Criterion) {
    let Some(shared) = common::shared("the arbos group") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).expect("arbos.mexe loads"));
    let template = Machine::new(Arc::clone(&program));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus/arbos is readable")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".inbox.json")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    let mut g = group(c, "arbos");
    for name in names {
        let read = |suffix: &str| {
            std::fs::read(dir.join(format!("{name}.{suffix}")))
                .unwrap_or_else(|e| panic!("{name}.{suffix}: {e}"))
        };
        let mut machine = template.clone();
        for message in parse_inbox_json(&read("inbox.json")).expect("inbox parses") {
            machine.push_inbox(message.to_value());
        }
        // The recorded step count, so no run is needed unless the replay is selected.
        let expect: serde_json::Value =
            serde_json::from_slice(&read("expect.json")).expect("expect.json parses");
        let steps = expect["expected"]["steps"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}.expect.json: no expected.steps"));
        let case = Case {
            name,
            program: Arc::clone(&program),
            template: machine,
            limits: Limits::default(),
            steps,
            stop: Stop::Blocked(BlockReason::Inbox),
        };
        bench_case(&mut g, "arbos", &case);
    }
    g.finish();
}

/// Ten samples (each run of a workload takes about a second: criterion then warns that it
/// cannot complete 10 samples in the target time, and measures one run per sample).
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
    targets = workloads, speedtest, arbos
}
criterion_main!(benches);
