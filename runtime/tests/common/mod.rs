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

/// One recorded ArbOS replay of `corpus/arbos`: `arbos.mexe` fed `NAME.inbox.json`, and what
/// the run must give (`NAME.expect.json`).
#[allow(dead_code)]
pub struct Replay {
    pub name: String,
    pub messages: Vec<avm_runtime::InboxMessage>,
    expected: serde_json::Value,
}

/// What a run of a replay left, as the recording describes it.
#[allow(dead_code)]
pub struct Outcome<'a> {
    pub logs: &'a [avm_runtime::Value],
    pub sends: &'a [Vec<u8>],
    pub steps: u64,
    pub gas_used: u128,
    pub inbox_consumed: u64,
    pub machine_hash: avm_runtime::U256,
    /// The log accumulator, where the run keeps one.
    pub log_acc: Option<avm_runtime::U256>,
}

/// The replays in `dir` (the corpus's `arbos/` folder), sorted by name.
#[allow(dead_code)]
pub fn replays(dir: &Path) -> Vec<Replay> {
    replay_names(dir)
        .into_iter()
        .map(|name| replay(dir, &name))
        .collect()
}

/// The replay `name` of `dir`.
#[allow(dead_code)]
pub fn replay(dir: &Path, name: &str) -> Replay {
    let read = |suffix: &str| std::fs::read(dir.join(format!("{name}.{suffix}"))).unwrap();
    let expect: serde_json::Value = serde_json::from_slice(&read("expect.json")).unwrap();
    Replay {
        name: name.to_string(),
        messages: avm_runtime::parse_inbox_json(&read("inbox.json")).unwrap(),
        expected: expect["expected"].clone(),
    }
}

#[allow(dead_code)]
impl Replay {
    /// The inbox messages as values, oldest first.
    pub fn values(&self) -> Vec<avm_runtime::Value> {
        self.messages.iter().map(|m| m.to_value()).collect()
    }

    /// Steps the whole replay takes.
    pub fn steps(&self) -> u64 {
        self.expected["steps"].as_u64().unwrap()
    }

    /// The machine hash once the replay blocks on the empty inbox, as `0x` hex.
    pub fn machine_hash(&self) -> &str {
        self.expected["machine_hash_when_blocked"].as_str().unwrap()
    }

    /// Asserts that `got` is exactly what the recording expects.
    pub fn check(&self, got: &Outcome) {
        let name = &self.name;
        let hex = |x: &avm_runtime::U256| avm_runtime::hash::hex_hash(x);
        let strings = |key: &str| -> Vec<String> {
            self.expected[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let logs: Vec<String> = got.logs.iter().map(|v| hex(&v.hash())).collect();
        assert_eq!(logs, strings("log_hashes"), "{name} logs");
        let sends: Vec<String> = got
            .sends
            .iter()
            .map(|s| {
                format!(
                    "0x{}",
                    s.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            })
            .collect();
        assert_eq!(sends, strings("sends"), "{name} sends");
        assert_eq!(got.steps, self.steps(), "{name} steps");
        let gas = self.expected["gas"].as_u64().unwrap();
        assert_eq!(got.gas_used, u128::from(gas), "{name} gas");
        let consumed = self.expected["inbox_consumed"].as_u64().unwrap();
        assert_eq!(got.inbox_consumed, consumed, "{name} inbox consumed");
        assert_eq!(hex(&got.machine_hash), self.machine_hash(), "{name} hash");
        if let Some(acc) = &got.log_acc {
            let expected = self.expected["log_acc"].as_str().unwrap();
            assert_eq!(hex(acc), expected, "{name} log_acc");
        }
    }
}
