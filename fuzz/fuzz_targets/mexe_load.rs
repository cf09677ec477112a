//! `mexe_load`: see `avm_fuzzing::targets::mexe_load`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::mexe_load(data) {
        panic!("{finding}");
    }
});
