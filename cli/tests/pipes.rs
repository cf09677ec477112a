//! Every command that prints ends quietly when its reader goes away (`avm disasm … | head`):
//! exit 0, nothing on stderr, no panic.

mod support;

use support::example;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avm-pipes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `avm args` with a standard output whose reader reads `keep` bytes and goes away.
fn with_reader_gone(args: &[&str], keep: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut kept = vec![0; keep];
    stdout.read_exact(&mut kept).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
}

/// A program whose disassembly is megabytes long, far beyond what a pipe buffers.
fn long_program(dir: &Path) -> String {
    let path = dir.join("long.avm");
    let text: String = (0..200_000).map(|i| format!("push {i}\npop\n")).collect();
    std::fs::write(&path, text + "halt\n").unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn long_outputs_end_quietly_when_the_reader_stops_early() {
    let long = long_program(&temp_dir());
    with_reader_gone(&["disasm", &long], 100);
    with_reader_gone(&["asm", &long], 100);
}

#[test]
fn every_printing_command_ends_quietly_when_nobody_reads() {
    let dir = temp_dir();
    let loop_avm = example("loop.avm");
    let ckpt = dir.join("ckpt");
    let ckpt = ckpt.to_str().unwrap();
    let proof = dir.join("proof.json");
    let made = Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(["prove", &loop_avm, "--step", "3", "--json"])
        .output()
        .unwrap();
    std::fs::write(&proof, made.stdout).unwrap();
    let proof = proof.to_str().unwrap();
    let int10 = format!("0x00{:064x}", 10);
    let commands: Vec<Vec<&str>> = vec![
        vec!["run", &loop_avm],
        vec!["run", &loop_avm, "--json", "--checkpoint-dir", ckpt],
        vec!["resume", ckpt],
        vec!["checkpoints", ckpt],
        vec!["checkpoints", ckpt, "--json"],
        vec!["info", &loop_avm],
        vec!["info", &loop_avm, "--json"],
        vec!["value-hash", &int10],
        vec!["asm", &loop_avm],
        vec!["disasm", &loop_avm],
        vec!["prove", &loop_avm, "--step", "5"],
        vec!["prove", &loop_avm, "--check-all", "--max-steps", "100"],
        vec![
            "prove",
            &loop_avm,
            "--check-all",
            "--max-steps",
            "100",
            "--json",
        ],
        vec!["verify-proof", proof],
        vec!["bench", &loop_avm, "--repeat", "1", "--engine", "interp"],
        vec!["--help"],
        vec!["run", "--help"],
        vec!["--version"],
    ];
    for args in &commands {
        with_reader_gone(args, 0);
    }
}
