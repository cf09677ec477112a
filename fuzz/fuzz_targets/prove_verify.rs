//! `prove_verify`: see `avm_fuzzing::targets::prove_verify`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::prove_verify(data) {
        panic!("{finding}");
    }
});
