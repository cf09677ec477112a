//! What `avm` tells about itself: logs on stderr with `-v` or `AVM_LOG` (and nothing without
//! them), and shell completion scripts that know the commands.

mod support;

use support::example;

use std::process::{Command, Output};

fn avm(args: &[&str], log: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_avm"));
    command.args(args).env_remove("AVM_LOG");
    if let Some(filter) = log {
        command.env("AVM_LOG", filter);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A run that saves a checkpoint and compiles every region before it runs.
fn logged_run(test: &str, verbose: &[&str], log: Option<&str>) -> String {
    let dir = std::env::temp_dir().join(format!("avm-observability-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let loop_avm = example("loop.avm");
    let mut args = verbose.to_vec();
    args.extend([
        "run",
        &loop_avm,
        "--engine",
        "regions",
        "--jit-threshold",
        "0",
        "--checkpoint-dir",
        dir.to_str().unwrap(),
    ]);
    stderr(&avm(&args, log))
}

#[test]
fn a_plain_run_logs_nothing() {
    assert_eq!(logged_run("plain", &[], None), "");
}

#[test]
fn verbose_runs_log_compiles_and_checkpoints() {
    let log = logged_run("verbose", &["-v"], None);
    assert!(log.contains("region compiled"), "{log}");
    assert!(log.contains("checkpoint saved"), "{log}");
    assert!(!log.contains('\u{1b}'), "no colours into a pipe: {log}");
}

#[test]
fn avm_log_selects_what_is_logged() {
    let log = logged_run("filter", &[], Some("avm_engine::node=info"));
    assert!(log.contains("checkpoint saved"), "{log}");
    assert!(!log.contains("region compiled"), "{log}");
}

#[test]
fn completion_scripts_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let output = avm(&["completions", shell], None);
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        for command in ["run", "resume", "profile", "verify-proof"] {
            assert!(
                script.contains(command),
                "{shell} completions lack {command}"
            );
        }
        assert!(script.contains("trace-from"), "{shell}");
    }
    let unknown = avm(&["completions", "cmd.exe"], None);
    assert_eq!(unknown.status.code(), Some(2));
}
