//! The node API: checkpoints restore exactly (same hash, same future) on both engines, deep
//! and large values checkpoint without recursion, corruption is reported, deleting frees what
//! no other checkpoint uses, parallel machines match sequential ones, and real ArbOS replays
//! survive a checkpoint and a resume after every message (skipped when `../shared` is absent).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use avm_engine::jit::{CompileMode, DEFAULT_CACHE_BLOCKS, Jit, JitOptions, SharedCode};
use avm_engine::node::{
    Engine, NodeMachine, NodeProgram, RunBound, Store, StoreError, run_parallel,
};
use avm_interp::Status;
use avm_runtime::hash::{be32, hex_hash, keccak};
use avm_runtime::{Buffer, U256, Value};

/// A fresh directory for one test's store.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-node-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn engines() -> [Engine; 2] {
    [
        Engine::Interp,
        Engine::Jit(JitOptions {
            threshold: 0,
            ..JitOptions::default()
        }),
    ]
}

/// What a run leaves that the host can see.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    stop: String,
    hash: String,
    steps: u64,
    gas_used: u128,
    logs: Vec<String>,
    sends: Vec<Vec<u8>>,
    inbox_consumed: u64,
}

fn observe(m: &mut NodeMachine, stop: &str) -> Observed {
    Observed {
        stop: stop.to_string(),
        hash: hex_hash(&m.hash()),
        steps: m.steps(),
        gas_used: m.gas_used(),
        logs: m.logs().iter().map(|v| hex_hash(&v.hash())).collect(),
        sends: m.sends().to_vec(),
        inbox_consumed: m.outputs().inbox_consumed,
    }
}

const MAX_STEPS: u64 = 3_000_000;

fn run_to_end(m: &mut NodeMachine) -> Observed {
    let left = MAX_STEPS.saturating_sub(m.steps());
    let stop = m.run(RunBound {
        max_steps: Some(left),
        ..RunBound::default()
    });
    observe(m, &format!("{:?}", stop.0))
}

/// Small programs of every kind of value: the examples and the machine cases that exercise
/// buffers, run-time codepoints, tuples, error handlers and the inbox.
fn programs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut list: Vec<(String, Vec<u8>)> = common::files(&root.join("examples"), "avm")
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    if let Some(shared) = common::shared("node programs") {
        let dir = shared.join("corpus/machine-cases");
        for name in [
            "buffer_test",
            "bytearraytest",
            "opcodetestcode",
            "opcodetesttuple",
            "dupsegments",
            "segmentreorg",
            "inbox",
        ] {
            let path = dir.join(format!("{name}.mexe"));
            list.push((name.to_string(), std::fs::read(path).unwrap()));
        }
    }
    list
}

#[test]
fn checkpoints_at_many_points_continue_identically() {
    let dir = temp_dir("many-points");
    let store = Store::open(dir.join("store.redb")).unwrap();
    for (name, source) in programs() {
        for engine in engines() {
            let mut reference = NodeMachine::from_source(source.clone(), engine).unwrap();
            let expected = run_to_end(&mut reference);
            let total = expected.steps;
            let points: Vec<u64> = [0, 1, 2, 3, 5, 8, 13, 100, 1000]
                .into_iter()
                .chain((1..8).map(|i| total * i / 8))
                .filter(|&p| p <= total)
                .collect();
            for point in points {
                let mut m = NodeMachine::from_source(source.clone(), engine).unwrap();
                m.run(RunBound {
                    max_steps: Some(point),
                    ..RunBound::default()
                });
                let saved = m.checkpoint(&store).unwrap();
                for resume_engine in engines() {
                    let mut resumed =
                        NodeMachine::from_checkpoint(&store, saved.id, resume_engine).unwrap();
                    assert_eq!(resumed.hash(), m.hash(), "{name} at {point}");
                    assert_eq!(resumed.steps(), m.steps(), "{name} at {point}");
                    assert_eq!(run_to_end(&mut resumed), expected, "{name} from {point}");
                }
                store.delete(saved.id).unwrap();
            }
        }
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.checkpoints, 0);
    assert_eq!(stats.nodes, 0, "deleting every checkpoint frees every node");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads one inbox message into the register, then waits for the next.
const KEEP_ONE: &[u8] = b"inbox\nrset\ninbox\nhalt";

fn holding(value: Value) -> NodeMachine {
    let mut m = NodeMachine::from_source(KEEP_ONE.to_vec(), Engine::Interp).unwrap();
    m.push_inbox([value]);
    assert!(m.run(RunBound::default()).is_blocked_on_inbox());
    m
}

#[test]
fn deep_tuples_and_large_buffers_checkpoint_without_recursion() {
    let dir = temp_dir("deep");
    let store = Store::open(dir.join("store.redb")).unwrap();

    let mut deep = Value::none();
    for i in 0..1_000_000u64 {
        deep = Value::tuple(vec![Value::int(i), deep]);
    }
    let bytes: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sparse = Buffer::new()
        .write(0, &bytes)
        .write(1 << 60, b"far away")
        .write(u64::MAX - 3, b"end");
    for value in [deep, Value::Buffer(sparse)] {
        let mut m = holding(value);
        let saved = m.checkpoint(&store).unwrap();
        let mut resumed = NodeMachine::from_checkpoint(&store, saved.id, Engine::Interp).unwrap();
        assert_eq!(resumed.hash(), m.hash());
        assert_eq!(resumed.machine().register(), m.machine().register());
        // The same value again costs a header only.
        let again = m.checkpoint(&store).unwrap();
        assert_eq!(again.new_nodes, 0);
    }
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_small_change_costs_a_small_checkpoint() {
    let dir = temp_dir("incremental");
    let store = Store::open(dir.join("store.redb")).unwrap();
    // 8^6 leaves in a balanced tree, then one leaf changed.
    let mut level: Vec<Value> = (0..8u64.pow(6)).map(Value::int).collect();
    while level.len() > 1 {
        level = level.chunks(8).map(|c| Value::tuple(c.to_vec())).collect();
    }
    let tree = level.pop().unwrap();
    let first = holding(tree.clone()).checkpoint(&store).unwrap();
    // Change the first Int: a new path of 6 tuples from the root down to it.
    let mut path = vec![tree.clone()];
    for _ in 0..5 {
        let Value::Tuple(t) = path.last().unwrap() else {
            panic!()
        };
        path.push(t.get(0).unwrap().clone());
    }
    let mut changed = Value::int(7u64);
    for node in path.iter().rev() {
        let Value::Tuple(t) = node else { panic!() };
        changed = Value::Tuple(t.with(0, changed).unwrap());
    }
    let second = holding(changed).checkpoint(&store).unwrap();
    eprintln!("first: {first:?}\nsecond: {second:?}");
    assert!(first.new_nodes > 37_000);
    assert_eq!(second.new_nodes, 6, "only the changed path is new");
    assert!(second.new_bytes * 1000 < first.new_bytes);

    // Deleting the first frees exactly what the second does not share: the old path.
    let before = store.stats().unwrap();
    store.delete(first.id).unwrap();
    let after = store.stats().unwrap();
    assert_eq!(before.nodes - after.nodes, 6);
    store.delete(second.id).unwrap();
    assert_eq!(store.stats().unwrap().nodes, 0);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rewrites one stored record through redb directly, as a bit flip on disk would.
fn tamper(path: &Path, table: &str, pick: impl Fn(&[u8]) -> bool) {
    use redb::{ReadableTable, TableDefinition};
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        if table == "values" {
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new("values");
            let mut t = txn.open_table(def).unwrap();
            let (k, mut v) = t
                .iter()
                .unwrap()
                .map(|e| e.unwrap())
                .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .find(|(k, v)| pick(k) && v.len() > 40)
                .unwrap();
            // Tuples here are `(Int, tuple)`: flip the Int's low byte (byte 0 is the slot
            // count, byte 1 the Int's tag).
            v[33] ^= 1;
            t.insert(k.as_slice(), v.as_slice()).unwrap();
        } else {
            let def: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
            let mut t = txn.open_table(def).unwrap();
            let mut v = t.get(1).unwrap().unwrap().value().to_vec();
            v[50] ^= 0x80;
            t.insert(1, v.as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
}

#[test]
fn corrupt_stores_are_reported_never_loaded() {
    let dir = temp_dir("corrupt");
    let mut tree = Value::none();
    for i in 0..100u64 {
        tree = Value::tuple(vec![Value::int(i), tree]);
    }
    for (what, table) in [("node", "values"), ("header", "checkpoints")] {
        let path = dir.join(format!("{what}.redb"));
        let store = Store::open(&path).unwrap();
        let id = holding(tree.clone()).checkpoint(&store).unwrap().id;
        drop(store);
        tamper(&path, table, |k| k[0] == 1);
        let store = Store::open(&path).unwrap();
        let error = NodeMachine::from_checkpoint(&store, id, Engine::Interp).unwrap_err();
        let message = error.to_string();
        eprintln!("{what}: {message}");
        assert!(
            matches!(
                error,
                avm_engine::node::NodeError::Store(StoreError::Corrupt(_))
            ),
            "{message}"
        );
        assert!(message.contains(if what == "node" {
            "does not hash"
        } else {
            "checksum"
        }));
    }

    // A truncated file fails to open or to load; it never yields a machine with another hash.
    let path = dir.join("truncated.redb");
    let store = Store::open(&path).unwrap();
    let mut m = holding(tree.clone());
    let id = m.checkpoint(&store).unwrap().id;
    drop(store);
    let len = std::fs::metadata(&path).unwrap().len();
    for keep in [len / 2, len / 4, 100] {
        let cut = dir.join(format!("cut-{keep}.redb"));
        std::fs::copy(&path, &cut).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cut)
            .unwrap()
            .set_len(keep)
            .unwrap();
        match Store::open(&cut).map(|s| NodeMachine::from_checkpoint(&s, id, Engine::Interp)) {
            Err(e) => eprintln!("truncated to {keep}: {e}"),
            Ok(Err(e)) => eprintln!("truncated to {keep}: {e}"),
            Ok(Ok(mut loaded)) => assert_eq!(loaded.hash(), m.hash()),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn parallel_machines_match_sequential_ones() {
    let programs = programs();
    let make = || -> Vec<NodeMachine> {
        programs
            .iter()
            .map(|(_, source)| NodeMachine::from_source(source.clone(), Engine::Interp).unwrap())
            .collect()
    };
    let mut sequential = make();
    let expected: Vec<Observed> = sequential.iter_mut().map(run_to_end).collect();
    for threads in [1, 2, 4] {
        let mut machines = make();
        let got = run_parallel(threads, &mut machines, run_to_end).unwrap();
        assert_eq!(got, expected, "{threads} threads");
    }
    // Machines on worker threads checkpoint into one store (redb serialises the writes);
    // each checkpoint restores to its own machine.
    let dir = temp_dir("parallel");
    let store = Store::open(dir.join("store.redb")).unwrap();
    let mut machines = make();
    let saved = run_parallel(2, &mut machines, |m| {
        let observed = run_to_end(m);
        (m.checkpoint(&store).unwrap().id, observed)
    })
    .unwrap();
    for ((id, observed), want) in saved.iter().zip(&expected) {
        assert_eq!(observed, want);
        let mut m = NodeMachine::from_checkpoint(&store, *id, Engine::Interp).unwrap();
        assert_eq!(hex_hash(&m.hash()), want.hash);
    }
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();

    // Clones run independently of their originals.
    let mut originals = make();
    let mut clones: Vec<NodeMachine> = originals.iter().map(|m| m.try_clone().unwrap()).collect();
    let a: Vec<Observed> = originals.iter_mut().map(run_to_end).collect();
    let b = run_parallel(2, &mut clones, run_to_end).unwrap();
    assert_eq!(a, b);
}

/// Machines of one [`NodeProgram`] compile each block once: a second machine takes every
/// block the first compiled. Code outlives the JIT that compiled it, even one that evicted its
/// cache many times: a machine that adopted those blocks runs them after that JIT is gone.
#[test]
fn machines_of_one_program_share_compiled_code() {
    let inline = |cache_blocks| {
        Engine::Jit(JitOptions {
            threshold: 0,
            cache_blocks,
            compile: CompileMode::Inline,
            ..JitOptions::default()
        })
    };
    let mut shared_somewhere = false;
    for (name, source) in programs() {
        let expected =
            run_to_end(&mut NodeMachine::from_source(source.clone(), Engine::Interp).unwrap());
        let program = NodeProgram::from_source(source.clone()).unwrap();
        let mut first = program.machine(inline(DEFAULT_CACHE_BLOCKS)).unwrap();
        assert_eq!(run_to_end(&mut first), expected, "{name}");
        let compiled = first.jit_stats().unwrap().compiled_blocks;
        assert_eq!(program.compiled_blocks(), compiled as usize, "{name}");
        let mut second = program.machine(inline(DEFAULT_CACHE_BLOCKS)).unwrap();
        assert_eq!(run_to_end(&mut second), expected, "{name}");
        let stats = second.jit_stats().unwrap();
        assert_eq!(
            (stats.compiled_blocks, stats.shared_blocks),
            (0, compiled),
            "{name}"
        );
        shared_somewhere |= compiled > 0;

        // A JIT holding one block at a time frees its module at every eviction, but the
        // blocks it published keep theirs mapped for the machine that adopts them.
        let program = NodeProgram::from_source(source).unwrap();
        let mut evicting = program.machine(inline(1)).unwrap();
        assert_eq!(run_to_end(&mut evicting), expected, "{name}");
        let mut adopting = program.machine(inline(DEFAULT_CACHE_BLOCKS)).unwrap();
        drop(evicting);
        assert_eq!(run_to_end(&mut adopting), expected, "{name}");
    }
    assert!(shared_somewhere, "some program compiled a block");
}

/// JITs of one program compiling in the background share the program's compile thread, which
/// compiles each block once: a block two JITs ask for is compiled for the first and found in
/// the table for the second, so what they compiled between them is exactly the table.
#[test]
fn background_compiles_of_one_program_happen_once() {
    // Two loops long enough to get hot (arrivals x length past the JIT's bound).
    let source = "push 0\n push 100000\n\
                  up:\n dup0\n swap2\n add\n swap1\n add -1\n dup0\n cjump @up\n pop\n\
                  push 100000\n\
                  down:\n dup0\n swap2\n mul 3\n add\n swap1\n add -1\n dup0\n cjump @down\n\
                  pop\n log\n halt";
    let program = Arc::new(avm_runtime::asm::assemble(source).unwrap());
    let limits = avm_interp::Limits::default();
    let mut expected = avm_interp::Machine::new(Arc::clone(&program));
    expected.run(&limits);
    let background = JitOptions {
        threshold: 2,
        cache_blocks: DEFAULT_CACHE_BLOCKS,
        compile: CompileMode::Background,
        ..JitOptions::default()
    };
    let shared = SharedCode::new(Arc::clone(&program), DEFAULT_CACHE_BLOCKS);
    let mut jits = [0, 1].map(|_| Jit::with_shared_code(Arc::clone(&shared), background).unwrap());
    // Both run before either waits for its code: their requests meet in one queue.
    for jit in &mut jits {
        let mut m = avm_interp::Machine::new(Arc::clone(&program));
        jit.run(&mut m, &limits);
        assert_eq!(m.hash(), expected.hash());
        assert_eq!(m.outputs().logs, expected.outputs().logs);
    }
    let mut fresh = 0;
    for jit in &mut jits {
        jit.finish_compiles();
        fresh += jit.stats().compiled_blocks as usize;
    }
    assert!(fresh > 0, "the loops compiled");
    assert_eq!(fresh, shared.len(), "a block compiled twice");
}

#[test]
fn arbos_replays_survive_a_checkpoint_and_resume_after_every_message() {
    let Some(shared) = common::shared("arbos checkpoints") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = NodeProgram::from_file(dir.join("arbos.mexe")).unwrap();
    let tmp = temp_dir("arbos");
    let store = Store::open(tmp.join("store.redb")).unwrap();
    for (i, replay) in common::replays(&dir).iter().enumerate() {
        let engine = engines()[i % 2];
        let mut id = None;
        for message in replay.values() {
            let mut m = match id {
                None => program.machine(engine).unwrap(),
                Some(id) => program.restore(&store, id, engine).unwrap(),
            };
            m.push_inbox([message]);
            let stop = m.run(RunBound::default());
            assert!(stop.is_blocked_on_inbox(), "{}", replay.name);
            let saved = m.checkpoint(&store).unwrap();
            if let Some(old) = id {
                store.delete(old).unwrap();
            }
            id = Some(saved.id);
        }
        let id = id.unwrap();
        let mut m = program.restore(&store, id, engine).unwrap();
        // A checkpoint also restores on its own, its program read from the store.
        let mut alone = NodeMachine::from_checkpoint(&store, id, engine).unwrap();
        assert_eq!(alone.hash(), m.hash());
        let machine_hash = m.hash();
        replay.check(&common::Outcome {
            logs: m.logs(),
            sends: m.sends(),
            steps: m.steps(),
            gas_used: m.gas_used(),
            inbox_consumed: m.outputs().inbox_consumed,
            machine_hash,
            log_acc: Some(m.outputs().log_acc),
        });
        store.delete(id).unwrap();
    }
    assert_eq!(store.stats().unwrap().nodes, 0);
    drop(store);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Set in a child copy of this test binary: the store it saves to until killed.
const CHILD_STORE: &str = "AVM_NODE_TEST_CHILD_STORE";

/// A tree of `8^4` Ints, all `seed`: every seed gives new leaf tuples, so each save writes
/// thousands of nodes (a long transaction to be killed in).
fn tree(seed: u64) -> Value {
    let mut level: Vec<Value> = (0..8u64.pow(4)).map(|i| Value::int(i + seed)).collect();
    while level.len() > 1 {
        level = level.chunks(8).map(|c| Value::tuple(c.to_vec())).collect();
    }
    level.pop().unwrap()
}

/// The child's side of `a_save_killed_midway_leaves_the_store_consistent`: saves forever,
/// deleting the older checkpoint after each save. Does nothing in a normal test run.
#[test]
fn child_saves_until_killed() {
    let Some(path) = std::env::var_os(CHILD_STORE) else {
        return;
    };
    let store = Store::open(PathBuf::from(&path)).unwrap();
    let mut previous = store.latest().unwrap();
    for seed in 0.. {
        let saved = holding(tree(seed * 10_000)).checkpoint(&store).unwrap();
        if let Some(old) = previous {
            store.delete(old).unwrap();
        }
        previous = Some(saved.id);
        // Tell the parent a save has landed, so its kill lands among later ones.
        std::fs::write(PathBuf::from(&path).with_extension("saved"), b"").unwrap();
    }
}

#[test]
fn a_save_killed_midway_leaves_the_store_consistent() {
    let dir = temp_dir("killed");
    let path = dir.join("store.redb");
    let marker = path.with_extension("saved");
    for round in 0..4u64 {
        let _ = std::fs::remove_file(&marker);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_saves_until_killed", "--test-threads", "1"])
            .env(CHILD_STORE, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !marker.exists() {
            assert!(start.elapsed().as_secs() < 60, "the child never saved");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(50 + 37 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        // The killed writer left the file needing repair, which redb refuses to do read-only;
        // a read-only open of the store repairs it (no one else holds it) and reads it.
        assert!(matches!(
            redb::Builder::new()
                .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
                .open_read_only(&path),
            Err(redb::DatabaseError::RepairAborted)
        ));
        let reader = Store::open_read_only(&path).unwrap();
        for info in reader.checkpoints().unwrap() {
            let mut m = NodeMachine::from_checkpoint(&reader, info.id, Engine::Interp).unwrap();
            assert_eq!(m.hash(), info.machine_hash);
        }
        drop(reader);
        // Every checkpoint left loads and hashes right, and the counts add up: deleting
        // what is left frees every node.
        let store = Store::open(&path).unwrap();
        let list = store.checkpoints().unwrap();
        assert!(!list.is_empty(), "round {round}: the child saved something");
        for info in &list {
            let mut m = NodeMachine::from_checkpoint(&store, info.id, Engine::Interp).unwrap();
            assert_eq!(m.hash(), info.machine_hash);
        }
        eprintln!("round {round}: {} checkpoints survive", list.len());
    }
    let store = Store::open(&path).unwrap();
    for info in store.checkpoints().unwrap() {
        store.delete(info.id).unwrap();
    }
    assert_eq!(store.stats().unwrap().nodes, 0);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts a child copy of this test binary saving into the store at `path`, and kills it once
/// it has saved: the store is left open by a writer that is gone, so it needs repair.
fn kill_a_writer_of(path: &Path) {
    let marker = path.with_extension("saved");
    let _ = std::fs::remove_file(&marker);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_saves_until_killed", "--test-threads", "1"])
        .env(CHILD_STORE, path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !marker.exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(marker.exists(), "the child never saved");
}

/// Makes `path` unwritable for the life of the guard: read-only permissions, and for root
/// (whom permissions do not stop) the immutable attribute. `None` when neither holds here.
struct Unwritable<'a>(&'a Path, std::fs::Permissions);

impl<'a> Unwritable<'a> {
    fn make(path: &'a Path) -> Option<Unwritable<'a>> {
        let writable = || std::fs::OpenOptions::new().write(true).open(path).is_ok();
        let original = std::fs::metadata(path).unwrap().permissions();
        let mut permissions = original.clone();
        permissions.set_readonly(true);
        std::fs::set_permissions(path, permissions).unwrap();
        let guard = Unwritable(path, original);
        if writable() {
            let _ = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .stderr(std::process::Stdio::null())
                .status();
        }
        (!writable()).then_some(guard)
    }
}

impl Drop for Unwritable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .stderr(std::process::Stdio::null())
            .status();
        std::fs::set_permissions(self.0, self.1.clone()).unwrap();
    }
}

/// A store left needing repair that this process may not write is refused in one clear error
/// by a read-only open, and opens as soon as it may be repaired.
#[test]
fn a_store_needing_repair_without_write_access_says_so() {
    let dir = temp_dir("unwritable");
    let path = dir.join("store.redb");
    kill_a_writer_of(&path);
    {
        let Some(_unwritable) = Unwritable::make(&path) else {
            eprintln!("skipping: cannot make a file unwritable here");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        };
        let error = Store::open_read_only(&path).unwrap_err();
        assert!(matches!(error, StoreError::NeedsRepair(_)), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("needs repair") && !message.contains('\n'),
            "{message}"
        );
    }
    let reader = Store::open_read_only(&path).unwrap();
    assert!(!reader.checkpoints().unwrap().is_empty());
    drop(reader);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A store is created beside its path and renamed into place, so a creation killed midway
/// (here: its half-built file left behind) never leaves a file that cannot open.
#[test]
fn a_creation_killed_midway_leaves_no_store() {
    let dir = temp_dir("creation");
    let path = dir.join("store.redb");
    // Half-built files: one left by a creation killed long ago, one of a creation under way.
    let killed = dir.join("store.redb.creating.123.456");
    let building = dir.join("store.redb.creating.789.1011");
    for file in [&killed, &building] {
        std::fs::write(file, b"redb\x1a\x0a").unwrap();
    }
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&killed)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    assert!(!path.exists());
    let store = Store::open(&path).unwrap();
    assert!(store.checkpoints().unwrap().is_empty());
    assert!(!killed.exists(), "a stale half-built store is removed");
    assert!(building.exists(), "another creator's file is never touched");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One process writes a store; others read it meanwhile and see its commits, and a second
/// writer is told the store is busy.
#[test]
fn a_store_is_read_while_another_handle_writes_it() {
    let dir = temp_dir("sharing");
    let path = dir.join("store.redb");
    let writer = Store::open(&path).unwrap();
    let first = holding(tree(1)).checkpoint(&writer).unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.latest().unwrap(), Some(first.id));
    let second = holding(tree(2)).checkpoint(&writer).unwrap();
    assert_eq!(
        reader.latest().unwrap(),
        Some(second.id),
        "the reader follows commits"
    );
    let mut m = NodeMachine::from_checkpoint(&reader, second.id, Engine::Interp).unwrap();
    assert_eq!(m.hash(), holding(tree(2)).hash());
    assert_eq!(reader.checkpoints().unwrap(), writer.checkpoints().unwrap());
    assert_eq!(reader.stats().unwrap(), writer.stats().unwrap());
    assert_eq!(
        reader.program_source(second.id).unwrap(),
        writer.program_source(second.id).unwrap()
    );
    let busy = Store::open(&path).unwrap_err();
    assert!(matches!(busy, StoreError::Busy), "{busy:?}");
    let message = busy.to_string();
    assert!(
        !message.contains('\n')
            && message.contains("another process (a run) holds")
            && message.contains("`avm checkpoints DIR` lists it"),
        "{message}"
    );
    // A second read-only handle beside the first and the writer.
    assert_eq!(
        Store::open_read_only(&path).unwrap().latest().unwrap(),
        Some(second.id)
    );
    let mut reader = reader;
    assert!(matches!(
        holding(tree(3)).checkpoint(&reader),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(reader.delete(first.id), Err(StoreError::ReadOnly)));
    assert!(matches!(reader.compact(), Err(StoreError::ReadOnly)));
    assert_eq!(
        reader.checkpoints().unwrap().len(),
        2,
        "nothing was written"
    );
    drop(writer);
    assert!(Store::open(&path).is_ok(), "free once the writer is gone");
    drop(reader);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An in-memory store (no file, so no sharing mode) saves, lists, loads, deletes and compacts.
#[test]
fn an_in_memory_store_does_what_a_file_store_does() {
    let mut store = Store::in_memory().unwrap();
    let first = holding(tree(1)).checkpoint(&store).unwrap();
    let second = holding(tree(2)).checkpoint(&store).unwrap();
    assert_eq!(store.latest().unwrap(), Some(second.id));
    let mut m = NodeMachine::from_checkpoint(&store, first.id, Engine::Interp).unwrap();
    assert_eq!(m.hash(), holding(tree(1)).hash());
    store.delete(first.id).unwrap();
    store.compact().unwrap();
    assert_eq!(store.checkpoints().unwrap().len(), 1);
}

/// Rewrites checkpoint `id`'s status byte to `byte` (keeping its checksum right), as a store
/// written by an older version would hold it.
fn rewrite_state_byte(path: &Path, id: u64, byte: u8) {
    use redb::{ReadableDatabase, TableDefinition};
    let def: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
    let db = redb::Database::open(path).unwrap();
    let mut header = {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(def).unwrap();
        table.get(id).unwrap().unwrap().value().to_vec()
    };
    // Magic (8 bytes), program id and machine hash (32 each), then the state byte.
    header[72] = byte;
    let body = header.len() - 32;
    let checksum = be32(&keccak(&[&header[..body]]));
    header[body..].copy_from_slice(&checksum);
    let txn = db.begin_write().unwrap();
    txn.open_table(def)
        .unwrap()
        .insert(id, header.as_slice())
        .unwrap();
    txn.commit().unwrap();
}

/// A checkpoint records whether its machine waits for an inbox message (running, next
/// instruction `inbox`, no message queued); it still loads as the running machine it was, and
/// a checkpoint of an older store (state byte 0) reads as running.
#[test]
fn a_checkpoint_says_whether_its_machine_waits_for_input() {
    let dir = temp_dir("waiting");
    let path = dir.join("store.redb");
    let store = Store::open(&path).unwrap();
    let fresh = || NodeMachine::from_source(KEEP_ONE.to_vec(), Engine::Interp).unwrap();
    let bounded = |steps| RunBound {
        max_steps: Some(steps),
        ..RunBound::default()
    };
    let mut waiting = holding(tree(1));
    let mut at_start = fresh();
    let mut queued = fresh();
    queued.push_inbox([Value::int(5u64)]);
    let mut mid_run = fresh();
    mid_run.push_inbox([Value::int(5u64)]);
    mid_run.run(bounded(1));
    let mut halted = holding(tree(1));
    halted.push_inbox([Value::int(6u64)]);
    assert!(halted.run(RunBound::default()).is_final());
    let cases: [(&str, &mut NodeMachine, Status, bool); 5] = [
        (
            "blocked on its second inbox",
            &mut waiting,
            Status::Running,
            true,
        ),
        (
            "at its first inbox, none queued",
            &mut at_start,
            Status::Running,
            true,
        ),
        (
            "at its first inbox, one queued",
            &mut queued,
            Status::Running,
            false,
        ),
        (
            "stopped at a step bound at rset",
            &mut mid_run,
            Status::Running,
            false,
        ),
        ("halted", &mut halted, Status::Halted, false),
    ];
    for (what, m, status, blocked) in cases {
        let saved = m.checkpoint(&store).unwrap();
        let info = store.checkpoints().unwrap().pop().unwrap();
        assert_eq!(info.id, saved.id);
        assert_eq!(
            (info.status, info.blocked_on_inbox),
            (status, blocked),
            "{what}"
        );
        let mut loaded = NodeMachine::from_checkpoint(&store, saved.id, Engine::Interp).unwrap();
        assert_eq!(loaded.machine().status(), status, "{what}");
        assert_eq!(loaded.hash(), m.hash(), "{what}");
        if blocked {
            assert!(loaded.run(RunBound::default()).is_blocked_on_inbox());
            assert_eq!(loaded.steps(), m.steps(), "{what}: a run blocks at once");
        }
    }
    // A machine waiting for input resumes when a message comes.
    let mut resumed = NodeMachine::from_checkpoint(&store, 1, Engine::Interp).unwrap();
    resumed.push_inbox([Value::int(6u64)]);
    assert!(resumed.run(RunBound::default()).is_final());
    assert_eq!(resumed.machine().status(), Status::Halted);
    drop(store);
    // The same checkpoint as an older store holds it: running, and the same machine.
    rewrite_state_byte(&path, 1, 0);
    let store = Store::open_read_only(&path).unwrap();
    let info = &store.checkpoints().unwrap()[0];
    assert_eq!(
        (info.status, info.blocked_on_inbox),
        (Status::Running, false)
    );
    let mut m = NodeMachine::from_checkpoint(&store, 1, Engine::Interp).unwrap();
    assert_eq!(m.hash(), waiting.hash());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compacting_returns_the_space_of_deleted_checkpoints() {
    let dir = temp_dir("compact");
    let path = dir.join("store.redb");
    let mut store = Store::open(&path).unwrap();
    let saved: Vec<_> = (0..6)
        .map(|seed| holding(tree(seed * 10_000)).checkpoint(&store).unwrap())
        .collect();
    let (last, old) = saved.split_last().unwrap();
    for s in old {
        store.delete(s.id).unwrap();
    }
    let before = std::fs::metadata(&path).unwrap().len();
    store.compact().unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    eprintln!("file {before} bytes, compacted {after}");
    assert!(after * 2 < before, "{before} -> {after}");
    let mut m = NodeMachine::from_checkpoint(&store, last.id, Engine::Interp).unwrap();
    assert_eq!(m.hash(), holding(tree(50_000)).hash());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One value in machines of two programs: a tuple holding `ERR`, which is a different
/// instruction index in each. Stored once, it must restore in both.
#[test]
fn values_shared_between_programs_restore_in_each() {
    let dir = temp_dir("two-programs");
    let store = Store::open(dir.join("store.redb")).unwrap();
    let value = Value::tuple(vec![Value::CodePoint(avm_runtime::CodePoint::err())]);
    let longer = [b"push 1\npop\n".as_slice(), KEEP_ONE].concat();
    let mut ids = Vec::new();
    for source in [KEEP_ONE.to_vec(), longer] {
        let mut m = NodeMachine::from_source(source, Engine::Interp).unwrap();
        m.push_inbox([value.clone()]);
        assert!(m.run(RunBound::default()).is_blocked_on_inbox());
        ids.push((m.checkpoint(&store).unwrap(), m.hash()));
    }
    assert_eq!(ids[1].0.new_nodes, 0, "the tuple is stored once");
    for (saved, hash) in ids {
        let mut m = NodeMachine::from_checkpoint(&store, saved.id, Engine::Interp).unwrap();
        assert_eq!(m.hash(), hash);
    }
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_small_change_to_a_large_buffer_costs_a_chunk() {
    let dir = temp_dir("buffer-change");
    let path = dir.join("store.redb");
    let store = Store::open(&path).unwrap();
    let bytes: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
    let buffer = Buffer::new().write(0, &bytes);
    let first = holding(Value::Buffer(buffer.clone()))
        .checkpoint(&store)
        .unwrap();
    let changed = buffer.write(1_000_000, b"x");
    let mut m = holding(Value::Buffer(changed));
    let second = m.checkpoint(&store).unwrap();
    eprintln!("first: {first:?}\nsecond: {second:?}");
    // The buffer node (a list of 1024 chunk keys) and one 4 KiB chunk.
    assert_eq!(second.new_nodes, 2);
    assert!(second.new_bytes < 40 * 1024, "{second:?}");
    assert!(first.new_bytes > 4 << 20);
    let mut resumed = NodeMachine::from_checkpoint(&store, second.id, Engine::Interp).unwrap();
    assert_eq!(resumed.hash(), m.hash());
    let before = store.stats().unwrap().nodes;
    store.delete(first.id).unwrap();
    let freed = before - store.stats().unwrap().nodes;
    assert_eq!(
        freed, 2,
        "the first's buffer node and the one chunk the second does not share"
    );
    drop(store);

    // A flipped byte in a chunk is caught by the chunk's key.
    {
        use redb::{ReadableTable, TableDefinition};
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new("values");
            let mut t = txn.open_table(def).unwrap();
            let (k, mut v) = t
                .iter()
                .unwrap()
                .map(|e| e.unwrap())
                .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .find(|(k, _)| k[0] == 6)
                .unwrap();
            v[100] ^= 4;
            t.insert(k.as_slice(), v.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let error = NodeMachine::from_checkpoint(&store, second.id, Engine::Interp).unwrap_err();
    assert!(error.to_string().contains("chunk does not hash"), "{error}");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Damage of the kinds that made redb panic (a 4 KiB page zeroed, 20 bytes overwritten) is an
/// error from every store operation, or a machine with exactly the saved hash; never a panic.
/// Every page is zeroed once, then random 20-byte overwrites follow: 3,000 by default,
/// `AVM_STORE_DAMAGES` to choose (the README's reliability table ran 10,000). Some damage makes
/// redb 4.6 allocate and zero gigabytes before it fails (it trusts a length on disk), so the
/// default stays below the first such case of this seed.
#[test]
fn damaged_pages_are_errors_never_panics() {
    let dir = temp_dir("damaged-pages");
    let path = dir.join("store.redb");
    let store = Store::open(&path).unwrap();
    // Small machines, so that the file is a few dozen pages and every page gets damaged.
    let small = |seed: u64| {
        let mut value = Value::none();
        for i in 0..40 {
            value = Value::tuple(vec![Value::int(seed * 100 + i), value]);
        }
        value
    };
    let saved: Vec<(u64, U256)> = (0..6)
        .map(|seed| {
            let mut m = holding(small(seed));
            (m.checkpoint(&store).unwrap().id, m.hash())
        })
        .collect();
    drop(store);
    let original = std::fs::read(&path).unwrap();
    let pages = original.len() / 4096;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    // Damage `i`: page `i` zeroed, then random 20-byte overwrites.
    let mut damage = |i: usize| {
        let mut bytes = original.clone();
        if i < pages {
            bytes[i * 4096..(i + 1) * 4096].fill(0);
            return bytes;
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = (seed % (original.len() as u64 - 20)) as usize;
        for (k, byte) in bytes[at..at + 20].iter_mut().enumerate() {
            *byte = (seed >> (k % 8 * 8)) as u8 ^ k as u8;
        }
        bytes
    };
    let overwrites: usize = std::env::var("AVM_STORE_DAMAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000);
    let trials = pages + overwrites;
    let (mut refused, mut loaded) = (0, 0);
    for i in 0..trials {
        let damaged = dir.join(format!("damaged-{i}.redb"));
        std::fs::write(&damaged, damage(i)).unwrap();
        let store = match i % 2 {
            0 => Store::open_read_only(&damaged),
            _ => Store::open(&damaged),
        };
        if let Ok(store) = store {
            let _ = store.checkpoints();
            let _ = store.stats();
            let (first, last) = (saved[i % saved.len()], saved[saved.len() - 1]);
            for (id, hash) in [first, last] {
                match NodeMachine::from_checkpoint(&store, id, Engine::Interp) {
                    Ok(mut m) => {
                        assert_eq!(m.hash(), hash, "damage {i}: a different machine loaded");
                        loaded += 1;
                    }
                    Err(_) => refused += 1,
                }
            }
        } else {
            refused += 1;
        }
        std::fs::remove_file(&damaged).unwrap();
    }
    eprintln!("{trials} damaged stores: {refused} refusals, {loaded} intact loads");
    std::fs::remove_dir_all(&dir).unwrap();
}
