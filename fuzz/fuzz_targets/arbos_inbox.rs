//! `arbos_inbox`: arbitrary L1 messages fed to the real ArbOS after a recorded replay's prefix,
//! on every engine (see `avm_fuzzing::targets::arbos_inbox`). Needs `../shared/corpus/arbos`
//! (or `AVM_SHARED=/path/to/shared`); without it the target stops at start with the reason.
#![no_main]

use std::path::PathBuf;
use std::sync::Arc;

use avm_fuzzing::targets::{ArbosPrefix, arbos_inbox};
use avm_runtime::{mexe, parse_inbox_json};
use libfuzzer_sys::fuzz_target;

/// The replay whose messages bring ArbOS to a realistic state before the fuzzed message.
const PREFIX_REPLAY: &str = "evm_direct_deploy_add";

thread_local! {
    /// Machines hold thread-local counted values, so the prefix is built once per fuzzing thread.
    static PREFIX: ArbosPrefix = arbos_prefix();
}

fn arbos_prefix() -> ArbosPrefix {
    let shared = std::env::var_os("AVM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let arbos = shared.join("corpus/arbos");
    let program = mexe::load_file(arbos.join("arbos.mexe")).unwrap_or_else(|e| {
        eprintln!("arbos_inbox needs {}: {e}", arbos.display());
        std::process::exit(2)
    });
    let inbox = std::fs::read(arbos.join(format!("{PREFIX_REPLAY}.inbox.json")))
        .map_err(|e| e.to_string())
        .and_then(|json| parse_inbox_json(&json).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| {
            eprintln!("arbos_inbox: reading the {PREFIX_REPLAY} replay: {e}");
            std::process::exit(2)
        });
    ArbosPrefix::new(Arc::new(program), &inbox)
}

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = PREFIX.with(|prefix| arbos_inbox(prefix, data)) {
        panic!("{finding}");
    }
});
