//! Real ArbOS: the 11 recorded replays of `../shared/corpus/arbos/` give exactly what their
//! expect files list (skipped, with the reason printed, when `../shared` is absent).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;

use avm_interp::{BlockReason, Limits, Machine, Stop};
use avm_runtime::hash::{hex_bytes, hex_hash};
use avm_runtime::{Program, mexe, parse_inbox_json};

/// Runs replay `name` and compares every expected field.
fn check_replay(dir: &Path, program: &Arc<Program>, name: &str) {
    let expect: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.expect.json"))).unwrap())
            .unwrap();
    let expected = &expect["expected"];
    let messages =
        parse_inbox_json(&std::fs::read(dir.join(format!("{name}.inbox.json"))).unwrap()).unwrap();
    let mut m = Machine::new(Arc::clone(program));
    for message in &messages {
        m.push_inbox(message.to_value());
    }
    assert_eq!(
        m.run(&Limits::default()),
        Stop::Blocked(BlockReason::Inbox),
        "{name}"
    );
    let out = m.outputs().clone();
    assert_eq!(
        out.inbox_consumed,
        expected["inbox_consumed"].as_u64().unwrap(),
        "{name}"
    );
    let logs: Vec<String> = out.logs.iter().map(|v| hex_hash(&v.hash())).collect();
    let expected_logs: Vec<String> = expected["log_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert_eq!(logs, expected_logs, "{name} logs");
    let sends: Vec<String> = out.sends.iter().map(|s| hex_bytes(s)).collect();
    let expected_sends: Vec<String> = expected["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(sends, expected_sends, "{name} sends");
    assert_eq!(
        out.steps,
        expected["steps"].as_u64().unwrap(),
        "{name} steps"
    );
    assert_eq!(
        out.gas_used,
        expected["gas"].as_u64().unwrap() as u128,
        "{name} gas"
    );
    assert_eq!(
        hex_hash(&m.hash()),
        expected["machine_hash_when_blocked"].as_str().unwrap(),
        "{name} hash"
    );
    assert_eq!(
        hex_hash(&out.log_acc),
        expected["log_acc"].as_str().unwrap(),
        "{name} log_acc"
    );
}

#[test]
fn arbos_replays_reproduce_their_recordings() {
    let Some(shared) = common::shared("arbos_replays_reproduce_their_recordings") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).unwrap());
    let names = common::replay_names(&dir);
    assert_eq!(names.len(), 11);
    for name in &names {
        check_replay(&dir, &program, name);
    }
}
