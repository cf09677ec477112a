//! `hex_value`: see `avm_fuzzing::targets::hex_value`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::hex_value(data) {
        panic!("{finding}");
    }
});
