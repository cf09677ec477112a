//! `diff_engines`: see `avm_fuzzing::targets::diff_engines`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::diff_engines(data).map(drop) {
        panic!("{finding}");
    }
});
