//! The node-backend API (`avm_engine::node`): checkpointing machines to a [`Store`], restoring
//! them, and running many independent machines on worker threads with [`run_parallel`].
//!
//! Groups (benchmark ids are `GROUP/CASE/WHAT`):
//! - `checkpoint`: for two machine states, `arbos` (ArbOS, `arbos.mexe`, after the replay
//!   `evm_test_create`; needs `../shared`) and `kv_store` (the in-repo workload, run until it
//!   halts, its 8-ary tuple trie of 100k keys still held):
//!   - `save_full`: saving the machine into an empty, freshly created store (every node is new;
//!     opening the store is untimed setup). Throughput: the bytes written (node and header
//!     bytes as `SaveReport` counts them).
//!   - `load`: restoring it (`NodeProgram::restore`, interpreter engine, program already
//!     loaded) from a store holding it. The store's codepoint index for the program is built by
//!     its first load, so it is warm here. Throughput: the same bytes.
//!   - `save_incremental`: saving a second checkpoint after a small change into a store that
//!     already holds the first: each iteration saves into its own copy, made in untimed setup,
//!     of a store file holding only the first checkpoint (so redb's own cache starts cold; the
//!     file is in the OS page cache). ArbOS: the first checkpoint is after all of the
//!     replay's messages but the last, the second after the last message too (the same state
//!     as `save_full`). `kv_store`: the first is at a quarter of the run's steps (inside the
//!     insert phase), the second `KV_INCREMENT_STEPS` steps later (some 70 inserts, each
//!     path-copying 8 tuples: about 560 new nodes). Throughput: the bytes that save writes.
//!
//!   Every timed save is one redb write transaction, committed with redb's default durability
//!   (fsync), as `NodeMachine::checkpoint` does it. Machine hashes are computed before measuring
//!   (tuples cache their hashes), so a save is the store's work: finding and encoding new
//!   nodes and the transaction. Sizes (nodes, bytes and the redb file of the full and the
//!   incremental save) are printed to stderr while preparing, before measuring; stores live in
//!   a directory under the system temp dir, named by the process id, removed at the end.
//!   Ten samples per case, flat sampling, the measurement time scaled to one save or load
//!   timed while preparing (a `kv_store` save takes about a second: one per sample).
//! - `parallel`: K = 2 × max(2, cores) independent replays of `evm_test_create` (all messages
//!   pushed at once, run until blocked on the inbox) via `run_parallel` on 1..=max(2, cores)
//!   threads (ids `parallel/ENGINE/THREADS`). Engines: `interp`; `jit_shared` (`Engine::DefaultJit`,
//!   all K machines of one `NodeProgram` created before measuring, so they share its compiled
//!   code, warm after the first run); `jit_separate` (each machine of its own
//!   `NodeProgram::from_source`, so each JIT compiles everything itself; loading the K programs
//!   is untimed setup). Throughput: K, so criterion reports replays/s (`elem/s`). Before a case
//!   is measured (only when the filter selects it) one set of K runs is checked: all stop
//!   blocked on the inbox with the recorded steps and machine hash. Needs `../shared`.
//!
//! Preparing the `checkpoint` states (running both programs, a few seconds) happens whatever
//! the filter. `../shared` is found at `$AVM_SHARED` or beside the checkout; without it the
//! ArbOS cases and the `parallel` group are skipped with the reason printed to stderr.
//!
//! Run all: `cargo bench -p avm-bench --bench node`; one group:
//! `cargo bench -p avm-bench --bench node -- parallel`; one case:
//! `cargo bench -p avm-bench --bench node -- 'checkpoint/kv_store/load'`.
//!
//! Plots are off (rendering them costs seconds per benchmark); add `--plotting-backend plotters`
//! after the `--` for criterion's HTML report under `target/criterion/`.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use avm_engine::node::{
    Engine, NodeMachine, NodeProgram, RunBound, SaveReport, Store, run_parallel,
};
use avm_runtime::Value;
use avm_runtime::hash::hex_hash;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};

/// The ArbOS replay measured (the largest).
const REPLAY: &str = "evm_test_create";

/// Steps between the two `kv_store` checkpoints of `save_incremental`.
const KV_INCREMENT_STEPS: u64 = 10_000;

fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The replay's program source, its messages and what it is recorded to end with.
struct Replay {
    source: Arc<[u8]>,
    messages: Vec<Value>,
    steps: u64,
    hash: String,
}

fn replay(shared: &Path) -> Replay {
    let dir = shared.join("corpus/arbos");
    let recorded = common::replay(&dir, REPLAY);
    Replay {
        source: std::fs::read(dir.join("arbos.mexe"))
            .expect("arbos.mexe")
            .into(),
        messages: recorded.values(),
        steps: recorded.steps(),
        hash: recorded.machine_hash().to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// checkpoint

/// A machine state to checkpoint, and a small change for the incremental save.
struct CheckpointCase {
    name: &'static str,
    program: NodeProgram,
    /// Saved whole, and restored.
    full: NodeMachine,
    /// The first checkpoint of the incremental pair.
    base: NodeMachine,
    /// `base` after the small change: the second checkpoint.
    next: NodeMachine,
}

/// ArbOS after the replay; the incremental pair is before and after its last message.
fn arbos_case(replay: &Replay) -> CheckpointCase {
    let program = NodeProgram::from_source(Arc::clone(&replay.source)).expect("arbos loads");
    let (last, rest) = replay.messages.split_last().expect("messages");
    let mut base = program.machine(Engine::DefaultJit).expect("machine");
    base.push_inbox(rest.iter().cloned());
    assert!(base.run(RunBound::default()).is_blocked_on_inbox());
    let mut next = base.try_clone().expect("clone");
    next.push_inbox([last.clone()]);
    assert!(next.run(RunBound::default()).is_blocked_on_inbox());
    assert_eq!(next.steps(), replay.steps, "{REPLAY}: steps");
    assert_eq!(
        hex_hash(&next.hash()),
        replay.hash,
        "{REPLAY}: machine hash"
    );
    CheckpointCase {
        name: "arbos",
        full: next.try_clone().expect("clone"),
        program,
        base,
        next,
    }
}

/// kv_store run until it halts; the incremental pair is at a quarter of its steps and
/// `KV_INCREMENT_STEPS` later.
fn kv_store_case() -> CheckpointCase {
    let workload = avm_engine::workloads::by_name("kv_store").expect("kv_store workload");
    let program = NodeProgram::from_source(workload.source.as_bytes()).expect("kv_store loads");
    let fresh = || {
        let mut m = program.machine(Engine::DefaultJit).expect("machine");
        m.push_inbox(workload.inbox().iter().map(|m| m.to_value()));
        m
    };
    let mut full = fresh();
    let stop = full.run(RunBound::default());
    assert!(stop.is_final(), "kv_store stops: {:?}", stop.0);
    let mut base = fresh();
    let bound = |steps| RunBound {
        max_steps: Some(steps),
        ..RunBound::default()
    };
    base.run(bound(full.steps() / 4));
    assert_eq!(base.steps(), full.steps() / 4);
    let mut next = base.try_clone().expect("clone");
    next.run(bound(KV_INCREMENT_STEPS));
    assert_eq!(next.steps(), full.steps() / 4 + KV_INCREMENT_STEPS);
    CheckpointCase {
        name: "kv_store",
        program,
        full,
        base,
        next,
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn total_bytes(report: &SaveReport) -> u64 {
    report.new_bytes + report.header_bytes
}

fn bench_checkpoint(g: &mut BenchmarkGroup<'_, WallTime>, dir: &Path, case: &mut CheckpointCase) {
    let name = case.name;
    // Hashes are cached in the machines from here on (see the module doc).
    for m in [&mut case.full, &mut case.base, &mut case.next] {
        m.hash();
    }

    // One full save to measure its size; this store is also the one `load` reads.
    let load_path = dir.join(format!("{name}-load.redb"));
    let load_store = Store::open(&load_path).expect("store opens");
    let start = Instant::now();
    let full = case.full.checkpoint(&load_store).expect("full save");
    let full_time = start.elapsed();
    say(format_args!(
        "checkpoint/{name}: {} steps; full save: {} nodes, {} bytes ({} node + {} header); \
         redb file {} bytes",
        case.full.steps(),
        full.new_nodes,
        total_bytes(&full),
        full.new_bytes,
        full.header_bytes,
        file_size(&load_path)
    ));

    // The store each incremental save goes to: a copy of this one, holding the first
    // checkpoint only.
    let base_path = dir.join(format!("{name}-base.redb"));
    let base_store = Store::open(&base_path).expect("store opens");
    let first = case.base.checkpoint(&base_store).expect("first save");
    drop(base_store);
    let base_file = file_size(&base_path);
    let probe_path = dir.join(format!("{name}-probe.redb"));
    std::fs::copy(&base_path, &probe_path).expect("copy store");
    let probe = Store::open(&probe_path).expect("store opens");
    let start = Instant::now();
    let second = case.next.checkpoint(&probe).expect("second save");
    let incremental_time = start.elapsed();
    drop(probe);
    say(format_args!(
        "checkpoint/{name}: incremental: first checkpoint at {} steps: {} nodes, {} bytes (file \
         {base_file} bytes); second at {} steps: {} new nodes, {} bytes; redb file then {} bytes",
        case.base.steps(),
        first.new_nodes,
        total_bytes(&first),
        case.next.steps(),
        second.new_nodes,
        total_bytes(&second),
        file_size(&probe_path)
    ));
    let _ = std::fs::remove_file(&probe_path);

    // Ten samples of at least one iteration each, with some room: no warning from criterion.
    let time_for = |one: Duration| (one * 12).max(Duration::from_secs(2));

    g.throughput(Throughput::Bytes(total_bytes(&full)));
    g.measurement_time(time_for(full_time));
    let full_machine = &mut case.full;
    let mut n = 0u64;
    g.bench_function(BenchmarkId::new(name, "save_full"), |b| {
        b.iter_batched(
            || {
                // The previous iteration's store was dropped (one input per batch).
                let _ = std::fs::remove_file(dir.join(format!("{name}-full-{n}.redb")));
                n += 1;
                Store::open(dir.join(format!("{name}-full-{n}.redb"))).expect("store opens")
            },
            |store| {
                let report = full_machine.checkpoint(&store).expect("save");
                (report, store)
            },
            BatchSize::PerIteration,
        )
    });
    let _ = std::fs::remove_file(dir.join(format!("{name}-full-{n}.redb")));

    let program = &case.program;
    let start = Instant::now();
    drop(
        program
            .restore(&load_store, full.id, Engine::Interp)
            .expect("load"),
    );
    g.measurement_time(time_for(start.elapsed()));
    g.bench_function(BenchmarkId::new(name, "load"), |b| {
        b.iter_with_large_drop(|| {
            program
                .restore(&load_store, full.id, Engine::Interp)
                .expect("load")
        })
    });

    g.throughput(Throughput::Bytes(total_bytes(&second)));
    g.measurement_time(time_for(incremental_time));
    let next = &mut case.next;
    g.bench_function(BenchmarkId::new(name, "save_incremental"), |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(dir.join(format!("{name}-incr-{n}.redb")));
                n += 1;
                let path = dir.join(format!("{name}-incr-{n}.redb"));
                std::fs::copy(&base_path, &path).expect("copy store");
                Store::open(path).expect("store opens")
            },
            |store| {
                let report = next.checkpoint(&store).expect("save");
                (report, store)
            },
            BatchSize::PerIteration,
        )
    });
    let _ = std::fs::remove_file(dir.join(format!("{name}-incr-{n}.redb")));
}

fn checkpoint(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("avm-bench-node-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cases = Vec::new();
    if let Some(shared) = common::shared("checkpoint/arbos") {
        cases.push(arbos_case(&replay(&shared)));
    }
    cases.push(kv_store_case());

    let mut g = c.benchmark_group("checkpoint");
    // Saves of the large states take tens of milliseconds: few samples, fixed iterations.
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    for case in &mut cases {
        bench_checkpoint(&mut g, &dir, case);
    }
    g.finish();
    drop(cases);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// parallel

fn parallel(c: &mut Criterion) {
    let Some(shared) = common::shared("the parallel group") else {
        return;
    };
    let replay = replay(&shared);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_threads = cores.max(2);
    let k = 2 * max_threads;
    say(format_args!(
        "parallel: {k} replays of {REPLAY} ({} steps each), {cores} cores",
        replay.steps
    ));
    let interp_program = NodeProgram::from_source(Arc::clone(&replay.source)).expect("loads");
    let jit_program = NodeProgram::from_source(Arc::clone(&replay.source)).expect("loads");

    // K fresh machines of the engine `label`, the replay's messages queued.
    let machines = |label: &str| -> Vec<NodeMachine> {
        (0..k)
            .map(|_| {
                let mut m = match label {
                    "interp" => interp_program.machine(Engine::Interp),
                    "jit_shared" => jit_program.machine(Engine::DefaultJit),
                    "jit_separate" => NodeProgram::from_source(Arc::clone(&replay.source))
                        .and_then(|p| p.machine(Engine::DefaultJit)),
                    _ => unreachable!(),
                }
                .expect("machine");
                m.push_inbox(replay.messages.iter().cloned());
                m
            })
            .collect()
    };

    let mut g = c.benchmark_group("parallel");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(k as u64));
    for label in ["interp", "jit_shared", "jit_separate"] {
        // Loading K ArbOS programs in each iteration's setup is slow and counts toward
        // criterion's time budget.
        g.measurement_time(Duration::from_secs(match label {
            "jit_separate" => 7,
            _ => 3,
        }));
        for threads in 1..=max_threads {
            let mut checked = false;
            g.bench_function(BenchmarkId::new(label, threads), |b| {
                if !std::mem::replace(&mut checked, true) {
                    let mut ms = machines(label);
                    let ends = run_parallel(threads, &mut ms, |m| {
                        let stop = m.run(RunBound::default());
                        (stop.is_blocked_on_inbox(), m.steps(), hex_hash(&m.hash()))
                    })
                    .expect("pool");
                    for end in &ends {
                        assert_eq!(
                            *end,
                            (true, replay.steps, replay.hash.clone()),
                            "parallel/{label}/{threads}: a replay ended differently"
                        );
                    }
                    let compiled: Vec<String> = ms
                        .iter()
                        .filter_map(|m| m.jit_stats())
                        .map(|s| format!("{}+{}", s.compiled_blocks, s.shared_blocks))
                        .collect();
                    say(format_args!(
                        "parallel/{label}/{threads}: checked {k} replays agree; blocks compiled \
                         + adopted per machine: [{}]; program's shared table: {}",
                        compiled.join(", "),
                        match label {
                            "interp" => interp_program.compiled_blocks(),
                            "jit_shared" => jit_program.compiled_blocks(),
                            _ => ms[0].program().compiled_blocks(),
                        }
                    ));
                }
                b.iter_batched(
                    || machines(label),
                    |mut ms| {
                        let stops = run_parallel(threads, &mut ms, |m| m.run(RunBound::default()))
                            .expect("pool");
                        assert!(stops.iter().all(|s| s.is_blocked_on_inbox()));
                        // Dropping the machines (and their JIT workers) is not timed.
                        ms
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    g.finish();
}

/// No plots (see the module doc).
fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = checkpoint, parallel
}
criterion_main!(benches);
