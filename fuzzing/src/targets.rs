//! The checks behind each fuzz target. Each returns `Err` with a readable description of a
//! finding; a panic inside one is a finding too.

use std::cell::RefCell;
use std::sync::Arc;

use arbitrary::Unstructured;
use avm_engine::native::RegionJit;
use avm_engine::node::Store;
use avm_interp::l1_inbox::L1Inbox;
use avm_interp::prove::ProveError;
use avm_interp::{Limits, Machine, Observed};
use avm_runtime::inbox::InboxMessage;
use avm_runtime::{Program, marshal, mexe};

use crate::generate;
use crate::oracle::{self, Agreement, Engine, Skip};

/// `diff_engines`: a generated program must give identical results on every engine.
/// `Ok(None)` when the bytes did not make a case (too few, or text that does not assemble).
pub fn diff_engines(data: &[u8]) -> Result<Option<Agreement>, String> {
    let Ok(case) = generate::case(&mut Unstructured::new(data)) else {
        return Ok(None);
    };
    match oracle::check(&case) {
        Ok(Ok(agreement)) => Ok(Some(agreement)),
        Ok(Err(finding)) => Err(finding.to_string()),
        Err(Skip::Assemble(_)) => Ok(None),
    }
}

/// Steps `prove_verify` proves per generated program.
pub const PROVE_STEPS: u64 = 2_000;

/// `prove_verify`: every step of a generated program proves, the proof verifies, and the
/// verified after-hash is the interpreter's. Steps that would block are not steps (PROOFS.md
/// §8): the check ends there.
pub fn prove_verify(data: &[u8]) -> Result<(), String> {
    let Ok(case) = generate::case(&mut Unstructured::new(data)) else {
        return Ok(());
    };
    let Ok(program) = avm_runtime::asm::assemble(&case.text) else {
        return Ok(());
    };
    let mut prover = Machine::new(Arc::new(program));
    for message in &case.inbox {
        prover.push_inbox(message.to_value());
    }
    let mut reference = prover.clone();
    let one = Limits::default();
    for step in 0..PROVE_STEPS {
        if prover.status() != avm_interp::Status::Running {
            break;
        }
        let proof = match prover.prove_next() {
            Ok(proof) => proof,
            Err(ProveError::InboxEmpty) => break,
            Err(e) => return Err(format!("step {step} does not prove: {e}\n{}", case.text)),
        };
        avm_interp::verify::verify(&proof)
            .map_err(|e| format!("step {step}: proof rejected: {e}\n{}", case.text))?;
        reference.step(&one);
        if proof.after.machine_hash != reference.hash() || prover.hash() != reference.hash() {
            return Err(format!(
                "step {step}: the proven after-hash is not the interpreter's\n{}",
                case.text
            ));
        }
    }
    Ok(())
}

/// `prove_l1_inbox`: a program that reads every message of a generated L1 inbox (sequencer
/// batches of several items, delayed ranges; [`generate::l1_inbox`]) proves at every step
/// against that inbox, each proof verifies against it with the interpreter's after-hash, and
/// an inbox step's proof with one byte flipped (where the input's last two bytes say) is
/// rejected.
pub fn prove_l1_inbox(data: &[u8]) -> Result<(), String> {
    let mut u = Unstructured::new(data);
    let Ok((delayed, batches)) = generate::l1_inbox(&mut u) else {
        return Ok(());
    };
    let flip = u.arbitrary::<u16>().unwrap_or(0);
    let inbox = L1Inbox::new(&delayed, &batches)
        .map_err(|e| format!("a generated inbox is refused: {e}\n{batches:?}"))?;
    let count = inbox.messages().len();
    let text = format!("{}halt\n", "inbox\npop\n".repeat(count));
    let program = avm_runtime::asm::assemble(&text).map_err(|e| e.to_string())?;
    let mut prover = Machine::new(Arc::new(program));
    for message in inbox.messages() {
        prover.push_inbox(message.clone());
    }
    let mut reference = prover.clone();
    let context = || format!("delayed {delayed:?}\nbatches {batches:?}");
    while prover.status() == avm_interp::Status::Running {
        let step = prover.outputs().steps;
        let proof = prover
            .prove_next_in(&inbox)
            .map_err(|e| format!("step {step} does not prove: {e}\n{}", context()))?;
        avm_interp::verify::verify_in(&proof, &inbox)
            .map_err(|e| format!("step {step}: proof rejected: {e}\n{}", context()))?;
        reference.step(&Limits::default());
        if proof.after.machine_hash != reference.hash() {
            return Err(format!(
                "step {step}: the proven after-hash is not the interpreter's"
            ));
        }
        if proof.after.inbox_count > proof.before.inbox_count {
            let mut tampered = proof.clone();
            let at = usize::from(flip) % tampered.proof.len();
            tampered.proof[at] ^= 1 << (flip % 8);
            if avm_interp::verify::verify_in(&tampered, &inbox).is_ok() {
                return Err(format!(
                    "step {step}: the proof with byte {at} flipped is accepted\n{}",
                    context()
                ));
            }
        }
    }
    if prover.outputs().inbox_consumed != count as u64 {
        return Err(format!(
            "the reader read {} of {count} messages",
            prover.outputs().inbox_consumed
        ));
    }
    Ok(())
}

/// `checkpoint_restore`: a generated program stopped at some step, checkpointed into a store,
/// restored (on the interpreter or the JIT) and run on ends exactly as one uninterrupted run:
/// every value kind the generator makes round-trips through the store. The split step comes
/// from the last two bytes.
pub fn checkpoint_restore(data: &[u8]) -> Result<(), String> {
    let Ok(case) = generate::case(&mut Unstructured::new(data)) else {
        return Ok(());
    };
    let Ok(program) = avm_runtime::asm::assemble(&case.text) else {
        return Ok(());
    };
    let program = Arc::new(program);
    let mut start = Machine::new(Arc::clone(&program));
    for message in &case.inbox {
        start.push_inbox(message.to_value());
    }
    let whole = oracle::run_machine(start.clone(), &case.limits, Engine::Interp);
    let seed = match data {
        [.., a, b] => u64::from(u16::from_le_bytes([*a, *b])),
        _ => 0,
    };
    let split = seed % (whole.steps + 1);
    let first = Limits {
        max_steps: Some(case.limits.max_steps.map_or(split, |max| max.min(split))),
        ..case.limits
    };
    let mut machine = start;
    machine.run(&first);
    let ran = machine.outputs().steps;
    let store = Store::in_memory().map_err(|e| e.to_string())?;
    let saved = store
        .save(&program, case.text.as_bytes(), &mut machine)
        .map_err(|e| format!("save at step {ran}: {e}\n{}", case.text))?;
    let restored = store
        .load(saved.id, Arc::clone(&program))
        .map_err(|e| format!("load at step {ran}: {e}\n{}", case.text))?;
    let rest = Limits {
        max_steps: case.limits.max_steps.map(|max| max - ran),
        ..case.limits
    };
    let engine = [Engine::Interp, Engine::Jit(0)][(seed % 2) as usize];
    let resumed = oracle::run_machine(restored, &rest, engine);
    if resumed != whole {
        return Err(format!(
            "checkpointed at step {ran} and resumed on {engine:?}: {resumed:?}\n\
             uninterrupted: {whole:?}\n{}",
            case.text
        ));
    }
    Ok(())
}

/// `mexe_load`: any bytes load as a program or give a typed error; a program that loads writes
/// back to `.mexe` JSON that loads to the same machine.
pub fn mexe_load(data: &[u8]) -> Result<(), String> {
    let Ok(program) = mexe::load(data) else {
        return Ok(());
    };
    let again = mexe::load(mexe::to_json(&program).as_bytes())
        .map_err(|e| format!("a loaded program does not reload from its own JSON: {e}"))?;
    if again.initial_machine_hash() != program.initial_machine_hash() {
        return Err("reloading a program changed its initial machine hash".into());
    }
    Ok(())
}

/// `unmarshal`: any bytes decode to a value or give a typed error. A value that decodes
/// marshals to bytes that decode to an equal value with the same hash, and that are `x` itself
/// unless `x` spelled a buffer with trailing zero bytes (which are not observable, AVM.md §1.2,
/// so the canonical form drops them).
pub fn unmarshal(data: &[u8]) -> Result<(), String> {
    let Ok(value) = marshal::unmarshal(data) else {
        return Ok(());
    };
    let bytes = marshal::marshal(&value).map_err(|e| format!("cannot marshal back: {e}"))?;
    let again = marshal::unmarshal(&bytes).map_err(|e| format!("re-unmarshal failed: {e}"))?;
    if again != value || again.hash() != value.hash() {
        return Err(format!(
            "the value changed through a marshal round trip: {}",
            avm_runtime::hex::encode(data)
        ));
    }
    let canonical = marshal::marshal(&again).map_err(|e| format!("cannot marshal: {e}"))?;
    if canonical != bytes || (bytes != data && !has_buffer(&value)) {
        return Err(format!(
            "marshal(unmarshal(x)) != x\n x: {}\n y: {}",
            avm_runtime::hex::encode(data),
            avm_runtime::hex::encode(&bytes)
        ));
    }
    Ok(())
}

/// `inbox_json`: any bytes parse as an inbox file (a list of messages or an L1 inbox) or give a
/// typed error saying where; an L1 inbox builds or is refused with a typed error; the messages
/// the machine would read are inbox 8-tuples that hash, and a list reads the same either way.
pub fn inbox_json(data: &[u8]) -> Result<(), String> {
    let Ok(file) = avm_runtime::parse_inbox_file(data) else {
        return Ok(());
    };
    if let avm_runtime::InboxFile::Messages(messages) = &file
        && avm_runtime::parse_inbox_json(data).ok().as_ref() != Some(messages)
    {
        return Err("a list reads differently as an inbox file".into());
    }
    let Ok(inbox) = avm_interp::l1_inbox::L1Inbox::from_file(&file) else {
        return Ok(());
    };
    for value in inbox.messages() {
        let avm_runtime::Value::Tuple(tuple) = value else {
            return Err("an inbox message is not a tuple".into());
        };
        if tuple.len() != 8 {
            return Err(format!(
                "an inbox message has {} fields, not 8",
                tuple.len()
            ));
        }
        value.hash();
    }
    Ok(())
}

/// `source`: any bytes load as a program source (a `.mexe` or assembler text) or give a typed
/// error; a program that loads writes back to a `.mexe` and to assembler text, which both load
/// to the same machine.
pub fn source(data: &[u8]) -> Result<(), String> {
    let Ok(program) = avm_runtime::Program::from_source(data) else {
        return Ok(());
    };
    let hash = program.initial_machine_hash();
    let from_json = mexe::load(mexe::to_json(&program).as_bytes())
        .map_err(|e| format!("a loaded program does not reload from its own JSON: {e}"))?;
    let text = avm_runtime::asm::disassemble(&program);
    let from_text = avm_runtime::asm::assemble(&text)
        .map_err(|e| format!("a loaded program does not reassemble from its text: {e}"))?;
    if from_json.initial_machine_hash() != hash || from_text.initial_machine_hash() != hash {
        return Err("reloading a program changed its initial machine hash".into());
    }
    Ok(())
}

/// `hex_value`: any text is hex of a marshaled value (what `avm value-hash` takes) or gives a
/// typed error; what decodes round-trips as [`unmarshal`] checks.
pub fn hex_value(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    match avm_runtime::hex::parse_bytes(avm_runtime::hex::unprefixed(text.trim())) {
        Ok(bytes) => unmarshal(&bytes),
        Err(_) => Ok(()),
    }
}

/// Whether `value` holds a buffer anywhere (iteratively: values nest deeply).
fn has_buffer(value: &avm_runtime::Value) -> bool {
    use avm_runtime::Value;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        match v {
            Value::Buffer(_) => return true,
            Value::Tuple(t) => pending.extend(t.slots()),
            Value::CodePoint(cp) => pending.extend(cp.immediate()),
            Value::SmallInt(_) | Value::BigInt(_) => {}
        }
    }
    false
}

/// A real ArbOS machine part-way through a replay, and the engines to feed it to.
#[derive(Debug)]
pub struct ArbosPrefix {
    /// The machine after the replay's prefix, blocked on its inbox or at a step bound.
    pub machine: Machine,
    /// A region JIT per threshold of [`oracle::JIT_THRESHOLDS`], kept from input to input:
    /// compiling ArbOS anew for each would take a second an input, and code compiled for
    /// earlier inputs meets new ones, as in a node.
    regions: RefCell<Vec<RegionJit>>,
}

impl ArbosPrefix {
    /// Runs `program` on `messages` (a recorded replay's prefix) with the interpreter.
    pub fn new(program: Arc<Program>, messages: &[InboxMessage]) -> ArbosPrefix {
        let mut machine = Machine::new(program);
        for message in messages {
            machine.push_inbox(message.to_value());
        }
        machine.run(&Limits::default());
        let program = Arc::clone(machine.program());
        let regions = oracle::JIT_THRESHOLDS
            .iter()
            .map(|&t| RegionJit::new(Arc::clone(&program), t).expect("the host supports cranelift"))
            .collect();
        ArbosPrefix {
            machine,
            regions: RefCell::new(regions),
        }
    }
}

/// Steps each engine runs ArbOS for on one fuzzed message.
pub const ARBOS_STEPS: u64 = 2_000_000;

/// `arbos_inbox`: an arbitrary L1 message fed to ArbOS after a real prefix gives identical
/// results on every engine within [`ARBOS_STEPS`].
pub fn arbos_inbox(prefix: &ArbosPrefix, data: &[u8]) -> Result<(), String> {
    let mut u = Unstructured::new(data);
    let Ok(message) = arbitrary_message(&mut u) else {
        return Ok(());
    };
    let limits = Limits {
        max_steps: Some(ARBOS_STEPS),
        ..Limits::default()
    };
    let run = |engine: Engine| {
        let mut machine = prefix.machine.clone();
        machine.push_inbox(message.to_value());
        let Engine::Regions(threshold) = engine else {
            return oracle::run_machine(machine, &limits, engine);
        };
        let at = oracle::JIT_THRESHOLDS.iter().position(|&t| t == threshold);
        let mut regions = prefix.regions.borrow_mut();
        let jit = &mut regions[at.expect("a threshold of the oracle")];
        let stop = jit.run(&mut machine, &limits);
        Observed::of(&mut machine, stop)
    };
    let expected = run(Engine::Interp);
    for threshold in oracle::JIT_THRESHOLDS {
        for engine in [Engine::Jit(threshold), Engine::Regions(threshold)] {
            let actual = run(engine);
            if actual != expected {
                return Err(format!(
                    "ArbOS differs under {engine:?} on message {message:?}:\n\
                     interpreter {expected:?}\njit {actual:?}"
                ));
            }
        }
    }
    Ok(())
}

/// An inbox message whose kind is mostly one ArbOS handles, with arbitrary fields and data.
fn arbitrary_message(u: &mut Unstructured) -> arbitrary::Result<InboxMessage> {
    let kind = match u.int_in_range(0..=3)? {
        0 => u.arbitrary::<u8>()?.into(),
        _ => u.choose(&[3u8, 4, 5, 7, 8, 9])?.to_owned().into(),
    };
    Ok(InboxMessage {
        kind,
        l1_block_number: u.arbitrary::<u32>()?.into(),
        l1_timestamp: u.arbitrary::<u32>()?.into(),
        sender: u.arbitrary::<u64>()?.into(),
        inbox_sequence_number: u.arbitrary::<u16>()?.into(),
        l1_gas_price: u.arbitrary::<u32>()?.into(),
        data: u.arbitrary::<Vec<u8>>()?,
    })
}
