//! Real ArbOS under the JIT: the 11 recorded replays give exactly their expected results, and
//! runs stopped at step limits inside them match the interpreter (skipped, with the reason
//! printed, when `../shared` is absent).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;

use avm_engine::{DEFAULT_THRESHOLD, Jit};
use avm_interp::{BlockReason, Limits, Machine, Stop};
use avm_runtime::hash::hex_hash;
use avm_runtime::{Program, mexe, parse_inbox_json};

fn machine(dir: &Path, program: &Arc<Program>, name: &str) -> Machine {
    let messages =
        parse_inbox_json(&std::fs::read(dir.join(format!("{name}.inbox.json"))).unwrap()).unwrap();
    let mut m = Machine::new(Arc::clone(program));
    for message in &messages {
        m.push_inbox(message.to_value());
    }
    m
}

#[test]
fn replays_give_their_expected_results_under_the_jit() {
    let Some(shared) = common::shared("replays_give_their_expected_results_under_the_jit") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).unwrap());
    let names = common::replay_names(&dir);
    assert_eq!(names.len(), 11);
    for name in &names {
        let expect: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{name}.expect.json"))).unwrap(),
        )
        .unwrap();
        let expected = &expect["expected"];
        for threshold in [0, DEFAULT_THRESHOLD] {
            let mut m = machine(&dir, &program, name);
            let mut jit = Jit::new(Arc::clone(&program), threshold).unwrap();
            assert_eq!(
                jit.run(&mut m, &Limits::default()),
                Stop::Blocked(BlockReason::Inbox),
                "{name}"
            );
            // Eager compilation must run native code; at the default threshold short replays
            // may find nothing hot enough to compile.
            assert!(
                threshold > 0 || jit.stats().native_runs > 0,
                "{name}: compiled code ran"
            );
            let logs: Vec<String> = m
                .outputs()
                .logs
                .iter()
                .map(|v| hex_hash(&v.hash()))
                .collect();
            let expected_logs: Vec<String> = expected["log_hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect();
            assert_eq!(logs, expected_logs, "{name} logs");
            assert_eq!(
                m.outputs().steps,
                expected["steps"].as_u64().unwrap(),
                "{name} steps"
            );
            assert_eq!(
                m.outputs().gas_used,
                expected["gas"].as_u64().unwrap() as u128,
                "{name} gas"
            );
            assert_eq!(
                m.outputs().sends.len() as u64,
                expected["send_count"].as_u64().unwrap(),
                "{name} sends"
            );
            assert_eq!(
                hex_hash(&m.hash()),
                expected["machine_hash_when_blocked"].as_str().unwrap(),
                "{name} hash"
            );
        }
    }
}

#[test]
fn replays_stopped_at_step_limits_match_the_interpreter() {
    let Some(shared) = common::shared("replays_stopped_at_step_limits_match_the_interpreter")
    else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).unwrap());
    for name in ["evm_test_create", "evm_xcontract_call_using_batch"] {
        for limit in [100_000, 1_000_000, 1_234_567] {
            let limits = Limits {
                max_steps: Some(limit),
                ..Limits::default()
            };
            let mut reference = machine(&dir, &program, name);
            assert_eq!(reference.run(&limits), Stop::StepLimit);
            for threshold in [0, DEFAULT_THRESHOLD] {
                let mut m = machine(&dir, &program, name);
                let mut jit = Jit::new(Arc::clone(&program), threshold).unwrap();
                assert_eq!(jit.run(&mut m, &limits), Stop::StepLimit, "{name} {limit}");
                assert_eq!(m.outputs().steps, limit);
                assert_eq!(
                    m.outputs().gas_used,
                    reference.outputs().gas_used,
                    "{name} {limit}"
                );
                assert_eq!(
                    m.hash(),
                    reference.hash(),
                    "{name} {limit} threshold {threshold}"
                );
                assert_eq!(
                    m.stack().values(),
                    reference.stack().values(),
                    "{name} {limit}"
                );
            }
        }
    }
}
