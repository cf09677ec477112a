//! Real ArbOS: the 11 recorded replays of `../shared/corpus/arbos/` give exactly what their
//! expect files list (skipped, with the reason printed, when `../shared` is absent).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use avm_interp::{BlockReason, Limits, Machine, Stop};
use avm_runtime::{Program, mexe};

/// Runs `replay` and compares every expected field.
fn check_replay(program: &Arc<Program>, replay: &common::Replay) {
    let mut m = Machine::new(Arc::clone(program));
    for message in replay.values() {
        m.push_inbox(message);
    }
    let name = &replay.name;
    assert_eq!(
        m.run(&Limits::default()),
        Stop::Blocked(BlockReason::Inbox),
        "{name}"
    );
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
fn arbos_replays_reproduce_their_recordings() {
    let Some(shared) = common::shared("arbos_replays_reproduce_their_recordings") else {
        return;
    };
    let dir = shared.join("corpus/arbos");
    let program = Arc::new(mexe::load_file(dir.join("arbos.mexe")).unwrap());
    let replays = common::replays(&dir);
    assert_eq!(replays.len(), 11);
    for replay in &replays {
        check_replay(&program, replay);
    }
}
