//! What the `avm` tests share: running the binary, the shipped examples, scratch directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `avm` with `args` and returns what it did.
#[allow(dead_code)]
pub fn avm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .output()
        .unwrap()
}

/// The path of a program in the repository's `examples/`.
#[allow(dead_code)]
pub fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

/// A fresh, empty directory for one test's files, named after the test file and `test`.
#[allow(dead_code)]
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "avm-{}-{test}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
