//! The JIT gives exactly the interpreter's results: status, steps, gas, hash, outputs and both
//! stacks, at step and gas bounds that stop runs inside compiled blocks. Runs the project's
//! programs always, and every corpus program when `../shared` is present.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;

use avm_engine::Jit;
use avm_engine::jit::{CompileMode, JitOptions};
use avm_interp::{GasBound, Limits, Machine, Observed};
use avm_runtime::{Program, asm, mexe};

fn interp(program: &Arc<Program>, limits: &Limits) -> Observed {
    let mut m = Machine::new(Arc::clone(program));
    let stop = m.run(limits);
    Observed::of(&mut m, stop)
}

/// Options for a JIT that compiles inline (deterministic: which blocks run natively never
/// depends on timing).
fn inline(threshold: u32) -> JitOptions {
    JitOptions {
        threshold,
        compile: CompileMode::Inline,
        ..JitOptions::default()
    }
}

/// Options for a JIT that compiles on a worker thread.
fn background(threshold: u32) -> JitOptions {
    JitOptions {
        threshold,
        compile: CompileMode::Background,
        ..JitOptions::default()
    }
}

/// The JIT's run and how many blocks it ran natively.
fn jit(program: &Arc<Program>, limits: &Limits, threshold: u32) -> (Observed, u64) {
    let mut m = Machine::new(Arc::clone(program));
    let mut jit = Jit::with_options(Arc::clone(program), inline(threshold)).unwrap();
    let stop = jit.run(&mut m, limits);
    (Observed::of(&mut m, stop), jit.stats().native_runs)
}

/// The bounds each program runs under: step limits, then gas bounds in both modes.
fn bounds() -> Vec<Limits> {
    let mut all: Vec<Limits> = [1, 7, 1000, 12_345, 200_000]
        .into_iter()
        .map(|n| Limits {
            max_steps: Some(n),
            ..Limits::default()
        })
        .collect();
    for max_gas in [3, 500, 20_001, 300_000] {
        for go_over in [false, true] {
            let gas = Some(GasBound { max_gas, go_over });
            all.push(Limits {
                gas,
                max_steps: Some(400_000),
                ..Limits::default()
            });
        }
    }
    all
}

/// Compares the JIT with the interpreter under every bound; returns how many blocks ran
/// natively in all, so tests can check that compiled code was really exercised.
fn check(name: &str, program: Program) -> u64 {
    let program = Arc::new(program);
    let mut native_runs = 0;
    for limits in bounds() {
        let expected = interp(&program, &limits);
        for threshold in [0, 2, avm_engine::DEFAULT_THRESHOLD] {
            let (observed, runs) = jit(&program, &limits, threshold);
            assert_eq!(
                observed, expected,
                "{name}, {limits:?}, threshold {threshold}"
            );
            native_runs += runs;
        }
    }
    native_runs
}

#[test]
fn examples_match_the_interpreter() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for path in common::files(&dir, "avm") {
        check(
            &path.display().to_string(),
            asm::assemble(&std::fs::read_to_string(&path).unwrap()).unwrap(),
        );
    }
}

#[test]
fn fast_paths_on_edge_values() {
    // Every inline opcode on the edge values of the issue, in one block that ends in a jump.
    let edges = [
        "0",
        "1",
        "2",
        "0xffffffffffffffffffffffffffffffff",
        "0x100000000000000000000000000000000",
        "0x8000000000000000000000000000000000000000000000000000000000000000",
        "-1",
    ];
    // Results stay on the stack, which the comparison covers value by value.
    let mut source = String::from(".static ()\n");
    for a in edges {
        for b in edges {
            for op in [
                "add", "sub", "lt", "gt", "slt", "sgt", "eq", "and", "or", "xor",
            ] {
                source.push_str(&format!("push {b}\npush {a}\n{op}\n"));
            }
        }
        for op in ["iszero", "not"] {
            source.push_str(&format!("push {a}\n{op}\n"));
        }
    }
    source.push_str("halt\n");
    assert!(
        check("edge values", asm::assemble(&source).unwrap()) > 0,
        "compiled code ran"
    );
}

#[test]
fn exits_match_the_interpreter() {
    // Out of gas inside a would-be block, underflow, a wrong operand kind with and without a
    // handler, and a jump to a non-codepoint.
    let programs = [
        "push 9\nsetgas 20\npush 1\npush 2\nadd\npush 3\nadd\npush 4\nadd\npush 5\nadd\nhalt",
        "push 1\npush 2\nadd\nadd\nadd\nadd\nhalt",
        "push (1)\npush 2\nadd\npush 3\nadd\npush 4\nhalt",
        "errset @h\npush (1)\npush 2\nadd\npush 3\nadd\npush 4\nhalt\nh: push 7\npush 8\nadd\npush 1\nsub\nhalt",
        "push 5\npush 6\nadd\npush 7\nadd\njump\nhalt",
        "loop: push 1\npush 2\nadd\npop\npush 3\npush 4\nadd\npop\njump @loop",
        // Builtins inside blocks, and builtins raising an error (division by zero) mid-block.
        "push 7\npush 3\nmul\npush 2\nswap1\ndiv\npush 5\nmulmod 3\npush 9\naddmod 4\nhalt",
        "push 1\npush 0\npush 5\ndiv\npush 3\nadd\npush 4\nhalt",
        "errset @h\npush 0\npush 1\npush 5\nsmod\nmod 0\npush 4\nadd\nhalt\nh: push 1\npush 2\nmul\npush 3\nmul\nhalt",
        // Tuple operations with constant indexes: projections of updates, nested updates.
        "push (1, (2, 3), 4)\npush 9\nswap1\ntset 2\ndup0\ntget 2\nswap1\ntget 1\ntget 0\nadd\npush 5\nadd\nhalt",
        "push (1, 2)\npush 7\nswap1\ntset 0\npush 8\nswap1\ntset 1\ndup0\ntget 0\nswap1\ntget 1\nsub\nhalt",
        "auxpush (5, 6, (7))\npush 1\nxget 0\nadd\nxset 1\nxget 1\nxget 2\ntget 0\nadd\nauxpop\nhalt",
        // Failing tuple operations inside would-be blocks, with and without a handler.
        "push (1, 2, 3)\npush 1\npush 2\nadd\nswap1\ntget 5\npush 4\nadd\nhalt",
        "errset @h\npush 7\npush 1\npush 2\nadd\nswap1\ntget 0\npush 4\nhalt\nh: push 1\npush 2\nadd\npush 3\nadd\nhalt",
        "auxpush 3\npush 1\npush 2\nadd\nxget 0\npush 5\nadd\nhalt",
        "push 1\npush 2\npush (0, 0)\ntset 1\ntset 3\npush 2\nadd\nhalt",
    ];
    let mut native_runs = 0;
    for (i, source) in programs.iter().enumerate() {
        native_runs += check(&format!("exit program {i}"), asm::assemble(source).unwrap());
    }
    assert!(native_runs > 0, "compiled code ran");
}

#[test]
fn corpus_programs_match_the_interpreter() {
    let Some(shared) = common::shared("corpus_programs_match_the_interpreter") else {
        return;
    };
    let mut native_runs = 0;
    for dir in ["corpus/machine-cases", "corpus/speedtest"] {
        for path in common::files(&shared.join(dir), "mexe") {
            let name = path.file_name().unwrap().to_string_lossy();
            if name.starts_with("ec") || name == "contract.mexe" {
                continue; // crypto-bound kernels: the same precompiles, too slow at these bounds
            }
            native_runs += check(&name, mexe::load_file(&path).unwrap());
        }
    }
    assert!(native_runs > 100, "compiled code ran {native_runs} times");
}

/// The project's programs: the examples, then `programs`.
fn project_programs(programs: &[(String, &str)]) -> Vec<(String, Program)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut all: Vec<(String, Program)> = common::files(&dir, "avm")
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path).unwrap();
            (path.display().to_string(), asm::assemble(&source).unwrap())
        })
        .collect();
    for (name, source) in programs {
        all.push((name.clone(), asm::assemble(source).unwrap()));
    }
    all
}

#[test]
fn background_compile_matches_the_interpreter() {
    // Each program runs twice on one JIT that compiles on its worker thread: first while code
    // arrives whenever it does, then (after waiting for every queued block) with all of it
    // installed, so native code surely runs. Both runs give the interpreter's results.
    let loops = [
        (
            "hot loop".to_string(),
            "push 0\nloop: push 1\nadd\npush 2\nadd\npush 3\nsub\ndup0\nlt 5000\niszero\ncjump @loop\nhalt",
        ),
        (
            "loop of tuple updates".to_string(),
            "push (0, 0)\nloop: dup0\ntget 0\npush 1\nadd\nswap1\ntset 0\ndup0\ntget 0\nlt 3000\niszero\ncjump @loop\nhalt",
        ),
    ];
    let mut native_runs = 0;
    for (name, program) in project_programs(&loops) {
        let program = Arc::new(program);
        for limits in bounds() {
            let expected = interp(&program, &limits);
            for threshold in [1, 2] {
                let mut jit =
                    Jit::with_options(Arc::clone(&program), background(threshold)).unwrap();
                for pass in ["while compiling", "with everything installed"] {
                    let mut m = Machine::new(Arc::clone(&program));
                    let stop = jit.run(&mut m, &limits);
                    assert_eq!(
                        Observed::of(&mut m, stop),
                        expected,
                        "{name}, {limits:?}, threshold {threshold}, {pass}"
                    );
                    jit.finish_compiles();
                }
                native_runs += jit.stats().native_runs;
            }
        }
    }
    assert!(native_runs > 0, "compiled code ran");
}

#[test]
fn code_cache_bound_holds_and_frees() {
    // A program with many distinct hot blocks (a loop over 40 straight-line sections joined
    // by jumps) under a cache of 8 blocks: the cache refills again and again, results stay the
    // interpreter's.
    let mut source = String::from("push 0\nloop:\n");
    for i in 0..40 {
        source.push_str(&format!(
            "push {i}\nadd\npush 1\nadd\npush 2\nadd\njump @s{i}\ns{i}:\n"
        ));
    }
    source.push_str("dup0\nlt 100000\niszero\ncjump @loop\nhalt\n");
    let program = Arc::new(asm::assemble(&source).unwrap());
    let limits = Limits {
        max_steps: Some(300_000),
        ..Limits::default()
    };
    let expected = interp(&program, &limits);
    let mut m = Machine::new(Arc::clone(&program));
    let options = JitOptions {
        cache_blocks: 8,
        ..inline(0)
    };
    let mut jit = Jit::with_options(Arc::clone(&program), options).unwrap();
    let stop = jit.run(&mut m, &limits);
    assert!(jit.resident_blocks() <= 8);
    assert!(jit.stats().evictions > 10, "{:?}", jit.stats());
    assert!(jit.stats().native_runs > 1000);
    assert_eq!(Observed::of(&mut m, stop), expected);
}

#[test]
fn background_code_cache_bound_holds_and_frees() {
    // As above, compiling on the worker thread: blocks on their way count against the bound,
    // evictions discard code still being compiled, and results stay the interpreter's. Each
    // section is hot once it has run `HOT_STEPS` / 7 times (some 2,300 rounds).
    let mut source = String::from("push 0\nloop:\n");
    for i in 0..40 {
        source.push_str(&format!(
            "push {i}\nadd\npush 1\nadd\npush 2\nadd\njump @s{i}\ns{i}:\n"
        ));
    }
    source.push_str("dup0\nlt 100000000\niszero\ncjump @loop\nhalt\n");
    let program = Arc::new(asm::assemble(&source).unwrap());
    let limits = Limits {
        max_steps: Some(3_000_000),
        ..Limits::default()
    };
    let expected = interp(&program, &limits);
    let options = JitOptions {
        cache_blocks: 8,
        ..background(2)
    };
    let mut jit = Jit::with_options(Arc::clone(&program), options).unwrap();
    let mut m = Machine::new(Arc::clone(&program));
    let stop = jit.run(&mut m, &limits);
    assert!(jit.resident_blocks() <= 8);
    assert!(jit.stats().evictions > 2, "{:?}", jit.stats());
    assert_eq!(Observed::of(&mut m, stop), expected);
    // Again with every queued block installed: the bound still holds, and code runs.
    jit.finish_compiles();
    assert!(jit.resident_blocks() <= 8);
    let mut m = Machine::new(Arc::clone(&program));
    let stop = jit.run(&mut m, &limits);
    assert!(jit.resident_blocks() <= 8);
    assert!(jit.stats().native_runs > 0, "{:?}", jit.stats());
    assert_eq!(Observed::of(&mut m, stop), expected);
    // Dropping the JIT stops the worker and unmaps its code (while blocks may be queued).
    drop(jit);
}

/// Sliced runs that continue each other block where one run blocks, on the JIT as in the
/// interpreter: a slice ending just before a breakpoint does not let it run.
#[test]
fn continued_slices_block_where_one_run_blocks() {
    let program = Arc::new(asm::assemble("push 7\nbreakpoint\nsideload 1\nhalt").unwrap());
    let limits = Limits {
        stop_on_breakpoint: true,
        stop_on_sideload: true,
        ..Limits::default()
    };
    for threshold in [0, 32] {
        let mut jit = Jit::with_options(Arc::clone(&program), inline(threshold)).unwrap();
        let mut m = Machine::new(Arc::clone(&program));
        let first = Limits {
            max_steps: Some(1),
            ..limits
        };
        assert_eq!(jit.run(&mut m, &first), avm_interp::Stop::StepLimit);
        let rest = Limits {
            continues: true,
            ..limits
        };
        assert_eq!(
            jit.run(&mut m, &rest),
            avm_interp::Stop::Blocked(avm_interp::BlockReason::Breakpoint),
            "threshold {threshold}"
        );
        assert_eq!(m.outputs().steps, 1);
    }
}
