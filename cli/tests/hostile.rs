//! Hostile files through the command line, as a user's mistakes or an attacker's inputs reach
//! it: mutated programs, inbox files, hex values and proofs. Every invocation ends with a
//! report or a one-line error and a documented exit code, never a panic.

mod support;

use support::avm;

use std::path::{Path, PathBuf};

use avm_fuzzing::mutate::{Rng, mutate};

/// Invocations per kind of input.
const PER_KIND: usize = 150;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// Writes each mutation of `seeds` to a file and runs `args` (with `{}` replaced by the file).
fn survive(kind: &str, seeds: &[Vec<u8>], args: &[&str]) {
    let dir = temp_dir();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ kind.len() as u64);
    let mut outcomes = [0usize; 256];
    for i in 0..PER_KIND {
        let path = dir.join(format!("{kind}-{i}"));
        std::fs::write(&path, mutate(seeds, &mut rng)).unwrap();
        let file = path.to_str().unwrap();
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "{}" { file } else { a })
            .collect();
        let output = avm(&args);
        let code = output.status.code().expect("avm ended by a signal");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            [0, 1, 3].contains(&code),
            "{kind} {i}: exit {code}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{kind} {i}: {stderr}");
        assert!(stderr.lines().count() <= 1, "{kind} {i}: {stderr}");
        assert!(
            !stderr.contains('\x1b'),
            "{kind} {i}: raw escape: {stderr:?}"
        );
        outcomes[code as usize] += 1;
        std::fs::remove_file(&path).unwrap();
    }
    eprintln!(
        "{kind}: {PER_KIND} invocations: {} ran, {} refused, {} error-stopped",
        outcomes[0], outcomes[1], outcomes[3]
    );
}

fn programs() -> Vec<Vec<u8>> {
    ["loop.avm", "tuples.avm", "error_handler.avm"]
        .iter()
        .map(|name| std::fs::read(example(name)).unwrap())
        .collect()
}

#[test]
fn mutated_programs_end_cleanly() {
    survive("asm", &programs(), &["run", "{}", "--max-steps", "1e4"]);
    let mexe: Vec<Vec<u8>> = programs()
        .iter()
        .map(|p| {
            let program = avm_runtime::Program::from_source(p).unwrap();
            avm_runtime::mexe::to_json(&program).into_bytes()
        })
        .collect();
    survive(
        "mexe",
        &mexe,
        &["run", "{}", "--max-steps", "1e4", "--json"],
    );
}

#[test]
fn mutated_inbox_files_end_cleanly() {
    let seed = br#"[{"kind": "4", "l1_block_number": "100000", "l1_timestamp": "10000000", "sender": "0x401", "inbox_sequence_number": "0", "l1_gas_price": "2000000000", "data": "0x625a53"}]"#;
    let program = example("loop.avm");
    survive(
        "inbox",
        &[seed.to_vec()],
        &["run", program.to_str().unwrap(), "--inbox", "{}"],
    );
}

#[test]
fn mutated_proofs_end_cleanly() {
    let out = avm(&[
        "prove",
        example("loop.avm").to_str().unwrap(),
        "--step",
        "7",
        "--json",
    ]);
    assert!(out.status.success());
    // A check that fails exits 4: allowed here too.
    let dir = temp_dir();
    let mut rng = Rng(77);
    for i in 0..PER_KIND {
        let path = dir.join(format!("proof-{i}"));
        std::fs::write(&path, mutate(std::slice::from_ref(&out.stdout), &mut rng)).unwrap();
        let output = avm(&["verify-proof", path.to_str().unwrap()]);
        let code = output.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            [0, 1, 4].contains(&code),
            "proof {i}: exit {code}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked") && stderr.lines().count() <= 1,
            "{stderr}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn hostile_hex_values_end_cleanly() {
    let mut rng = Rng(5);
    let seeds = vec![
        format!("0x00{:064x}", 10).into_bytes(),
        b"0x03".to_vec(),
        b"060300".to_vec(),
    ];
    for i in 0..PER_KIND {
        let text = String::from_utf8_lossy(&mutate(&seeds, &mut rng)).replace('\0', "");
        let output = avm(&["value-hash", "--", &text]);
        let code = output.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            [0, 1].contains(&code),
            "hex {i} {text:?}: exit {code}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked") && stderr.lines().count() <= 1,
            "{stderr}"
        );
    }
}
