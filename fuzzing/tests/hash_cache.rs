//! The interpreter's cached stack hashes against hashes computed from scratch, on generated
//! programs run in slices of random lengths: a step marks the depth it may change, a
//! straight-line run marks once for all of its steps, and either way the hash asked for after
//! the slice must be the hash of the values the stacks hold.

use std::sync::Arc;

use avm_fuzzing::case;
use avm_interp::{Limits, Machine, Stack, Status, Stop};
use avm_runtime::asm;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Generated programs per CI run.
const CASES: usize = 400;

/// The most slices a program runs in.
const SLICES: usize = 60;

#[test]
fn cached_stack_hashes_are_hashes_from_scratch() {
    let mut rng = SmallRng::seed_from_u64(0x4841_5348);
    let mut bytes = vec![0u8; 4_096];
    let mut compared = 0;
    for _ in 0..CASES {
        rng.fill(&mut bytes[..]);
        let case = case(&mut arbitrary::Unstructured::new(&bytes)).expect("enough bytes");
        let program = Arc::new(asm::assemble(&case.text).expect("generated text assembles"));
        let mut m = Machine::new(program);
        for message in &case.inbox {
            m.push_inbox(message.to_value());
        }
        for _ in 0..SLICES {
            let slice = Limits {
                max_steps: Some(rng.random_range(1..40)),
                continues: true,
                ..Limits::default()
            };
            let stop = m.run(&slice);
            if m.status() != Status::Running {
                break;
            }
            let parts = m.hash_parts();
            let data = Stack::from_values(m.stack().values().to_vec()).hash();
            let aux = Stack::from_values(m.aux_stack().values().to_vec()).hash();
            assert_eq!(parts.data_stack, data, "data stack of\n{}", case.text);
            assert_eq!(parts.aux_stack, aux, "aux stack of\n{}", case.text);
            compared += 1;
            if stop != Stop::StepLimit {
                break;
            }
        }
    }
    assert!(compared > 2_000, "only {compared} hashes compared");
}
