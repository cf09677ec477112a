//! `avm run --expect`: a run checked against a recorded expectation, as operators script it:
//! the verdict line, each difference, and the exit code.

mod support;

use support::{avm, example};

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};

/// Writes `expectation` as `name` in a fresh directory of this test's and returns its path.
fn expect_file(test: &str, expectation: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-expect-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.expect.json");
    std::fs::write(&path, expectation.to_string()).unwrap();
    path
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The report of `avm run --json` on the shipped `loop.avm`.
fn loop_report() -> Value {
    let output = avm(&["run", &example("loop.avm"), "--json"]);
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An expectation in the corpus's format, built from a real report's fields.
fn corpus_style(report: &Value) -> Value {
    json!({
        "program": "loop.avm",
        "expected": {
            "status": report["status"],
            "steps": report["steps"],
            "gas": report["gas"].to_string(),
            "machine_hash": report["machine_hash"].as_str().unwrap().to_uppercase().replace("0X", "0x"),
            "log_count": 0,
            "log_hashes": [],
            "log_acc": report["log_acc"],
            "send_count": 0,
            "sends": [],
            "send_acc": report["send_acc"],
            "inbox_consumed": 0,
        },
    })
}

#[test]
fn a_matching_run_prints_one_verdict_line_and_exits_0() {
    let path = expect_file("match", &corpus_style(&loop_report()));
    let output = avm(&[
        "run",
        &example("loop.avm"),
        "--expect",
        path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let last = stdout(&output).lines().last().unwrap().to_string();
    assert!(last.starts_with("expect: match (11 fields of "), "{last}");
}

#[test]
fn a_mismatch_lists_each_difference_and_exits_4() {
    let mut expectation = corpus_style(&loop_report());
    expectation["expected"]["steps"] = json!(9005);
    expectation["expected"]["log_hashes"] = json!(["0x01"]);
    let path = expect_file("mismatch", &expectation);
    let output = avm(&[
        "run",
        &example("loop.avm"),
        "--expect",
        path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(4));
    let text = stdout(&output);
    assert!(text.contains("expect: MISMATCH (2 of 11 fields"), "{text}");
    assert!(text.contains("  steps: expected 9005, got 9006"), "{text}");
    assert!(
        text.contains("  log_hashes: 1 expected, 0 got; first difference at [0]"),
        "{text}"
    );

    let output = avm(&[
        "run",
        &example("loop.avm"),
        "--json",
        "--expect",
        path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(4));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["expect"]["matches"], false);
    let fields: Vec<&str> = report["expect"]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["log_hashes", "steps"]);
}

#[test]
fn a_bad_expectation_is_a_tool_failure_before_anything_runs() {
    let path = expect_file("unknown", &json!({"expected": {"stepz": 9006}}));
    let output = avm(&[
        "run",
        &example("loop.avm"),
        "--expect",
        path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `stepz`"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing ran");
    let missing = avm(&["run", &example("loop.avm"), "--expect", "/nonexistent.json"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn every_arbos_replay_matches_its_recording() {
    let Some(shared) = common::shared("every_arbos_replay_matches_its_recording") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = dir.join("arbos.mexe");
    let names = common::replay_names(&dir);
    assert_eq!(names.len(), 11, "the corpus's ArbOS replays");
    for name in names {
        let inbox = dir.join(format!("{name}.inbox.json"));
        let expect = dir.join(format!("{name}.expect.json"));
        let output = avm(&[
            "run",
            program.to_str().unwrap(),
            "--inbox",
            inbox.to_str().unwrap(),
            "--expect",
            expect.to_str().unwrap(),
        ]);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "{name}: {text}");
        assert!(
            text.contains("expect: match (11 fields of "),
            "{name}: {text}"
        );
    }
}
