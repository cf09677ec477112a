//! One-step proofs deep in a real ArbOS replay, reached with the JIT (skipped when `../shared`
//! is absent).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

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
