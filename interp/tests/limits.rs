//! Host limits (AVM.md §6.1): runs split at any step or gas bound end where one run ends.

use std::path::Path;

use avm_interp::{BlockReason, GasBound, Limits, Machine, Stop};
use avm_runtime::{Program, U256, asm};

fn example(name: &str) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    asm::assemble(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn programs() -> Vec<(&'static str, Program)> {
    ["loop.avm", "tuples.avm", "error_handler.avm"]
        .into_iter()
        .map(|n| (n, example(n)))
        .collect()
}

/// Everything observable about a machine, for comparing two runs.
fn state(m: &mut Machine) -> (U256, u64, u128, U256, usize) {
    let hash = m.hash();
    let out = m.outputs();
    (
        hash,
        out.steps,
        out.gas_used,
        m.gas_remaining(),
        out.logs.len(),
    )
}

fn steps(n: u64) -> Limits {
    Limits {
        max_steps: Some(n),
        ..Limits::default()
    }
}

fn gas(max_gas: u128, go_over: bool) -> Limits {
    Limits {
        gas: Some(GasBound { max_gas, go_over }),
        ..Limits::default()
    }
}

#[test]
fn n_steps_then_m_equals_n_plus_m() {
    for (name, program) in programs() {
        let mut whole = Machine::new(program.clone());
        let total = {
            let mut probe = whole.clone();
            probe.run(&Limits::default());
            probe.outputs().steps
        };
        for n in [0, 1, 2, 7, total / 3, total / 2, total - 1] {
            let m_steps = (total - n).min(n + 5);
            let mut split = Machine::new(program.clone());
            split.run(&steps(n));
            assert_eq!(split.outputs().steps, n, "{name}");
            split.run(&steps(m_steps));
            let mut once = whole.clone();
            once.run(&steps(n + m_steps));
            assert_eq!(
                state(&mut split),
                state(&mut once),
                "{name}: {n} + {m_steps}"
            );
        }
        assert_eq!(whole.run(&Limits::default()), Stop::Halted, "{name}");
    }
}

#[test]
fn default_gas_bound_stops_before_the_instruction_that_would_exceed_it() {
    for (name, program) in programs() {
        let mut full = Machine::new(program.clone());
        full.run(&Limits::default());
        let total = full.outputs().gas_used;
        for bound in [1, 2, 5, 37, total / 2, total - 1] {
            let mut m = Machine::new(program.clone());
            assert_eq!(m.run(&gas(bound, false)), Stop::GasLimit, "{name} {bound}");
            let used = m.outputs().gas_used;
            assert!(used <= bound, "{name}: {used} > {bound}");
            // One more step (no bound) must take gas used past the bound.
            let mut next = m.clone();
            next.step(&Limits::default());
            assert!(
                next.outputs().gas_used > bound,
                "{name}: stopped early at {used} of {bound}"
            );
            // Raising the bound continues exactly as one run with the higher bound would.
            m.run(&gas(bound + 50, false));
            let mut once = Machine::new(program.clone());
            once.run(&gas(bound + 50, false));
            assert_eq!(state(&mut m), state(&mut once), "{name} {bound}");
        }
    }
}

#[test]
fn go_over_gas_bound_stops_once_reached() {
    for (name, program) in programs() {
        let mut full = Machine::new(program.clone());
        full.run(&Limits::default());
        let total = full.outputs().gas_used;
        for bound in [1, 3, 40, total / 2] {
            let mut m = Machine::new(program.clone());
            assert_eq!(m.run(&gas(bound, true)), Stop::GasLimit, "{name} {bound}");
            let used = m.outputs().gas_used;
            assert!(used >= bound, "{name}: {used} < {bound}");
            let mut replay = Machine::new(program.clone());
            replay.run(&steps(m.outputs().steps - 1));
            assert!(
                replay.outputs().gas_used < bound,
                "{name}: should have stopped a step earlier"
            );
            m.run(&gas(bound + 20, true));
            let mut once = Machine::new(program.clone());
            once.run(&gas(bound + 20, true));
            assert_eq!(state(&mut m), state(&mut once), "{name} {bound}");
        }
    }
}

#[test]
fn blocking_changes_nothing() {
    let program = asm::assemble("push 7\nbreakpoint\ninbox 3\nhalt").unwrap();
    let mut m = Machine::new(program);
    let stop_at_breakpoints = Limits {
        stop_on_breakpoint: true,
        ..Limits::default()
    };
    let mut after_push = m.clone();
    after_push.run(&steps(1));
    assert_eq!(
        m.run(&stop_at_breakpoints),
        Stop::Blocked(BlockReason::Breakpoint)
    );
    assert_eq!(state(&mut m), state(&mut after_push));
    // The breakpoint is now the first instruction of the run: it runs, then inbox blocks.
    assert_eq!(
        m.run(&stop_at_breakpoints),
        Stop::Blocked(BlockReason::Inbox)
    );
    let at_inbox = state(&mut m);
    assert_eq!(m.run(&Limits::default()), Stop::Blocked(BlockReason::Inbox));
    assert_eq!(state(&mut m), at_inbox);
    assert_eq!(
        m.stack().len(),
        1,
        "the blocked immediate is not left on the stack"
    );
    m.push_inbox(avm_runtime::Value::none());
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
}

/// A run in slices with `continues` blocks where one long run blocks: a slice that ends just
/// before a breakpoint or a sideload does not make it the first instruction of a run.
#[test]
fn a_continued_run_blocks_where_one_run_blocks() {
    let program = asm::assemble("push 7\nbreakpoint\nsideload 1\nhalt").unwrap();
    let limits = Limits {
        stop_on_breakpoint: true,
        stop_on_sideload: true,
        ..Limits::default()
    };
    let mut m = Machine::new(program);
    let slice = |n: u64, continues: bool| Limits {
        max_steps: Some(n),
        continues,
        ..limits
    };
    assert_eq!(m.run(&slice(1, false)), Stop::StepLimit);
    assert_eq!(
        m.run(&slice(10, true)),
        Stop::Blocked(BlockReason::Breakpoint)
    );
    // A new run (the host acted) takes the breakpoint, then blocks at the sideload.
    assert_eq!(
        m.run(&slice(1, false)),
        Stop::StepLimit,
        "the breakpoint runs as the first instruction of a run"
    );
    assert_eq!(
        m.run(&slice(10, true)),
        Stop::Blocked(BlockReason::Sideload {
            block_number: U256::one()
        })
    );
    assert_eq!(m.outputs().steps, 2);
}
