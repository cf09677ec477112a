//! The benchmark workloads (`avm_engine::workloads`): each assembles, halts on the interpreter
//! and under the JIT with identical steps, gas, logs and machine hash, really checks its result
//! (a copy with its expected constant perturbed ends in ErrorStop), and its expected constant is
//! what an independent Rust model of the program computes.

use std::sync::Arc;

use avm_engine::workloads::{self, Workload};
use avm_engine::{DEFAULT_THRESHOLD, Jit};
use avm_interp::{Limits, Observed, Stop};
use avm_runtime::hash::hash2;
use avm_runtime::precompile::keccakf;
use avm_runtime::{Buffer, Program, U256, Value, asm};

fn interp_run(workload: &Workload, program: &Arc<Program>) -> Observed {
    let mut machine = workload.machine(Arc::clone(program));
    let stop = machine.run(&Limits::default());
    Observed::of(&mut machine, stop)
}

fn jit_run(workload: &Workload, program: &Arc<Program>) -> Observed {
    let mut machine = workload.machine(Arc::clone(program));
    let mut jit = Jit::new(Arc::clone(program), DEFAULT_THRESHOLD).expect("the JIT starts");
    let stop = jit.run(&mut machine, &Limits::default());
    Observed::of(&mut machine, stop)
}

fn workload(name: &str) -> &'static Workload {
    workloads::by_name(name).unwrap_or_else(|| panic!("no workload `{name}`"))
}

/// Runs `name` on both engines at once; both must halt with identical results.
fn halts_alike(name: &str) -> Observed {
    let w = workload(name);
    let program = Arc::new(w.program());
    let (interp, jit) = std::thread::scope(|s| {
        let jit = s.spawn(|| jit_run(w, &program).detach());
        (interp_run(w, &program), join(jit).attach())
    });
    assert_eq!(interp.stop, Stop::Halted, "{name} on the interpreter");
    assert_eq!(jit.stop, Stop::Halted, "{name} under the JIT");
    assert_eq!(interp.steps, jit.steps, "{name}: steps");
    assert_eq!(interp.gas_used, jit.gas_used, "{name}: gas used");
    assert_eq!(interp.logs, jit.logs, "{name}: logs");
    assert_eq!(interp.hash, jit.hash, "{name}: machine hash");
    assert_eq!(interp, jit, "{name}: everything else");
    assert!(
        (15_000_000..=150_000_000).contains(&interp.steps),
        "{name}: {} steps is outside the intended size",
        interp.steps
    );
    interp
}

/// The line of `source` that ends in `; expected`, split into its index, the text before the
/// operand, and the operand (an Int in decimal or `0x` hex).
fn expected_line(source: &str) -> (usize, String, U256) {
    let marked: Vec<(usize, &str)> = source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_end().ends_with("; expected"))
        .collect();
    assert_eq!(marked.len(), 1, "exactly one line must end in `; expected`");
    let (index, line) = marked[0];
    let code = line.split(';').next().unwrap().trim_end();
    let (head, operand) = code.rsplit_once(char::is_whitespace).unwrap();
    let value = match operand.strip_prefix("0x") {
        Some(hex) => U256::from_str_radix(hex, 16).unwrap(),
        None => U256::from_dec_str(operand).unwrap(),
    };
    (index, head.to_string(), value)
}

/// The expected constant of workload `name`.
fn expected(name: &str) -> U256 {
    expected_line(workload(name).source).2
}

/// `name` with its expected constant changed by one ends in ErrorStop (on the JIT, which is
/// checked against the interpreter elsewhere). Returns its steps.
fn perturbed_errors(name: &str) -> u64 {
    let w = workload(name);
    let (index, head, value) = expected_line(w.source);
    let text: Vec<String> = w
        .source
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == index {
                format!("{head} {:#x}", value.overflowing_add(U256::one()).0)
            } else {
                line.to_string()
            }
        })
        .collect();
    let program = Arc::new(asm::assemble(&text.join("\n")).expect("the perturbed copy assembles"));
    let run = jit_run(w, &program);
    assert_eq!(
        run.stop,
        Stop::ErrorStop,
        "{name} with a wrong expected value"
    );
    run.steps
}

fn u(x: u64) -> U256 {
    U256::from(x)
}

// ----- Rust models of the programs: they compute each expected constant independently. -----

fn keccak_chain_model() -> U256 {
    let mut x = u(0x5eed);
    let mut k = [U256::zero(); 7];
    for i in (1..=1_200_000u64).rev() {
        x = hash2(&x, &u(i));
        if i % 4 == 0 {
            x = Value::tuple(vec![Value::int(x), Value::int(i)]).hash();
        }
        if i % 16 == 0 {
            k[0] ^= x;
            k = keccakf(&k);
            x ^= k[1];
        }
    }
    let k_hash = Value::tuple(k.iter().map(|&v| Value::int(v)).collect()).hash();
    hash2(&k_hash, &x)
}

fn kv_store_model() -> U256 {
    let key = |j: u64| (j * 0x9E3779 + 0x5A5A5) & 0xFF_FFFF;
    let mut keys: Vec<u64> = (0..200_000).map(key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 200_000, "hit and miss keys are distinct");
    (0..100_000)
        .map(|j| u(key(j) * 2_654_435_761 + 1))
        .fold(U256::zero(), |a, b| a.overflowing_add(b).0)
}

fn sort_model() -> U256 {
    let mut x: u64 = 0x5eed;
    let mut a: Vec<u64> = (0..10_000)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 32
        })
        .collect();
    a.sort_unstable();
    a.iter()
        .enumerate()
        .map(|(i, &v)| u(i as u64) * u(v))
        .fold(U256::zero(), |s, t| s + t)
}

fn buffer_scan_model() -> U256 {
    const N: u64 = 196_608;
    let mut buf = vec![0u8; (1 << 22) + 33 * N as usize + 64];
    let mut sum = U256::zero();
    let mut add = |v: U256| sum = sum.overflowing_add(v).0;
    for i in 0..N {
        let v = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        buf[8 * i as usize..][..8].copy_from_slice(&v.to_be_bytes());
        add(u(v));
    }
    for i in 0..N {
        let v = ((i * 0x9E37) >> 7) as u8;
        buf[(1 << 21) + i as usize] = v;
        add(u(u64::from(v)));
    }
    for i in 0..N {
        let v = u(i + 1).overflowing_mul(u(0xD1B5_4A32_D192_ED03)).0;
        buf[(1 << 22) + 33 * i as usize + 5..][..32].copy_from_slice(&v.to_big_endian());
        add(v);
    }
    for k in 0..N as usize / 4 {
        add(U256::from_big_endian(&buf[32 * k..][..32]));
    }
    sum
}

fn error_loop_model() -> U256 {
    let n = 1_500_000u64;
    u(n * (n + 1) / 2)
}

/// The value `node_batch` logs for each message, and its final accumulator.
fn node_batch_model() -> (Vec<U256>, U256) {
    let mut acc = U256::zero();
    let logs = workload("node_batch")
        .inbox()
        .iter()
        .map(|m| {
            let sum = u(m.data.iter().map(|&b| u64::from(b)).sum());
            let h1 = hash2(&m.sender, &m.l1_block_number);
            let h2 = hash2(&h1, &sum);
            let r = hash2(&Value::Buffer(Buffer::from_bytes(&m.data)).hash(), &h2);
            acc = hash2(&acc, &r);
            r
        })
        .collect();
    (logs, acc)
}

// ----- The tests. -----

#[test]
fn the_workload_list_is_consistent() {
    let names: Vec<&str> = workloads::ALL.iter().map(|w| w.name).collect();
    assert_eq!(
        names,
        [
            "keccak_chain",
            "kv_store",
            "sort",
            "buffer_scan",
            "error_loop",
            "node_batch"
        ]
    );
    for w in workloads::ALL {
        assert_eq!(workloads::by_name(w.name).unwrap().source, w.source);
        assert!(!w.description.is_empty());
        assert!(
            w.source.starts_with(&format!("; {}:", w.name)),
            "{} starts with its comment block",
            w.name
        );
        let program = w.program();
        assert!(program.len() > 10, "{} assembles", w.name);
        expected_line(w.source);
        let inbox = w.inbox();
        match w.name {
            "node_batch" => {
                assert_eq!(inbox.len(), 10_000);
                assert_eq!(inbox, w.inbox(), "the generator is deterministic");
                assert_eq!(w.machine(Arc::new(program)).pending_inbox(), 10_000);
            }
            _ => assert!(inbox.is_empty(), "{}", w.name),
        }
    }
    assert!(workloads::by_name("nope").is_none());
}

/// Joins a scoped thread, passing its panic on.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Checks workload `name` with its parts in parallel: the Rust model of its expected value,
/// the interpreter and JIT runs that must halt alike, and the perturbed copy that must fail.
/// Returns the interpreter's run and the model's result.
fn check<M: Send>(name: &str, model: impl FnOnce() -> M + Send) -> (Observed, M) {
    std::thread::scope(|s| {
        let model = s.spawn(model);
        let perturbed = s.spawn(|| perturbed_errors(name));
        let run = halts_alike(name);
        let perturbed_steps = join(perturbed);
        assert!(
            perturbed_steps.abs_diff(run.steps) <= 3,
            "{name}: the perturbed copy fails at the final check ({perturbed_steps} steps, {} \
             for the right value)",
            run.steps
        );
        (run, join(model))
    })
}

#[test]
fn keccak_chain() {
    let (_, value) = check("keccak_chain", keccak_chain_model);
    assert_eq!(expected("keccak_chain"), value);
}

#[test]
fn kv_store() {
    let (_, value) = check("kv_store", kv_store_model);
    assert_eq!(expected("kv_store"), value);
}

#[test]
fn sort() {
    let (_, value) = check("sort", sort_model);
    assert_eq!(expected("sort"), value);
}

#[test]
fn buffer_scan() {
    let (_, value) = check("buffer_scan", buffer_scan_model);
    assert_eq!(expected("buffer_scan"), value);
}

#[test]
fn error_loop() {
    let (_, value) = check("error_loop", error_loop_model);
    assert_eq!(expected("error_loop"), value);
}

#[test]
fn node_batch() {
    let (run, (logs, acc)) = check("node_batch", node_batch_model);
    assert_eq!(expected("node_batch"), acc);
    assert_eq!(run.logs.len(), 10_000, "one result per message");
    let logged: Vec<Option<U256>> = run.logs.iter().map(Value::as_int).collect();
    let expected: Vec<Option<U256>> = logs.into_iter().map(Some).collect();
    assert_eq!(logged, expected);
}
