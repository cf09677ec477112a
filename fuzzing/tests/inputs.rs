//! Hostile inputs, seeded: for each kind of file a user hands the tools (`.mexe` and assembler
//! programs, hex values, inbox files), 10,000 mutations of the project's own inputs go through
//! the library's loader. None may panic; each either loads or is a typed error. The counts are
//! printed for the README's reliability table.

use std::panic::{AssertUnwindSafe, catch_unwind};

use avm_engine::workloads;
use avm_fuzzing::mutate::{Rng, mutate};
use avm_fuzzing::targets;
use avm_runtime::{Value, marshal, mexe};

/// Inputs per kind.
const INPUTS: usize = 10_000;

/// Runs `check` on `INPUTS` mutations of `seeds`: no panic, no finding. Returns how many inputs
/// loaded (the rest were typed errors).
fn survive(kind: &str, seeds: &[Vec<u8>], check: fn(&[u8]) -> Result<(), String>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ kind.len() as u64);
    let mut crashes = Vec::new();
    for i in 0..INPUTS {
        let input = mutate(seeds, &mut rng);
        match catch_unwind(AssertUnwindSafe(|| check(&input))) {
            Ok(Ok(())) => {}
            Ok(Err(finding)) => crashes.push(format!("input {i}: {finding}")),
            Err(_) => crashes.push(format!(
                "input {i} panicked: {:?}",
                String::from_utf8_lossy(&input)
            )),
        }
    }
    eprintln!(
        "{kind}: {INPUTS} inputs, {} crashes or findings",
        crashes.len()
    );
    assert!(crashes.is_empty(), "{kind}:\n{}", crashes.join("\n"));
}

fn program_sources() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = workloads::ALL
        .iter()
        .map(|w| w.source.as_bytes().to_vec())
        .collect();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "avm") {
            seeds.push(std::fs::read(path).unwrap());
        }
    }
    seeds
}

#[test]
fn mutated_mexe_files_never_crash_the_loader() {
    let seeds: Vec<Vec<u8>> = program_sources()
        .iter()
        .map(|s| mexe::to_json(&avm_runtime::Program::from_source(s).unwrap()).into_bytes())
        .collect();
    survive("mexe", &seeds, targets::mexe_load);
}

#[test]
fn mutated_program_sources_never_crash_the_loader() {
    survive("program source", &program_sources(), targets::source);
}

#[test]
fn mutated_hex_values_never_crash_the_decoder() {
    let values = [
        Value::int(7u64),
        Value::none(),
        Value::tuple(vec![Value::int(1u64), Value::tuple(vec![Value::none()])]),
        Value::Buffer(avm_runtime::Buffer::new().write(100, b"hello")),
        avm_runtime::Program::from_source(b"push 1\nhalt\n")
            .unwrap()
            .entry()
            .clone()
            .into(),
    ];
    let seeds: Vec<Vec<u8>> = values
        .iter()
        .map(|v| avm_runtime::hash::hex_bytes(&marshal::marshal(v).unwrap()).into_bytes())
        .collect();
    survive("hex value", &seeds, targets::hex_value);
}

#[test]
fn mutated_inbox_files_never_crash_the_reader() {
    let message = |kind: u8, data: &str| {
        format!(
            r#"{{"kind": "{kind}", "l1_block_number": "100000", "l1_timestamp": 10000000, "sender": "0x401", "inbox_sequence_number": "0x0", "l1_gas_price": "2000000000", "data": "0x{data}"}}"#
        )
    };
    let seeds = vec![
        format!("[{}]", message(4, "625a53")).into_bytes(),
        format!("[{}, {}]", message(3, ""), message(7, &"ab".repeat(40))).into_bytes(),
        b"[]".to_vec(),
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/inbox_reader.inbox.json"),
        )
        .unwrap(),
    ];
    survive("inbox", &seeds, targets::inbox_json);
}
