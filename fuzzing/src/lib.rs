//! Fuzzing the AVM engines, as an ordinary library: generators that turn bytes into programs
//! and messages, and oracles that decide whether a run is a finding. The `cargo fuzz` targets in
//! `fuzz/` are thin wrappers over [`targets`]; `cargo test -p avm-fuzzing` runs the same oracle
//! over thousands of generated programs from a fixed seed, and every kept regression.

pub mod generate;
pub mod mutate;
pub mod oracle;
pub mod targets;

pub use generate::{Case, case};
pub use oracle::{Agreement, Engine, Finding, Observed, check};
