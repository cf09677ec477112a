//! The corpus programs run exactly as the C++ engine ran them (VECTORS.md §6, §7). Reads
//! `../shared` (skipped, with the reason printed, when it is absent).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;

use avm_interp::{BlockReason, Limits, Machine, Status, Stop};
use avm_runtime::hash::hex_hash;
use avm_runtime::{Buffer, U256, Value, mexe};
use common::h;

fn machine(shared: &Path, name: &str) -> Machine {
    let path = shared
        .join("corpus/machine-cases")
        .join(format!("{name}.mexe"));
    Machine::new(mexe::load_file(&path).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn run(m: &mut Machine) -> Stop {
    m.run(&Limits::default())
}

/// The inbox message 8-tuple of AVM.md §9 with empty data.
fn message(kind: u64, block: u64, sequence: u64) -> Value {
    let int = |x: u64| Value::int(x);
    Value::tuple(vec![
        int(kind),
        int(block),
        int(0),
        int(0),
        int(sequence),
        int(0),
        int(0),
        Value::Buffer(Buffer::new()),
    ])
}

#[test]
fn self_checking_programs_halt_with_exact_steps_and_gas() {
    let Some(shared) = common::shared("self_checking_programs_halt_with_exact_steps_and_gas")
    else {
        return;
    };
    let cases = [
        ("opcodetestarbgas", 9, 24),
        ("opcodetestcode", 6, 87),
        ("opcodetestdup", 41, 106),
        ("opcodetestecops", 14, 16_107_518),
        ("opcodetestethhash2", 6, 26),
        ("opcodetesthash", 17, 58),
        ("opcodetestkeccakf", 2, 610),
        ("opcodetestlogic", 173, 411),
        ("opcodetestmath", 200, 603),
        ("opcodetestsha256f", 4, 262),
        ("opcodeteststack", 49, 114),
        ("opcodetesttuple", 40, 433),
    ];
    for (name, steps, gas) in cases {
        let mut m = machine(&shared, name);
        assert_eq!(run(&mut m), Stop::Halted, "{name}");
        assert_eq!(
            (m.outputs().steps, m.outputs().gas_used),
            (steps, gas),
            "{name}"
        );
        assert_eq!(m.hash(), U256::zero());
    }
}

#[test]
fn ecops_and_tuple_outputs() {
    let Some(shared) = common::shared("ecops_and_tuple_outputs") else {
        return;
    };
    let mut m = machine(&shared, "opcodetesttuple");
    run(&mut m);
    assert_eq!(m.outputs().logs, vec![Value::int(3u64)]);
    assert_eq!(
        m.outputs().log_acc,
        h("428a6bbf587e6f3339e6162c6b1772e06c62ca82f784b9af8a31028560d0d717")
    );
}

#[test]
fn other_recorded_endings() {
    let Some(shared) = common::shared("other_recorded_endings") else {
        return;
    };
    let cases = [
        ("opcodeecmul-zero", Stop::ErrorStop, 6, 82_009),
        ("opcodeecpairing", Stop::Halted, 4, 17),
        ("buffer_test", Stop::ErrorStop, 21, 562),
        ("bufferopcodetest", Stop::ErrorStop, 71, 1547),
        ("bytearraytest", Stop::ErrorStop, 21, 322),
        ("opcodehalt", Stop::Halted, 1, 10),
    ];
    for (name, stop, steps, gas) in cases {
        let mut m = machine(&shared, name);
        assert_eq!(run(&mut m), stop, "{name}");
        assert_eq!(
            (m.outputs().steps, m.outputs().gas_used),
            (steps, gas),
            "{name}"
        );
    }
    let mut m = machine(&shared, "buffer_test");
    run(&mut m);
    assert_eq!(
        m.outputs().log_acc,
        h("8833735e1d7bb684524a9a59b74127755e96eea0a47d00a42cb7ad204090a771")
    );
}

#[test]
fn sideloadtest_scenarios() {
    let Some(shared) = common::shared("sideloadtest_scenarios") else {
        return;
    };
    let stop_on_sideload = Limits {
        stop_on_sideload: true,
        ..Limits::default()
    };
    let zero_message = || message(0, 0, 0);

    let mut m = machine(&shared, "sideloadtest");
    assert_eq!(run(&mut m), Stop::ErrorStop);
    assert_eq!(m.outputs().gas_used, 13);

    let mut m = machine(&shared, "sideloadtest");
    m.push_sideload(zero_message());
    assert_eq!(m.run(&stop_on_sideload), Stop::Halted);
    assert_eq!(m.outputs().gas_used, 23);

    let mut blocked = machine(&shared, "sideloadtest");
    let stop = blocked.run(&stop_on_sideload);
    assert_eq!(
        stop,
        Stop::Blocked(BlockReason::Sideload {
            block_number: U256::from(0x321)
        })
    );
    assert_eq!(
        (blocked.status(), blocked.outputs().gas_used),
        (Status::Running, 1)
    );
    assert!(
        blocked.stack().is_empty(),
        "the blocked immediate is removed"
    );

    let mut resumed = blocked.clone();
    assert_eq!(resumed.run(&stop_on_sideload), Stop::ErrorStop);
    assert_eq!(resumed.outputs().gas_used - 1, 12);

    let mut fed = blocked.clone();
    fed.push_sideload(zero_message());
    assert_eq!(fed.run(&stop_on_sideload), Stop::Halted);
    assert_eq!(fed.outputs().gas_used - 1, 22);
}

#[test]
fn inbox_program_logs_each_message_then_blocks() {
    let Some(shared) = common::shared("inbox_program_logs_each_message_then_blocks") else {
        return;
    };
    let mut m = machine(&shared, "inbox");
    for i in 0..5 {
        m.push_inbox(message(0, i, i));
    }
    assert_eq!(run(&mut m), Stop::Blocked(BlockReason::Inbox));
    let logs: Vec<Value> = (0..5u64).map(Value::int).collect();
    assert_eq!(m.outputs().logs, logs);
    assert_eq!((m.outputs().steps, m.outputs().gas_used), (96, 1659));
    assert_eq!(
        m.outputs().log_acc,
        h("f05b9a0376ad953424bebdd25bda7ec411289afabd9a30c2f97c4cdd37adeb5f")
    );
    assert_eq!(m.outputs().inbox_consumed, 5);
}

#[test]
fn segment_programs() {
    let Some(shared) = common::shared("segment_programs") else {
        return;
    };
    let mut m = machine(&shared, "dupsegments");
    assert_eq!(run(&mut m), Stop::Blocked(BlockReason::Inbox));
    assert_eq!((m.outputs().steps, m.outputs().gas_used), (5, 92));
    assert_eq!(
        hex_hash(&m.hash()),
        "0x4ebcc05f3b14107afdd65f453e1fb624d9bff705947a24be12cf38eb2b6bebae"
    );

    let mut m = machine(&shared, "dupsegments");
    m.push_inbox(message(0, 0, 0));
    m.push_inbox(message(0, 0, 1));
    assert_eq!(run(&mut m), Stop::Halted);
    assert_eq!((m.outputs().steps, m.outputs().gas_used), (22, 305));

    let stop_on_sideload = Limits {
        stop_on_sideload: true,
        ..Limits::default()
    };
    let mut m = machine(&shared, "dupsegments");
    m.push_inbox(message(0, 0, 0));
    m.push_inbox(message(0, 0, 1));
    let mut blocks = Vec::new();
    loop {
        match m.run(&stop_on_sideload) {
            Stop::Blocked(BlockReason::Sideload { .. }) => blocks.push(m.outputs().steps),
            stop => {
                assert_eq!(stop, Stop::Halted);
                break;
            }
        }
    }
    assert_eq!(blocks, vec![7, 16]);
    assert_eq!((m.outputs().steps, m.outputs().gas_used), (22, 305));

    let mut m = machine(&shared, "segmentreorg");
    assert_eq!(run(&mut m), Stop::Blocked(BlockReason::Inbox));
    assert_eq!((m.outputs().steps, m.outputs().gas_used), (1, 1));
    assert_eq!(
        hex_hash(&m.hash()),
        "0x64dcb6fcba44ab5f55433528a764b99a643790ab66a3777537aa06a20043f1b8"
    );
    let mut m = machine(&shared, "segmentreorg");
    m.push_inbox(message(0, 0, 0));
    m.push_inbox(message(0, 0, 1));
    assert_eq!(run(&mut m), Stop::ErrorStop);
    assert_eq!((m.outputs().steps, m.outputs().gas_used), (15, 163));
}

fn bytes32(state: &serde_json::Value, key: &str) -> U256 {
    let bytes: Vec<u8> = state[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    U256::from_big_endian(&bytes)
}

#[test]
fn every_recorded_step_reproduces() {
    let Some(shared) = common::shared("every_recorded_step_reproduces") else {
        return;
    };
    let mut total = 0;
    for entry in std::fs::read_dir(shared.join("corpus/proofs")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let program = file.strip_suffix(".mexe-proofs.json").unwrap();
        let proofs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut m = machine(&shared, program);
        for (i, proof) in proofs.as_array().unwrap().iter().enumerate() {
            let at = format!("{program} step {i}");
            for (which, state) in [
                ("before", &proof["Assertion"]["beforeState"]),
                ("after", &proof["Assertion"]["afterState"]),
            ] {
                if which == "after" {
                    assert_eq!(
                        m.step(&Limits::default())
                            .filter(|s| *s != Stop::Halted && *s != Stop::ErrorStop),
                        None,
                        "{at}"
                    );
                }
                assert_eq!(m.hash(), bytes32(state, "machineHash"), "{at} {which}");
                assert_eq!(
                    m.outputs().gas_used,
                    state["gasUsed"].as_u64().unwrap() as u128,
                    "{at} {which}"
                );
                assert_eq!(
                    m.outputs().log_acc,
                    bytes32(state, "logAcc"),
                    "{at} {which}"
                );
                assert_eq!(
                    m.outputs().send_acc,
                    bytes32(state, "sendAcc"),
                    "{at} {which}"
                );
                assert_eq!(
                    m.outputs().logs.len() as u64,
                    state["logCount"].as_u64().unwrap(),
                    "{at} {which}"
                );
            }
            total += 1;
        }
    }
    assert_eq!(total, 694);
}
