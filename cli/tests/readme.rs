//! The README says what the tool does: its first two commands work as written, its command
//! table names every command and flag `avm --help` lists, its exit codes are the tool's, and
//! its headings are not repeated.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_avm"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands `avm --help` lists (without `help`).
fn commands() -> Vec<String> {
    let text = help(&[]);
    let section = text.split("Commands:").nth(1).unwrap();
    section
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The long flags `avm COMMAND --help` lists (without `--help`).
fn flags(command: &str) -> Vec<String> {
    help(&[command])
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("-o, ").unwrap_or(line);
            let flag = line
                .strip_prefix("--")?
                .split([' ', '<', ',', '['])
                .next()?;
            Some(format!("--{flag}"))
        })
        .filter(|flag| flag != "--help")
        .collect()
}

/// Whether `text` mentions `flag` as a whole word (`--max-steps` is not `--max-steps-x`).
fn mentions(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(at, _)| {
        let next = text[at + flag.len()..].chars().next();
        !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn the_first_two_commands_are_the_ones_that_matter() {
    let text = readme();
    let block = text
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    assert_eq!(
        commands,
        [
            "cargo run --release --bin avm -- run examples/loop.avm",
            "cargo test --workspace --release"
        ]
    );
    assert!(root().join("examples/loop.avm").is_file());
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines()
            .any(|l| l.starts_with("cargo test --workspace --release")),
        "{ci}"
    );
}

#[test]
fn headings_are_not_repeated() {
    let text = readme();
    let mut seen = HashSet::new();
    for heading in text
        .lines()
        .filter(|l| l.starts_with('#') && !l.starts_with("#!"))
    {
        assert!(seen.insert(heading), "repeated heading: {heading}");
    }
}

#[test]
fn the_command_table_names_every_command_and_flag() {
    let text = readme();
    // What the table's ENGINE and BOUNDS placeholders stand for.
    let placeholders = text
        .split("`ENGINE` is")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a paragraph saying what ENGINE and BOUNDS are");
    let listed = commands();
    assert!(listed.len() >= 10, "{listed:?}");
    for command in &listed {
        let prefix = format!("| `avm {command}");
        let rows: String = text
            .lines()
            .filter(|l| l.starts_with(&prefix) && l[prefix.len()..].starts_with([' ', '`']))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!rows.is_empty(), "no README row for `avm {command}`");
        let described = match rows.contains("ENGINE") || rows.contains("BOUNDS") {
            true => format!("{rows}\n{placeholders}"),
            false => rows,
        };
        for flag in flags(command) {
            assert!(
                mentions(&described, &flag),
                "README row of `avm {command}` omits {flag}"
            );
        }
    }
}

#[test]
fn the_exit_codes_are_the_tools() {
    let text = readme();
    let table = text.split("### Exit status").nth(1).unwrap();
    let documented: Vec<(String, String)> = table
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() == 4 && cells[1].parse::<u8>().is_ok())
                .then(|| (cells[1].to_string(), cells[2].to_string()))
        })
        .collect();
    let tool = help(&[]);
    let listed: Vec<(String, String)> = tool
        .split("Exit status:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (code, meaning) = l.trim().split_once("  ")?;
            Some((code.to_string(), meaning.trim().to_string()))
        })
        .collect();
    assert_eq!(documented, listed);
}

#[test]
fn manifests_name_nothing_false() {
    for manifest in [
        "Cargo.toml",
        "cli/Cargo.toml",
        "engine/Cargo.toml",
        "interp/Cargo.toml",
        "runtime/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(root().join(manifest)).unwrap();
        assert!(!text.contains("example.invalid"), "{manifest}");
    }
}
