//! `avm prove` and `avm verify-proof`: one-step proofs from the command line.
//!
//! The machine reaches the proven step on the JIT (the fastest engine; its state is exactly the
//! interpreter's), then the interpreter proves the step. A proof is written as JSON that
//! `avm verify-proof` reads back; it also reads the C++ recordings' format (`Assertion`,
//! `Proof`, `BufferProof`): one entry, or a whole recording (a list of entries).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use avm_engine::Jit;
use avm_interp::l1_inbox::L1Inbox;
use avm_interp::proof::{AssertionState, OneStepProof, ProverKind};
use avm_interp::prove::ProveError;
use avm_interp::{Limits, Machine, Status, verify};
use avm_runtime::hash::{hex_bytes, hex_hash};
use avm_runtime::{Program, U256, hex, opcode};
use serde_json::{Value as Json, json};

use crate::numbers::u64_count;
use crate::out::{self, Exit, Failure, Out};
use crate::signals::{Signal, StopRequests};
use crate::{load_program, read_file, read_inbox};

/// The options of `avm prove`.
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// A `.mexe` file or assembler text.
    file: PathBuf,
    /// Prove the instruction after this many steps (0: the first instruction).
    #[arg(
        long,
        value_name = "STEPS",
        value_parser = u64_count,
        conflicts_with = "check_all",
        required_unless_present = "check_all"
    )]
    step: Option<u64>,
    /// Prove and verify every step of a run instead, and report how many and how fast.
    #[arg(long)]
    check_all: bool,
    /// With --check-all: stop after this many steps.
    #[arg(long, value_name = "STEPS", value_parser = u64_count, requires = "check_all")]
    max_steps: Option<u64>,
    /// With --check-all: also report, per opcode, how many steps were proved and the smallest
    /// and largest proof (standard plus buffer proof bytes).
    #[arg(long, requires = "check_all")]
    sizes: bool,
    /// Inbox messages: a JSON list in the format of the corpus `*.inbox.json` files, or an L1
    /// inbox (sequencer batches, delayed messages) whose structure `inbox` steps are proven in.
    #[arg(long)]
    inbox: Option<PathBuf>,
    /// Print one JSON object: the proof (the format `avm verify-proof` reads) or, with
    /// --check-all, the summary.
    #[arg(long)]
    json: bool,
}

/// The options of `avm verify-proof`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The proof file (`-`: standard input): `avm prove --json` output, one entry of a C++
    /// recording, or a whole recording.
    file: PathBuf,
    /// Print one JSON object: how many proofs were checked, how many are valid, and why each
    /// rejected one was.
    #[arg(long)]
    json: bool,
}

/// `avm prove`.
pub fn prove(args: ProveArgs, out: &mut Out) -> Result<Exit, Failure> {
    let program = Arc::new(load_program(&args.file)?);
    let mut machine = Machine::new(Arc::clone(&program));
    let inbox = match &args.inbox {
        Some(path) => read_inbox(path)?,
        None => L1Inbox::default(),
    };
    for message in inbox.messages() {
        machine.push_inbox(message.clone());
    }
    if args.check_all {
        let checked = check_all(machine, &inbox, args.max_steps)?;
        let exit = match checked.ended_by {
            CheckEnd::Signal(signal) => signal.exit(),
            _ => Exit::Success,
        };
        match args.json {
            true => writeln!(out, "{}", checked.to_json(args.sizes))?,
            false => checked.print(args.sizes, out)?,
        }
        return Ok(exit);
    }
    let step = args.step.expect("clap requires --step without --check-all");
    let reach_start = Instant::now();
    reach_step(&program, &mut machine, step)?;
    let reach_ms = reach_start.elapsed().as_secs_f64() * 1e3;
    let prove_start = Instant::now();
    let proof = machine
        .prove_next_in(&inbox)
        .map_err(|e| Failure::engine("prove", e))?;
    let prove_ms = prove_start.elapsed().as_secs_f64() * 1e3;
    tracing::info!(
        step,
        proof_bytes = proof.proof.len(),
        buffer_proof_bytes = proof.buffer_proof.len(),
        prove_ms,
        "proof generated"
    );
    if args.json {
        let mut object = proof_json(&proof);
        object["step"] = json!(step);
        object["reach_ms"] = json!(reach_ms);
        object["prove_ms"] = json!(prove_ms);
        writeln!(out, "{object}")?;
    } else {
        print_proof(step, &proof, out)?;
    }
    Ok(Exit::Success)
}

/// Runs `machine` to exactly `step` steps on the JIT. Fails if it stops earlier.
fn reach_step(program: &Arc<Program>, machine: &mut Machine, step: u64) -> Result<(), Failure> {
    let mut jit = Jit::new(Arc::clone(program), avm_engine::DEFAULT_THRESHOLD)
        .map_err(|message| Failure::engine("jit", message))?;
    let limits = Limits {
        max_steps: Some(step),
        ..Limits::default()
    };
    match jit.run(machine, &limits) {
        _ if machine.outputs().steps == step => Ok(()),
        stop => Err(Failure::engine(
            "prove",
            format!(
                "the machine stopped after {} steps ({stop:?}), before step {step}",
                machine.outputs().steps
            ),
        )),
    }
}

/// What `--check-all` found.
struct Checked {
    steps: u64,
    proof_bytes: usize,
    seconds: f64,
    /// Per opcode: steps, smallest and largest proof.
    by_opcode: BTreeMap<u8, (u64, usize, usize)>,
    ended_by: CheckEnd,
}

/// Why `--check-all` stopped proving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckEnd {
    Halted,
    ErrorStop,
    /// The next instruction blocks on an empty inbox: a blocked attempt is not a step.
    InboxEmpty,
    StepBound,
    Signal(Signal),
}

impl CheckEnd {
    /// The word the JSON report uses.
    fn name(self) -> &'static str {
        match self {
            CheckEnd::Halted => "halted",
            CheckEnd::ErrorStop => "errorstop",
            CheckEnd::InboxEmpty => "inbox_empty",
            CheckEnd::StepBound => "step_limit",
            CheckEnd::Signal(signal) => signal.name(),
        }
    }

    /// What the text report says.
    fn words(self) -> &'static str {
        match self {
            CheckEnd::Halted => "the machine halted",
            CheckEnd::ErrorStop => "the machine error-stopped",
            CheckEnd::InboxEmpty => "the next instruction blocks on an empty inbox",
            CheckEnd::StepBound => "the step bound",
            CheckEnd::Signal(Signal::Interrupt) => "SIGINT",
            CheckEnd::Signal(Signal::Terminate) => "SIGTERM",
        }
    }
}

/// Proves and verifies every step until the machine stops (or `max_steps`, or a signal), its
/// `inbox` steps against `inbox`, the L1 inbox its messages come from.
fn check_all(
    mut machine: Machine,
    inbox: &L1Inbox,
    max_steps: Option<u64>,
) -> Result<Checked, Failure> {
    let stop_requests = StopRequests::install()?;
    let start = Instant::now();
    let mut progress = out::Progress::new();
    let mut checked = Checked {
        steps: 0,
        proof_bytes: 0,
        seconds: 0.0,
        by_opcode: BTreeMap::new(),
        ended_by: CheckEnd::StepBound,
    };
    loop {
        let end = match machine.status() {
            Status::Halted => Some(CheckEnd::Halted),
            Status::ErrorStop => Some(CheckEnd::ErrorStop),
            Status::Running if max_steps == Some(checked.steps) => Some(CheckEnd::StepBound),
            Status::Running => stop_requests.pending().map(CheckEnd::Signal),
        };
        if let Some(end) = end {
            checked.ended_by = end;
            break;
        }
        let step = checked.steps;
        let proof = match machine.prove_next_in(inbox) {
            Ok(proof) => proof,
            // A step that would block (an empty inbox) is not a step: the run ends there.
            Err(ProveError::InboxEmpty) => {
                checked.ended_by = CheckEnd::InboxEmpty;
                break;
            }
            Err(e) => return Err(Failure::engine("prove", format!("step {step}: {e}"))),
        };
        verify::verify_in(&proof, inbox).map_err(|e| Failure::Rejected {
            subject: "verify".into(),
            reason: format!("step {step}: proof rejected: {e}"),
        })?;
        let size = proof.proof.len() + proof.buffer_proof.len();
        checked.proof_bytes += size;
        let entry = checked
            .by_opcode
            .entry(proof.proof.first().copied().unwrap_or(0))
            .or_insert((0, usize::MAX, 0));
        *entry = (entry.0 + 1, entry.1.min(size), entry.2.max(size));
        checked.steps += 1;
        progress.set(|| {
            let rate = checked.steps as f64 / start.elapsed().as_secs_f64();
            format!(
                "{} steps proved and verified, {rate:.0} steps/s",
                checked.steps
            )
        });
    }
    drop(progress);
    checked.seconds = start.elapsed().as_secs_f64();
    Ok(checked)
}

impl Checked {
    fn print(&self, sizes: bool, out: &mut Out) -> Result<(), Failure> {
        writeln!(
            out,
            "checked {} steps: every proof verified (ended by {})",
            self.steps,
            self.ended_by.words()
        )?;
        if self.steps > 0 {
            writeln!(
                out,
                "time per proof (prove + verify): {:.1} µs, {:.0} steps/s, mean proof size {} bytes",
                self.seconds * 1e6 / self.steps as f64,
                self.steps as f64 / self.seconds,
                self.proof_bytes / self.steps as usize
            )?;
        }
        if sizes {
            writeln!(out, "opcode         steps  min bytes  max bytes")?;
            for (&byte, &(steps, min, max)) in &self.by_opcode {
                let name = opcode::mnemonic(byte);
                writeln!(out, "{name:<12} {steps:>7} {min:>10} {max:>10}")?;
            }
        }
        Ok(())
    }

    fn to_json(&self, sizes: bool) -> Json {
        let mut object = json!({
            "checked": self.steps,
            "ended_by": self.ended_by.name(),
            "seconds": self.seconds,
            "proof_bytes": self.proof_bytes,
        });
        if sizes {
            object["by_opcode"] = self
                .by_opcode
                .iter()
                .map(|(&byte, &(steps, min, max))| {
                    json!({
                        "opcode": byte,
                        "name": opcode::mnemonic(byte),
                        "steps": steps,
                        "min_bytes": min,
                        "max_bytes": max,
                    })
                })
                .collect();
        }
        object
    }
}

fn print_proof(step: u64, proof: &OneStepProof, out: &mut Out) -> Result<(), Failure> {
    writeln!(out, "step: {step}")?;
    writeln!(out, "prover: {}", proof.prover as u8)?;
    writeln!(out, "proof: {}", hex_bytes(&proof.proof))?;
    writeln!(out, "buffer proof: {}", hex_bytes(&proof.buffer_proof))?;
    for (name, state) in [("before", &proof.before), ("after", &proof.after)] {
        writeln!(
            out,
            "{name}: machine hash {}, gas used {}, inbox {}, sends {}, logs {}, assertion {}",
            hex_hash(&state.machine_hash),
            state.gas_used,
            state.inbox_count,
            state.send_count,
            state.log_count,
            hex_hash(&state.assertion_hash())
        )?;
    }
    Ok(())
}

/// The JSON form of a proof.
fn proof_json(proof: &OneStepProof) -> Json {
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

/// `avm verify-proof`: every proof in the file is checked. Exit 0 when all are valid;
/// otherwise each rejected one is reported and the exit is [`Exit::Rejected`].
pub fn verify_proofs(args: VerifyArgs, out: &mut Out) -> Result<Exit, Failure> {
    let name = match args.file.as_os_str() == "-" {
        true => "standard input".to_string(),
        false => args.file.display().to_string(),
    };
    let bytes = read_file(&args.file)?;
    let json = serde_json::from_slice::<Json>(&bytes)
        .map_err(|e| Failure::engine(&name, format!("invalid JSON: {e}")))?;
    let entries = match &json {
        Json::Array(list) => list.iter().collect(),
        single => vec![single],
    };
    if entries.is_empty() {
        return Err(Failure::engine(&name, "the recording holds no proof"));
    }
    let proofs = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            parse_proof(entry).map_err(|e| match json.is_array() {
                true => Failure::engine(&name, format!("entry {i}: {e}")),
                false => Failure::engine(&name, e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rejected: Vec<(usize, String)> = proofs
        .iter()
        .enumerate()
        .filter_map(|(i, proof)| verify::verify(proof).err().map(|e| (i, e.to_string())))
        .collect();
    if args.json {
        let object = json!({
            "checked": proofs.len(),
            "valid": proofs.len() - rejected.len(),
            "rejected": rejected
                .iter()
                .map(|(i, reason)| json!({"entry": i, "reason": reason}))
                .collect::<Vec<_>>(),
        });
        writeln!(out, "{object}")?;
    } else if json.is_array() {
        for (i, reason) in &rejected {
            writeln!(out, "entry {i}: invalid: {reason}")?;
        }
        writeln!(
            out,
            "{} proofs checked: {} valid, {} invalid",
            proofs.len(),
            proofs.len() - rejected.len(),
            rejected.len()
        )?;
    } else if rejected.is_empty() {
        writeln!(out, "valid")?;
    }
    match rejected.first() {
        None => Ok(Exit::Success),
        Some((i, reason)) => Err(Failure::Rejected {
            subject: name,
            reason: match json.is_array() {
                true => format!(
                    "{} of {} proofs rejected (first: entry {i}: {reason})",
                    rejected.len(),
                    proofs.len()
                ),
                false => format!("invalid: {reason}"),
            },
        }),
    }
}

/// Reads a proof in this tool's format or in the C++ recordings' format.
fn parse_proof(json: &Json) -> Result<OneStepProof, String> {
    if let Some(assertion) = json.get("Assertion") {
        let proof = hex_field(json, "Proof")?;
        let buffer_proof = match json.get("BufferProof") {
            None | Some(Json::Null) => Vec::new(),
            Some(_) => hex_field(json, "BufferProof")?,
        };
        let prover = recorded_prover(&proof)?;
        return Ok(OneStepProof {
            prover,
            proof,
            buffer_proof,
            before: recorded_state(&assertion["beforeState"])?,
            after: recorded_state(&assertion["afterState"])?,
        });
    }
    let selector = json["prover"]
        .as_u64()
        .ok_or("neither a proof (no prover) nor a recording entry (no Assertion)")?;
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

/// The checker contract of a recorded proof, from its opcode: the proof's first byte
/// (PROOFS.md §1, §2).
fn recorded_prover(proof: &[u8]) -> Result<ProverKind, String> {
    let opcode = *proof
        .first()
        .ok_or("the proof is empty: it has no opcode")?;
    Ok(opcode::info(opcode).map_or(ProverKind::Main, |info| info.prover))
}

fn hex_field(json: &Json, key: &str) -> Result<Vec<u8>, String> {
    let text = json[key].as_str().ok_or(format!("missing {key}"))?;
    hex::parse_bytes(hex::unprefixed(text)).map_err(|e| format!("{key}: {e}"))
}

fn word(json: &Json, key: &str) -> Result<U256, String> {
    let text = json[key].as_str().ok_or(format!("missing {key}"))?;
    hex::parse_int(hex::unprefixed(text)).map_err(|e| format!("{key}: {e}"))
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
        let bytes: Option<Vec<u8>> = json[key].as_array().and_then(|a| {
            a.iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect()
        });
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
