//! `prove_l1_inbox`: see `avm_fuzzing::targets::prove_l1_inbox`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::prove_l1_inbox(data) {
        panic!("{finding}");
    }
});
