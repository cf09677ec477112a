//! The region JIT against the interpreter: generated programs from a fixed seed, at threshold
//! 0 (every region compiled before it runs) and 2 (interpreted first, then native), and with
//! regions compiled on a background thread (threshold 1: whenever they land), must end in
//! exactly the interpreter's state.

use std::sync::Arc;

use avm_engine::CompileMode;
use avm_engine::native::{RegionJit, RegionOptions};
use avm_fuzzing::case;
use avm_interp::{Machine, Observed};
use avm_runtime::asm;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Generated programs per CI run.
const CASES: usize = 3_000;

#[test]
fn region_jit_agrees_with_the_interpreter() {
    let mut rng = SmallRng::seed_from_u64(0x5245_4749);
    let mut bytes = vec![0u8; 4_096];
    let mut native = 0;
    for n in 0..CASES {
        rng.fill(&mut bytes[..]);
        let case = case(&mut arbitrary::Unstructured::new(&bytes)).expect("enough bytes");
        let program = Arc::new(asm::assemble(&case.text).expect("generated text assembles"));
        let fresh = || {
            let mut m = Machine::new(Arc::clone(&program));
            for message in &case.inbox {
                m.push_inbox(message.to_value());
            }
            m
        };
        let mut m = fresh();
        let stop = m.run(&case.limits);
        let expected = Observed::of(&mut m, stop);
        let configs = [
            (0, CompileMode::Inline),
            (2, CompileMode::Inline),
            (1, CompileMode::Background),
        ];
        for (threshold, mode) in configs {
            let options = RegionOptions {
                threshold,
                compile: mode,
                warmup: 0,
                ..RegionOptions::default()
            };
            let mut jit =
                RegionJit::with_options(Arc::clone(&program), options).expect("cranelift");
            let mut m = fresh();
            let stop = jit.run(&mut m, &case.limits);
            let actual = Observed::of(&mut m, stop);
            assert_eq!(
                actual, expected,
                "case {n}, threshold {threshold} {mode:?}, limits {:?}:\n{}",
                case.limits, case.text
            );
            native += jit.stats().native_steps;
            assert_eq!(jit.stats().failed_compiles, 0, "case {n}:\n{}", case.text);
        }
    }
    assert!(native > 1_000_000, "only {native} steps ran natively");
}
