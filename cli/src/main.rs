//! `avm`: run, inspect, assemble and disassemble AVM programs.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use avm_runtime::hash::hex_hash;
use avm_runtime::marshal::unmarshal;
use avm_runtime::{Error, Program, asm, mexe};
use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Run, inspect, assemble and disassemble AVM programs.
#[derive(Debug, Parser)]
#[command(name = "avm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a program and report how it stopped, its steps, gas, hash and outputs.
    Run(run::RunArgs),
    /// Continue a run from a checkpoint saved by `avm run --checkpoint-dir`.
    Resume(run::ResumeArgs),
    /// List the checkpoints in a checkpoint directory.
    Checkpoints(run::CheckpointsArgs),
    /// Print a program's instruction count, static value size and initial machine hash.
    Info {
        /// A `.mexe` file or assembler text.
        file: PathBuf,
    },
    /// Print the hash of a canonically marshaled value given in hex.
    ValueHash {
        /// The marshaled bytes, `0x` optional.
        hex: String,
    },
    /// Assemble text into a `.mexe` program.
    Asm {
        /// The assembler source.
        input: PathBuf,
        /// Where to write the `.mexe` (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a program as assembler text.
    Disasm {
        /// A `.mexe` file or assembler text.
        file: PathBuf,
    },
    /// Prove one step of a run (or prove and verify every step with --check-all).
    Prove(prove::ProveArgs),
    /// Measure programs (default: the built-in macro workloads) on each engine.
    Bench(bench::BenchArgs),
    /// Check a one-step proof (JSON from `avm prove --json`, or a C++ recording's entry).
    VerifyProof {
        /// The proof file.
        file: PathBuf,
    },
}

mod bench;
mod prove;
mod run;

/// A failure worth one line on stderr: what it concerns and why.
struct Failure {
    subject: String,
    error: Error,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { subject, error }) => {
            let _ = writeln!(std::io::stderr(), "avm: {subject}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Run(args) => run::run(args)?,
        Command::Resume(args) => run::resume(args)?,
        Command::Checkpoints(args) => run::list_checkpoints(args)?,
        Command::Info { file } => {
            let program = load_program(&file)?;
            println!("instructions: {}", program.len());
            println!("static size: {}", program.static_value().size());
            println!(
                "machine hash: {}",
                hex_hash(&program.initial_machine_hash())
            );
        }
        Command::ValueHash { hex } => {
            let value = decode_hex(&hex)
                .and_then(|bytes| unmarshal(&bytes))
                .map_err(|error| Failure {
                    subject: "value".into(),
                    error,
                })?;
            println!("{}", hex_hash(&value.hash()));
        }
        Command::Asm { input, output } => {
            let json = mexe::to_json(&load_program(&input)?);
            match output {
                Some(path) => fs::write(&path, json).map_err(|source| io_failure(&path, source))?,
                None => print!("{json}"),
            }
        }
        Command::Disasm { file } => print!("{}", asm::disassemble(&load_program(&file)?)),
        Command::Prove(args) => prove::prove(args)?,
        Command::Bench(args) => bench::bench(args)?,
        Command::VerifyProof { file } => prove::verify_proof(&file)?,
    }
    Ok(())
}

/// Loads a `.mexe` (JSON) or assembler text, told apart by the first non-blank character.
fn load_program(path: &Path) -> Result<Program, Failure> {
    let bytes = fs::read(path).map_err(|source| io_failure(path, source))?;
    let is_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let result = if is_json {
        mexe::load(&bytes)
    } else {
        match std::str::from_utf8(&bytes) {
            Ok(text) => asm::assemble(text),
            Err(e) => Err(Error::Asm {
                line: 1 + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
                message: "not UTF-8 text".into(),
            }),
        }
    };
    result.map_err(|error| Failure {
        subject: path.display().to_string(),
        error,
    })
}

fn io_failure(path: &Path, source: std::io::Error) -> Failure {
    Failure {
        subject: "file".into(),
        error: Error::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, Error> {
    let digits = hex.trim().trim_start_matches("0x");
    mexe::parse_hex_bytes(digits).map_err(|_| Error::Hex(hex.to_string()))
}
