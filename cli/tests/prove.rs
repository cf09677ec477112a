//! One-step proofs through `avm prove` and `avm verify-proof`: every step of the project's
//! programs and of every corpus program proves and verifies, and a tampered proof is rejected.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn avm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .output()
        .unwrap()
}

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
