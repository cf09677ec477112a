//! `avm profile`: every step and its gas lands in exactly one opcode, block and source line,
//! on a small located loop written here and on the real ArbOS replay.

mod support;

use support::{avm, temp_dir};

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;

use avm_runtime::{asm, mexe, opcode};
use serde_json::{Value as Json, json};

/// The one JSON object a command printed, after checking it exited 0.
fn json_of(args: &[&str]) -> Json {
    let output = avm(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A loop that counts 3 down to 0, one instruction a line so that index `i` is the `i`-th
/// instruction. The back edge goes through the static value (a loaded immediate may only
/// point forward).
const LOOP: &str = "
    nop             ; 0
    push 3          ; 1
loop:
    dup0            ; 2
    iszero          ; 3
    cjump @done     ; 4
    add -1          ; 5
    spush           ; 6
    tget 0          ; 7
    jump            ; 8
    error           ; 9 (never runs)
done:
    halt            ; 10
.static (@loop)
";

/// The source location given to each instruction of [`LOOP`]: (file id, line), `None` for
/// `"location": null`. Instruction 0 has none and nothing before it.
const LOCATIONS: [Option<(u64, u32)>; 11] = [
    None,
    Some((MAIN, 1)),
    Some((MAIN, 2)),
    None,
    Some((MAIN, 3)),
    Some((LIB, 7)),
    None,
    None,
    Some((MAIN, 4)),
    None,
    Some((MAIN, 5)),
];

/// File ids as the compiler writes them (64-bit; above 2^53 on purpose).
const MAIN: u64 = 18_315_375_561_174_092_854;
const LIB: u64 = 7;

/// How often each instruction of [`LOOP`] runs: three trips round the loop, then the exit.
const RUNS: [u64; 11] = [1, 1, 4, 4, 4, 3, 3, 3, 3, 0, 1];

/// [`LOOP`] as a `.mexe` with arb-os style debug information: `debug_info.location` on each
/// instruction and a `file_info_chart`.
fn located_mexe() -> String {
    let program = asm::assemble(LOOP).unwrap();
    assert_eq!(program.len(), LOCATIONS.len());
    let mut json: Json = serde_json::from_str(&mexe::to_json(&program)).unwrap();
    for (instruction, location) in json["code"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(LOCATIONS)
    {
        let location = location.map(|(file_id, line)| {
            json!({"line": line, "column": 4, "absolute": 100, "file_id": file_id})
        });
        instruction["debug_info"] =
            json!({"location": location, "attributes": {"breakpoint": false}});
    }
    json["file_info_chart"] = json!({ MAIN.to_string(): "main", LIB.to_string(): "std::lib" });
    json.to_string()
}

/// The opcode byte of each instruction of [`LOOP`].
fn loop_opcodes() -> Vec<u8> {
    let program = asm::assemble(LOOP).unwrap();
    program.codepoints()[..program.len()]
        .iter()
        .map(|cp| cp.opcode())
        .collect()
}

/// The rows of a profile section as `label -> (steps, gas)`.
fn rows(
    profile: &Json,
    section: &str,
    label: impl Fn(&Json) -> String,
) -> HashMap<String, (u64, u64)> {
    profile[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                label(row),
                (row["steps"].as_u64().unwrap(), row["gas"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// `file:line`, or the bucket's name.
fn line_label(row: &Json) -> String {
    match row["line"].as_u64() {
        Some(line) => format!("{}:{line}", row["file"].as_str().unwrap()),
        None => row["file"].as_str().unwrap().to_string(),
    }
}

/// The gas an `avm run --json` report gives.
fn gas_of_run(run: &Json) -> u64 {
    run["gas"]
        .as_u64()
        .unwrap_or_else(|| panic!("no gas in {run}"))
}

/// Sums of steps and gas over a section's rows.
fn totals(profile: &Json, section: &str) -> (u64, u64) {
    profile[section]
        .as_array()
        .unwrap()
        .iter()
        .fold((0, 0), |(steps, gas), row| {
            (
                steps + row["steps"].as_u64().unwrap(),
                gas + row["gas"].as_u64().unwrap(),
            )
        })
}

#[test]
fn a_located_loop_is_counted_per_opcode_block_and_line() {
    let dir = temp_dir("loop");
    let path = dir.join("loop.mexe");
    std::fs::write(&path, located_mexe()).unwrap();
    let file = path.to_str().unwrap();
    let folded = dir.join("loop.folded");
    let profile = json_of(&[
        "profile",
        file,
        "--json",
        "--folded",
        folded.to_str().unwrap(),
    ]);
    let run = json_of(&["run", file, "--json"]);

    assert_eq!(profile["status"], "halted");
    assert_eq!(profile["steps"], run["steps"]);
    assert_eq!(profile["gas"].as_u64(), Some(gas_of_run(&run)));
    let steps = profile["steps"].as_u64().unwrap();
    let gas = profile["gas"].as_u64().unwrap();
    assert_eq!(steps, RUNS.iter().sum::<u64>());
    for section in ["opcodes", "blocks", "files", "lines"] {
        assert_eq!(totals(&profile, section), (steps, gas), "{section} add up");
    }

    // Expected per line: each instruction's runs and table gas, carried to the nearest
    // located instruction before it.
    let opcodes = loop_opcodes();
    let mut expected: HashMap<String, (u64, u64)> = HashMap::new();
    let mut current = "(no location)".to_string();
    for (pc, location) in LOCATIONS.iter().enumerate() {
        if let Some((file_id, line)) = location {
            let name = if *file_id == MAIN { "main" } else { "std::lib" };
            current = format!("{name}:{line}");
        }
        if RUNS[pc] > 0 {
            let entry = expected.entry(current.clone()).or_default();
            entry.0 += RUNS[pc];
            entry.1 += RUNS[pc] * opcode::info(opcodes[pc]).unwrap().gas;
        }
    }
    let lines = rows(&profile, "lines", line_label);
    assert_eq!(lines, expected);
    assert_eq!(
        lines["main:2"].0, 8,
        "dup0 and the unlocated iszero, four times"
    );
    assert_eq!(
        lines["std::lib:7"].0, 9,
        "add and the unlocated spush, tget, three times"
    );
    assert_eq!(lines["(no location)"].0, 1);

    let files = rows(&profile, "files", |row| {
        row["file"].as_str().unwrap().to_string()
    });
    assert_eq!(files["main"].0, 17);
    assert_eq!(files["std::lib"].0, 9);
    let by_gas: Vec<u64> = profile["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["gas"].as_u64().unwrap())
        .collect();
    assert!(
        by_gas.windows(2).all(|w| w[0] >= w[1]),
        "lines sorted by gas: {by_gas:?}"
    );

    // Blocks: entry at 0, the loop body after the cjump at 5, the loop head at 2 (back edge),
    // the exit at 10.
    let blocks: HashMap<u64, (u64, u64)> = profile["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["pc"].as_u64().unwrap(),
                (
                    b["arrivals"].as_u64().unwrap(),
                    b["steps"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let expected_blocks = HashMap::from([(0, (1, 5)), (5, (3, 12)), (2, (3, 9)), (10, (1, 1))]);
    assert_eq!(blocks, expected_blocks);

    let add = profile["opcodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "add")
        .unwrap();
    assert_eq!(
        (add["steps"].as_u64(), add["gas"].as_u64()),
        (Some(3), Some(9))
    );

    let folded = std::fs::read_to_string(&folded).unwrap();
    let main_2 = expected["main:2"].1;
    assert!(
        folded.lines().any(|l| l == format!("main;main:2 {main_2}")),
        "{folded}"
    );
    let weights: u64 = folded
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(weights, gas, "folded weights are gas");

    let text = avm(&["profile", file, "--top", "2"]);
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("lines: top 2 of 7, by gas"), "{text}");
    assert!(
        text.contains(&format!("steps: {steps}  gas used: {gas}")),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn assembler_text_and_a_bare_mexe_have_no_line_rows_and_say_so() {
    let dir = temp_dir("bare");
    let text = dir.join("loop.avm");
    std::fs::write(&text, LOOP).unwrap();
    let bare = dir.join("bare.mexe");
    std::fs::write(&bare, mexe::to_json(&asm::assemble(LOOP).unwrap())).unwrap();
    for (path, says) in [(&text, "assembler text"), (&bare, "no source locations")] {
        let profile = json_of(&["profile", path.to_str().unwrap(), "--json"]);
        assert_eq!(profile["lines"], Json::Null);
        assert_eq!(profile["files"], Json::Null);
        let notes = profile["notes"].to_string();
        assert!(notes.contains(says), "{notes}");
        assert_eq!(totals(&profile, "opcodes").0, RUNS.iter().sum::<u64>());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_debug_info_fails_in_one_line_without_a_panic() {
    let dir = temp_dir("malformed");
    let path = dir.join("bad.mexe");
    let json = located_mexe().replacen("\"line\":2", "\"line\":\"two\"", 1);
    assert_ne!(json, located_mexe(), "the edit applies");
    std::fs::write(&path, json).unwrap();
    let output = avm(&["profile", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("instruction 2"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_arbos_replay_profile_adds_up_to_the_recorded_steps_and_gas() {
    let Some(shared) = common::shared("the_arbos_replay_profile_adds_up") else {
        return;
    };
    let dir: &Path = &shared.join("corpus/arbos");
    let expect: Json =
        serde_json::from_slice(&std::fs::read(dir.join("evm_test_create.expect.json")).unwrap())
            .unwrap();
    let (steps, gas) = (&expect["expected"]["steps"], &expect["expected"]["gas"]);
    let profile = json_of(&[
        "profile",
        dir.join("arbos.mexe").to_str().unwrap(),
        "--inbox",
        dir.join("evm_test_create.inbox.json").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(profile["status"], "blocked");
    assert_eq!(profile["block_reason"], "inbox");
    let expected = (steps.as_u64().unwrap(), gas.as_u64().unwrap());
    assert_eq!((&profile["steps"], &profile["gas"]), (steps, gas));
    for section in ["opcodes", "blocks", "files", "lines"] {
        assert_eq!(totals(&profile, section), expected, "{section} add up");
    }
    let files = rows(&profile, "files", |row| {
        row["file"].as_str().unwrap().to_string()
    });
    assert!(
        files.contains_key("main") && files.contains_key("std::codeSegment"),
        "{files:?}"
    );
}

#[test]
fn the_region_profile_accounts_for_every_native_step_and_names_side_exits() {
    let handler = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/error_handler.avm");
    let handler = handler.to_str().unwrap();
    let run = json_of(&["run", handler, "--json"]);
    let profile = json_of(&[
        "profile",
        handler,
        "--engine",
        "regions",
        "--jit-threshold",
        "0",
        "--json",
    ]);
    assert_eq!(profile["engine"], "regions");
    assert_eq!(profile["status"], "halted");
    assert_eq!(
        (&profile["steps"], &profile["gas"]),
        (&run["steps"], &run["gas"])
    );
    let regions = profile["regions"].as_array().unwrap();
    let native: u64 = regions
        .iter()
        .map(|r| r["native_steps"].as_u64().unwrap())
        .sum();
    assert!(native > 0);
    assert_eq!(native, profile["native_steps"].as_u64().unwrap());
    // `div` by zero at pc 3 raises an error three times: native code hands each back.
    let exits = profile["side_exits"].as_array().unwrap();
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(
        (&exits[0]["pc"], &exits[0]["opcode"]),
        (&json!(3), &json!("div"))
    );
    assert_eq!(exits[0]["exits"], 3);
    let side: u64 = regions
        .iter()
        .map(|r| r["side_exits"].as_u64().unwrap())
        .sum();
    assert_eq!(side, 3);
}
