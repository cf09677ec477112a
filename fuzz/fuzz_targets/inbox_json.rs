//! `inbox_json`: see `avm_fuzzing::targets::inbox_json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = avm_fuzzing::targets::inbox_json(data) {
        panic!("{finding}");
    }
});
