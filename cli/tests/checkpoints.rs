//! Checkpoints through the command line: `avm run --checkpoint-dir`, `avm checkpoints` and
//! `avm resume` give what one uninterrupted run gives, also when runs are killed at random
//! moments (the ArbOS test is skipped when `../shared` is absent).

mod support;

use support::{avm, temp_dir};

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use avm_engine::node::Store;

/// Runs `avm` and returns its JSON report without the timing fields.
fn avm_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    without_timings(serde_json::from_slice(&out.stdout).unwrap())
}

/// An `avm --json` report without the fields that vary from run to run.
fn without_timings(mut report: serde_json::Value) -> serde_json::Value {
    // Also what differs between one run and a resumed one: this run's steps and the checkpoint.
    for key in [
        "load_ms",
        "wall_ms",
        "compile_ms",
        "compiled_blocks",
        "regions",
        "steps_run",
        "checkpoint",
        "save_ms",
    ] {
        report.as_object_mut().unwrap().remove(key);
    }
    report
}

#[test]
fn cli_resume_reports_what_one_run_would() {
    let dir = temp_dir("cli");
    let ckpt = dir.join("ckpt");
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loop.avm");
    let program = program.to_str().unwrap();
    let whole = avm_json(&["run", program, "--engine", "interp"]);
    let ckpt_dir = ckpt.to_str().unwrap();
    let partial = avm_json(&[
        "run",
        program,
        "--max-steps",
        "2500",
        "--checkpoint-dir",
        ckpt_dir,
        "--checkpoint-every",
        "1000",
    ]);
    assert_eq!(partial["stopped_by"], "step_limit");
    let listed = avm_json(&["checkpoints", ckpt_dir]);
    let steps: Vec<u64> = listed["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["steps"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1000, 2000, 2500]);
    for (engine, from) in [("interp", None), ("jit", Some("1")), ("regions", Some("2"))] {
        let mut args = vec!["resume", ckpt_dir, "--engine", engine];
        if let Some(id) = from {
            args.extend(["--checkpoint", id]);
        }
        assert_eq!(
            avm_json(&args),
            whole,
            "resumed with {engine} from {from:?}"
        );
    }
    // Pruning keeps the newest checkpoint, which still resumes.
    let pruned = avm_json(&["checkpoints", ckpt_dir, "--keep", "1"]);
    let left = pruned["checkpoints"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["steps"], whole["steps"]);
    assert_eq!(avm_json(&["resume", ckpt_dir]), whole);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real workload as a node runs it, through the CLI: `avm run` of ArbOS (the longest
/// replay), checkpointing every 100,000 steps, is killed at random moments (while loading,
/// running or saving), and `avm resume` continues from the latest checkpoint, on alternating
/// engines, until one run completes. Its report is that of one uninterrupted run.
#[test]
fn arbos_killed_at_random_points_resumes_to_the_same_end() {
    let Some(shared) = common::shared("arbos kill and resume") else {
        return;
    };
    let arbos = shared.join("corpus/arbos");
    let mexe = arbos.join("arbos.mexe");
    let inbox = arbos.join("evm_test_create.inbox.json");
    let (mexe, inbox) = (mexe.to_str().unwrap(), inbox.to_str().unwrap());
    let whole = avm_json(&["run", mexe, "--inbox", inbox, "--engine", "interp"]);
    let expect: serde_json::Value =
        serde_json::from_slice(&std::fs::read(arbos.join("evm_test_create.expect.json")).unwrap())
            .unwrap();
    assert_eq!(
        whole["machine_hash"],
        expect["expected"]["machine_hash_when_blocked"]
    );
    let dir = temp_dir("arbos-kill");
    let ckpt = dir.join("ckpt");
    let ckpt_dir = ckpt.to_str().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut kills = 0;
    for round in 0..60u64 {
        let resumable = Store::open(ckpt.join("checkpoints.redb"))
            .and_then(|store| store.latest())
            .is_ok_and(|latest| latest.is_some());
        let mut args = match resumable {
            true => vec!["resume", ckpt_dir],
            false => vec!["run", mexe, "--inbox", inbox, "--checkpoint-dir", ckpt_dir],
        };
        let engine = ["interp", "jit"][round as usize % 2];
        args.extend(["--checkpoint-every", "100000", "--engine", engine, "--json"]);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_avm"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // xorshift: the kill moments are random but the same on every run of the test.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let deadline = Instant::now() + Duration::from_millis(20 + seed % 300 + 40 * round);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let Some(status) = status else {
            kills += 1;
            continue;
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(status.success(), "round {round}: {args:?} failed: {err}");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        let report = without_timings(serde_json::from_str(&out).unwrap());
        assert_eq!(report, whole, "after {kills} kills, round {round}");
        eprintln!("killed {kills} times, then finished by {args:?}");
        assert!(kills > 0, "no run was killed");
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    panic!("no run finished in 60 rounds ({kills} kills)");
}

/// Writes assembler text into `dir` and returns its path.
fn program(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// `avm checkpoints DIR --json` (it must succeed).
fn listed(dir: &str) -> Vec<serde_json::Value> {
    let out = avm(&["checkpoints", dir, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["checkpoints"].as_array().unwrap().clone()
}

/// A child process killed (and reaped) when dropped, so a failed assertion never leaves it
/// running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A failure report: exit status 1 and one line on stderr, with no panic.
fn one_line_failure(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panick"), "{stderr}");
    stderr
}

#[test]
fn a_store_is_listed_while_a_run_writes_it() {
    let dir = temp_dir("listing-during-a-run");
    let forever = program(
        &dir,
        "forever.avm",
        "    push 0\nloop:\n    add 1\n    jump @loop\n",
    );
    let ckpt = dir.join("ckpt");
    let ckpt_dir = ckpt.to_str().unwrap();
    let mut run = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_avm"))
            .args(["run", &forever, "--checkpoint-dir", ckpt_dir])
            .args(["--checkpoint-every", "1000", "--max-steps", "1e9"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let during = loop {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        if ckpt.join("checkpoints.redb").exists() {
            let list = listed(ckpt_dir);
            if !list.is_empty() {
                break list;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(during.iter().all(|c| c["status"] == "running"));
    // The run goes on saving: a later listing sees more.
    std::thread::sleep(Duration::from_millis(200));
    assert!(listed(ckpt_dir).len() > during.len());
    // The text listing too.
    let out = avm(&["checkpoints", ckpt_dir]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("  running  "));
    // Pruning and resuming write: refused in one line while the run holds the store.
    for args in [
        &["checkpoints", ckpt_dir, "--keep", "1"][..],
        &["resume", ckpt_dir],
    ] {
        let stderr = one_line_failure(&avm(args));
        assert!(
            stderr.contains("another process (a run) holds this checkpoint store")
                && stderr.contains("avm checkpoints DIR"),
            "{args:?}: {stderr}"
        );
    }
    assert!(run.0.try_wait().unwrap().is_none(), "the run goes on");
    // Killed while writing (the file then needs repair), the store still lists and prunes.
    run.0.kill().unwrap();
    run.0.wait().unwrap();
    let after = listed(ckpt_dir);
    assert!(after.len() > during.len());
    let out = avm(&["checkpoints", ckpt_dir, "--keep", "1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listed(ckpt_dir), after[after.len() - 1..]);
    drop(run);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_machine_waiting_for_input_is_listed_as_blocked() {
    let dir = temp_dir("blocked-listing");
    let reader = program(
        &dir,
        "reader.avm",
        "    push 1\n    push 2\n    pop\n    inbox\n    halt\n",
    );
    let ckpt = dir.join("ckpt");
    let ckpt_dir = ckpt.to_str().unwrap();
    let out = avm(&[
        "run",
        &reader,
        "--checkpoint-dir",
        ckpt_dir,
        "--checkpoint-every",
        "1",
        "--json",
    ]);
    assert!(out.status.success());
    let list = listed(ckpt_dir);
    let statuses: Vec<(&str, Option<&str>)> = list
        .iter()
        .map(|c| (c["status"].as_str().unwrap(), c["block_reason"].as_str()))
        .collect();
    // Saved after each of the three steps, then where the run blocked (the last two are the
    // same machine: waiting for a message).
    assert_eq!(
        statuses,
        [
            ("running", None),
            ("running", None),
            ("blocked", Some("inbox")),
            ("blocked", Some("inbox"))
        ]
    );
    let out = avm(&["checkpoints", ckpt_dir]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("blocked (inbox)"));
    // A message arrives: the resumed machine reads it and halts.
    let inbox = dir.join("inbox.json");
    std::fs::write(&inbox, r#"[{"kind": "3", "l1_block_number": "1", "l1_timestamp": "1", "sender": "0x1", "inbox_sequence_number": "0", "l1_gas_price": "1", "data": "0x"}]"#).unwrap();
    let out = avm(&[
        "resume",
        ckpt_dir,
        "--inbox",
        inbox.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "halted");
    assert_eq!(listed(ckpt_dir).last().unwrap()["status"], "halted");

    // Stopped by a step bound: before the `inbox`, and at it with a message queued. Neither
    // waits for input.
    let inbox = inbox.to_str().unwrap();
    for (case, steps, with_inbox) in [("before", "2", false), ("queued", "3", true)] {
        let ckpt = dir.join(case);
        let ckpt_dir = ckpt.to_str().unwrap();
        let mut args = vec!["run", reader.as_str(), "--checkpoint-dir", ckpt_dir];
        args.extend(["--max-steps", steps, "--json"]);
        if with_inbox {
            args.extend(["--inbox", inbox]);
        }
        let out = avm(&args);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["stopped_by"], "step_limit", "{case}");
        let list = listed(ckpt_dir);
        assert_eq!(list.len(), 1, "{case}");
        assert_eq!(list[0]["status"], "running", "{case}");
        assert_eq!(list[0]["steps"], steps.parse::<u64>().unwrap(), "{case}");
        assert!(list[0].get("block_reason").is_none(), "{case}");
        let out = avm(&["checkpoints", ckpt_dir]);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("blocked"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_store_without_checkpoints_is_empty_not_corrupt() {
    let dir = temp_dir("empty-store");
    let ckpt = dir.join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    drop(Store::open(ckpt.join("checkpoints.redb")).unwrap());
    let ckpt_dir = ckpt.to_str().unwrap();
    assert!(listed(ckpt_dir).is_empty());
    let out = avm(&["checkpoints", ckpt_dir]);
    assert!(out.status.success() && out.stderr.is_empty());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "a heading and the totals: {text}");
    assert!(text.contains("0 checkpoints, 0 values"), "{text}");
    let stderr = one_line_failure(&avm(&["resume", ckpt_dir]));
    assert!(
        stderr.contains("no checkpoint yet") && !stderr.contains("corrupt"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two runs started together on one new checkpoint directory: one makes the store; the other
/// either runs after it (adding its own checkpoints) or is told in one line that a run holds
/// the store. No run's checkpoints are ever lost.
#[test]
fn two_runs_starting_on_one_new_directory_lose_nothing() {
    let dir = temp_dir("concurrent-starts");
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loop.avm");
    let program = program.to_str().unwrap();
    let (mut both, mut one) = (0, 0);
    for trial in 0..40 {
        let ckpt = dir.join(format!("ckpt-{trial}"));
        let ckpt_dir = ckpt.to_str().unwrap();
        let start = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_avm"))
                .args(["run", program, "--engine", "interp", "--json"])
                .args(["--checkpoint-dir", ckpt_dir, "--checkpoint-every", "1000"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let runs = [start(), start()].map(|child| child.wait_with_output().unwrap());
        let mut saved = 0;
        for out in &runs {
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => saved += 10,
                Some(1) => {
                    assert_eq!(stderr.lines().count(), 1, "trial {trial}: {stderr}");
                    assert!(
                        stderr.contains("holds this checkpoint store"),
                        "trial {trial}: {stderr}"
                    );
                }
                code => panic!("trial {trial}: exit {code:?}: {stderr}"),
            }
        }
        assert!(saved > 0, "trial {trial}: neither run ran");
        assert_eq!(
            listed(ckpt_dir).len(),
            saved,
            "trial {trial}: checkpoints lost"
        );
        match saved {
            20 => both += 1,
            _ => one += 1,
        }
    }
    eprintln!("40 concurrent starts: both ran in turn {both} times, one was refused {one} times");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A backup on a read-only file system lists, and resumes without saving into it (saying so).
/// Needs `unshare` to mount the directory read-only in a user namespace; skips without it.
#[test]
fn a_store_on_a_read_only_file_system_lists_and_resumes() {
    let dir = temp_dir("read-only-fs");
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loop.avm");
    let ckpt = dir.join("ckpt");
    let ckpt_dir = ckpt.to_str().unwrap();
    let out = avm(&[
        "run",
        program.to_str().unwrap(),
        "--max-steps",
        "5000",
        "--checkpoint-dir",
        ckpt_dir,
    ]);
    assert!(out.status.success());
    let avm_bin = env!("CARGO_BIN_EXE_avm");
    let script = format!(
        "mount --bind -o ro {ckpt_dir} {ckpt_dir} || exit 77; \
         touch {ckpt_dir}/probe 2>/dev/null && exit 78; \
         {avm_bin} checkpoints {ckpt_dir} --json || exit 10; \
         {avm_bin} resume {ckpt_dir} --json || exit 11; \
         {avm_bin} resume {ckpt_dir} --checkpoint-every 10; echo \"every: $?\""
    );
    let Ok(output) = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
    else {
        eprintln!("skipping a_store_on_a_read_only_file_system_lists_and_resumes: no unshare");
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if matches!(output.status.code(), Some(77 | 78)) || stderr.contains("unshare:") {
        eprintln!(
            "skipping a_store_on_a_read_only_file_system_lists_and_resumes: cannot mount read-only here: {stderr}"
        );
        return;
    }
    assert!(output.status.success(), "{stdout}{stderr}");
    let mut lines = stdout.lines();
    let listed: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(listed["checkpoints"].as_array().unwrap().len(), 1);
    let resumed: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        (resumed["status"].as_str(), resumed["steps"].as_u64()),
        (Some("halted"), Some(9006))
    );
    assert!(
        resumed.get("checkpoint").is_none(),
        "nothing saved: {resumed}"
    );
    assert!(
        stderr.contains("is read-only: this run saves no checkpoint"),
        "{stderr}"
    );
    assert!(
        stdout.contains("every: 1") && stderr.contains("--checkpoint-every cannot save there"),
        "{stdout}{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
