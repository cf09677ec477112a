//! The region JIT compiling on its background thread: the machine goes on interpreting until
//! a region lands, then runs it natively, and the run ends exactly where the interpreter's does.

use std::sync::Arc;

use avm_engine::CompileMode;
use avm_engine::native::{RegionJit, RegionOptions};
use avm_interp::{Limits, Machine, Observed, Stop};
use avm_runtime::asm;

/// A loop of 100,000 rounds summing its counter (the sum wraps nothing: it fits in 64 bits).
const LOOP: &str = "
    push 0
    push 100000
loop:
    dup0
    swap2
    add
    swap1
    add -1
    dup0
    cjump @loop
    pop
    eq 5000050000
    cjump @ok
    error
ok:
    halt
";

#[test]
fn background_regions_land_and_the_run_stays_exact() {
    let program = Arc::new(asm::assemble(LOOP).expect("assembles"));
    let mut reference = Machine::new(Arc::clone(&program));
    let stop = reference.run(&Limits::default());
    assert_eq!(stop, Stop::Halted);
    let expected = Observed::of(&mut reference, stop);

    let options = RegionOptions {
        threshold: 1,
        compile: CompileMode::Background,
        warmup: 0,
        ..RegionOptions::default()
    };
    let mut jit = RegionJit::with_options(Arc::clone(&program), options).expect("cranelift");
    assert_eq!(jit.compile_mode(), CompileMode::Background);
    let mut machine = Machine::new(Arc::clone(&program));
    // Slices of 50 steps: between them the compile thread has time to deliver, and the machine
    // goes on interpreting until it does.
    let mut stop = Stop::StepLimit;
    let mut slices = 0;
    while stop == Stop::StepLimit {
        let limits = Limits {
            max_steps: Some(50),
            continues: slices > 0,
            ..Limits::default()
        };
        stop = jit.run(&mut machine, &limits);
        slices += 1;
        if jit.stats().regions == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let stats = jit.stats();
    assert!(stats.regions > 0, "no region landed: {stats:?}");
    assert!(stats.native_steps > 0, "no step ran natively: {stats:?}");
    assert_eq!(stats.failed_compiles, 0);
    assert_eq!(Observed::of(&mut machine, stop), expected);
}

#[test]
fn threshold_zero_compiles_inline_whatever_the_mode() {
    let program = Arc::new(asm::assemble(LOOP).expect("assembles"));
    let options = RegionOptions {
        threshold: 0,
        compile: CompileMode::Background,
        ..RegionOptions::default()
    };
    let jit = RegionJit::with_options(program, options).expect("cranelift");
    assert_eq!(jit.compile_mode(), CompileMode::Inline);
}
