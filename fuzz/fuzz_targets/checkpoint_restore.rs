//! `checkpoint_restore`: see `avm_fuzzing::targets::checkpoint_restore`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::checkpoint_restore(data) {
        panic!("{finding}");
    }
});
