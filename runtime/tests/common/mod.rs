//! Finding `../shared` (the spec and corpus beside the checkout) for tests that read it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The `shared/` folder beside the checkout (or `$AVM_SHARED`), or `None` after printing why
/// the calling test skips. Printed straight to stderr so the reason shows even when cargo
/// captures test output.
pub fn shared(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("AVM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    if dir.join("corpus").is_dir() {
        return Some(dir);
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipping {test}: {} not found (the corpus lives beside the checkout, not in it)",
        dir.join("corpus").display()
    );
    None
}

/// Parses 64 hex digits (an optional `0x` allowed) as a U256.
#[allow(dead_code)]
pub fn h(s: &str) -> avm_runtime::U256 {
    avm_runtime::U256::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// Decodes hex bytes (an optional `0x` allowed).
#[allow(dead_code)]
pub fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The files of `dir` ending in `.extension`, sorted.
#[allow(dead_code)]
pub fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// The names of the recorded ArbOS replays in `dir` (each `NAME.expect.json`), sorted.
#[allow(dead_code)]
pub fn replay_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_str()?
                .strip_suffix(".expect.json")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}
