//! Runtime primitives: the costs every engine builds on.
//!
//! Groups:
//! - `u256`: the opcode arithmetic of `avm_runtime::math` (`add`, `mul`, `div`, `exp`) on full
//!   256-bit operands (and `exp` with a small exponent).
//! - `tuple`: building an 8-tuple (`Tuple::new`), reading a slot (`get`), replacing one in a
//!   shared tuple (`with`, which copies) and in a uniquely owned one (`into_with`, in place).
//! - `tuple_hash`: hashing a tuple never hashed before (`cold`: a fresh tuple each iteration,
//!   built outside the timing) and one whose hash is cached (`cached`), for a flat 8-tuple of
//!   Ints and for a 3-level tree of 8-tuples (585 tuples, 4,096 Ints).
//! - `buffer`: reading a byte (`get8`) and 32 bytes (`read32`), writing 32 bytes (`write32`,
//!   persistent: copies one leaf path), and hashing a 4 KiB buffer cold (after a write) and
//!   cached; filling 4 KiB from empty with 128 sequential 32-byte writes (`write32_seq_4k`);
//!   and on a buffer of 10,000 leaves at pseudo-random offsets below 2^63, a 32-byte write at a
//!   new such offset (`write32_scattered`), a 32-byte read of a written leaf
//!   (`read32_scattered`) and the cold hash after a scattered write
//!   (`hash_cold_after_scattered_write`).
//! - `marshal`: canonical marshal and unmarshal of a moderately nested value (a 4-level tree of
//!   4-tuples holding Ints, small buffers and codepoints; the bytes are reported as throughput).
//! - `machine_hash`: a machine holding 1,000 stack values and 100 aux values (Ints and tuples)
//!   runs one step (`add`), then its hash is taken; with the stack's per-depth hash cache warm
//!   (what an engine pays per step when it hashes every step), and cold (every stack level
//!   rehashed; the values' own hashes are cached).
//!
//! Run all: `cargo bench -p avm-bench --bench runtime`; one group:
//! `cargo bench -p avm-bench --bench runtime -- tuple_hash`; a quick check:
//! `cargo bench -p avm-bench --bench runtime -- --quick`.
//!
//! Plots are off (rendering them costs seconds per benchmark); add `--plotting-backend plotters`
//! after the `--` for criterion's HTML report under `target/criterion/`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use avm_interp::engine_hooks::EngineHooks;
use avm_interp::{Limits, Machine};
use avm_runtime::marshal::{marshal, unmarshal};
use avm_runtime::{Buffer, Tuple, U256, Value, asm, math};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// A 256-bit operand with every limb populated.
fn wide(seed: u64) -> U256 {
    let mut x = U256::zero();
    for i in 0..4u64 {
        let limb = seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(i.wrapping_mul(0xbf58_476d_1ce4_e5b9))
            | 1;
        x = (x << 64) | U256::from(limb);
    }
    x
}

fn u256(c: &mut Criterion) {
    let mut g = c.benchmark_group("u256");
    let (a, b) = (wide(1), wide(2));
    // A divisor of about 128 bits: long division does real work on both halves.
    let d = wide(3) >> 128;
    g.bench_function("add", |bench| {
        bench.iter(|| math::add(black_box(a), black_box(b)))
    });
    g.bench_function("mul", |bench| {
        bench.iter(|| math::mul(black_box(a), black_box(b)))
    });
    g.bench_function("div", |bench| {
        bench.iter(|| math::div(black_box(a), black_box(d)))
    });
    g.bench_function("exp_small", |bench| {
        bench.iter(|| math::exp(black_box(a), black_box(U256::from(10))))
    });
    g.bench_function("exp_full", |bench| {
        bench.iter(|| math::exp(black_box(a), black_box(b)))
    });
    g.finish();
}

fn ints(n: usize) -> Vec<Value> {
    (0..n as u64).map(|i| Value::int(wide(i))).collect()
}

/// A complete tree of 8-tuples, `levels` deep, with Int leaves (built unhashed).
fn tree(levels: u32, seed: &mut u64) -> Value {
    if levels == 0 {
        *seed += 1;
        return Value::int(wide(*seed));
    }
    Value::tuple((0..8).map(|_| tree(levels - 1, seed)).collect())
}

fn tuple(c: &mut Criterion) {
    let mut g = c.benchmark_group("tuple");
    let slots = ints(8);
    g.bench_function("new8", |bench| {
        bench.iter_batched(|| slots.clone(), Tuple::new, BatchSize::SmallInput)
    });
    let t = Tuple::new(slots.clone());
    g.bench_function("get", |bench| {
        bench.iter(|| black_box(&t).get(black_box(5)).cloned())
    });
    let v = Value::int(wide(99));
    g.bench_function("with_shared", |bench| {
        bench.iter_with_large_drop(|| black_box(&t).with(black_box(5), v.clone()))
    });
    g.bench_function("into_with_unique", |bench| {
        let mut owned = Some(Tuple::new(slots.clone()));
        bench.iter(|| {
            let t = owned.take().expect("put back each iteration");
            owned = black_box(t.into_with(black_box(5), v.clone()));
        })
    });
    g.finish();

    let mut g = c.benchmark_group("tuple_hash");
    g.bench_function("cold_flat8", |bench| {
        bench.iter_batched(
            || Tuple::new(slots.clone()),
            |t| {
                black_box(t.hash());
                t
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("cached_flat8", |bench| {
        let t = Tuple::new(slots.clone());
        t.hash();
        bench.iter(|| black_box(&t).hash())
    });
    g.bench_function("cold_tree585", |bench| {
        bench.iter_batched(
            || tree(4, &mut 0),
            |t| {
                black_box(t.hash());
                t
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("cached_tree585", |bench| {
        let t = tree(4, &mut 0);
        t.hash();
        bench.iter(|| black_box(&t).hash())
    });
    g.finish();
}

fn buffer(c: &mut Criterion) {
    let mut g = c.benchmark_group("buffer");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 1) as u8).collect();
    let buf = Buffer::from_bytes(&bytes);
    g.bench_function("get8", |bench| {
        bench.iter(|| black_box(&buf).get8(black_box(1234)))
    });
    g.bench_function("read32", |bench| {
        bench.iter(|| {
            let mut out = [0u8; 32];
            black_box(&buf).read(black_box(1234), &mut out);
            out
        })
    });
    let word = [0xabu8; 32];
    g.bench_function("write32", |bench| {
        bench.iter_with_large_drop(|| black_box(&buf).write(black_box(1234), &word))
    });
    g.bench_function("hash_cold_after_write", |bench| {
        bench.iter_batched(
            || buf.write(1234, &word),
            |b| {
                black_box(b.hash());
                b
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("hash_cold_4k", |bench| {
        bench.iter_batched(
            || Buffer::from_bytes(&bytes),
            |b| {
                black_box(b.hash());
                b
            },
            BatchSize::SmallInput,
        )
    });
    buf.hash();
    g.bench_function("hash_cached", |bench| bench.iter(|| black_box(&buf).hash()));
    g.bench_function("write32_seq_4k", |bench| {
        bench.iter_with_large_drop(|| {
            (0..128u64).fold(Buffer::new(), |b, i| b.write(black_box(32 * i), &word))
        })
    });
    let offsets = scattered_offsets(20_000);
    let (present, fresh) = offsets.split_at(10_000);
    let sparse = present
        .iter()
        .fold(Buffer::new(), |b, &offset| b.write(offset, &word));
    sparse.hash();
    let mut next = fresh.iter().cycle();
    g.bench_function("write32_scattered", |bench| {
        bench.iter_with_large_drop(|| {
            black_box(&sparse).write(black_box(*next.next().unwrap()), &word)
        })
    });
    let mut next = present.iter().cycle();
    g.bench_function("read32_scattered", |bench| {
        bench.iter(|| {
            let mut out = [0u8; 32];
            black_box(&sparse).read(black_box(*next.next().unwrap()), &mut out);
            out
        })
    });
    let mut next = fresh.iter().cycle();
    g.bench_function("hash_cold_after_scattered_write", |bench| {
        bench.iter_batched(
            || sparse.write(*next.next().unwrap(), &word),
            |b| {
                black_box(b.hash());
                b
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// `n` distinct pseudo-random 32-byte-aligned offsets below 2^63 (a fixed splitmix64 stream).
fn scattered_offsets(n: usize) -> Vec<u64> {
    let mut state = 0x0123_4567_89ab_cdefu64;
    let mut seen = std::collections::HashSet::new();
    let mut offsets = Vec::with_capacity(n);
    while offsets.len() < n {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let offset = (z ^ (z >> 31)) & 0x7fff_ffff_ffff_ffe0;
        if seen.insert(offset) {
            offsets.push(offset);
        }
    }
    offsets
}

/// A 4-level tree of 4-tuples whose leaves mix Ints, small buffers and codepoints.
fn nested_value() -> Value {
    let program = asm::assemble("push 1\nadd 2\nhalt\n").expect("assembles");
    let cp = program.entry().clone();
    fn build(levels: u32, seed: &mut u64, cp: &avm_runtime::CodePoint) -> Value {
        if levels == 0 {
            *seed += 1;
            return match *seed % 5 {
                0 => Value::Buffer(Buffer::from_bytes(&seed.to_be_bytes().repeat(8))),
                1 => Value::CodePoint(cp.clone()),
                2 => Value::int(U256::from(*seed)),
                _ => Value::int(wide(*seed)),
            };
        }
        Value::tuple((0..4).map(|_| build(levels - 1, seed, cp)).collect())
    }
    build(4, &mut 0, &cp)
}

fn marshaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("marshal");
    let value = nested_value();
    let bytes = marshal(&value).expect("marshals");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("marshal_tree4x4", |bench| {
        bench.iter(|| marshal(black_box(&value)).expect("marshals"))
    });
    g.bench_function("unmarshal_tree4x4", |bench| {
        bench.iter_with_large_drop(|| unmarshal(black_box(&bytes)).expect("unmarshals"))
    });
    g.finish();
}

/// A machine about to run `add` on two Ints, over 1,000 stack values and 100 aux values.
fn big_machine() -> (Machine, Vec<Value>, Vec<Value>) {
    let program = Arc::new(asm::assemble("add\nhalt\n").expect("assembles"));
    let mut seed = 1000;
    let stack: Vec<Value> = (0..1000u64)
        .map(|i| match i % 4 {
            0 => tree(2, &mut seed),
            _ => Value::int(wide(i)),
        })
        .chain([Value::int(wide(5)), Value::int(wide(6))])
        .collect();
    let aux: Vec<Value> = (0..100u64)
        .map(|i| Value::tuple(vec![Value::int(U256::from(i)), Value::none()]))
        .collect();
    let mut m = Machine::new(program);
    for v in &stack {
        m.stack_mut().push(v.clone());
    }
    for v in &aux {
        m.aux_stack_mut().push(v.clone());
    }
    m.hash();
    (m, stack, aux)
}

fn machine_hash(c: &mut Criterion) {
    let mut g = c.benchmark_group("machine_hash");
    let (template, stack, aux) = big_machine();
    let limits = Limits::default();
    g.bench_function("step_then_hash_warm", |bench| {
        bench.iter_batched(
            || template.clone(),
            |mut m| {
                assert!(m.step(&limits).is_none());
                black_box(m.hash());
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("step_then_hash_cold", |bench| {
        bench.iter_batched(
            || {
                let mut m = Machine::new(Arc::clone(template.program()));
                for v in &stack {
                    m.stack_mut().push(v.clone());
                }
                for v in &aux {
                    m.aux_stack_mut().push(v.clone());
                }
                m
            },
            |mut m| {
                assert!(m.step(&limits).is_none());
                black_box(m.hash());
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = u256, tuple, buffer, marshaling, machine_hash
}
criterion_main!(benches);
