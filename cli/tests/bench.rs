//! `avm bench` as people and scripts use it: each row's peak RSS is that row's alone, whatever
//! ran before it; nothing but the report reaches a pipe; rows name the program and the inbox;
//! the step bound is spelled `--max-steps` as in every other command; a measurement that dies
//! is one line naming the program and the engine.

mod support;

use support::{avm, temp_dir};

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// Writes `text` to `dir/name` and returns its path.
fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The rows `avm bench … --json` printed, after checking that it succeeded.
fn rows(args: &[&str]) -> Vec<Json> {
    let output = avm(&[&["bench", "--json"], args].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON list: {text}");
    match serde_json::from_str(&text).unwrap() {
        Json::Array(rows) => rows,
        other => panic!("not a list: {other}"),
    }
}

/// The row labelled `label`.
fn row<'a>(rows: &'a [Json], label: &str) -> &'a Json {
    rows.iter()
        .find(|r| r["label"] == label)
        .unwrap_or_else(|| panic!("no row {label}: {rows:?}"))
}

/// Pushes an Int on every iteration, forever: 16 bytes of stack per value, 8 MB per million steps.
const HUNGRY: &str = "loop:\n    push 7\n    jump @loop\n";

/// Halts at once.
const TINY: &str = "push 1\npop\nhalt\n";

/// Counts forever without growing.
const FOREVER: &str = "    push 0\nloop:\n    add 1\n    jump @loop\n";

/// Whether two peak RSS figures of the same program are the same measurement (the process's
/// start-up varies by a few hundred KB).
fn about_the_same(mb: f64, alone: f64) -> bool {
    (mb - alone).abs() <= (0.2 * alone).max(5.0)
}

#[test]
fn a_rows_peak_rss_does_not_depend_on_the_rows_before_it() {
    let dir = temp_dir("rss");
    let hungry = file(&dir, "hungry.avm", HUNGRY);
    let tiny = file(&dir, "tiny.avm", TINY);
    let bench = ["--engine", "interp", "--repeat", "1", "--max-steps", "8e6"];
    let alone = rows(&[&bench[..], &[&tiny]].concat());
    let Some(alone) = row(&alone, "tiny")["peak_rss_mb"].as_f64() else {
        eprintln!("skipping the peak RSS check: this OS does not report peak RSS");
        return;
    };
    let after = rows(&[&bench[..], &[&hungry, &tiny]].concat());
    let hungry_mb = row(&after, "hungry")["peak_rss_mb"].as_f64().unwrap();
    let tiny_mb = row(&after, "tiny")["peak_rss_mb"].as_f64().unwrap();
    assert!(
        hungry_mb > alone + 30.0,
        "the hungry program needs memory: {hungry_mb} MB vs {alone} MB"
    );
    assert!(
        about_the_same(tiny_mb, alone),
        "tiny after hungry: {tiny_mb} MB, alone: {alone} MB"
    );
}

#[test]
fn speedtest_kernels_peak_rss_does_not_depend_on_their_order() {
    let Some(shared) = common::shared("speedtest_kernels_peak_rss_does_not_depend_on_their_order")
    else {
        return;
    };
    let speedtest = shared.join("corpus/speedtest");
    let add = speedtest.join("add_2_1.mexe");
    let nop = speedtest.join("nop_0_0.mexe");
    let (add, nop) = (add.to_str().unwrap(), nop.to_str().unwrap());
    let bench = ["--engine", "jit", "--repeat", "1", "--max-steps", "3e7"];
    let first = rows(&[&bench[..], &[nop, add]].concat());
    let second = rows(&[&bench[..], &[add, nop]].concat());
    let peak = |rows: &[Json], label| row(rows, label)["peak_rss_mb"].as_f64();
    let (Some(nop_first), Some(nop_second)) = (peak(&first, "nop_0_0"), peak(&second, "nop_0_0"))
    else {
        eprintln!("skipping the peak RSS check: this OS does not report peak RSS");
        return;
    };
    assert!(
        about_the_same(nop_second, nop_first),
        "nop_0_0 after add_2_1: {nop_second} MB, first: {nop_first} MB"
    );
}

#[test]
fn progress_never_reaches_a_pipe() {
    let dir = temp_dir("progress");
    let tiny = file(&dir, "tiny.avm", TINY);
    let output = avm(&["bench", &tiny, "--repeat", "2"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        !output.stderr.iter().any(|&b| b == 0x1b || b == b'\r'),
        "terminal control bytes on a piped stderr: {stderr:?}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("tiny"));
}

#[test]
fn kept_code_runs_every_engine_to_the_same_steps() {
    let dir = temp_dir("keep-code");
    let forever = file(&dir, "forever.avm", FOREVER);
    let rows = rows(&[
        "--repeat",
        "3",
        "--keep-code",
        "--engine",
        "all",
        "--max-steps",
        "2e6",
        &forever,
    ]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in &rows {
        assert_eq!(row["steps"], 2_000_000, "{row}");
        assert!(row["minstr_per_s"].as_f64().unwrap() > 0.0, "{row}");
    }
}

#[test]
fn rows_are_labelled_by_program_and_inbox() {
    let dir = temp_dir("labels");
    let reader = file(&dir, "reader.avm", "inbox\npop\nhalt\n");
    let message = r#"[{"kind": "3", "l1_block_number": "1", "l1_timestamp": "2", "sender": "0x401",
        "inbox_sequence_number": "0", "l1_gas_price": "0", "data": "0x01"}]"#;
    let inbox = file(&dir, "one_message.inbox.json", message);
    let with = rows(&[
        "--repeat", "1", "--engine", "all", &reader, "--inbox", &inbox,
    ]);
    assert_eq!(with.len(), 3, "{with:?}");
    for (row, engine) in with.iter().zip(["interp", "jit", "regions"]) {
        assert_eq!(row["label"], "reader < one_message", "{row}");
        assert_eq!(row["program"], "reader", "{row}");
        assert_eq!(row["inbox"], "one_message", "{row}");
        assert_eq!(row["engine"], engine, "{row}");
        assert_eq!(row["steps"], 3, "the message was read: {row}");
    }
    let without = rows(&["--repeat", "1", "--engine", "interp", &reader]);
    assert_eq!(without[0]["label"], "reader", "{without:?}");
    assert_eq!(without[0]["program"], "reader", "{without:?}");
    assert!(without[0]["inbox"].is_null(), "{without:?}");
    assert_eq!(without[0]["steps"], 0, "blocked on the empty inbox");

    let table = avm(&["bench", "--repeat", "1", &reader, "--inbox", &inbox]);
    assert_eq!(table.status.code(), Some(0));
    let text = String::from_utf8(table.stdout).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("reader < one_message "))
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn the_step_bound_is_spelled_max_steps() {
    let dir = temp_dir("max-steps");
    let forever = file(&dir, "forever.avm", FOREVER);
    for count in ["1e3", "1_000", "0x3e8", "1000"] {
        let rows = rows(&["--repeat", "1", "--max-steps", count, &forever]);
        assert!(rows.iter().all(|r| r["steps"] == 1000), "{count}: {rows:?}");
    }
    let old = avm(&["bench", "--steps", "1000", &forever]);
    assert_eq!(old.status.code(), Some(2), "--steps is not an option");
}

#[test]
fn zero_repeats_are_refused() {
    let dir = temp_dir("repeat");
    let tiny = file(&dir, "tiny.avm", TINY);
    let output = avm(&["bench", "--repeat", "0", &tiny]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--repeat"), "{stderr}");
}

#[test]
fn the_measuring_process_is_not_in_help() {
    let output = avm(&["bench", "--help"]);
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("--max-steps"), "{help}");
    assert!(!help.contains("--worker"), "{help}");
    assert!(!help.contains("--workload"), "{help}");
}

#[test]
fn a_bad_file_fails_before_any_measurement() {
    let dir = temp_dir("bad-file");
    let tiny = file(&dir, "tiny.avm", TINY);
    let bad = file(&dir, "bad.avm", "no_such_opcode\n");
    let output = avm(&["bench", &tiny, &bad]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad.avm") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// The processes `pid` started, where Linux lists them.
fn children(pid: u32) -> Option<Vec<u32>> {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    Some(
        list.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
    )
}

fn kill(pid: u32) -> bool {
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// An `avm bench` that, when dropped unfinished, is killed with the processes it started, so
/// that a failing test leaves nothing running.
struct Reaped(Option<Child>);

impl Reaped {
    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            for pid in children(child.id()).unwrap_or_default() {
                kill(pid);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_measurement_that_dies_is_one_line_naming_program_and_engine() {
    let dir = temp_dir("dies");
    let forever = file(&dir, "forever.avm", FOREVER);
    let parent = Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(["bench", &forever, "--engine", "jit", "--max-steps", "1e15"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let parent = Reaped(Some(parent));
    if children(parent.id()).is_none() {
        eprintln!("skipping the dying measurement: /proc does not list child processes here");
        return;
    }
    let start = Instant::now();
    let worker = loop {
        if let Some(&pid) = children(parent.id()).unwrap_or_default().first() {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "avm bench started no measuring process"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(kill(worker), "kill {worker}");
    let output = parent.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("forever on jit"), "{stderr}");
}
