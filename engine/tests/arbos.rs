//! Real ArbOS under the JITs: the 11 recorded replays give exactly their expected results, and
//! runs stopped at step limits inside them match the interpreter (skipped, with the reason
//! printed, when `../shared` is absent).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use avm_engine::native::RegionJit;
use avm_engine::{DEFAULT_THRESHOLD, Jit};
use avm_interp::{BlockReason, Limits, Machine, Stop};
use avm_runtime::{Program, mexe};

fn machine(program: &Arc<Program>, replay: &common::Replay) -> Machine {
    let mut m = Machine::new(Arc::clone(program));
    for message in replay.values() {
        m.push_inbox(message);
    }
    m
}

#[test]
fn replays_give_their_expected_results_under_the_jit() {
    let Some((program, replays)) = arbos("replays_give_their_expected_results_under_the_jit")
    else {
        return;
    };
    for replay in &replays {
        let name = &replay.name;
        for threshold in [0, DEFAULT_THRESHOLD] {
            let mut m = machine(&program, replay);
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
            check(&mut m, replay);
        }
    }
}

/// The region JIT at the default threshold, compiling inline (so that what is hot is native
/// whatever the timing): most steps run natively, and every replay ends exactly as recorded.
#[test]
fn replays_give_their_expected_results_under_the_region_jit() {
    let Some((program, replays)) =
        arbos("replays_give_their_expected_results_under_the_region_jit")
    else {
        return;
    };
    for replay in &replays {
        let mut m = machine(&program, replay);
        let mut jit = RegionJit::new(Arc::clone(&program), DEFAULT_THRESHOLD).unwrap();
        let stop = jit.run(&mut m, &Limits::default());
        assert_eq!(stop, Stop::Blocked(BlockReason::Inbox), "{}", replay.name);
        let stats = jit.stats();
        assert_eq!(stats.failed_compiles, 0, "{}", replay.name);
        assert!(
            stats.native_steps * 2 > m.outputs().steps,
            "{}: {stats:?}",
            replay.name
        );
        check(&mut m, replay);
    }
}

/// ArbOS and its 11 recorded replays, or `None` (the reason printed for `test`) without
/// `../shared`.
fn arbos(test: &str) -> Option<(Arc<Program>, Vec<common::Replay>)> {
    let dir = common::shared(test)?.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).unwrap());
    let replays = common::replays(&dir);
    assert_eq!(replays.len(), 11);
    Some((program, replays))
}

/// Checks `m`, stopped at the end of `replay`, against its recording.
fn check(m: &mut Machine, replay: &common::Replay) {
    let out = m.outputs().clone();
    replay.check(&common::Outcome {
        logs: &out.logs,
        sends: &out.sends,
        steps: out.steps,
        gas_used: out.gas_used,
        inbox_consumed: out.inbox_consumed,
        machine_hash: m.hash(),
        log_acc: Some(out.log_acc),
    });
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
        let replay = common::replay(&dir, name);
        for limit in [100_000, 1_000_000, 1_234_567] {
            let limits = Limits {
                max_steps: Some(limit),
                ..Limits::default()
            };
            let mut reference = machine(&program, &replay);
            assert_eq!(reference.run(&limits), Stop::StepLimit);
            let engines = [
                (0, false),
                (DEFAULT_THRESHOLD, false),
                (DEFAULT_THRESHOLD, true),
            ];
            for (threshold, regions) in engines {
                let mut m = machine(&program, &replay);
                let stop = match regions {
                    true => RegionJit::new(Arc::clone(&program), threshold)
                        .unwrap()
                        .run(&mut m, &limits),
                    false => Jit::new(Arc::clone(&program), threshold)
                        .unwrap()
                        .run(&mut m, &limits),
                };
                assert_eq!(stop, Stop::StepLimit, "{name} {limit}");
                assert_eq!(m.outputs().steps, limit);
                assert_eq!(
                    m.outputs().gas_used,
                    reference.outputs().gas_used,
                    "{name} {limit}"
                );
                assert_eq!(
                    m.hash(),
                    reference.hash(),
                    "{name} {limit} threshold {threshold} regions {regions}"
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
