//! `avm prove` and `avm verify-proof`: one-step proofs from the command line.
//!
//! The machine reaches the proven step on the JIT (the fastest engine; its state is exactly the
//! interpreter's), then the interpreter proves the step. A proof is written as JSON that
//! `avm verify-proof` reads back; it also reads the C++ recordings' format (`Assertion`,
//! `Proof`, `BufferProof`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use avm_engine::Jit;
use avm_interp::proof::{AssertionState, OneStepProof, ProverKind};
use avm_interp::prove::ProveError;
use avm_interp::{Limits, Machine, Status, verify};
use avm_runtime::hash::{hex_bytes, hex_hash};
use avm_runtime::{Error, Program, U256, opcode};
use serde_json::{Value as Json, json};

use crate::{Failure, io_failure, load_program};

/// The options of `avm prove`.
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// A `.mexe` file or assembler text.
    file: PathBuf,
    /// Prove the instruction after this many steps (0: the first instruction).
    #[arg(
        long,
        conflicts_with = "check_all",
        required_unless_present = "check_all"
    )]
    step: Option<u64>,
    /// Prove and verify every step of a run instead, and report how many and how fast.
    #[arg(long)]
    check_all: bool,
    /// With --check-all: stop after this many steps.
    #[arg(long, requires = "check_all")]
    max_steps: Option<u64>,
    /// With --check-all: also print, per opcode, how many steps were proved and the smallest
    /// and largest proof (standard plus buffer proof bytes).
    #[arg(long, requires = "check_all")]
    sizes: bool,
    /// Inbox messages: a JSON list in the format of the corpus `*.inbox.json` files.
    #[arg(long)]
    inbox: Option<PathBuf>,
    /// Print the proof as one JSON object (the format `avm verify-proof` reads).
    #[arg(long)]
    json: bool,
}

pub fn prove(args: ProveArgs) -> Result<(), Failure> {
    let program = Arc::new(load_program(&args.file)?);
    let mut machine = Machine::new(Arc::clone(&program));
    if let Some(path) = &args.inbox {
        for message in crate::run::read_inbox(path)? {
            machine.push_inbox(message.to_value());
        }
    }
    if args.check_all {
        return check_all(machine, args.max_steps, args.sizes);
    }
    let step = args.step.expect("clap requires --step without --check-all");
    let reach_start = Instant::now();
    reach_step(&program, &mut machine, step)?;
    let reach_ms = reach_start.elapsed().as_secs_f64() * 1e3;
    let prove_start = Instant::now();
    let proof = machine.prove_next().map_err(|e| failure("prove", e))?;
    let prove_ms = prove_start.elapsed().as_secs_f64() * 1e3;
    if args.json {
        let mut object = proof_json(&proof);
        object["step"] = json!(step);
        object["reach_ms"] = json!(reach_ms);
        object["prove_ms"] = json!(prove_ms);
        println!("{object}");
    } else {
        print_proof(step, &proof);
    }
    Ok(())
}

/// Runs `machine` to exactly `step` steps on the JIT. Fails if it stops earlier.
pub fn reach_step(program: &Arc<Program>, machine: &mut Machine, step: u64) -> Result<(), Failure> {
    let mut jit = Jit::new(Arc::clone(program), avm_engine::DEFAULT_THRESHOLD)
        .map_err(|message| failure("jit", message))?;
    let limits = Limits {
        max_steps: Some(step),
        ..Limits::default()
    };
    match jit.run(machine, &limits) {
        _ if machine.outputs().steps == step => Ok(()),
        stop => Err(failure(
            "prove",
            format!(
                "the machine stopped after {} steps ({stop:?}), before step {step}",
                machine.outputs().steps
            ),
        )),
    }
}

/// Proves and verifies every step until the machine stops, then reports.
fn check_all(mut machine: Machine, max_steps: Option<u64>, sizes: bool) -> Result<(), Failure> {
    let start = Instant::now();
    let mut checked = 0u64;
    let mut proof_bytes = 0usize;
    // Per opcode: steps, smallest and largest proof.
    let mut by_opcode: BTreeMap<u8, (u64, usize, usize)> = BTreeMap::new();
    while machine.status() == Status::Running && max_steps.is_none_or(|max| checked < max) {
        let proof = match machine.prove_next() {
            Ok(proof) => proof,
            // A step that would block (an empty inbox) is not a step: the run ends there.
            Err(e @ ProveError::InboxEmpty) => {
                eprintln!("stopped before a blocking instruction: {e}");
                break;
            }
            Err(e) => return Err(failure("prove", format!("step {checked}: {e}"))),
        };
        verify::verify(&proof)
            .map_err(|e| failure("verify", format!("step {checked}: proof rejected: {e}")))?;
        let size = proof.proof.len() + proof.buffer_proof.len();
        proof_bytes += size;
        let entry = by_opcode
            .entry(proof.proof.first().copied().unwrap_or(0))
            .or_insert((0, usize::MAX, 0));
        *entry = (entry.0 + 1, entry.1.min(size), entry.2.max(size));
        checked += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("checked {checked} steps: every proof verified");
    if checked > 0 {
        println!(
            "time per proof (prove + verify): {:.1} µs, {:.0} steps/s, mean proof size {} bytes",
            seconds * 1e6 / checked as f64,
            checked as f64 / seconds,
            proof_bytes / checked as usize
        );
    }
    if sizes {
        println!("opcode         steps  min bytes  max bytes");
        for (opcode, (steps, min, max)) in by_opcode {
            let name = opcode::mnemonic(opcode);
            println!("{name:<12} {steps:>7} {min:>10} {max:>10}");
        }
    }
    Ok(())
}

fn print_proof(step: u64, proof: &OneStepProof) {
    println!("step: {step}");
    println!("prover: {}", proof.prover as u8);
    println!("proof: {}", hex_bytes(&proof.proof));
    println!("buffer proof: {}", hex_bytes(&proof.buffer_proof));
    for (name, state) in [("before", &proof.before), ("after", &proof.after)] {
        println!(
            "{name}: machine hash {}, gas used {}, inbox {}, sends {}, logs {}, assertion {}",
            hex_hash(&state.machine_hash),
            state.gas_used,
            state.inbox_count,
            state.send_count,
            state.log_count,
            hex_hash(&state.assertion_hash())
        );
    }
}

/// The JSON form of a proof.
pub fn proof_json(proof: &OneStepProof) -> Json {
    json!({
        "prover": proof.prover as u8,
        "proof": hex_bytes(&proof.proof),
        "buffer_proof": hex_bytes(&proof.buffer_proof),
        "before": state_json(&proof.before),
        "after": state_json(&proof.after),
    })
}

fn state_json(state: &AssertionState) -> Json {
    json!({
        "machine_hash": hex_hash(&state.machine_hash),
        "inbox_count": state.inbox_count,
        "inbox_acc": hex_hash(&state.inbox_acc),
        "gas_used": state.gas_used.to_string(),
        "send_count": state.send_count,
        "send_acc": hex_hash(&state.send_acc),
        "log_count": state.log_count,
        "log_acc": hex_hash(&state.log_acc),
        "assertion": hex_hash(&state.assertion_hash()),
    })
}

/// `avm verify-proof FILE`: exit 0 and `valid`, or a one-line reason and a non-zero exit.
pub fn verify_proof(path: &Path) -> Result<(), Failure> {
    let bytes = std::fs::read(path).map_err(|source| io_failure(path, source))?;
    let proof = serde_json::from_slice::<Json>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|json| parse_proof(&json))
        .map_err(|e| failure(&path.display().to_string(), e))?;
    verify::verify(&proof).map_err(|e| failure("invalid", e))?;
    println!("valid");
    Ok(())
}

/// Reads a proof in this tool's format or in the C++ recordings' format.
fn parse_proof(json: &Json) -> Result<OneStepProof, String> {
    if let Some(assertion) = json.get("Assertion") {
        let proof = hex_field(json, "Proof")?;
        let buffer_proof = hex_field(json, "BufferProof").unwrap_or_default();
        let prover = recorded_prover(&proof)?;
        return Ok(OneStepProof {
            prover,
            proof,
            buffer_proof,
            before: recorded_state(&assertion["beforeState"])?,
            after: recorded_state(&assertion["afterState"])?,
        });
    }
    let selector = json["prover"].as_u64().ok_or("missing prover")?;
    Ok(OneStepProof {
        prover: u8::try_from(selector)
            .ok()
            .and_then(ProverKind::from_selector)
            .ok_or("prover must be 0, 1 or 2")?,
        proof: hex_field(json, "proof")?,
        buffer_proof: hex_field(json, "buffer_proof")?,
        before: state_from_json(&json["before"])?,
        after: state_from_json(&json["after"])?,
    })
}

/// The checker contract of a recorded proof, from its opcode (PROOFS.md §1).
fn recorded_prover(proof: &[u8]) -> Result<ProverKind, String> {
    let opcode = *proof.get(1).ok_or("proof too short for an opcode")?;
    Ok(opcode::info(opcode).map_or(ProverKind::Main, |info| info.prover))
}

fn hex_field(json: &Json, key: &str) -> Result<Vec<u8>, String> {
    let text = json[key].as_str().ok_or(format!("missing {key}"))?;
    let digits = text.strip_prefix("0x").unwrap_or(text);
    avm_runtime::mexe::parse_hex_bytes(digits).map_err(|e| format!("{key}: {e}"))
}

fn word(json: &Json, key: &str) -> Result<U256, String> {
    let text = json[key].as_str().ok_or(format!("missing {key}"))?;
    let digits = text.strip_prefix("0x").unwrap_or(text);
    U256::from_str_radix(digits, 16).map_err(|e| format!("{key}: {e}"))
}

fn count(json: &Json, key: &str) -> Result<u64, String> {
    json[key].as_u64().ok_or(format!("missing {key}"))
}

fn state_from_json(json: &Json) -> Result<AssertionState, String> {
    Ok(AssertionState {
        machine_hash: word(json, "machine_hash")?,
        inbox_count: count(json, "inbox_count")?,
        inbox_acc: word(json, "inbox_acc")?,
        gas_used: json["gas_used"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or("missing gas_used")?,
        send_count: count(json, "send_count")?,
        send_acc: word(json, "send_acc")?,
        log_count: count(json, "log_count")?,
        log_acc: word(json, "log_acc")?,
    })
}

fn recorded_state(json: &Json) -> Result<AssertionState, String> {
    let bytes32 = |key: &str| -> Result<U256, String> {
        let bytes: Option<Vec<u8>> = json[key]
            .as_array()
            .and_then(|a| a.iter().map(|b| b.as_u64().map(|b| b as u8)).collect());
        bytes
            .filter(|b| b.len() == 32)
            .map(|b| U256::from_big_endian(&b))
            .ok_or(format!("missing {key}"))
    };
    Ok(AssertionState {
        machine_hash: bytes32("machineHash")?,
        inbox_count: count(json, "inboxCount")?,
        inbox_acc: bytes32("inboxAcc")?,
        gas_used: u128::from(count(json, "gasUsed")?),
        send_count: count(json, "sendCount")?,
        send_acc: bytes32("sendAcc")?,
        log_count: count(json, "logCount")?,
        log_acc: bytes32("logAcc")?,
    })
}

fn failure(subject: &str, error: impl std::fmt::Display) -> Failure {
    Failure {
        subject: subject.into(),
        error: Error::Engine(error.to_string()),
    }
}
