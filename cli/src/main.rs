//! `avm`: run, resume, prove, check, benchmark, assemble and inspect AVM programs.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use avm_interp::l1_inbox::L1Inbox;
use avm_runtime::hash::hex_hash;
use avm_runtime::marshal::unmarshal;
use avm_runtime::{Error, Program, asm, mexe, parse_inbox_file};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;

use crate::out::{Exit, Failure, Out};

mod bench;
mod challenge;
mod checkpoints;
mod expect;
mod memory;
mod numbers;
mod out;
mod profile;
mod prove;
mod run;
mod signals;
mod trace;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Run, resume, prove, check, benchmark, assemble and inspect AVM programs.
#[derive(Debug, Parser)]
#[command(name = "avm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log what the engine and the tool do on stderr: -v compiles, checkpoints, proofs and
    /// inbox messages; -vv more; -vvv everything. `AVM_LOG` (a `tracing` filter such as
    /// `avm_engine=debug`) takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a program and report how it stopped, its steps, gas, hash and outputs.
    Run(run::RunArgs),
    /// Continue a run from a checkpoint saved by `avm run --checkpoint-dir`.
    Resume(run::ResumeArgs),
    /// List the checkpoints in a checkpoint directory (also while a run saves into it).
    Checkpoints(checkpoints::CheckpointsArgs),
    /// Print a program's instruction count, static value size and initial machine hash.
    Info {
        /// A `.mexe` file or assembler text.
        file: PathBuf,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
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
    /// Run a program on the interpreter and report where its steps and gas go: per opcode,
    /// per block, and per source file and line when the `.mexe` has source locations.
    Profile(profile::ProfileArgs),
    /// Play the classic dispute game between an honest player and one whose execution is
    /// corrupted at a gas point, refereed as the L1 challenge contract would.
    Challenge(challenge::ChallengeArgs),
    /// Prove one step of a run (or prove and verify every step with --check-all).
    Prove(prove::ProveArgs),
    /// Measure programs (default: the built-in macro workloads) on each engine.
    Bench(bench::BenchArgs),
    /// Check one-step proofs: `avm prove --json` output, a C++ recording's entry, or a whole
    /// recording (every entry is checked).
    VerifyProof(prove::VerifyArgs),
    /// Print a shell completion script (`avm completions bash > /etc/bash_completion.d/avm`).
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().after_help(Exit::help()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(message) = cli.command.check() {
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    init_logging(cli.verbose);
    let mut out = Out::stdout();
    let exit = run(cli.command, &mut out)
        .and_then(|exit| out.flush().map(|()| exit))
        .unwrap_or_else(Failure::report);
    exit.into()
}

/// Sends `tracing` events to stderr: the `AVM_LOG` filter if set, else warnings and errors,
/// and more with each `-v`. Nothing is formatted for a level that is off.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AVM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .init();
}

impl Command {
    /// Rules between options that clap cannot state.
    fn check(&self) -> Result<(), String> {
        match self {
            Command::Run(args) => args.check(),
            Command::Resume(args) => args.check(),
            _ => Ok(()),
        }
    }
}

/// Runs one command, writing its report to `out`.
fn run(command: Command, out: &mut Out) -> Result<Exit, Failure> {
    match command {
        Command::Run(args) => return run::run(args, out),
        Command::Resume(args) => return run::resume(args, out),
        Command::Checkpoints(args) => checkpoints::list(args, out)?,
        Command::Info { file, json } => info(&load_program(&file)?, json, out)?,
        Command::ValueHash { hex } => {
            let value = decode_hex(&hex)
                .and_then(|bytes| unmarshal(&bytes))
                .map_err(|error| Failure::about("value", error))?;
            writeln!(out, "{}", hex_hash(&value.hash()))?;
        }
        Command::Asm { input, output } => {
            let json = mexe::to_json(&load_program(&input)?);
            match output {
                Some(path) => {
                    fs::write(&path, json).map_err(|source| Failure::io(&path, source))?
                }
                None => out.write_str(&json)?,
            }
        }
        Command::Disasm { file } => out.write_str(&asm::disassemble(&load_program(&file)?))?,
        Command::Profile(args) => return profile::profile(args, out),
        Command::Prove(args) => return prove::prove(args, out),
        Command::Challenge(args) => return challenge::challenge(args, out),
        Command::Bench(args) => bench::bench(args, out)?,
        Command::VerifyProof(args) => return prove::verify_proofs(args, out),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "avm", &mut script);
            out.write_str(&String::from_utf8_lossy(&script))?;
        }
    }
    Ok(Exit::Success)
}

/// `avm info`: what a program is, before it runs.
fn info(program: &Program, as_json: bool, out: &mut Out) -> Result<(), Failure> {
    let hash = hex_hash(&program.initial_machine_hash());
    let static_size = program.static_value().size();
    if as_json {
        let object = json!({
            "instructions": program.len(),
            "static_size": static_size.to_string(),
            "machine_hash": hash,
        });
        return writeln!(out, "{object}");
    }
    writeln!(out, "instructions: {}", program.len())?;
    writeln!(out, "static size: {static_size}")?;
    writeln!(out, "machine hash: {hash}")
}

/// Loads a `.mexe` (JSON) or assembler text, told apart by the first non-blank character.
fn load_program(path: &Path) -> Result<Program, Failure> {
    load_source(path).map(|(program, _)| program)
}

/// Loads a program and returns its source bytes too (checkpoints keep them).
fn load_source(path: &Path) -> Result<(Program, Vec<u8>), Failure> {
    let bytes = read_file(path)?;
    let program =
        Program::from_source(&bytes).map_err(|error| Failure::about(path.display(), error))?;
    Ok((program, bytes))
}

/// Reads an inbox file: a JSON list in the format of the corpus `*.inbox.json` files, or an L1
/// inbox with sequencer batches and delayed messages (README, "Inbox files").
fn read_inbox(path: &Path) -> Result<L1Inbox, Failure> {
    let bytes = read_file(path)?;
    let file = parse_inbox_file(&bytes).map_err(|error| Failure::about(path.display(), error))?;
    L1Inbox::from_file(&file).map_err(|error| {
        let error = Error::Inbox {
            place: error.place,
            message: error.reason,
        };
        Failure::about(path.display(), error)
    })
}

/// The bytes of an input file (`-`: standard input), at most [`avm_runtime::MAX_INPUT_BYTES`].
fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    if path.as_os_str() != "-" {
        return avm_runtime::read_input(path).map_err(|error| Failure::about("file", error));
    }
    let mut bytes = Vec::new();
    let stdin = Path::new("standard input");
    std::io::stdin()
        .take(avm_runtime::MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Failure::io(stdin, source))?;
    if bytes.len() as u64 > avm_runtime::MAX_INPUT_BYTES {
        let error = Error::TooLarge {
            path: stdin.to_path_buf(),
            limit: avm_runtime::MAX_INPUT_BYTES,
        };
        return Err(Failure::about("file", error));
    }
    Ok(bytes)
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, Error> {
    avm_runtime::hex::parse_bytes(avm_runtime::hex::unprefixed(hex.trim()))
        .map_err(|_| Error::Hex(hex.to_string()))
}
