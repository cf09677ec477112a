//! `avm run` and `avm resume` as scripts use them: exit codes, SIGINT and SIGTERM, blocking on
//! breakpoints and sideloads, debugprint output, counts written as people write them, JIT
//! options, and what a resumed run reports about itself.

mod support;

use support::{avm, example, temp_dir};

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// Writes assembler text to `dir/name` and returns its path.
fn program(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The one JSON object a command printed, after checking its exit code.
fn json_of(output: &Output, code: i32) -> Json {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
    serde_json::from_str(&text).unwrap()
}

fn stdout_of(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A failing command: this exit code, one line on stderr mentioning `mentions`, no panic.
fn assert_fails(output: &Output, code: i32, mentions: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(mentions), "{stderr}");
}

/// A program that counts forever.
const FOREVER: &str = "    push 0\nloop:\n    add 1\n    jump @loop\n";

#[test]
fn an_error_stop_has_its_own_exit_code_and_a_report() {
    let dir = temp_dir("errorstop");
    let failing = program(&dir, "fail.avm", "push 1\npop\nerror\n");
    let out = json_of(&avm(&["run", &failing, "--json"]), 3);
    assert_eq!(out["status"], "errorstop");
    let text = stdout_of(&avm(&["run", &failing, "--engine", "interp"]), 3);
    assert!(text.starts_with("status: errorstop"), "{text}");
    assert_eq!(
        json_of(&avm(&["run", &example("loop.avm"), "--json"]), 0)["status"],
        "halted"
    );
}

#[test]
fn tool_failures_exit_1_and_usage_errors_exit_2() {
    assert_fails(
        &avm(&["run", "/nonexistent/x.avm"]),
        1,
        "/nonexistent/x.avm",
    );
    assert_fails(
        &avm(&["run", &example("loop.avm"), "--no-such-flag"]),
        2,
        "--no-such-flag",
    );
    assert_fails(
        &avm(&[
            "run",
            &example("loop.avm"),
            "--checkpoint-dir",
            "/tmp/x",
            "--checkpoint-every",
            "0",
        ]),
        2,
        "at least 1",
    );
}

#[test]
fn help_lists_every_exit_code() {
    let help = stdout_of(&avm(&["--help"]), 0);
    for code in ["0", "1", "2", "3", "4", "130", "143"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "exit {code} missing from --help:\n{help}"
        );
    }
}

#[test]
fn counts_are_read_as_people_write_them() {
    for spelling in ["1000", "1_000", "1e3", "0x3e8"] {
        let out = json_of(
            &avm(&[
                "run",
                &example("loop.avm"),
                "--max-steps",
                spelling,
                "--json",
            ]),
            0,
        );
        assert_eq!(out["steps"], 1000, "{spelling}");
    }
    let out = json_of(
        &avm(&["run", &example("loop.avm"), "--max-gas", "1e3", "--json"]),
        0,
    );
    assert_eq!(out["stopped_by"], "gas_limit");
    // Gas is 256-bit: a bound past 2^128 is a bound gas used never reaches.
    let huge = format!("0x{}", "f".repeat(64));
    let out = json_of(
        &avm(&["run", &example("loop.avm"), "--max-gas", &huge, "--json"]),
        0,
    );
    assert_eq!(out["status"], "halted");
    assert_fails(
        &avm(&["run", &example("loop.avm"), "--max-steps", "1.5"]),
        2,
        "not a count",
    );
}

#[test]
fn jit_options_are_refused_with_the_interpreter() {
    for flag in [
        ["--jit-threshold", "5"],
        ["--jit-compile", "inline"],
        ["--jit-hot-steps", "0"],
    ] {
        let mut args = vec!["run", "--engine", "interp"];
        let loop_avm = example("loop.avm");
        args.push(&loop_avm);
        args.extend(flag);
        assert_fails(&avm(&args), 2, flag[0]);
    }
}

#[test]
fn each_jit_refuses_the_other_ones_options() {
    let loop_avm = example("loop.avm");
    let dir = temp_dir("refused");
    let dump = dir.join("dump");
    let dump = dump.to_str().unwrap();
    for (engine, flag) in [
        ("regions", &["--jit-hot-steps", "0"][..]),
        ("jit", &["--perf-map"][..]),
        ("jit", &["--dump-regions", dump][..]),
        ("interp", &["--perf-map"][..]),
    ] {
        let mut args = vec!["run", &loop_avm, "--engine", engine];
        args.extend(flag);
        assert_fails(&avm(&args), 2, flag[0]);
    }
}

#[test]
fn dump_regions_writes_the_clif_and_code_of_each_region() {
    let dir = temp_dir("dump-regions");
    let dump = dir.join("regions");
    let loop_avm = example("loop.avm");
    let out = json_of(
        &avm(&[
            "run",
            &loop_avm,
            "--engine",
            "regions",
            "--jit-compile",
            "inline",
            "--jit-threshold",
            "0",
            "--dump-regions",
            dump.to_str().unwrap(),
            "--json",
        ]),
        0,
    );
    let compiled = out["regions"]["compiled"].as_u64().unwrap();
    assert!(compiled > 0, "{out}");
    assert!(out["regions"]["code_bytes"].as_u64().unwrap() > 0, "{out}");
    let mut names: Vec<String> = std::fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len() as u64, 2 * compiled, "{names:?}");
    assert!(names.contains(&"0.clif".to_string()), "{names:?}");
    let clif = std::fs::read_to_string(dump.join("0.clif")).unwrap();
    assert!(clif.starts_with("function "), "{clif}");
    assert!(
        !std::fs::read_to_string(dump.join("0.s"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_jit_threshold_alone_decides_with_hot_steps_zero() {
    let compiled = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--engine",
            "jit",
            "--jit-compile",
            "inline",
            "--jit-threshold",
            "1",
            "--json",
        ];
        let loop_avm = example("loop.avm");
        args.push(&loop_avm);
        args.extend(extra);
        json_of(&avm(&args), 0)["compiled_blocks"].as_u64().unwrap()
    };
    // The loop runs 1,000 times a block of 7 steps: 7,000 steps, below the default 16,384.
    assert_eq!(compiled(&[]), 0);
    assert!(compiled(&["--jit-hot-steps", "0"]) > 0);
}

#[test]
fn breakpoints_and_sideloads_stop_the_run_when_asked() {
    let dir = temp_dir("blocking");
    let breakpoint = program(&dir, "bp.avm", "push 1\nbreakpoint\npush 2\nhalt\n");
    let out = json_of(&avm(&["run", &breakpoint, "--json"]), 0);
    assert_eq!(out["status"], "halted");
    for engine in ["interp", "jit", "regions"] {
        let ckpt = dir.join(format!("ckpt-{engine}"));
        let ckpt = ckpt.to_str().unwrap();
        // Checkpoints every step cut the run into slices: the breakpoint still blocks.
        let out = json_of(
            &avm(&[
                "run",
                &breakpoint,
                "--engine",
                engine,
                "--stop-on-breakpoint",
                "--json",
                "--checkpoint-dir",
                ckpt,
                "--checkpoint-every",
                "1",
            ]),
            0,
        );
        assert_eq!(
            (out["status"].as_str(), out["block_reason"].as_str()),
            (Some("blocked"), Some("breakpoint"))
        );
        assert_eq!(out["steps"], 1);
        // The next run executes the breakpoint.
        let out = json_of(
            &avm(&[
                "resume",
                ckpt,
                "--engine",
                engine,
                "--stop-on-breakpoint",
                "--json",
            ]),
            0,
        );
        assert_eq!(out["status"], "halted");
        assert_eq!(out["steps"], 4);
    }
    let sideload = program(&dir, "side.avm", "push 1\nsideload 7\nhalt\n");
    let out = json_of(&avm(&["run", &sideload, "--stop-on-sideload", "--json"]), 0);
    assert_eq!(out["block_reason"], "sideload");
    assert_eq!(out["steps"], 1);
    assert_eq!(
        json_of(&avm(&["run", &sideload, "--json"]), 0)["status"],
        "halted"
    );
}

#[test]
fn debugprint_values_are_reported() {
    let dir = temp_dir("debugprint");
    let file = program(
        &dir,
        "print.avm",
        "push (1, 2)\ndebugprint\ndebugprint 7\nhalt\n",
    );
    let out = json_of(&avm(&["run", &file, "--json"]), 0);
    let prints = out["debug_prints"].as_array().unwrap();
    let values: Vec<&str> = prints
        .iter()
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["(1, 2)", "7"]);
    let hash = stdout_of(&avm(&["value-hash", &format!("0x00{:064x}", 7)]), 0);
    assert_eq!(prints[1]["hash"], hash.trim());
    let text = stdout_of(&avm(&["run", &file]), 0);
    assert!(text.contains("debugprint 0: 0x"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("debugprint 1: ") && l.ends_with(" 7")),
        "{text}"
    );
}

#[test]
fn a_resumed_run_reports_its_own_steps_and_speed() {
    let dir = temp_dir("resume-speed");
    let ckpt = dir.join("ckpt");
    let ckpt = ckpt.to_str().unwrap();
    let whole = json_of(
        &avm(&[
            "run",
            &example("loop.avm"),
            "--checkpoint-dir",
            ckpt,
            "--max-steps",
            "6000",
            "--json",
        ]),
        0,
    );
    assert_eq!(whole["steps_run"], 6000);
    let rest = json_of(&avm(&["resume", ckpt, "--json"]), 0);
    assert_eq!(rest["steps"], 9006);
    assert_eq!(rest["steps_run"], 3006);
    // The checkpoint saved at the halt: nothing left to run.
    let again = json_of(&avm(&["resume", ckpt, "--json"]), 0);
    assert_eq!(
        (again["steps"].as_u64(), again["steps_run"].as_u64()),
        (Some(9006), Some(0))
    );
    let text = stdout_of(&avm(&["resume", ckpt]), 0);
    assert!(text.contains("steps: 9006 (0 in this run)"), "{text}");
    assert!(text.contains("no steps run"), "{text}");
    assert!(!text.contains("M steps/s"), "{text}");
}

/// Starts `avm` with its output captured.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `child` to exit (at most 20 s) and returns its output.
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("avm did not stop after the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Waits until the run has saved a checkpoint (so it is past loading and its handlers are in).
fn wait_for_checkpoints(ckpt: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ckpt.join("checkpoints.redb").exists() {
        assert!(Instant::now() < deadline, "no checkpoint store appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn sigint_stops_at_a_step_boundary_with_a_report_and_a_checkpoint() {
    let dir = temp_dir("sigint");
    let forever = program(&dir, "forever.avm", FOREVER);
    for engine in ["interp", "jit", "regions"] {
        let ckpt = dir.join(format!("ckpt-{engine}"));
        let ckpt_dir = ckpt.to_str().unwrap();
        let child = spawn(&[
            "run",
            &forever,
            "--engine",
            engine,
            "--checkpoint-dir",
            ckpt_dir,
            "--checkpoint-every",
            "1e6",
            "--json",
        ]);
        wait_for_checkpoints(&ckpt);
        send(&child, "-INT");
        let out = json_of(&finish(child), 130);
        assert_eq!(
            (out["status"].as_str(), out["stopped_by"].as_str()),
            (Some("stopped"), Some("interrupt"))
        );
        let steps = out["steps"].as_u64().unwrap();
        assert!(steps > 0);
        // The checkpoint saved on the way out holds the machine the report describes.
        let listed = json_of(&avm(&["checkpoints", ckpt_dir, "--json"]), 0);
        let last = listed["checkpoints"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["steps"].as_u64(), Some(steps));
        assert_eq!(last["machine_hash"], out["machine_hash"]);
        assert_eq!(last["id"], out["checkpoint"]);
        let resumed = json_of(
            &avm(&["resume", ckpt_dir, "--max-steps", "1000", "--json"]),
            0,
        );
        assert_eq!(resumed["steps"].as_u64(), Some(steps + 1000));
    }
}

#[test]
fn sigterm_stops_like_sigint_with_its_own_code() {
    let dir = temp_dir("sigterm");
    let forever = program(&dir, "forever.avm", FOREVER);
    let ckpt = dir.join("ckpt");
    let child = spawn(&["run", &forever, "--checkpoint-dir", ckpt.to_str().unwrap()]);
    wait_for_checkpoints(&ckpt);
    send(&child, "-TERM");
    let text = stdout_of(&finish(child), 143);
    assert!(text.starts_with("status: stopped (terminated)"), "{text}");
    assert!(text.contains("checkpoint: "), "{text}");
}

#[test]
fn a_memory_bound_stops_the_run_whole() {
    let dir = temp_dir("memory");
    let grow = program(&dir, "grow.avm", "loop:\n    push (1, 2)\n    jump @loop\n");
    let ckpt = dir.join("ckpt");
    let ckpt = ckpt.to_str().unwrap();
    let out = json_of(
        &avm(&[
            "run",
            &grow,
            "--max-memory",
            "100M",
            "--checkpoint-dir",
            ckpt,
            "--json",
        ]),
        0,
    );
    assert_eq!(
        (out["status"].as_str(), out["stopped_by"].as_str()),
        (Some("stopped"), Some("memory_limit"))
    );
    let steps = out["steps"].as_u64().unwrap();
    assert!(steps > 100_000, "{steps}");
    let resumed = json_of(&avm(&["resume", ckpt, "--max-steps", "10", "--json"]), 0);
    assert_eq!(resumed["steps"].as_u64(), Some(steps + 10));
    let unbounded = json_of(
        &avm(&[
            "run",
            &grow,
            "--max-memory",
            "0",
            "--max-steps",
            "1e5",
            "--json",
        ]),
        0,
    );
    assert_eq!(unbounded["stopped_by"], "step_limit");
    assert_fails(
        &avm(&["run", &grow, "--max-memory", "lots"]),
        2,
        "not a size",
    );
}

/// Runs `avm args` with a terminal as its stderr (under `script`), or `None` where there is no
/// `script` to provide one.
fn on_a_terminal(args: &[&str]) -> Option<String> {
    let command = std::iter::once(env!("CARGO_BIN_EXE_avm"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("script")
        .args(["-qec", &format!("{command} >/dev/null"), "/dev/null"])
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn long_runs_and_proof_checks_show_progress_on_a_terminal() {
    let dir = temp_dir("progress");
    let forever = program(&dir, "forever.avm", FOREVER);
    let Some(proving) = on_a_terminal(&["prove", &forever, "--check-all", "--max-steps", "1e5"])
    else {
        eprintln!("skipping long_runs_and_proof_checks_show_progress_on_a_terminal: no `script`");
        return;
    };
    assert!(proving.contains("steps proved and verified"), "{proving:?}");
    let running =
        on_a_terminal(&["run", &forever, "--engine", "interp", "--max-steps", "3e8"]).unwrap();
    assert!(running.contains("M steps/s"), "{running:?}");
}
