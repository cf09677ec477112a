//! `avm run`: the JSON object, limits, inbox files, and the real ArbOS replay of the issue.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

fn avm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .output()
        .unwrap()
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let output = avm(args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
    serde_json::from_str(&text).unwrap()
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn json_fields_of_a_halting_run() {
    let out = run_json(&["run", &example("loop.avm"), "--json"]);
    assert_eq!(out["status"], "halted");
    assert_eq!(out["steps"], 9006);
    assert_eq!(out["gas_used"], "17019");
    assert_eq!(out["machine_hash"], format!("0x{}", "0".repeat(64)));
    assert!(
        out["gas_remaining"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 1e76
    );
    assert_eq!(out["logs"], serde_json::json!([]));
    assert_eq!(out["inbox_consumed"], 0);
    assert!(out["load_ms"].as_f64().unwrap() >= 0.0 && out["wall_ms"].as_f64().unwrap() >= 0.0);
    assert!(out.get("blocked_on").is_none());
}

#[test]
fn step_and_gas_bounds_stop_the_run() {
    let out = run_json(&["run", &example("loop.avm"), "--max-steps", "100", "--json"]);
    assert_eq!(
        (
            out["status"].as_str(),
            out["stopped_by"].as_str(),
            out["steps"].as_u64()
        ),
        (Some("stopped"), Some("step_limit"), Some(100))
    );
    let out = run_json(&["run", &example("loop.avm"), "--max-gas", "1000", "--json"]);
    assert_eq!(out["stopped_by"], "gas_limit");
    assert!(out["gas_used"].as_str().unwrap().parse::<u64>().unwrap() <= 1000);
    let over = run_json(&[
        "run",
        &example("loop.avm"),
        "--max-gas",
        "1000",
        "--go-over-gas",
        "--json",
    ]);
    assert!(over["gas_used"].as_str().unwrap().parse::<u64>().unwrap() >= 1000);
}

#[test]
fn malformed_inbox_is_one_line_naming_the_message() {
    let path = std::env::temp_dir().join(format!("avm-run-test-{}.json", std::process::id()));
    std::fs::write(&path, r#"[{"kind": "1", "l1_block_number": "x"}]"#).unwrap();
    let output = avm(&[
        "run",
        &example("loop.avm"),
        "--inbox",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("inbox message 0"), "{stderr}");
}

#[test]
fn arbos_replay_prints_the_expected_numbers() {
    let Some(shared) = common::shared("arbos_replay_prints_the_expected_numbers") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let expect: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("evm_test_create.expect.json")).unwrap())
            .unwrap();
    let expected = &expect["expected"];
    let out = run_json(&[
        "run",
        dir.join("arbos.mexe").to_str().unwrap(),
        "--inbox",
        dir.join("evm_test_create.inbox.json").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out["status"], "blocked");
    assert_eq!(out["blocked_on"], "inbox");
    assert_eq!(out["steps"], expected["steps"]);
    assert_eq!(out["gas_used"], expected["gas"].to_string());
    assert_eq!(out["machine_hash"], expected["machine_hash_when_blocked"]);
    assert_eq!(out["logs"], expected["log_hashes"]);
    assert_eq!(out["sends"], expected["sends"]);
    assert_eq!(out["inbox_consumed"], expected["inbox_consumed"]);
}
