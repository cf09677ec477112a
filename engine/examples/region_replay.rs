//! Runs a program (a `.mexe` or assembler text, with an optional inbox file) on the interpreter
//! and on the region JIT (`avm_engine::native`, not yet an engine of `avm`), checks that they
//! end in the same state, and prints both times, a second (warm) run of the region JIT reusing
//! its compiled code, the share of steps run natively and what compiling cost:
//!
//! ```sh
//! cargo run --release -p avm-engine --example region_replay -- \
//!     ../shared/corpus/arbos/arbos.mexe ../shared/corpus/arbos/evm_test_create.inbox.json \
//!     [THRESHOLD [WARM_RUNS]]
//! ```
//!
//! With `WARM_RUNS` above 1 the warm run is repeated (the time printed is the best), so that a
//! profiler's counts for two values of it differ by warm runs alone.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use avm_engine::native::RegionJit;
use avm_interp::{Limits, Machine, Observed};
use avm_runtime::{InboxMessage, Program, parse_inbox_json};

/// The allocator `avm` runs with, so that times compare with it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match replay(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("region_replay: {message}");
            ExitCode::FAILURE
        }
    }
}

fn replay(args: Vec<String>) -> Result<(), String> {
    let [program, rest @ ..] = &args[..] else {
        return Err("usage: region_replay PROGRAM [INBOX.json] [THRESHOLD [WARM_RUNS]]".into());
    };
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("{path}: {e}"));
    let program =
        Arc::new(Program::from_source(&read(program)?).map_err(|e| format!("{program}: {e}"))?);
    let number = |text: &str| text.parse::<u32>().map_err(|e| format!("{text}: {e}"));
    let (inbox, threshold, warm_runs) = match rest {
        [] => (Vec::new(), 0, 1),
        [inbox] => (parse_inbox(&read(inbox)?)?, 0, 1),
        [inbox, threshold] => (parse_inbox(&read(inbox)?)?, number(threshold)?, 1),
        [inbox, threshold, runs, ..] => (
            parse_inbox(&read(inbox)?)?,
            number(threshold)?,
            number(runs)?.max(1),
        ),
    };
    let fresh = || {
        let mut m = Machine::new(Arc::clone(&program));
        inbox.iter().for_each(|msg| m.push_inbox(msg.to_value()));
        m
    };
    let limits = Limits::default();
    let mut m = fresh();
    let start = Instant::now();
    let stop = m.run(&limits);
    let interp = start.elapsed().as_secs_f64() * 1e3;
    let expected = Observed::of(&mut m, stop);

    let mut jit = RegionJit::new(Arc::clone(&program), threshold).map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for _ in 0..1 + warm_runs {
        let mut m = fresh();
        let start = Instant::now();
        let stop = jit.run(&mut m, &limits);
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if Observed::of(&mut m, stop) != expected {
            return Err("the region JIT ended in another state than the interpreter".into());
        }
        runs.push((ms, jit.stats()));
    }
    let steps = expected.steps as f64;
    let (first, cold) = runs[0];
    let (warm, _) = runs[1..]
        .iter()
        .copied()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .expect("at least one warm run");
    let hot = runs[1].1;
    println!("{} steps, results equal", expected.steps);
    println!("interpreter {interp:.1} ms");
    println!(
        "region JIT  {first:.1} ms ({:.2}x), compiling {:.1} ms of it: {} regions, {} instructions, {} refused",
        interp / first,
        cold.compile_time.as_secs_f64() * 1e3,
        cold.regions,
        cold.compiled_instructions,
        cold.failed_compiles,
    );
    println!(
        "  native {:.1}% of steps; {} calls from Rust, {} side exits, {} guard exits",
        100.0 * cold.native_steps as f64 / steps,
        cold.calls,
        cold.side_exits,
        cold.guard_exits,
    );
    println!(
        "warm run    {warm:.1} ms ({:.2}x), native {:.1}% of steps",
        interp / warm,
        100.0 * (hot.native_steps - cold.native_steps) as f64 / steps,
    );
    Ok(())
}

fn parse_inbox(bytes: &[u8]) -> Result<Vec<InboxMessage>, String> {
    parse_inbox_json(bytes).map_err(|e| format!("inbox: {e}"))
}
