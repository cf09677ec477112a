//! `avm run --trace`: one JSON line per step, equal to a checked-in trace for a shipped
//! program, and for a window of an ArbOS replay exactly the window's steps, the same on every
//! engine, ending at the gas the run reports.

mod support;

use support::avm;

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn the_trace_of_a_shipped_program_is_the_checked_in_one() {
    let expected_path = manifest("tests/data/error_handler.trace.jsonl");
    let output = avm(&[
        "run",
        manifest("../examples/error_handler.avm").to_str().unwrap(),
        "--trace",
        "--json",
    ]);
    assert!(output.status.success());
    let trace = String::from_utf8(output.stderr).unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        trace.lines().count() as u64,
        report["steps"].as_u64().unwrap()
    );
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    assert_eq!(
        trace,
        expected,
        "the trace of examples/error_handler.avm changed; if on purpose, write the new one to {}",
        expected_path.display()
    );
}

#[test]
fn a_window_has_its_steps_only_and_the_run_goes_on_untraced() {
    let file = temp_file("loop-window.jsonl");
    let output = avm(&[
        "run",
        manifest("../examples/loop.avm").to_str().unwrap(),
        &format!("--trace={}", file.display()),
        "--trace-from",
        "100",
        "--trace-to",
        "110",
        "--json",
    ]);
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "halted");
    assert_eq!(report["steps"], 9006);
    let trace = lines(&file);
    let steps: Vec<u64> = trace.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (100..110).collect::<Vec<_>>());
    for pair in trace.windows(2) {
        let after = pair[0]["gas"].as_u64().unwrap() + pair[0]["gasCost"].as_u64().unwrap();
        assert_eq!(after, pair[1]["gas"].as_u64().unwrap());
        assert_eq!(pair[0]["next"], pair[1]["pc"]);
    }
}

#[test]
fn an_arbos_window_is_the_same_on_every_engine_and_ends_at_the_runs_gas() {
    let Some(shared) =
        common::shared("an_arbos_window_is_the_same_on_every_engine_and_ends_at_the_runs_gas")
    else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let (from, to) = (1_000_000u64, 1_000_500u64);
    let traced = |engine: &[&str]| {
        let file = temp_file(&format!("arbos-{}.jsonl", engine[1]));
        let program = dir.join("arbos.mexe").display().to_string();
        let inbox = dir.join("evm_test_create.inbox.json").display().to_string();
        let trace = format!("--trace={}", file.display());
        let (from, to) = (from.to_string(), to.to_string());
        let mut args = vec!["run", &program, "--inbox", &inbox, &trace];
        args.extend(["--trace-from", &from, "--trace-to", &to, "--max-steps", &to]);
        args.extend(["--json"].iter().chain(engine));
        let output = avm(&args);
        assert!(output.status.success(), "{engine:?}");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        (report, lines(&file))
    };
    let (report, trace) = traced(&["--engine", "interp"]);
    assert_eq!(trace.len() as u64, to - from);
    assert_eq!(trace[0]["step"], from);
    let last = trace.last().unwrap();
    let gas_after = last["gas"].as_u64().unwrap() + last["gasCost"].as_u64().unwrap();
    assert_eq!(report["steps"], to);
    assert_eq!(report["gas"].as_u64().unwrap(), gas_after);
    // The block JIT at its defaults, and the region JIT with no warm-up so that regions
    // compile (in the background) and run before and after the window.
    let engines: [&[&str]; 2] = [
        &["--engine", "jit"],
        &["--engine", "regions", "--jit-warmup", "0"],
    ];
    for engine in engines {
        let (other_report, other_trace) = traced(engine);
        assert_eq!(other_trace, trace, "{engine:?}");
        assert_eq!(
            other_report["machine_hash"], report["machine_hash"],
            "{engine:?}"
        );
    }
}
