//! The differential oracle over thousands of generated programs from a fixed seed, and over
//! every kept regression; reports the opcode and JIT exit-path coverage of the run.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use avm_fuzzing::{Agreement, Case, case, check};
use avm_interp::{GasBound, Limits};
use avm_runtime::asm;
use avm_runtime::opcode::OPCODES;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Generated programs per CI run.
const CASES: usize = 3_000;

/// Bytes of entropy per case: enough for a few loops of two dozen instructions.
const CASE_BYTES: usize = 4_096;

#[test]
fn engines_agree_on_generated_programs() {
    let mut rng = SmallRng::seed_from_u64(0x41564d);
    let mut bytes = vec![0u8; CASE_BYTES];
    let mut opcodes = BTreeSet::new();
    let mut total = Agreement::default();
    let mut checked = 0;
    let mut failures = Vec::new();
    for _ in 0..CASES {
        rng.fill(&mut bytes[..]);
        let case = case(&mut arbitrary::Unstructured::new(&bytes)).expect("enough bytes");
        let program = asm::assemble(&case.text).unwrap_or_else(|e| {
            panic!(
                "the generator wrote text that does not assemble: {e}\n{}",
                case.text
            )
        });
        opcodes.extend(program.codepoints().iter().map(|cp| cp.opcode()));
        match check(&case).expect("assembles") {
            Ok(agreement) => {
                checked += 1;
                total.steps += agreement.steps;
                total.native_steps += agreement.native_steps;
                total.exits += agreement.exits;
            }
            Err(finding) => failures.push(finding.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} findings; the first:\n{}",
        failures.len(),
        failures[0]
    );

    let table: BTreeSet<u8> = (0..=255u8)
        .filter(|&b| OPCODES[b as usize].is_some())
        .collect();
    let missing: Vec<String> = table
        .difference(&opcodes)
        .map(|&b| avm_runtime::opcode::mnemonic(b))
        .collect();
    let exits = total.exits;
    let paths = [
        ("native", total.native_steps),
        ("guard", exits.guard),
        ("operand", exits.operand),
        ("builtin error", exits.builtin_error),
        ("missing value", exits.missing_value),
    ];
    eprintln!(
        "oracle: {checked} programs, {} interpreter steps; opcodes {}/{} of the table; JIT exit \
         paths reached {}/{}: {paths:?}",
        total.steps,
        table.intersection(&opcodes).count(),
        table.len(),
        paths.iter().filter(|(_, n)| *n > 0).count(),
        paths.len(),
    );
    assert!(missing.is_empty(), "opcodes never generated: {missing:?}");
    assert!(
        paths.iter().all(|(_, n)| *n > 0),
        "exit paths never reached: {paths:?}"
    );
}

/// Bounds every regression runs under: whole runs, step limits inside blocks, both gas modes.
fn regression_limits() -> Vec<Limits> {
    let mut all = Vec::new();
    for max_steps in [None, Some(1), Some(7), Some(1000), Some(12345)] {
        all.push(Limits {
            max_steps,
            ..Limits::default()
        });
    }
    for max_gas in [0, 13, 1000, 50_000] {
        for go_over in [false, true] {
            all.push(Limits {
                max_steps: Some(1_000_000),
                gas: Some(GasBound { max_gas, go_over }),
                ..Limits::default()
            });
        }
    }
    all
}

#[test]
fn regressions_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "avm"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regressions in {}", dir.display());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            asm::assemble(&text).map(Arc::new).is_ok(),
            "{}",
            path.display()
        );
        for limits in regression_limits() {
            let case = Case {
                text: text.clone(),
                inbox: Vec::new(),
                limits,
            };
            if let Err(finding) = check(&case).unwrap() {
                panic!("{}: {finding}", path.display());
            }
        }
    }
}

/// Programs whose every step is proved and verified per CI run.
const PROVED_CASES: usize = 200;

#[test]
fn every_step_of_generated_programs_proves_and_verifies() {
    let mut rng = SmallRng::seed_from_u64(0x50524f);
    let mut bytes = vec![0u8; CASE_BYTES];
    for _ in 0..PROVED_CASES {
        rng.fill(&mut bytes[..]);
        if let Err(finding) = avm_fuzzing::targets::prove_verify(&bytes) {
            panic!("{finding}");
        }
    }
}

/// Programs checkpointed midway and resumed per CI run.
const CHECKPOINTED_CASES: usize = 1_000;

#[test]
fn generated_programs_checkpointed_midway_resume_exactly() {
    let mut rng = SmallRng::seed_from_u64(0x434b50);
    let mut bytes = vec![0u8; CASE_BYTES];
    for _ in 0..CHECKPOINTED_CASES {
        rng.fill(&mut bytes[..]);
        if let Err(finding) = avm_fuzzing::targets::checkpoint_restore(&bytes) {
            panic!("{finding}");
        }
    }
}

/// Generated L1 inboxes whose every step is proved, verified and tampered with per CI run.
const L1_INBOX_CASES: usize = 500;

#[test]
fn every_step_over_generated_l1_inboxes_proves_and_a_flipped_byte_is_rejected() {
    let mut rng = SmallRng::seed_from_u64(0x4c3149);
    let mut bytes = vec![0u8; 1024];
    for _ in 0..L1_INBOX_CASES {
        rng.fill(&mut bytes[..]);
        if let Err(finding) = avm_fuzzing::targets::prove_l1_inbox(&bytes) {
            panic!("{finding}");
        }
    }
}
