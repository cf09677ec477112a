//! One-step proofs end to end: deep in a real ArbOS replay (reached with the JIT), and through
//! `avm prove` / `avm verify-proof` on the project's programs and every corpus program.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use avm_engine::{DEFAULT_THRESHOLD, Jit};
use avm_interp::{Limits, Machine, verify};
use avm_runtime::{mexe, parse_inbox_json};

/// Proofs taken over one replay, spread evenly over the whole run.
const DEEP_PROOFS: u64 = 1_000;

#[test]
fn proofs_deep_in_an_arbos_replay_verify_and_match_the_interpreter() {
    let Some(shared) =
        common::shared("proofs_deep_in_an_arbos_replay_verify_and_match_the_interpreter")
    else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).unwrap());
    let inbox =
        parse_inbox_json(&std::fs::read(dir.join("evm_test_create.inbox.json")).unwrap()).unwrap();
    let fresh = || {
        let mut m = Machine::new(Arc::clone(&program));
        inbox.iter().for_each(|msg| m.push_inbox(msg.to_value()));
        m
    };
    let total = {
        let mut m = fresh();
        m.run(&Limits::default());
        m.outputs().steps
    };
    let mut fast = fresh();
    let mut reference = fresh();
    let mut jit = Jit::new(Arc::clone(&program), DEFAULT_THRESHOLD).unwrap();
    let stride = total / DEEP_PROOFS;
    for k in 0..DEEP_PROOFS {
        let at = k * stride;
        let run_to = |m: &mut Machine| Limits {
            max_steps: Some(at - m.outputs().steps),
            ..Limits::default()
        };
        let limits = run_to(&mut fast);
        jit.run(&mut fast, &limits);
        let limits = run_to(&mut reference);
        reference.run(&limits);
        assert_eq!(fast.outputs().steps, at);

        let mut prover = fast.clone();
        let proof = prover
            .prove_next()
            .unwrap_or_else(|e| panic!("step {at}: {e}"));
        verify::verify(&proof).unwrap_or_else(|e| panic!("step {at}: rejected: {e}"));
        let mut stepped = reference.clone();
        stepped.step(&Limits::default());
        assert_eq!(proof.before.machine_hash, reference.hash(), "step {at}");
        assert_eq!(proof.after.machine_hash, stepped.hash(), "step {at}");
    }
}

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
