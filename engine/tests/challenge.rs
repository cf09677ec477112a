//! The dispute game on the 11 recorded ArbOS replays: at 20 seeded fault points each, with the
//! faulty player as asserter and as challenger, the honest player wins, the game ends on the
//! step into the fault, and the bisections are as many as the degree implies (skipped, with
//! the reason printed, when `../shared` is absent). The same holds at every gas point of the
//! shipped example that reads an L1 inbox of sequencer batches and delayed messages. A player
//! that tries an illegal move is refused with the contract's reason.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use avm_engine::challenge::{Player, dispute};
use avm_interp::challenge::{Referee, Refusal, Segment, Turn, merkle::Route};
use avm_interp::l1_inbox::L1Inbox;
use avm_interp::{GasBound, Limits, Machine};
use avm_runtime::{U256, mexe};

/// Faults per replay.
const FAULTS: usize = 20;

/// The bisection degree of Arbitrum One.
const DEGREE: u64 = 400;

/// The gas of the last step boundary before gas used first reaches `fault` on the honest
/// execution from `start`: where the step the game must end on begins.
fn last_boundary_before(start: &Machine, fault: u128) -> u128 {
    let mut m = start.clone();
    m.run(&Limits {
        gas: Some(GasBound {
            max_gas: fault - 1,
            go_over: false,
        }),
        ..Limits::default()
    });
    m.outputs().gas_used
}

/// A 64-bit linear congruential sequence: the same faults on every run.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 11
}

#[test]
fn the_honest_player_wins_every_arbos_dispute() {
    let Some(shared) = common::shared("the_honest_player_wins_every_arbos_dispute") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).unwrap());
    let replays = common::replays(&dir);
    assert_eq!(replays.len(), 11);
    let start_of = |replay: &common::Replay| {
        let mut start = Machine::new(Arc::clone(&program));
        replay
            .values()
            .into_iter()
            .for_each(|m| start.push_inbox(m));
        start
    };
    // (replay, the gas it ends at, the fault's gas); an assertion may read every message.
    let mut seed = 0xA5_5E27;
    let mut games = Vec::new();
    for (index, replay) in replays.iter().enumerate() {
        let mut end = start_of(replay);
        end.run(&Limits::default());
        let gas = end.outputs().gas_used;
        for _ in 0..FAULTS {
            games.push((index, gas, 1 + u128::from(next(&mut seed)) % gas));
        }
    }
    let expected_bisections = |gas: u128| (gas as f64).log(DEGREE as f64).ceil() as usize;
    let play_all = |games: &[(usize, u128, u128)]| {
        for &(index, gas, fault) in games {
            let start = start_of(&replays[index]);
            let messages = replays[index].messages.len() as u64;
            let inbox = L1Inbox::from_messages(replays[index].values());
            let last = last_boundary_before(&start, fault);
            for faulty in [Turn::Asserter, Turn::Challenger] {
                let game = dispute(&start, fault, faulty, gas, DEGREE, messages, &inbox);
                let name = &replays[index].name;
                let context = format!("{name}, fault at {fault}, faulty {faulty:?}");
                assert_eq!(game.winner, faulty.other(), "{context}: {game:?}");
                assert!(game.disputed(), "{context}");
                assert_eq!(game.final_step_gas(), Some(U256::from(last)), "{context}");
                let bisections = game.bisections();
                assert!(
                    bisections.abs_diff(expected_bisections(gas)) <= 1,
                    "{context}: {bisections} bisections"
                );
            }
        }
    };
    // Two threads: the games are independent, and each builds its own machines.
    let (first, second) = games.split_at(games.len() / 2);
    std::thread::scope(|scope| {
        scope.spawn(|| play_all(first));
        play_all(second);
    });
}

#[test]
fn every_fault_in_the_l1_inbox_example_loses() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let source = std::fs::read(examples.join("inbox_reader.avm")).unwrap();
    let program = Arc::new(avm_runtime::Program::from_source(&source).unwrap());
    let file = avm_runtime::parse_inbox_file(
        &std::fs::read(examples.join("inbox_reader.inbox.json")).unwrap(),
    );
    let inbox = L1Inbox::from_file(&file.unwrap()).unwrap();
    assert!(
        inbox.batch_count() < inbox.messages().len(),
        "batches of several items"
    );
    let mut start = Machine::new(program);
    for message in inbox.messages() {
        start.push_inbox(message.clone());
    }
    let mut end = start.clone();
    end.run(&Limits::default());
    let gas = end.outputs().gas_used;
    let messages = inbox.messages().len() as u64;
    assert_eq!(end.outputs().inbox_consumed, messages);
    for fault in 1..=gas {
        let last = last_boundary_before(&start, fault);
        for degree in [2, DEGREE] {
            for faulty in [Turn::Asserter, Turn::Challenger] {
                let game = dispute(&start, fault, faulty, gas, degree, messages, &inbox);
                let context = format!("fault at {fault}, degree {degree}, faulty {faulty:?}");
                assert_eq!(game.winner, faulty.other(), "{context}: {game:?}");
                assert_eq!(game.final_step_gas(), Some(U256::from(last)), "{context}");
            }
        }
    }
}

#[test]
fn illegal_moves_are_refused_with_the_contracts_reasons() {
    let program = Arc::new(
        avm_runtime::asm::assemble(
            "push 0\npush 100\nloop:\ndup0\nswap2\nadd\nswap1\nadd -1\ndup0\ncjump @loop\npop\ninbox\n",
        )
        .unwrap(),
    );
    let start = Machine::new(program);
    let mut end = start.clone();
    end.run(&Limits::default());
    let gas = end.outputs().gas_used;
    let mut player = Player::new(start, None);
    let before = player.state_at(0);
    let after = player.state_at(gas);
    let claimed_end = U256::from(7);
    let execution = avm_interp::challenge::chunk_hash(
        U256::zero(),
        U256::from(gas),
        before.assertion_hash(),
        claimed_end,
    );
    let mut referee = Referee::new(execution, 4, 0);
    let whole = Segment {
        route: Route::default(),
        start: U256::zero(),
        length: U256::from(gas),
        old_end: claimed_end,
    };
    let cuts = avm_interp::challenge::cut_points(U256::zero(), U256::from(gas), U256::from(4));
    let chain: Vec<U256> = cuts
        .iter()
        .map(|g| player.state_at(g.as_u128()).assertion_hash())
        .collect();
    let rest = before.rest_hash();
    let bisect = |referee: &mut Referee, segment: &Segment, chain: &[U256]| {
        referee.bisect(Turn::Challenger, segment, U256::zero(), rest, chain)
    };
    assert!(matches!(
        bisect(&mut referee, &whole, &chain[..4]),
        Err(Refusal::CutCount { given: 4, .. })
    ));
    let mut same = chain.clone();
    *same.last_mut().unwrap() = claimed_end;
    assert_eq!(bisect(&mut referee, &whole, &same), Err(Refusal::SameEnd));
    let routed_wrong = Segment {
        route: Route {
            nodes: vec![U256::from(1)],
            route: U256::zero(),
        },
        ..whole.clone()
    };
    assert_eq!(
        bisect(&mut referee, &routed_wrong, &chain),
        Err(Refusal::NotAChunk)
    );
    assert_eq!(
        referee.bisect(Turn::Asserter, &whole, U256::zero(), rest, &chain),
        Err(Refusal::NotOnTurn)
    );
    assert_eq!(*chain.last().unwrap(), after.assertion_hash());
    assert_eq!(bisect(&mut referee, &whole, &chain), Ok(()));

    // A proof of a step that is not the chunk's own: the proof of the very first step offered
    // for a chunk that starts later does not start at the chunk's agreed state.
    let leaves = avm_interp::challenge::chunk_hashes(&chain, U256::zero(), U256::from(gas));
    let later = Segment {
        route: Route::to_leaf(&leaves, 2).unwrap(),
        start: cuts[2],
        length: U256::one(),
        old_end: chain[3],
    };
    let mut first = player.machine_at(0);
    let proof = first.prove_next().unwrap();
    let claim = avm_interp::challenge::StepClaim {
        gas_used: later.start,
        ..(&proof.before).into()
    };
    let refused = referee.prove_step(
        Turn::Asserter,
        &later,
        &claim,
        proof.prover,
        &proof.proof,
        &proof.buffer_proof,
        &avm_interp::verify::NoInbox,
    );
    assert_eq!(refused, Err(Refusal::NotAChunk));
}
