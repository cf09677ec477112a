//! One-step proofs through `avm prove` and `avm verify-proof`: every step of the project's
//! programs and of every corpus program proves and verifies, and a tampered proof is rejected.

mod support;

use support::avm;

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn examples() -> Vec<PathBuf> {
    common::files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
        "avm",
    )
}

fn check_all_passes(file: &Path) {
    let out = avm(&[
        "prove",
        file.to_str().unwrap(),
        "--check-all",
        "--max-steps",
        "10000",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: {}{}",
        file.display(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every proof verified"), "{stdout}");
}

#[test]
fn check_all_passes_on_every_example() {
    let files = examples();
    assert!(!files.is_empty());
    files.iter().for_each(|f| check_all_passes(f));
}

#[test]
fn check_all_passes_on_every_corpus_program() {
    let Some(shared) = common::shared("check_all_passes_on_every_corpus_program") else {
        return;
    };
    let mut files = common::files(&shared.join("corpus/machine-cases"), "mexe");
    files.extend(common::files(&shared.join("corpus/speedtest"), "mexe"));
    assert!(files.len() > 70);
    files.iter().for_each(|f| check_all_passes(f));
}

#[test]
fn a_proof_written_by_prove_verifies_and_a_tampered_one_does_not() {
    let example = &examples()[0];
    let out = avm(&["prove", example.to_str().unwrap(), "--step", "5", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::env::temp_dir().join(format!("avm-prove-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, &out.stdout).unwrap();
    let ok = avm(&["verify-proof", good.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "valid");

    let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hash = json["after"]["machine_hash"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        &hash[..hash.len() - 1],
        if hash.ends_with('0') { '1' } else { '0' }
    );
    json["after"]["machine_hash"] = serde_json::json!(flipped);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, json.to_string()).unwrap();
    let rejected = avm(&["verify-proof", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(!rejected.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Runs `avm args` with `input` on standard input.
fn avm_with_input(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Every recorded C++ proof verifies through the CLI: each whole recording file (every entry
/// checked and counted), and each entry alone on standard input, including the buffer and
/// hash opcodes whose checker is not the Main contract.
#[test]
fn every_recorded_proof_verifies_through_the_cli() {
    let Some(shared) = common::shared("every_recorded_proof_verifies_through_the_cli") else {
        return;
    };
    let recordings = common::files(&shared.join("corpus/proofs"), "json");
    assert!(!recordings.is_empty());
    let mut entries = 0;
    let mut off_main = 0;
    for file in &recordings {
        let path = file.to_str().unwrap();
        let list: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let out = avm(&["verify-proof", path, "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["checked"].as_u64(),
            Some(list.len() as u64),
            "{path}"
        );
        assert_eq!(report["valid"], report["checked"], "{path}");
        let text = String::from_utf8(avm(&["verify-proof", path]).stdout).unwrap();
        assert_eq!(
            text.trim(),
            format!("{n} proofs checked: {n} valid, 0 invalid", n = list.len())
        );
        for (i, entry) in list.iter().enumerate() {
            let opcode = entry["Proof"].as_str().unwrap()[2..4].to_string();
            if matches!(u8::from_str_radix(&opcode, 16).unwrap(), 0x20..=0x24 | 0xa1..=0xa6) {
                off_main += 1;
            }
            let out = avm_with_input(&["verify-proof", "-"], entry.to_string().as_bytes());
            assert_eq!(
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).trim()
                ),
                (Some(0), "valid"),
                "{path} entry {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        entries += list.len();
    }
    assert_eq!(entries, 694);
    assert_eq!(off_main, 27, "recorded buffer and hash op proofs");
}

/// A recording with one tampered entry: every entry is still checked, the bad one is named,
/// and the exit says a check failed.
#[test]
fn a_recording_with_a_tampered_entry_is_rejected_by_entry() {
    let example = &examples()[0];
    let proofs: Vec<serde_json::Value> = [2, 5, 9]
        .iter()
        .map(|step| {
            let step = step.to_string();
            let out = avm(&[
                "prove",
                example.to_str().unwrap(),
                "--step",
                &step,
                "--json",
            ]);
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let mut list = proofs.clone();
    list[1]["after"]["gas_used"] = serde_json::json!("999999");
    let input = serde_json::Value::Array(list).to_string();
    let out = avm_with_input(&["verify-proof", "-", "--json"], input.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["checked"].as_u64(), report["valid"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(report["rejected"][0]["entry"], 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("1 of 3 proofs rejected"), "{stderr}");
    let all_good = serde_json::Value::Array(proofs).to_string();
    let out = avm_with_input(&["verify-proof", "-"], all_good.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3 proofs checked: 3 valid, 0 invalid"
    );
    let out = avm_with_input(&["verify-proof", "-"], b"{\"no\": 1}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a malformed proof is a tool failure, not a rejection"
    );
}

#[test]
fn check_all_reports_json() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loop.avm");
    let out = avm(&[
        "prove",
        example.to_str().unwrap(),
        "--check-all",
        "--max-steps",
        "50",
        "--sizes",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["checked"], 50);
    assert_eq!(report["ended_by"], "step_limit");
    let per_opcode: u64 = report["by_opcode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["steps"].as_u64().unwrap())
        .sum();
    assert_eq!(per_opcode, 50);
}

#[test]
fn every_step_over_an_l1_inbox_proves_in_it() {
    let out = avm(&[
        "prove",
        &support::example("inbox_reader.avm"),
        "--inbox",
        &support::example("inbox_reader.inbox.json"),
        "--check-all",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checked"], 30, "{report}");
    assert_eq!(report["ended_by"], "inbox_empty", "{report}");
}
