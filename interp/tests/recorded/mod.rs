//! The one-step proofs the production C++ prover recorded (`../shared/corpus/proofs/`), read
//! into the crate's proof types. Shared by the prover and verifier tests.

use std::path::Path;

use avm_interp::proof::AssertionState;
use avm_runtime::U256;

/// One recorded proof.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `program step i`, for messages.
    pub at: String,
    pub before: AssertionState,
    pub after: AssertionState,
    pub proof: Vec<u8>,
    pub buffer_proof: Vec<u8>,
}

/// The recorded proofs of each corpus program, in step order, by program name (sorted).
pub fn recorded_proofs(shared: &Path) -> Vec<(String, Vec<Recorded>)> {
    let mut files: Vec<_> = std::fs::read_dir(shared.join("corpus/proofs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let file = path.file_name().unwrap().to_str().unwrap();
            let program = file.strip_suffix(".mexe-proofs.json").unwrap().to_string();
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let steps = json
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, entry)| Recorded {
                    at: format!("{program} step {i}"),
                    before: state(&entry["Assertion"]["beforeState"]),
                    after: state(&entry["Assertion"]["afterState"]),
                    proof: hex(&entry["Proof"]),
                    buffer_proof: hex(&entry["BufferProof"]),
                })
                .collect();
            (program, steps)
        })
        .collect()
}

fn state(json: &serde_json::Value) -> AssertionState {
    let word = |key: &str| {
        let bytes: Vec<u8> = json[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is a byte array"))
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        U256::from_big_endian(&bytes)
    };
    let count = |key: &str| {
        json[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} is a number"))
    };
    AssertionState {
        machine_hash: word("machineHash"),
        inbox_count: count("inboxCount"),
        inbox_acc: word("inboxAcc"),
        gas_used: u128::from(count("gasUsed")),
        send_count: count("sendCount"),
        send_acc: word("sendAcc"),
        log_count: count("logCount"),
        log_acc: word("logAcc"),
    }
}

/// `0x`-prefixed hex (or null / empty) to bytes.
fn hex(json: &serde_json::Value) -> Vec<u8> {
    let text = json.as_str().unwrap_or("");
    let text = text.strip_prefix("0x").unwrap_or(text);
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
