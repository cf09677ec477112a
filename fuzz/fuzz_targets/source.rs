//! `source`: see `avm_fuzzing::targets::source`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::source(data) {
        panic!("{finding}");
    }
});
