//! The verifier (`avm_interp::verify`) against the one-step proofs the production C++ prover
//! recorded (PROOFS.md §9, VECTORS.md §7), against tampered copies of them, against hand-built
//! proofs for paths no recording covers, against the project prover's `inbox` proofs
//! (PROOFS.md §6, which no recording covers), and against arbitrary bytes.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;
mod inbox_formulas;
mod recorded;

use avm_interp::proof::{AssertionState, OneStepProof, ProverKind};
use avm_interp::verify::{
    InboxAccumulators, InboxRead, NoInbox, Rejection, StepResult, execute_step, verify,
};
use avm_interp::{Limits, Machine, Status, Stop};
use avm_runtime::hash::{EMPTY_TUPLE_HASH, ERR_CODEPOINT_HASH, be32, hash_codepoint, keccak};
use avm_runtime::{Buffer, InboxMessage, U256, Value, asm};
use inbox_formulas::{delayed_item, delayed_message_hash, sequencer_item};
use recorded::Recorded;

/// The checker contract of an opcode, written out from PROOFS.md §1 (the recordings do not name
/// it, and this keeps the test independent of the opcode table).
fn prover_for(opcode: u8) -> ProverKind {
    match opcode {
        0x70 | 0xa1..=0xa6 => ProverKind::Buffer,
        0x20..=0x24 => ProverKind::Hash,
        _ => ProverKind::Main,
    }
}

fn one_step_proof(step: &Recorded) -> OneStepProof {
    OneStepProof {
        prover: prover_for(step.proof.first().copied().unwrap_or(0)),
        proof: step.proof.clone(),
        buffer_proof: step.buffer_proof.clone(),
        before: step.before,
        after: step.after,
    }
}

fn run(p: &OneStepProof) -> Result<StepResult, Rejection> {
    execute_step(
        p.prover,
        &NoInbox,
        p.before.inbox_count,
        p.before.send_acc,
        p.before.log_acc,
        &p.proof,
        &p.buffer_proof,
    )
}

fn all_recorded(test: &str) -> Option<Vec<(String, Vec<Recorded>)>> {
    common::shared(test).map(|shared| recorded::recorded_proofs(&shared))
}

#[test]
fn every_recorded_proof_verifies() {
    let Some(programs) = all_recorded("every_recorded_proof_verifies") else {
        return;
    };
    let mut failures = Vec::new();
    let mut count = 0;
    for step in programs.iter().flat_map(|(_, steps)| steps) {
        count += 1;
        let p = one_step_proof(step);
        let outcome = run(&p).and_then(|result| {
            verify(&p)?;
            Ok(result)
        });
        match outcome {
            Err(rejection) => failures.push(format!("{}: {rejection}", step.at)),
            Ok(result) => {
                // Recomputed from the proof bytes alone, field by field.
                let (before, after) = (&step.before, &step.after);
                assert_eq!(result.start_hash, before.machine_hash, "{}", step.at);
                assert_eq!(result.end_hash, after.machine_hash, "{}", step.at);
                assert_eq!(
                    u128::from(result.gas),
                    after.gas_used - before.gas_used,
                    "{}",
                    step.at
                );
                assert_eq!(result.send_acc, after.send_acc, "{}", step.at);
                assert_eq!(result.log_acc, after.log_acc, "{}", step.at);
                assert_eq!(result.after_messages_read, after.inbox_count, "{}", step.at);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(count, 694, "the corpus holds 694 recorded proofs");
}

/// Whether byte `i` of a buffer proof that the step reads at all is bound: the first two
/// header offsets (where `proof1` starts and ends) and the words of `proof1`, which every
/// buffer op that gets past its operand checks reads and hashes up to the root.
fn bound_buffer_byte(bproof: &[u8], i: usize) -> bool {
    let (Some(&start), Some(&end)) = (bproof.first(), bproof.get(1)) else {
        return false;
    };
    i < 2 || (32 * usize::from(start)..32 * usize::from(end)).contains(&i)
}

/// What a tamper test saw for one program.
#[derive(Default)]
struct TamperCounts {
    proof_bytes: usize,
    buffer_bytes: usize,
    buffer_bytes_unread: usize,
}

/// Flips every byte of the standard proof and of the buffer proof (xor 0x01) and changes every
/// field of the claimed before state.
fn tamper_step(step: &Recorded, counts: &mut TamperCounts) {
    let original = one_step_proof(step);
    let honest = run(&original).unwrap_or_else(|r| panic!("{}: {r}", step.at));
    // A step that raises before reaching its buffer proof (wrong operand kinds or ranges)
    // reads none of it.
    let reads_buffer_proof = run(&OneStepProof {
        buffer_proof: Vec::new(),
        ..original.clone()
    })
    .is_err();
    for i in 0..original.proof.len() {
        let mut p = original.clone();
        p.proof[i] ^= 0x01;
        // `verify` checks the start hash and the whole after state, the end hash included.
        assert!(
            verify(&p).is_err(),
            "{}: proof byte {i} flipped, still accepted",
            step.at
        );
        counts.proof_bytes += 1;
    }
    for i in 0..original.buffer_proof.len() {
        let mut p = original.clone();
        p.buffer_proof[i] ^= 0x01;
        match run(&p) {
            Err(_) => {}
            // Bytes the checker never reads (unused header bytes, normalization proofs of
            // non-zero writes, the second proof of a read inside one leaf) change nothing; no
            // flip may change the result.
            Ok(result) => {
                assert_eq!(
                    result, honest,
                    "{}: buffer byte {i} flipped, result changed",
                    step.at
                );
                assert!(
                    !(reads_buffer_proof && bound_buffer_byte(&original.buffer_proof, i)),
                    "{}: buffer byte {i} is bound, yet its flip was accepted",
                    step.at
                );
                counts.buffer_bytes_unread += 1;
            }
        }
        counts.buffer_bytes += 1;
    }
    for (field, p) in tampered_states(&original) {
        assert!(
            verify(&p).is_err(),
            "{}: {field} changed, still accepted",
            step.at
        );
    }
}

/// A change to one field of an assertion state (`U256` is the bit pattern to xor in).
type StateEdit = fn(&mut AssertionState, U256);

/// Copies of `p` each with one claimed field changed: every before field, the prover kind and
/// every after field.
fn tampered_states(p: &OneStepProof) -> Vec<(&'static str, OneStepProof)> {
    let one = U256::one();
    let edits: [(&'static str, StateEdit); 8] = [
        ("machine hash", |s, d| s.machine_hash ^= d),
        ("inbox count", |s, _| s.inbox_count += 1),
        ("inbox accumulator", |s, d| s.inbox_acc ^= d),
        ("gas used", |s, _| s.gas_used += 1),
        ("send count", |s, _| s.send_count += 1),
        ("send accumulator", |s, d| s.send_acc ^= d),
        ("log count", |s, _| s.log_count += 1),
        ("log accumulator", |s, d| s.log_acc ^= d),
    ];
    let mut out = Vec::new();
    for (field, edit) in edits {
        let mut before = p.clone();
        edit(&mut before.before, one);
        out.push((field, before));
        let mut after = p.clone();
        edit(&mut after.after, one);
        out.push((field, after));
    }
    for prover in [ProverKind::Main, ProverKind::Buffer, ProverKind::Hash] {
        if prover != p.prover {
            out.push((
                "prover kind",
                OneStepProof {
                    prover,
                    ..p.clone()
                },
            ));
        }
    }
    out
}

#[test]
fn every_tampered_recorded_proof_is_rejected() {
    let Some(programs) = all_recorded("every_tampered_recorded_proof_is_rejected") else {
        return;
    };
    // Every step of every program: the programs run in parallel.
    let reports: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = programs
            .iter()
            .map(|(program, steps)| {
                scope.spawn(move || {
                    let mut counts = TamperCounts::default();
                    for step in steps {
                        tamper_step(step, &mut counts);
                    }
                    format!(
                        "{program}: {} steps, {} proof bytes flipped (all rejected), {} buffer \
                         proof bytes flipped ({} unread by the checker, result unchanged)",
                        steps.len(),
                        counts.proof_bytes,
                        counts.buffer_bytes,
                        counts.buffer_bytes_unread
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("{}", reports.join("\n"));
}

// ---- hand-built proofs for paths no recording covers (PROOFS.md §2, §3.1) ----

/// A standard proof under construction: the operand section, then the fixed machine fields.
struct ProofBuilder {
    op: u8,
    stack: Vec<Vec<u8>>,
    immediate: Option<Vec<u8>>,
    gas: U256,
    err_handler: U256,
    /// The aux remainder's pre-image; `None` for the empty stack.
    aux_rest: Option<(U256, U256)>,
    extra: Vec<u8>,
}

impl ProofBuilder {
    fn new(op: u8) -> ProofBuilder {
        ProofBuilder {
            op,
            stack: Vec::new(),
            immediate: None,
            gas: U256::MAX,
            err_handler: *ERR_CODEPOINT_HASH,
            aux_rest: None,
            extra: Vec::new(),
        }
    }

    /// The standard proof, with empty stack remainders and `()` as register and static.
    fn bytes(&self) -> Vec<u8> {
        let count = self.stack.len() + usize::from(self.immediate.is_some());
        let mut out = vec![self.op, count as u8, 0];
        for v in self.stack.iter().chain(&self.immediate) {
            out.extend_from_slice(v);
        }
        out.extend_from_slice(&be32(&ERR_CODEPOINT_HASH)); // next hash
        let empty_inner = keccak(&[&[0]]);
        let empty = (empty_inner, U256::one());
        for (inner, size) in [empty, self.aux_rest.unwrap_or(empty)] {
            out.extend_from_slice(&be32(&inner));
            out.extend_from_slice(&be32(&size));
        }
        for _ in 0..2 {
            out.push(2);
            out.extend_from_slice(&be32(&empty_inner));
            out.extend_from_slice(&be32(&U256::one()));
        }
        out.extend_from_slice(&be32(&self.gas));
        out.extend_from_slice(&be32(&self.err_handler));
        out.push(u8::from(self.immediate.is_some()));
        out.extend_from_slice(&self.extra);
        out
    }
}

fn m_int(x: u64) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&be32(&U256::from(x)));
    out
}

fn m_buffer(root: U256) -> Vec<u8> {
    let mut out = vec![12];
    out.extend_from_slice(&be32(&root));
    out
}

fn step(prover: ProverKind, proof: &[u8], bproof: &[u8]) -> Result<StepResult, Rejection> {
    execute_step(
        prover,
        &NoInbox,
        0,
        U256::zero(),
        U256::zero(),
        proof,
        bproof,
    )
}

/// The machine hash (AVM.md §5.2) of a machine at `pc` whose data stack holds `stack` (top
/// last), with an empty aux stack, `()` as register and static, and handler `ERR`.
fn machine_hash_at(pc: U256, stack: &[Value], gas: U256) -> U256 {
    let mut stack_hash = *EMPTY_TUPLE_HASH;
    let mut stack_size = U256::one();
    for v in stack {
        stack_size = stack_size + v.size() + 1;
        let inner = keccak(&[&[2], &be32(&v.hash()), &be32(&stack_hash)]);
        stack_hash = keccak(&[&[3], &be32(&inner), &be32(&stack_size)]);
    }
    let parts = [
        pc,
        stack_hash,
        *EMPTY_TUPLE_HASH,
        *EMPTY_TUPLE_HASH,
        *EMPTY_TUPLE_HASH,
        gas,
        *ERR_CODEPOINT_HASH,
    ];
    let bytes: Vec<u8> = parts.iter().flat_map(be32).collect();
    keccak(&[&bytes])
}

/// [`machine_hash_at`] the pc every hand-built proof continues at: its next hash, `H_ERR`.
fn machine_hash(stack: &[Value], gas: U256) -> U256 {
    machine_hash_at(*ERR_CODEPOINT_HASH, stack, gas)
}

#[test]
fn send_with_data_updates_the_send_accumulator() {
    let data = b"hello, world";
    let buffer = Buffer::from_bytes(data);
    let mut b = ProofBuilder::new(0x70);
    b.stack = vec![m_buffer(buffer.root()), m_int(20)];
    let mut message = data.to_vec();
    message.resize(20, 0);
    b.extra = message.clone();
    let result = step(ProverKind::Buffer, &b.bytes(), &[]).unwrap();
    let expected_acc = keccak(&[&[0u8; 32], &be32(&keccak(&[&message]))]);
    assert_eq!(result.send_acc, expected_acc);
    assert_eq!(result.gas, 100);
    assert_eq!(result.end_hash, machine_hash(&[], U256::MAX - 100));
    // The wrong bytes, or too few, are rejected.
    b.extra[0] ^= 1;
    assert_eq!(
        step(ProverKind::Buffer, &b.bytes(), &[]),
        Err(Rejection::SendDataMismatch)
    );
    b.extra.truncate(19);
    assert_eq!(
        step(ProverKind::Buffer, &b.bytes(), &[]),
        Err(Rejection::SendDataTruncated)
    );
}

/// A buffer proof with only `proof1`.
fn bproof_with_proof1(words: &[U256]) -> Vec<u8> {
    let n = words.len() as u8;
    let mut out = vec![0u8; 32];
    out[..5].copy_from_slice(&[1, 1 + n, 1 + n, 1 + n, 1 + n]);
    for w in words {
        out.extend_from_slice(&be32(w));
    }
    out
}

#[test]
fn send_of_a_longer_buffer_raises_only_if_it_really_is_longer() {
    // 40 bytes: two leaves, the second non-zero; sending 10 bytes must raise.
    let mut bytes = vec![0u8; 40];
    bytes[39] = 7;
    let buffer = Buffer::from_bytes(&bytes);
    let leaf = |i: u64| U256::from_big_endian(&buffer.leaf(i));
    let sibling = keccak(&[&buffer.leaf(1)]);
    let mut b = ProofBuilder::new(0x70);
    b.stack = vec![m_buffer(buffer.root()), m_int(10)];
    let bproof = bproof_with_proof1(&[leaf(0), sibling]);
    let result = step(ProverKind::Buffer, &b.bytes(), &bproof).unwrap();
    assert_eq!(
        result.end_hash,
        U256::one(),
        "error with no handler: ErrorStop"
    );
    assert_eq!(result.send_acc, U256::zero());
    // Sending 40 bytes of it fits: the claim is false.
    b.stack[1] = m_int(40);
    let bproof = bproof_with_proof1(&[leaf(1), keccak(&[&buffer.leaf(0)])]);
    assert_eq!(
        step(ProverKind::Buffer, &b.bytes(), &bproof),
        Err(Rejection::FalseSendSizeClaim)
    );
}

#[test]
fn deep_nests_decode_and_hash_without_recursion() {
    const DEPTH: usize = 300_000;
    let mut b = ProofBuilder::new(0x20); // hash
    let mut operand = vec![4u8; DEPTH]; // 1-tuples ...
    operand.extend_from_slice(&m_int(9)); // ... around an Int
    b.stack = vec![operand];
    let result = step(ProverKind::Hash, &b.bytes(), &[]).unwrap();
    let mut v = Value::int(9u64);
    for _ in 0..DEPTH {
        v = Value::tuple(vec![v]);
    }
    let expected = machine_hash(&[Value::int(v.hash())], U256::MAX - 7);
    assert_eq!(result.end_hash, expected);
    // Truncated in the middle of the nest: rejected, no stack overflow.
    let proof = b.bytes();
    assert_eq!(
        step(ProverKind::Hash, &proof[..DEPTH], &[]),
        Err(Rejection::Truncated)
    );
    // Codepoint immediates nest the same way: `nop [nop [… [9]]]`, each followed by ERR.
    const CP_DEPTH: usize = 50_000;
    let mut cp = Vec::new();
    for _ in 0..CP_DEPTH {
        cp.extend_from_slice(&[1, 1, 0x3b]);
    }
    cp.extend_from_slice(&m_int(9));
    for _ in 0..CP_DEPTH {
        cp.extend_from_slice(&be32(&ERR_CODEPOINT_HASH));
    }
    b.stack = vec![cp];
    let result = step(ProverKind::Hash, &b.bytes(), &[]).unwrap();
    let mut h = Value::int(9u64).hash();
    for _ in 0..CP_DEPTH {
        h = hash_codepoint(0x3b, Some(&h), &ERR_CODEPOINT_HASH);
    }
    assert_eq!(
        result.end_hash,
        machine_hash(&[Value::int(h)], U256::MAX - 7)
    );
}

#[test]
fn minimality_and_underflow_requires() {
    // `add` with three operands: not minimal.
    let mut b = ProofBuilder::new(0x01);
    b.stack = vec![m_int(1), m_int(2), m_int(3)];
    assert_eq!(
        step(ProverKind::Main, &b.bytes(), &[]),
        Err(Rejection::NonMinimalOperands)
    );
    // `add` with one operand on an empty remainder: underflow, 5 gas, ErrorStop.
    b.stack = vec![m_int(1)];
    let result = step(ProverKind::Main, &b.bytes(), &[]).unwrap();
    assert_eq!((result.gas, result.end_hash), (5, U256::one()));
    // `nop` with an immediate and no operand slot for it.
    let mut b = ProofBuilder::new(0x3b);
    b.immediate = Some(m_int(5));
    let result = step(ProverKind::Main, &b.bytes(), &[]).unwrap();
    let pc = hash_codepoint(0x3b, Some(&Value::int(5u64).hash()), &ERR_CODEPOINT_HASH);
    assert_eq!(result.start_hash, machine_hash_at(pc, &[], U256::MAX));
    assert_eq!(
        result.end_hash,
        machine_hash(&[Value::int(5u64)], U256::MAX - 1)
    );
    // `xget` with neither operand, on a non-empty aux stack: the aux top must be sent (the
    // contract itself would not check the aux remainder when the data stack underflows).
    let mut b = ProofBuilder::new(0x53);
    let inner = U256::from_str_radix(
        "544fdfbf64bf6ec8a43a68f3ebd764c2a367a0b642b2d5acc91279d891aceb3d",
        16,
    )
    .unwrap();
    b.aux_rest = Some((inner, U256::from(3))); // the stack holding Int 7, AVM.md §2.5
    assert_eq!(
        step(ProverKind::Main, &b.bytes(), &[]),
        Err(Rejection::AuxStackNotExhausted)
    );
    // A hashing opcode proven by the main contract is refused.
    let mut b = ProofBuilder::new(0x20);
    b.stack = vec![m_int(1)];
    assert!(matches!(
        step(ProverKind::Main, &b.bytes(), &[]),
        Err(Rejection::WrongProver { opcode: 0x20, .. })
    ));
}

#[test]
fn inbox_out_of_gas_reads_no_message() {
    let mut b = ProofBuilder::new(0x72);
    b.gas = U256::from(39);
    let result = step(ProverKind::Main, &b.bytes(), &[]).unwrap();
    assert_eq!((result.gas, result.end_hash), (5, U256::one()));
    assert_eq!((result.after_messages_read, result.inbox), (0, None));
    // With the gas, the step reads a message, and there is no inbox proof.
    b.gas = U256::from(40);
    assert_eq!(
        step(ProverKind::Main, &b.bytes(), &[]),
        Err(Rejection::Truncated)
    );
}

#[test]
fn a_tuple_sent_as_a_preimage_where_it_is_read_is_rejected() {
    // `tlen` of `()`: expanded it pushes 0; as a pre-image the checker would raise.
    let mut b = ProofBuilder::new(0x52);
    b.stack = vec![vec![3]];
    let expanded = step(ProverKind::Main, &b.bytes(), &[]).unwrap();
    assert_eq!(
        expanded.end_hash,
        machine_hash(&[Value::int(0u64)], U256::MAX - 2)
    );
    let mut preimage = vec![2];
    preimage.extend_from_slice(&be32(&keccak(&[&[0]])));
    preimage.extend_from_slice(&be32(&U256::one()));
    b.stack = vec![preimage];
    assert_eq!(
        step(ProverKind::Main, &b.bytes(), &[]),
        Err(Rejection::UnderExpandedOperand)
    );
}

// ---- inbox steps (PROOFS.md §6): the prover's proofs, checked against the claimed states ----

fn inbox_message(kind: u64, sequence: u64, gas_price: u64, data: &[u8]) -> InboxMessage {
    InboxMessage {
        kind: U256::from(kind),
        l1_block_number: U256::from(1000 + sequence),
        l1_timestamp: U256::from(1_600_000_000u64 + sequence),
        sender: U256::from_big_endian(&[0xab; 20]),
        inbox_sequence_number: U256::from(sequence),
        l1_gas_price: U256::from(gas_price),
        data: data.to_vec(),
    }
}

/// `n` bytes `1, 2, 3, …` (wrapping, never zero at the end).
fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 255) as u8 + 1).collect()
}

/// Programs that read inbox messages, with the messages they read.
fn inbox_cases() -> Vec<(&'static str, Vec<InboxMessage>)> {
    let mut trailing_zeros = data(3);
    trailing_zeros.extend_from_slice(&[0; 30]);
    let mut max_sender = inbox_message(3, 0, 0, &data(1));
    max_sender.sender = U256::from_big_endian(&[0xff; 20]);
    max_sender.l1_block_number = U256::MAX;
    vec![
        // One L2 message.
        ("inbox\nhalt", vec![inbox_message(3, 0, 0, &data(5))]),
        // An L2 message over several leaves, an end-of-block message, a kind with a gas price
        // and all-zero data; the program then waits at a fourth inbox.
        (
            "inbox\nlog\ninbox\ntlen\npop\ninbox 5\npop\npop\ninbox\nhalt",
            vec![
                inbox_message(3, 0, 0, &data(70)),
                inbox_message(6, 1, 0, &[]),
                inbox_message(4, 2, 9, &[0; 40]),
            ],
        ),
        // Messages whose accumulator item hashes are zero (kind and data disagree, a gas
        // price), read field by field, the data buffer read back.
        (
            "
            inbox
            dup0
            tget 7
            getbuffer8 0
            pop
            tget 6
            pop
            inbox
            tget 4
            pop
            inbox
            dup0
            tget 0
            pop
            tget 7
            getbuffer256 1
            halt
            ",
            vec![
                inbox_message(3, 0, 0, &[]),
                inbox_message(6, 1, 0, &data(33)),
                inbox_message(3, 2, 7, &data(100)),
            ],
        ),
        // Data lengths around the leaf size, trailing zeros in the data, a maximal sender.
        (
            "inbox\npop\ninbox\npop\ninbox\nhalt",
            vec![
                inbox_message(3, 0, 0, &data(32)),
                inbox_message(3, 1, 0, &trailing_zeros),
                inbox_message(3, 2, 0, &data(200)),
            ],
        ),
        ("inbox\nhalt", vec![max_sender]),
        ("inbox\nhalt", vec![inbox_message(8, 0, 0, &data(31))]),
        // `inbox` with an immediate that stays below the message, and an error handler run.
        (
            "errset @h\ninbox 9\nadd\nh: inbox\nhalt",
            vec![
                inbox_message(3, 0, 0, &data(64)),
                inbox_message(0, 1, 0, &data(1)),
            ],
        ),
    ]
}

/// Runs `source` with `messages` queued, proving every step until the machine stops or waits
/// at an empty inbox: each proof must verify, and its after state must be that of a copy of
/// the machine stepped by the interpreter alone.
fn prove_and_verify_run(source: &str, messages: &[InboxMessage]) -> Vec<OneStepProof> {
    let program = asm::assemble(source).unwrap_or_else(|e| panic!("{e}\n{source}"));
    let mut m = Machine::new(program);
    for message in messages {
        m.push_inbox(message.to_value());
    }
    let mut reference = m.clone();
    let mut proofs = Vec::new();
    while m.status() == Status::Running {
        let mut probe = reference.clone();
        if let Some(Stop::Blocked(_)) = probe.step(&Limits::default()) {
            break;
        }
        let at = proofs.len();
        let proof = m
            .prove_next()
            .unwrap_or_else(|e| panic!("{source}\nstep {at}: no proof: {e}"));
        if let Err(rejection) = verify(&proof) {
            panic!("{source}\nstep {at}: rejected: {rejection}");
        }
        reference.step(&Limits::default());
        assert_eq!(
            proof.after,
            reference.assertion_state(),
            "{source}\nstep {at}"
        );
        assert_eq!(
            proof.after.machine_hash,
            reference.hash(),
            "{source}\nstep {at}"
        );
        proofs.push(proof);
    }
    proofs
}

/// The proofs of the steps that read a message.
fn inbox_proofs(proofs: &[OneStepProof]) -> Vec<&OneStepProof> {
    proofs
        .iter()
        .filter(|p| p.proof[0] == 0x72 && p.after.inbox_count > p.before.inbox_count)
        .collect()
}

#[test]
fn inbox_steps_prove_and_verify() {
    let mut read = 0;
    for (source, messages) in inbox_cases() {
        let proofs = prove_and_verify_run(source, &messages);
        let inboxes = inbox_proofs(&proofs);
        assert_eq!(inboxes.len(), messages.len(), "{source}");
        for (i, p) in inboxes.iter().enumerate() {
            assert_eq!(p.before.inbox_count, i as u64);
            assert_ne!(p.after.inbox_acc, p.before.inbox_acc);
            // What the checker reports: the message's batch is its position, replayed from the
            // before state's accumulator to the after state's.
            let result = run_with_claimed_inbox(p).unwrap();
            assert_eq!(result.after_messages_read, i as u64 + 1);
            let read = result.inbox.expect("the step read a message");
            assert_eq!(
                InboxRead {
                    message_item: (U256::zero(), U256::zero()),
                    ..read
                },
                InboxRead {
                    batch: U256::from(i),
                    delayed: false,
                    start_acc: p.before.inbox_acc,
                    item_acc: p.after.inbox_acc,
                    batch_acc: p.after.inbox_acc,
                    message_item: (U256::zero(), U256::zero()),
                }
            );
            assert_eq!(
                result.inbox_acc(p.before.inbox_acc, p.before.inbox_count),
                p.after.inbox_acc
            );
        }
        read += inboxes.len();
    }
    assert_eq!(read, 14);
}

/// `execute_step` of `p` with the accumulator oracle `verify` builds: batch
/// `before.inbox_count` has accumulator `after.inbox_acc`.
fn run_with_claimed_inbox(p: &OneStepProof) -> Result<StepResult, Rejection> {
    let (batch, acc) = (U256::from(p.before.inbox_count), p.after.inbox_acc);
    execute_step(
        p.prover,
        &move |b: U256| (b == batch).then_some(acc),
        p.before.inbox_count,
        p.before.send_acc,
        p.before.log_acc,
        &p.proof,
        &p.buffer_proof,
    )
}

/// The length of the inbox proof of `message` in its own batch (PROOFS.md §6): kind, sender,
/// five words, the data, batch number, delayed flag, accumulator, end of batch.
fn inbox_part_len(message: &InboxMessage) -> usize {
    1 + 20 + 5 * 32 + message.data.len() + 32 + 1 + 32 + 1
}

#[test]
fn tampered_inbox_proofs_are_rejected() {
    let mut flips = 0;
    for (source, messages) in inbox_cases() {
        let proofs = prove_and_verify_run(source, &messages);
        for (p, message) in inbox_proofs(&proofs).into_iter().zip(&messages) {
            let inbox_start = p.proof.len() - inbox_part_len(message);
            assert_eq!(
                p.proof[inbox_start..inbox_start + 21],
                message_bytes(message)[..21],
                "the inbox part starts with kind and sender"
            );
            for i in 0..p.proof.len() {
                // Every byte of the standard proof once, each byte of the inbox part with
                // several patterns.
                let masks: &[u8] = if i < inbox_start {
                    &[0x01]
                } else {
                    &[0x01, 0x02, 0x80, 0xff]
                };
                for &mask in masks {
                    let mut tampered = p.clone();
                    tampered.proof[i] ^= mask;
                    assert!(
                        verify(&tampered).is_err(),
                        "{source}\nbyte {i} ^ {mask:#x} accepted"
                    );
                    flips += 1;
                }
            }
            // A proof cut anywhere in its inbox part.
            for len in inbox_start..p.proof.len() {
                let mut cut = p.clone();
                cut.proof.truncate(len);
                assert!(verify(&cut).is_err(), "{source}\ncut to {len} accepted");
            }
            for (field, tampered) in tampered_states(p) {
                assert!(verify(&tampered).is_err(), "{source}\n{field} accepted");
            }
            // The claimed inbox accumulators, before and after, specifically.
            let mut before = p.clone();
            before.before.inbox_acc ^= U256::one() << 200;
            assert!(matches!(
                verify(&before),
                Err(Rejection::InboxModelMismatch(_))
            ));
            let mut after = p.clone();
            after.after.inbox_acc = p.before.inbox_acc;
            assert!(matches!(
                verify(&after),
                Err(Rejection::InboxBatchMismatch { .. })
            ));
        }
    }
    assert!(flips > 10_000, "{flips}");
}

#[test]
fn inbox_batches_outside_the_model_are_checked_by_the_oracle_and_refused_by_verify() {
    let (source, messages) = &inbox_cases()[1];
    let proofs = prove_and_verify_run(source, messages);
    let p = inbox_proofs(&proofs)[1].clone();
    assert_eq!(p.proof.last(), Some(&2), "end of batch");

    // The batch holds two more sequencer messages after this one.
    let mut longer = p.clone();
    longer.proof.pop();
    let items = [(U256::from(7), U256::from(8)), (U256::zero(), U256::zero())];
    let mut acc = p.after.inbox_acc;
    for (k, (prefix, data_hash)) in items.iter().enumerate() {
        longer.proof.push(0);
        longer.proof.extend_from_slice(&be32(prefix));
        longer.proof.extend_from_slice(&be32(data_hash));
        acc = sequencer_item(acc, 2 + k as u64, *prefix, *data_hash);
    }
    longer.proof.push(2);
    // The checker accepts it against an L1 inbox holding that batch ...
    let result = execute_step(
        ProverKind::Main,
        &|b: U256| (b == U256::one()).then_some(acc),
        1,
        p.before.send_acc,
        p.before.log_acc,
        &longer.proof,
        &[],
    )
    .unwrap();
    let read = result.inbox.unwrap();
    assert_eq!((read.item_acc, read.batch_acc), (p.after.inbox_acc, acc));
    assert_eq!(result.end_hash, p.after.machine_hash);
    // ... and not against one without it, or with another batch there.
    for oracle in [&NoInbox as &dyn InboxAccumulators, &|b: U256| {
        (b == U256::one()).then_some(p.after.inbox_acc)
    }] {
        assert!(
            execute_step(
                ProverKind::Main,
                oracle,
                1,
                U256::zero(),
                U256::zero(),
                &longer.proof,
                &[]
            )
            .is_err()
        );
    }
    // `verify` refuses it even with the after state claiming that batch: one message a batch.
    longer.after.inbox_acc = acc;
    assert_eq!(
        verify(&longer),
        Err(Rejection::InboxModelMismatch(
            "the batch holds items after the message"
        ))
    );

    // A batch replayed from another accumulator, with the after state to match.
    let acc_at = p.proof.len() - 33;
    let mut elsewhere = p.clone();
    elsewhere.proof[acc_at..acc_at + 32].copy_from_slice(&be32(&U256::from(5)));
    let (prefix, data_hash) = (
        keccak(&[
            &[0xab; 20],
            &be32(&U256::from(1001)),
            &be32(&U256::from(1_600_000_001u64)),
        ]),
        keccak(&[&[]]),
    );
    assert_eq!(
        sequencer_item(p.before.inbox_acc, 1, prefix, data_hash),
        p.after.inbox_acc,
        "the end-of-block message's item"
    );
    elsewhere.after.inbox_acc = sequencer_item(U256::from(5), 1, prefix, data_hash);
    assert_eq!(
        verify(&elsewhere),
        Err(Rejection::InboxModelMismatch(
            "the batch does not start from the before state's inbox accumulator"
        ))
    );

    // Another batch number, or a message that is not the next one.
    let batch_at = acc_at - 1 - 32;
    let mut batch = p.clone();
    batch.proof[batch_at + 31] = 0;
    assert_eq!(
        verify(&batch),
        Err(Rejection::UnknownInboxBatch(U256::zero()))
    );
    let mut next = p.clone();
    next.before.inbox_count = 0;
    assert_eq!(verify(&next), Err(Rejection::WrongInboxSequenceNumber));
}

/// An L1 inbox for hand-built proofs: sequencer batch accumulators and the delayed inbox's
/// accumulators after each message.
struct TestInbox {
    batches: Vec<(U256, U256)>,
    delayed: Vec<U256>,
}

impl InboxAccumulators for TestInbox {
    fn sequencer_batch(&self, batch: U256) -> Option<U256> {
        self.batches
            .iter()
            .find(|(b, _)| *b == batch)
            .map(|&(_, acc)| acc)
    }

    fn delayed_acc(&self, index: U256) -> Option<U256> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.delayed.get(i))
            .copied()
    }
}

/// The fields of a message in an inbox proof (PROOFS.md §6), up to the data.
fn message_bytes(m: &InboxMessage) -> Vec<u8> {
    let mut out = vec![m.kind.low_u64() as u8];
    out.extend_from_slice(&be32(&m.sender)[12..]);
    for field in [
        m.l1_block_number,
        m.l1_timestamp,
        m.inbox_sequence_number,
        m.l1_gas_price,
        U256::from(m.data.len()),
    ] {
        out.extend_from_slice(&be32(&field));
    }
    out.extend_from_slice(&m.data);
    out
}

#[test]
fn delayed_messages_are_checked_against_the_delayed_inbox() {
    // A delayed inbox of three messages; message 1 is read as the machine's message 5, in a
    // batch whose delayed range [1, 3) starts at sequence number 5 and is followed by one
    // sequencer message (number 7).
    let delayed: Vec<InboxMessage> = (0..3)
        .map(|i| inbox_message(7, i, 3, &data(10 + i as usize * 30)))
        .collect();
    let mut accs = Vec::new();
    let mut acc = U256::zero();
    for m in &delayed {
        acc = keccak(&[&be32(&acc), &be32(&delayed_message_hash(m))]);
        accs.push(acc);
    }
    let start_acc = U256::from(0x5eed);
    let after_range = delayed_item(start_acc, 5, 1, 3, accs[2]);
    let batch_acc = sequencer_item(after_range, 7, U256::from(1), U256::from(2));
    let inbox = TestInbox {
        batches: vec![(U256::from(4), batch_acc)],
        delayed: accs.clone(),
    };
    let proof_of = |m: &InboxMessage, first_seq: u64, start: u64, end: u64| {
        let mut extra = message_bytes(m);
        extra.extend_from_slice(&be32(&U256::from(4))); // batch
        extra.push(1); // delayed
        extra.extend_from_slice(&be32(&start_acc));
        for field in [first_seq, start, end] {
            extra.extend_from_slice(&be32(&U256::from(field)));
        }
        extra.push(0);
        extra.extend_from_slice(&be32(&U256::from(1)));
        extra.extend_from_slice(&be32(&U256::from(2)));
        extra.push(2);
        let mut b = ProofBuilder::new(0x72);
        b.extra = extra;
        b.bytes()
    };
    let exec = |oracle: &dyn InboxAccumulators, read: u64, proof: &[u8]| {
        execute_step(
            ProverKind::Main,
            oracle,
            read,
            U256::zero(),
            U256::zero(),
            proof,
            &[],
        )
    };

    let proof = proof_of(&delayed[1], 5, 1, 3);
    let result = exec(&inbox, 5, &proof).unwrap();
    assert_eq!(result.after_messages_read, 6);
    let read = result.inbox.expect("the step read a message");
    assert_eq!(
        InboxRead {
            message_item: (U256::zero(), U256::zero()),
            ..read
        },
        InboxRead {
            batch: U256::from(4),
            delayed: true,
            start_acc,
            item_acc: after_range,
            batch_acc,
            message_item: (U256::zero(), U256::zero()),
        }
    );
    // The machine gets the message with its sequence number's top bit set.
    let mut pushed = delayed[1].clone();
    pushed.inbox_sequence_number = U256::one() | (U256::one() << 255);
    assert_eq!(
        result.end_hash,
        machine_hash(&[pushed.to_value()], U256::MAX - 40)
    );

    // Not the machine's next message.
    assert_eq!(
        exec(&inbox, 4, &proof),
        Err(Rejection::WrongInboxSequenceNumber)
    );
    // A message outside the range the proof claims.
    assert_eq!(
        exec(&inbox, 5, &proof_of(&delayed[0], 6, 1, 3)),
        Err(Rejection::DelayedMessageOutOfRange)
    );
    // A message the delayed inbox does not hold at that index.
    let mut forged = delayed[1].clone();
    forged.data[0] ^= 1;
    assert_eq!(
        exec(&inbox, 5, &proof_of(&forged, 5, 1, 3)),
        Err(Rejection::DelayedMessageMismatch)
    );
    // A range the batch does not hold.
    assert!(matches!(
        exec(&inbox, 5, &proof_of(&delayed[2], 5, 2, 3)),
        Err(Rejection::InboxBatchMismatch { .. })
    ));
    // An oracle without the delayed inbox, and `verify`, whose oracle never has one.
    let sequencer_only = |b: U256| (b == U256::from(4)).then_some(batch_acc);
    assert_eq!(
        exec(&sequencer_only, 5, &proof),
        Err(Rejection::NoDelayedAccumulator(U256::from(2)))
    );
    let before = AssertionState {
        machine_hash: result.start_hash,
        inbox_count: 5,
        ..AssertionState::default()
    };
    let claimed = OneStepProof {
        prover: ProverKind::Main,
        proof: proof.clone(),
        buffer_proof: Vec::new(),
        before,
        after: AssertionState {
            inbox_acc: batch_acc,
            ..result.after_state(&before).unwrap()
        },
    };
    assert_eq!(
        verify(&claimed),
        Err(Rejection::NoDelayedAccumulator(U256::from(2)))
    );
    // A later delayed range needs the delayed inbox too.
    let mut ranged = proof.clone();
    let end = ranged.len() - 1;
    ranged.truncate(end - 65);
    ranged.push(1);
    ranged.extend_from_slice(&be32(&U256::from(3)));
    ranged.extend_from_slice(&be32(&U256::from(9)));
    ranged.push(2);
    assert_eq!(
        exec(&inbox, 5, &ranged),
        Err(Rejection::NoDelayedAccumulator(U256::from(8)))
    );
    // Flag and item tags other than 0, 1, 2.
    let flag_at = 3 + 32 + 128 + 130 + 64 + 1 + message_bytes(&delayed[1]).len() + 32;
    assert_eq!(proof[flag_at], 1);
    let mut bad = proof.clone();
    bad[flag_at] = 2;
    assert_eq!(exec(&inbox, 5, &bad), Err(Rejection::InvalidInboxItem(2)));
    let mut bad = proof.clone();
    *bad.last_mut().unwrap() = 3;
    assert_eq!(exec(&inbox, 5, &bad), Err(Rejection::InvalidInboxItem(3)));
}

/// An oracle that has every accumulator, zero: lets damaged inbox proofs run to the end.
struct ZeroInbox;

impl InboxAccumulators for ZeroInbox {
    fn sequencer_batch(&self, _: U256) -> Option<U256> {
        Some(U256::zero())
    }

    fn delayed_acc(&self, _: U256) -> Option<U256> {
        Some(U256::zero())
    }
}

#[test]
fn damaged_inbox_proofs_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut outcomes = [0usize; 2];
    for (source, messages) in inbox_cases() {
        for p in inbox_proofs(&prove_and_verify_run(source, &messages)) {
            for _ in 0..300 {
                let proof = damage(&mut rng, &p.proof);
                let mut damaged = p.clone();
                damaged.proof = proof.clone();
                outcomes[usize::from(verify(&damaged).is_ok())] += 1;
                for oracle in [&ZeroInbox as &dyn InboxAccumulators, &NoInbox] {
                    let r = execute_step(
                        p.prover,
                        oracle,
                        p.before.inbox_count,
                        U256::zero(),
                        U256::zero(),
                        &proof,
                        &[],
                    );
                    outcomes[usize::from(r.is_ok())] += 1;
                }
            }
        }
    }
    eprintln!(
        "damaged inbox proofs: {} rejected, {} accepted",
        outcomes[0], outcomes[1]
    );
}

/// A xorshift generator: deterministic "arbitrary" bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const PROVERS: [ProverKind; 3] = [ProverKind::Main, ProverKind::Buffer, ProverKind::Hash];

/// Any bytes give `Ok` or `Err`, never a panic: random strings, random strings behind a
/// plausible header (every opcode, small operand counts, type bytes that decode), and random
/// damage to the recorded proofs when the corpus is present.
#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = [0usize; 2];
    let mut count = |r: Result<StepResult, Rejection>| outcomes[usize::from(r.is_ok())] += 1;
    for _ in 0..20_000 {
        let len = rng.below(600) as usize;
        let proof = rng.bytes(len);
        let blen = rng.below(200) as usize;
        let bproof = rng.bytes(blen);
        count(step(PROVERS[rng.below(3) as usize], &proof, &bproof));
    }
    for op in 0..=255u8 {
        for _ in 0..200 {
            let proof = plausible_proof(&mut rng, op);
            let bproof = plausible_buffer_proof(&mut rng);
            for prover in PROVERS {
                count(step(prover, &proof, &bproof));
            }
        }
    }
    if let Some(programs) = all_recorded("arbitrary_bytes_never_panic (recorded part)") {
        for step_ in programs.iter().flat_map(|(_, steps)| steps) {
            let p = one_step_proof(step_);
            for _ in 0..20 {
                let proof = damage(&mut rng, &p.proof);
                let bproof = damage(&mut rng, &p.buffer_proof);
                count(step(p.prover, &proof, &bproof));
            }
        }
    }
    eprintln!(
        "arbitrary inputs: {} rejected, {} accepted",
        outcomes[0], outcomes[1]
    );
    assert!(
        outcomes[1] > 0,
        "some plausible proofs should get through to execution"
    );
}

/// A proof with a valid layout and random contents: `op`, up to 4 operands and 1 aux operand
/// of random decodable values, random hashes, gas and flag.
fn plausible_proof(rng: &mut Rng, op: u8) -> Vec<u8> {
    let stack = rng.below(5) as usize;
    let aux = rng.below(2) as usize;
    let mut out = vec![op, stack as u8, aux as u8];
    for _ in 0..stack + aux {
        random_value(rng, &mut out);
    }
    for _ in 0..5 {
        let word = if rng.below(2) == 0 {
            keccak(&[&[0]])
        } else {
            U256::from(rng.next())
        };
        out.extend_from_slice(&be32(&word));
    }
    out.extend_from_slice(&be32(&U256::one()));
    random_value(rng, &mut out);
    random_value(rng, &mut out);
    out.extend_from_slice(&be32(&U256::from(rng.below(300))));
    let handler = if rng.below(2) == 0 {
        *ERR_CODEPOINT_HASH
    } else {
        U256::from(7)
    };
    out.extend_from_slice(&be32(&handler));
    out.push(rng.below(2) as u8);
    let extra = rng.below(40) as usize;
    out.extend(rng.bytes(extra));
    out
}

/// Appends a random decodable value (bounded depth).
fn random_value(rng: &mut Rng, out: &mut Vec<u8>) {
    let mut pending = 1usize;
    while pending > 0 {
        pending -= 1;
        match rng.below(6) {
            0 | 1 => out.extend(m_int(rng.below(40))),
            2 => {
                out.extend_from_slice(&[1, 0, rng.next() as u8]);
                out.extend_from_slice(&be32(&U256::from(rng.next())));
            }
            3 => out.extend(m_buffer(keccak(&[&[0u8; 32]]))),
            _ if out.len() < 2_000 => {
                let n = rng.below(9) as u8;
                out.push(3 + n);
                pending += usize::from(n);
            }
            _ => out.push(3),
        }
    }
}

fn plausible_buffer_proof(rng: &mut Rng) -> Vec<u8> {
    let words = rng.below(8) as u8;
    let mut out = vec![0u8; 32];
    let mut cut = 1;
    for h in out.iter_mut().take(5) {
        *h = cut;
        cut = (cut + rng.below(3) as u8).min(words + 1);
    }
    for _ in 0..words {
        let word = if rng.below(2) == 0 {
            keccak(&[&[0u8; 32]])
        } else {
            U256::from(rng.next())
        };
        out.extend_from_slice(&be32(&word));
    }
    out
}

/// `bytes` with a few random edits: byte changes, a truncation or an inserted run.
fn damage(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match rng.below(3) {
        0 if !out.is_empty() => {
            for _ in 0..=rng.below(4) {
                let i = rng.below(out.len() as u64) as usize;
                out[i] = rng.next() as u8;
            }
        }
        1 => out.truncate(rng.below(out.len() as u64 + 1) as usize),
        _ => {
            let at = rng.below(out.len() as u64 + 1) as usize;
            let len = rng.below(70) as usize;
            let run = rng.bytes(len);
            out.splice(at..at, run);
        }
    }
    out
}

/// Tuple operations with an immediate index, run whole by the interpreter (which executes them
/// in fused forms inside straight-line runs), end exactly where the verified step-by-step run
/// ends: also when the index is out of range or the operand is not a tuple, where the fused
/// form must fall back to the opcode's own error.
#[test]
fn immediate_index_tuple_ops_run_whole_as_they_verify_step_by_step() {
    let source = "
        errset @e1
        push (1, 2)
        tget 5
    e1: errset @e2
        push 7
        tget 0
    e2: errset @e3
        push (1, 2, 3)
        auxpush
        xget 1
        xget 7
    e3: errset @e4
        push 9
        push (1, 2)
        tset 1
        push 5
        swap1
        tset 4
    e4: errset @e5
        push 3
        xset 2
        push 4
        xset 8
    e5: errset @e6
        auxpop
        push 6
        auxpush
        push 1
        xset 0
    e6: errset @e7
        push 8
        tset 0
    e7: nop 11
        halt";
    let proofs = prove_and_verify_run(source, &[]);
    let last = proofs.last().expect("the program runs");
    let mut whole = Machine::new(asm::assemble(source).unwrap());
    assert_eq!(whole.run(&Limits::default()), Stop::Halted);
    assert_eq!(whole.assertion_state(), last.after);
    assert_eq!(whole.outputs().steps, proofs.len() as u64);
}
