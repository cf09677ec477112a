//! `avm challenge`: the honest player wins the dispute game on either side, the game ends on
//! the step into the fault, and on ArbOS replays too.

mod support;

use support::avm;

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;

use serde_json::Value;

/// A counting loop that ends blocked on its empty inbox: a fault anywhere shows in its end.
const BLOCKING_LOOP: &str = "push 0\npush 1000\nloop:\ndup0\nswap2\nadd\nswap1\nadd -1\ndup0\n\
                             cjump @loop\npop\ninbox\n";

fn blocking_loop() -> String {
    let dir = std::env::temp_dir().join(format!("avm-challenge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("blocking_loop.avm");
    std::fs::write(&path, BLOCKING_LOOP).unwrap();
    path.display().to_string()
}

/// The transcript's lines and its verdict (the last line).
fn game(args: &[&str]) -> (Vec<Value>, Value) {
    let output = avm(&[&["challenge", "--json"], args].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let mut lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdict = lines.pop().unwrap();
    (lines, verdict)
}

#[test]
fn the_honest_player_wins_on_either_side_and_the_game_ends_at_the_fault() {
    let program = blocking_loop();
    for side in ["asserter", "challenger"] {
        for degree in ["2", "400"] {
            let (rounds, verdict) = game(&[
                &program,
                "--fault-at-gas",
                "5000",
                "--degree",
                degree,
                "--faulty",
                side,
            ]);
            assert_eq!(verdict["winner"], "honest", "{side} {degree}: {rounds:?}");
            assert_eq!(verdict["disputed"], true);
            assert_eq!(verdict["rounds"].as_u64().unwrap() as usize, rounds.len());
            // The loop's steps cost 1 to 4 gas: the proven step starts just before the fault.
            let proven: u64 = verdict["proven_step_gas"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((4996..5000).contains(&proven), "{proven}");
            let bisections = rounds.iter().filter(|r| r["move"] == "bisect").count();
            assert_eq!(verdict["bisections"], bisections);
            let expected = match degree {
                "2" => (17003f64).log2().ceil() as usize,
                _ => 2,
            };
            assert!(
                bisections.abs_diff(expected) <= 1,
                "{bisections} at degree {degree}"
            );
        }
    }
}

#[test]
fn a_fault_the_end_state_does_not_show_is_not_disputed() {
    let halts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loop.avm");
    let output = avm(&[
        "challenge",
        halts.to_str().unwrap(),
        "--fault-at-gas",
        "5000",
    ]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    assert!(text.contains("nothing to dispute"), "{text}");
    let refused = avm(&[
        "challenge",
        halts.to_str().unwrap(),
        "--fault-at-gas",
        "5",
        "--degree",
        "1",
    ]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn the_honest_player_wins_arbos_disputes_at_seeded_faults() {
    let Some(shared) = common::shared("the_honest_player_wins_arbos_disputes_at_seeded_faults")
    else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = dir.join("arbos.mexe").display().to_string();
    let mut seed: u64 = 0x5eed_a55e;
    for name in ["evm_test_create", "payment_to_empty_address"] {
        let expect: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{name}.expect.json"))).unwrap(),
        )
        .unwrap();
        let gas = expect["expected"]["gas"].as_u64().unwrap();
        let inbox = dir.join(format!("{name}.inbox.json")).display().to_string();
        for _ in 0..3 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let fault = 1 + (seed >> 11) % gas;
            for side in ["asserter", "challenger"] {
                let (rounds, verdict) = game(&[
                    &program,
                    "--inbox",
                    &inbox,
                    "--fault-at-gas",
                    &fault.to_string(),
                    "--faulty",
                    side,
                ]);
                assert_eq!(verdict["assertion_gas"], gas.to_string());
                assert_eq!(
                    verdict["winner"], "honest",
                    "{name} fault {fault} {side}: {rounds:?}"
                );
                let proven: u64 = verdict["proven_step_gas"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(proven < fault, "{name}: step at {proven}, fault at {fault}");
            }
        }
    }
}

#[test]
fn inbox_steps_in_an_l1_inbox_are_disputed_and_proven() {
    let (program, inbox) = (
        support::example("inbox_reader.avm"),
        support::example("inbox_reader.inbox.json"),
    );
    // The step at gas 149 reads delayed message 0 from its range in a batch with a later item;
    // the fault at 189 lands right after it.
    let mut proofs = Vec::new();
    for side in ["asserter", "challenger"] {
        let (rounds, verdict) = game(&[
            &program,
            "--inbox",
            &inbox,
            "--fault-at-gas",
            "189",
            "--degree",
            "2",
            "--faulty",
            side,
        ]);
        assert_eq!(verdict["winner"], "honest", "{rounds:?}");
        assert_eq!(verdict["proven_step_gas"], "149");
        proofs.extend(verdict["proof_bytes"].as_u64());
    }
    // On one side the honest player proves the step (on the other the faulty one cannot).
    assert!(proofs.iter().any(|&bytes| bytes > 300), "{proofs:?}");
}

#[test]
fn an_l1_inbox_the_contracts_refuse_is_a_one_line_error() {
    let dir = support::temp_dir("l1_inbox_refused");
    let text = std::fs::read_to_string(support::example("inbox_reader.inbox.json")).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        text.replace(
            r#""inbox_sequence_number": "3""#,
            r#""inbox_sequence_number": "4""#,
        ),
    )
    .unwrap();
    let output = avm(&[
        "challenge",
        &support::example("inbox_reader.avm"),
        "--inbox",
        bad.to_str().unwrap(),
        "--fault-at-gas",
        "100",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "inbox batch 1 item 0: its sequence number is 4, and 3 messages come before it"
        ),
        "{stderr}"
    );
}
