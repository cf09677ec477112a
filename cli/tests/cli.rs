//! The `avm` command line: outputs of the issue's commands, `avm run`'s JSON, limits and inbox
//! files, the real ArbOS replay of the interpreter issue, and one-line failures.

mod support;

use support::{avm, example};

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Output;

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A failing command exits non-zero with exactly one line on stderr and no panic.
fn assert_fails_cleanly(args: &[&str], mentions: &str) {
    let output = avm(args);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(mentions), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn info_prints_count_size_and_hash() {
    let text = stdout(&avm(&["info", &example("loop.avm")]));
    assert!(text.contains("instructions: 16"), "{text}");
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("machine hash: "))
        .unwrap();
    assert_eq!(hash.len(), 66);
    let digits = &hash[2..];
    assert!(
        hash.starts_with("0x")
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[test]
fn value_hash_of_a_vector() {
    let int10 = format!("0x00{}0a", "0".repeat(62));
    assert_eq!(
        stdout(&avm(&["value-hash", &int10])).trim(),
        "0xc65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8"
    );
    assert_eq!(
        stdout(&avm(&["value-hash", "03"])).trim(),
        "0x5dfd744753c13a6de9cf0e9e3d0164cdf0b1bbdb5efb3660a684d46477176058"
    );
}

#[test]
fn asm_output_loads_with_the_same_hash() {
    let out = temp("tuples.mexe");
    let out = out.to_str().unwrap();
    stdout(&avm(&["asm", &example("tuples.avm"), "-o", out]));
    let from_text = stdout(&avm(&["info", &example("tuples.avm")]));
    let from_mexe = stdout(&avm(&["info", out]));
    assert_eq!(from_text, from_mexe);
    let text = temp("tuples.txt");
    std::fs::write(&text, stdout(&avm(&["disasm", out]))).unwrap();
    assert_eq!(stdout(&avm(&["info", text.to_str().unwrap()])), from_text);
}

#[test]
fn failures_are_one_line() {
    assert_fails_cleanly(&["info", "/nonexistent/x.mexe"], "/nonexistent/x.mexe");
    let bad = temp("bad.mexe");
    std::fs::write(
        &bad,
        r#"{"code": [{"opcode": 300, "immediate": null}], "static_val": {"Tuple": []}}"#,
    )
    .unwrap();
    assert_fails_cleanly(&["info", bad.to_str().unwrap()], "instruction 0");
    let truncated = temp("truncated.mexe");
    std::fs::write(&truncated, r#"{"code": [{"opcode": 1"#).unwrap();
    assert_fails_cleanly(&["disasm", truncated.to_str().unwrap()], "invalid JSON");
    let text = temp("bad.avm");
    std::fs::write(&text, "halt\nfrobnicate 3\n").unwrap();
    assert_fails_cleanly(&["asm", text.to_str().unwrap()], "line 2");
    assert_fails_cleanly(&["run", "/dev/null"], "empty");
    assert_fails_cleanly(&["info", "/dev/zero"], "larger than");
    assert_fails_cleanly(&["value-hash", "zz"], "malformed hex");
    let plus_five = format!("0x00{}+5", "0".repeat(62));
    assert_fails_cleanly(&["value-hash", &plus_five], "malformed hex");
    assert_fails_cleanly(&["value-hash", "0300"], "trailing");
    assert_fails_cleanly(&["value-hash", "0d"], "unknown type byte");
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let text = stdout(&avm(args));
    assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn json_fields_of_a_halting_run() {
    let out = run_json(&["run", &example("loop.avm"), "--json"]);
    assert_eq!(out["status"], "halted");
    assert_eq!(out["steps"], 9006);
    assert_eq!(out["schema_version"], 2);
    assert_eq!(out["gas"], 17019);
    assert_eq!(out["machine_hash"], format!("0x{}", "0".repeat(64)));
    assert!(
        out["gas_remaining"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 1e76
    );
    assert_eq!(out["log_hashes"], serde_json::json!([]));
    assert_eq!(out["inbox_consumed"], 0);
    assert!(out["load_ms"].as_f64().unwrap() >= 0.0 && out["wall_ms"].as_f64().unwrap() >= 0.0);
    assert!(out.get("block_reason").is_none());
}

#[test]
fn the_interpreter_is_the_default_and_every_engine_agrees() {
    let fields = |out: &serde_json::Value| {
        ["status", "steps", "gas", "machine_hash", "log_hashes"].map(|k| out[k].clone())
    };
    let reference = run_json(&["run", &example("loop.avm"), "--engine", "interp", "--json"]);
    let default = run_json(&["run", &example("loop.avm"), "--json"]);
    for out in [&reference, &default] {
        assert!(out.get("compiled_blocks").is_none() && out.get("regions").is_none());
    }
    assert_eq!(fields(&default), fields(&reference));
    // Inline compiles make the native share certain; in the background it depends on timing.
    let background = run_json(&["run", &example("loop.avm"), "--engine", "regions", "--json"]);
    assert_eq!(
        fields(&background),
        fields(&reference),
        "regions in the background"
    );
    assert_eq!(background["regions"]["failed_compiles"], 0);
    for threshold in ["0", "1", "32"] {
        let out = run_json(&[
            "run",
            &example("loop.avm"),
            "--engine",
            "regions",
            "--jit-compile",
            "inline",
            "--jit-threshold",
            threshold,
            "--jit-warmup",
            "0",
            "--json",
        ]);
        assert_eq!(fields(&out), fields(&reference), "regions {threshold}");
        let regions = &out["regions"];
        assert!(regions["compiled"].as_u64().unwrap() > 0, "{out}");
        assert_eq!(regions["failed_compiles"], 0, "{out}");
        let share = regions["native_share"].as_f64().unwrap();
        assert!(share > 0.5 && share <= 1.0, "{out}");
        let native = regions["native_steps"].as_f64().unwrap();
        assert!(
            (native - share * out["steps"].as_f64().unwrap()).abs() < 1e-6,
            "{out}"
        );
    }
    for mode in ["inline", "background"] {
        for threshold in ["0", "1", "32"] {
            let out = run_json(&[
                "run",
                &example("loop.avm"),
                "--engine",
                "jit",
                "--jit-compile",
                mode,
                "--jit-threshold",
                threshold,
                "--json",
            ]);
            assert_eq!(fields(&out), fields(&reference), "{mode} {threshold}");
        }
    }
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
    assert!(out["gas"].as_u64().unwrap() <= 1000);
    let over = run_json(&[
        "run",
        &example("loop.avm"),
        "--max-gas",
        "1000",
        "--go-over-gas",
        "--json",
    ]);
    assert!(over["gas"].as_u64().unwrap() >= 1000);
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
    assert_eq!(out["block_reason"], "inbox");
    assert_eq!(out["steps"], expected["steps"]);
    assert_eq!(out["gas"], expected["gas"]);
    assert_eq!(out["machine_hash"], expected["machine_hash_when_blocked"]);
    assert_eq!(out["log_hashes"], expected["log_hashes"]);
    assert_eq!(out["log_count"], expected["log_count"]);
    assert_eq!(out["log_acc"], expected["log_acc"]);
    assert_eq!(out["send_count"], expected["send_count"]);
    assert_eq!(out["sends"], expected["sends"]);
    assert_eq!(out["inbox_consumed"], expected["inbox_consumed"]);
}

#[test]
fn info_json_matches_the_text() {
    let text = stdout(&avm(&["info", &example("tuples.avm")]));
    let json = run_json(&["info", &example("tuples.avm"), "--json"]);
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap()
            .to_string()
    };
    assert_eq!(json["instructions"].to_string(), line("instructions: "));
    assert_eq!(json["static_size"], line("static size: "));
    assert_eq!(json["machine_hash"], line("machine hash: "));
}

#[test]
fn control_bytes_from_inputs_are_escaped_in_messages() {
    let text = temp("escape.avm");
    std::fs::write(&text, "frob\x1b[2Jnicate\n").unwrap();
    let output = avm(&["asm", text.to_str().unwrap()]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(stderr.contains("\\u{1b}[2J"), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
}
