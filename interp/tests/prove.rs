//! The prover (PROOFS.md §2–§6): every recorded C++ proof reproduces byte for byte, and the
//! project's own programs cover each checker contract, `send`, `inbox`, both underflows and the
//! refusals, with every proof's start hash rebuilt from its bytes alone and every `after` state
//! matching an independent interpreter step.

#[path = "../../runtime/tests/common/mod.rs"]
mod common;
mod recorded;

use std::path::Path;

use avm_interp::engine_hooks::EngineHooks;
use avm_interp::proof::{OneStepProof, ProverKind};
use avm_interp::prove::ProveError;
use avm_interp::{Limits, Machine, Status};
use avm_runtime::hash::{
    EMPTY_TUPLE_HASH, MachineHashParts, be32, hash_codepoint, hash_int, hash_preimage, hash2,
    keccak,
};
use avm_runtime::{Buffer, CodePoint, InboxMessage, U256, Value, asm, mexe};

fn corpus_machine(shared: &Path, name: &str) -> Machine {
    let path = shared
        .join("corpus/machine-cases")
        .join(format!("{name}.mexe"));
    Machine::new(mexe::load_file(&path).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn machine(source: &str) -> Machine {
    Machine::new(asm::assemble(source).unwrap_or_else(|e| panic!("{e}\n{source}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The checker contract PROOFS.md §1 assigns to an opcode byte.
fn expected_kind(opcode: u8) -> ProverKind {
    match opcode {
        0x70 | 0xa1..=0xa6 => ProverKind::Buffer,
        0x20..=0x24 => ProverKind::Hash,
        _ => ProverKind::Main,
    }
}

// ---------------------------------------------------------------------------------------------
// A reader of standard proofs: the parsing half of the checker (PROOFS.md §3.2, §4), enough to
// rebuild the start machine hash from the proof bytes alone.

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        slice
    }

    fn byte(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn word(&mut self) -> U256 {
        U256::from_big_endian(self.take(32))
    }

    /// One proof-marshaled value: its hash and size.
    fn value(&mut self) -> (U256, U256) {
        match self.byte() {
            0 => (hash_int(&self.word()), U256::one()),
            1 => {
                let has_immediate = self.byte() == 1;
                let opcode = self.byte();
                let immediate = has_immediate.then(|| self.value().0);
                let next = self.word();
                (
                    hash_codepoint(opcode, immediate.as_ref(), &next),
                    U256::one(),
                )
            }
            2 => {
                let (inner, size) = (self.word(), self.word());
                (hash_preimage(&inner, &size), size)
            }
            t @ 3..=11 => {
                let slots: Vec<_> = (0..t - 3).map(|_| self.value()).collect();
                let mut bytes = vec![t - 3];
                let mut size = U256::one();
                for (hash, slot_size) in &slots {
                    bytes.extend_from_slice(&be32(hash));
                    size += *slot_size;
                }
                (hash_preimage(&keccak(&[&bytes]), &size), size)
            }
            12 => (hash2(&U256::from(123), &self.word()), U256::one()),
            t => panic!("invalid type byte {t}"),
        }
    }
}

/// What a standard proof says about the machine before the step.
struct Decoded {
    opcode: u8,
    stack_count: u8,
    aux_count: u8,
    aux_rest: (U256, U256),
    start_hash: U256,
    /// The op-specific bytes after the immediate flag.
    extra: Vec<u8>,
}

/// A stack's hash after pushing `values` (deepest first) on the stack with pre-image `rest`.
fn push_all(rest: (U256, U256), values: &[(U256, U256)]) -> U256 {
    let (mut hash, mut size) = (hash_preimage(&rest.0, &rest.1), rest.1);
    for (value_hash, value_size) in values {
        let inner = keccak(&[&[2], &be32(value_hash), &be32(&hash)]);
        size = U256::one() + *value_size + size;
        hash = hash_preimage(&inner, &size);
    }
    hash
}

fn decode(proof: &[u8]) -> Decoded {
    let mut r = Reader {
        bytes: proof,
        at: 0,
    };
    let (opcode, stack_count, aux_count) = (r.byte(), r.byte(), r.byte());
    let stack: Vec<_> = (0..stack_count).map(|_| r.value()).collect();
    let aux: Vec<_> = (0..aux_count).map(|_| r.value()).collect();
    let next = r.word();
    let data_rest = (r.word(), r.word());
    let aux_rest = (r.word(), r.word());
    let register = r.value().0;
    let static_value = r.value().0;
    let (gas, error_handler) = (r.word(), r.word());
    let has_immediate = r.byte();
    assert!(has_immediate <= 1, "immediate flag {has_immediate}");
    let real = stack.len() - usize::from(has_immediate);
    let immediate = (has_immediate == 1).then(|| stack[real].0);
    let start_hash = MachineHashParts {
        pc: hash_codepoint(opcode, immediate.as_ref(), &next),
        data_stack: push_all(data_rest, &stack[..real]),
        aux_stack: push_all(aux_rest, &aux),
        register,
        static_value,
        gas_remaining: gas,
        error_handler,
    }
    .hash();
    Decoded {
        opcode,
        stack_count,
        aux_count,
        aux_rest,
        start_hash,
        extra: proof[r.at..].to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Running programs under the prover.

/// Proves the next step and checks it against a clone stepped by the interpreter alone: the
/// before/after states agree, the start hash rebuilt from the proof bytes is the machine's,
/// and the checker contract is the opcode's.
fn prove_checked(m: &mut Machine) -> Result<OneStepProof, ProveError> {
    let mut expected = m.clone();
    let before = expected.assertion_state();
    let proof = m.prove_next()?;
    assert_eq!(proof.before, before, "before");
    assert_eq!(
        expected
            .step(&Limits::default())
            .filter(|s| !matches!(s, avm_interp::Stop::Halted | avm_interp::Stop::ErrorStop)),
        None
    );
    assert_eq!(proof.after, expected.assertion_state(), "after");
    assert_eq!(proof.after.machine_hash, expected.hash());
    let decoded = decode(&proof.proof);
    assert_eq!(
        decoded.start_hash, before.machine_hash,
        "start hash from bytes"
    );
    assert_eq!(proof.prover, expected_kind(decoded.opcode));
    Ok(proof)
}

/// Proves every step until the machine stops or waits for the inbox.
fn prove_run(m: &mut Machine) -> Vec<OneStepProof> {
    let mut proofs = Vec::new();
    while m.status() == Status::Running {
        match prove_checked(m) {
            Ok(proof) => proofs.push(proof),
            Err(ProveError::InboxEmpty) => break,
            Err(e) => panic!("step {}: {e}", proofs.len()),
        }
    }
    proofs
}

/// Opcodes, registers, tuples, the aux stack, run-time codepoints, gas, logs, an invalid
/// opcode and `error` (both into handlers), ending in ErrorStop.
const MAIN: &str = "
    errset @first
    push (1, (2, 3), 4)
    tlen
    pop
    push (10, 20, 30)
    tget 1
    push (0, 0)
    tset 0
    auxpush
    xget 1
    pop
    push 99
    xset 0
    auxstackempty
    pop
    auxpop
    rset
    rpush
    spush
    pop
    pop
    pcpush
    pop
    errpush
    pop
    errcodepoint
    pop
    pushgas
    setgas
    stackempty
    pop
    push 7
    log
    push 8
    debugprint
    sideload 0
    pop
    breakpoint
    push 3
    push 4
    add
    push 6
    mulmod 5
    eq 2
    cjump @taken
    error
taken:
    push @after
    pushinsn 0x3b
    jump
    error
after:
    push @after2
    push (5, 6)
    pushinsnimm 0x3b
    jump
    error
after2:
    pop
    push 0
    div 1
    error
first:
    errset @second
    op_25
    error
second:
    errset @err
    error
";

/// Every buffer opcode: straddling and aligned accesses, growth to 2^64, shrinking by zero
/// writes, `send` of each kind, and operands the C++ prover only sends a header for.
const BUFFERS: &str = "
    errset @e1
    newbuffer
    push 0xaa
    setbuffer8 3
    push 0x0102030405060708
    setbuffer64 28
    push 0x1122334455667788990011223344556677889900112233445566778899001122
    setbuffer256 100
    push 0x0102
    setbuffer64 8
    dup0
    getbuffer8 3
    pop
    dup0
    getbuffer64 28
    pop
    dup0
    getbuffer64 8
    pop
    dup0
    getbuffer256 100
    pop
    dup0
    getbuffer256 96
    pop
    dup0
    getbuffer8 100000
    pop
    push 0
    setbuffer256 128
    push 0
    setbuffer256 100
    push 5
    setbuffer8 1000000
    push 0
    setbuffer8 1000000
    push 0xff
    setbuffer8 0xffffffffffffffff
    dup0
    getbuffer8 0xffffffffffffffff
    pop
    push 0
    setbuffer8 0xffffffffffffffff
    dup0
    send 40
    dup0
    send 10
e1:
    errset @e2
    dup0
    send 20000
e2:
    errset @e3
    dup0
    getbuffer8 0x10000000000000000
e3:
    errset @e4
    dup0
    push 256
    setbuffer8 7
e4:
    errset @e5
    dup0
    getbuffer64 0xfffffffffffffffc
e5:
    errset @e6
    dup0
    push 0x0102030405060708
    setbuffer64 0xfffffffffffffffc
e6:
    errset @e7
    push 5
    getbuffer8 0
e7:
    errset @e8
    dup0
    push (1)
    setbuffer8 0
e8:
    errset @err
    push 0
    push 0
    send
";

/// The hashing opcodes, one of them raising an error.
const HASHES: &str = "
    errset @bad
    push (1, (2, 3), 4)
    hash
    pop
    push (1, 2)
    type
    pop
    pcpush
    type
    pop
    push 0x1234
    ethhash2 0x5678
    pop
    push (0, 0, 0, 0, 0, 0, 7)
    keccakf
    pop
    push 1
    push 2
    sha256f 3
    pop
    push (1, 2)
    keccakf
bad:
    halt
";

/// The project's example programs.
const EXAMPLES: [&str; 3] = [
    include_str!("../../examples/error_handler.avm"),
    include_str!("../../examples/loop.avm"),
    include_str!("../../examples/tuples.avm"),
];

// ---------------------------------------------------------------------------------------------

#[test]
fn every_recorded_proof_reproduces() {
    let Some(shared) = common::shared("every_recorded_proof_reproduces") else {
        return;
    };
    let mut total = 0;
    for (program, steps) in recorded::recorded_proofs(&shared) {
        let mut m = corpus_machine(&shared, &program);
        for step in steps {
            let at = &step.at;
            let proof = prove_checked(&mut m).unwrap_or_else(|e| panic!("{at}: no proof: {e}"));
            assert_eq!(hex(&proof.proof), hex(&step.proof), "{at}: proof bytes");
            assert_eq!(
                hex(&proof.buffer_proof),
                hex(&step.buffer_proof),
                "{at}: buffer proof bytes"
            );
            assert_eq!(proof.before, step.before, "{at}: before");
            assert_eq!(proof.after, step.after, "{at}: after");
            total += 1;
        }
    }
    assert_eq!(total, 694);
}

#[test]
fn own_programs_cover_every_checker_contract() {
    let mut kinds = Vec::new();
    for source in [MAIN, BUFFERS, HASHES].into_iter().chain(EXAMPLES) {
        let mut m = machine(source);
        let proofs = prove_run(&mut m);
        assert_ne!(m.status(), Status::Running, "{source}");
        kinds.extend(proofs.iter().map(|p| p.prover));
    }
    for kind in [ProverKind::Main, ProverKind::Buffer, ProverKind::Hash] {
        assert!(kinds.contains(&kind), "{kind:?}");
    }
}

#[test]
fn buffer_proofs_follow_the_cpp_layout() {
    let mut m = machine(BUFFERS);
    let proofs = prove_run(&mut m);
    for proof in &proofs {
        let op = proof.proof[0];
        let bproof = &proof.buffer_proof;
        if !(0xa1..=0xa6).contains(&op) {
            continue;
        }
        let header = &bproof[..32];
        assert_eq!(header[0], 1);
        assert!(header[5..].iter().all(|&b| b == 0));
        assert_eq!(
            bproof.len(),
            32 * usize::from(header[4]),
            "sizes cover the words"
        );
        let sizes: Vec<u8> = header.windows(2).take(4).map(|w| w[1] - w[0]).collect();
        match op {
            0xa1 if sizes != [0, 0, 0, 0] => assert_eq!(&sizes[1..], &[0, 0, 0]),
            0xa2 | 0xa3 if sizes != [0, 0, 0, 0] => {
                assert!(sizes[0] > 0 && sizes[1] == 0 && sizes[2] > 0 && sizes[3] == 0)
            }
            0xa4..=0xa6 if sizes != [0, 0, 0, 0] => {
                assert!(sizes[1] == 3 && (sizes[2..] == [0, 0] || sizes[3] == 3))
            }
            _ => {}
        }
        if sizes != [0, 0, 0, 0] {
            check_access_paths(proof, &sizes);
        }
    }
    let straddles = proofs
        .iter()
        .filter(|p| p.proof[0] == 0xa5 && p.buffer_proof[3] != p.buffer_proof[2])
        .count();
    assert!(
        straddles >= 2,
        "setbuffer64 at 28 and at 2^64 - 4 cross leaves"
    );
    let headers_only = proofs.iter().filter(|p| p.buffer_proof.len() == 32).count();
    assert_eq!(
        headers_only, 3,
        "offset ≥ 2^64, non-buffer, non-Int value send the header alone"
    );
    let deepest = proofs
        .iter()
        .map(|p| p.buffer_proof.len() / 32)
        .max()
        .unwrap();
    assert!(deepest <= 1 + 2 * (60 + 3));
}

/// Checks that the access paths of a buffer proof lead to the root of the buffer operand:
/// `proof1` at the offset's word and, for a multi-byte read, `proof2` at the last byte's word.
/// The programs' buffer ops carry the offset as immediate, so the buffer is the deepest operand
/// (`0c ‖ root` right after the header) and the offset Int follows it (after the value Int for
/// a write).
fn check_access_paths(proof: &OneStepProof, sizes: &[u8]) {
    let (op, bytes) = (proof.proof[0], &proof.proof);
    assert_eq!(bytes[3], 12, "buffer operand first");
    let root = U256::from_big_endian(&bytes[4..36]);
    let offset_at = if op <= 0xa3 { 36 } else { 69 };
    assert_eq!(bytes[offset_at], 0, "offset Int");
    let offset = U256::from_big_endian(&bytes[offset_at + 1..offset_at + 33]).as_u64();
    let words = |from: u8, len: u8| {
        &proof.buffer_proof[32 * usize::from(from)..32 * usize::from(from + len)]
    };
    let header = &proof.buffer_proof[..5];
    assert!(checker_get(root, offset / 32, words(header[0], sizes[0])).is_some());
    let width = match op {
        0xa2 => 8,
        0xa3 => 32,
        _ => return,
    };
    if let Some(last) = offset.checked_add(width - 1) {
        assert!(checker_get(root, last / 32, words(header[2], sizes[2])).is_some());
    }
}

/// The checker's `get(root, wordIndex, proof)` of PROOFS.md §5.2; `None` if the proof fails.
fn checker_get(root: U256, word_index: u64, proof: &[u8]) -> Option<U256> {
    let words: Vec<U256> = proof.chunks(32).map(U256::from_big_endian).collect();
    let mut acc = keccak(&[&proof[..32]]);
    let mut loc = word_index;
    for sibling in &words[1..] {
        acc = if loc & 1 == 1 {
            hash2(sibling, &acc)
        } else {
            hash2(&acc, sibling)
        };
        loc >>= 1;
    }
    (acc == root).then(|| if loc > 0 { U256::zero() } else { words[0] })
}

#[test]
fn send_appends_the_message_or_proves_the_buffer_longer() {
    let mut m = machine(BUFFERS);
    let proofs = prove_run(&mut m);
    let sends: Vec<&OneStepProof> = proofs.iter().filter(|p| p.proof[0] == 0x70).collect();
    assert_eq!(sends.len(), 4);

    // send 40 of a buffer whose data ends at byte 36: the padded bytes follow the flag.
    let ok = decode(&sends[0].proof);
    assert_eq!(ok.extra.len(), 40);
    assert!(sends[0].buffer_proof.is_empty());
    assert_eq!(
        sends[0].after.send_acc,
        keccak(&[
            &be32(&sends[0].before.send_acc),
            &be32(&keccak(&[&ok.extra]))
        ])
    );
    assert_eq!(sends[0].after.send_count, sends[0].before.send_count + 1);
    assert_eq!(m.outputs().sends[0], ok.extra);

    // send 10 of the same buffer: no data, a buffer proof of the leaf holding byte 10.
    let short = decode(&sends[1].proof);
    assert!(short.extra.is_empty());
    let bproof = &sends[1].buffer_proof;
    let end = (bproof.len() / 32) as u8;
    assert_eq!(&bproof[..5], &[1, end, end, end, end]);
    let root = buffer_operand_root(sends[1]);
    assert!(checker_get(root, 10 / 32, &bproof[32..]).is_some());
    assert_eq!(sends[1].after.send_acc, sends[1].before.send_acc);

    // send 20000, and send of an Int instead of a buffer: nothing op-specific.
    for send in &sends[2..] {
        assert!(decode(&send.proof).extra.is_empty());
        assert!(send.buffer_proof.is_empty());
        assert_eq!(send.after.send_count, send.before.send_count);
    }
}

/// The raw root of the buffer operand of a `send N` proof (the only real stack operand,
/// marshaled as `0c ‖ root`).
fn buffer_operand_root(send: &OneStepProof) -> U256 {
    assert_eq!(send.proof[3], 12);
    U256::from_big_endian(&send.proof[4..36])
}

fn inbox_message(kind: u64, sequence: u64, gas_price: u64, data: &[u8]) -> Value {
    InboxMessage {
        kind: U256::from(kind),
        l1_block_number: U256::from(1000 + sequence),
        l1_timestamp: U256::from(77),
        sender: U256::from_big_endian(&[0xab; 20]),
        inbox_sequence_number: U256::from(sequence),
        l1_gas_price: U256::from(gas_price),
        data: data.to_vec(),
    }
    .to_value()
}

/// An inbox proof's tail parsed as the checker does (PROOFS.md §6): the message it carries,
/// its batch number, the accumulator before it, and the accumulator after the batch.
struct InboxTail {
    message_hash: U256,
    batch: U256,
    acc_before: U256,
    acc_after: U256,
}

fn parse_inbox_tail(extra: &[u8]) -> InboxTail {
    let mut r = Reader {
        bytes: extra,
        at: 0,
    };
    let kind = r.byte();
    let sender = r.take(20).to_vec();
    let (block, timestamp, sequence, gas_price, length) =
        (r.word(), r.word(), r.word(), r.word(), r.word());
    let data = r.take(length.as_usize()).to_vec();
    let batch = r.word();
    assert_eq!(r.byte(), 0, "not delayed");
    let acc_before = r.word();
    assert_eq!(r.byte(), 2, "end of batch");
    assert_eq!(r.at, extra.len(), "nothing after the inbox proof");

    let mut sender_word = [0u8; 32];
    sender_word[12..].copy_from_slice(&sender);
    let message = Value::tuple(vec![
        Value::int(kind),
        Value::int(block),
        Value::int(timestamp),
        Value::int(U256::from_big_endian(&sender_word)),
        Value::int(sequence),
        Value::int(gas_price),
        Value::int(length),
        Value::Buffer(Buffer::from_bytes(&data)),
    ]);
    let expected_kind = if data.is_empty() { 6 } else { 3 };
    let (prefix, data_hash) = if kind == expected_kind && gas_price.is_zero() {
        (
            keccak(&[&sender, &be32(&block), &be32(&timestamp)]),
            keccak(&[&data]),
        )
    } else {
        (U256::zero(), U256::zero())
    };
    let acc_after = keccak(&[
        &be32(&acc_before),
        &be32(&sequence),
        &be32(&prefix),
        &be32(&data_hash),
    ]);
    InboxTail {
        message_hash: message.hash(),
        batch,
        acc_before,
        acc_after,
    }
}

#[test]
fn inbox_proofs_carry_the_message_and_its_batch() {
    let mut m = machine(
        "
        inbox
        log
        inbox
        tlen
        pop
        inbox 5
        pop
        pop
        inbox
        halt
        ",
    );
    m.push_inbox(inbox_message(3, 0, 0, &[1, 2, 3]));
    m.push_inbox(inbox_message(6, 1, 0, &[]));
    m.push_inbox(inbox_message(4, 2, 9, &[0; 40]));
    let proofs = prove_run(&mut m);
    assert_eq!(m.status(), Status::Running, "waits at the fourth inbox");
    assert_eq!(m.prove_next(), Err(ProveError::InboxEmpty));

    let inboxes: Vec<&OneStepProof> = proofs.iter().filter(|p| p.proof[0] == 0x72).collect();
    assert_eq!(inboxes.len(), 3);
    for (i, proof) in inboxes.iter().enumerate() {
        let tail = parse_inbox_tail(&decode(&proof.proof).extra);
        assert_eq!(tail.batch, U256::from(i));
        assert_eq!(tail.acc_before, proof.before.inbox_acc);
        assert_eq!(tail.acc_after, proof.after.inbox_acc);
        assert_eq!(proof.after.inbox_count, proof.before.inbox_count + 1);
        assert_eq!(proof.before.inbox_count, i as u64);
    }
    assert_ne!(inboxes[0].after.inbox_acc, U256::zero());

    // The message rebuilt from the proof is the value `inbox` pushed.
    let mut m = machine("inbox\nhalt");
    m.push_inbox(inbox_message(3, 0, 0, &[9; 70]));
    let proof = prove_checked(&mut m).unwrap();
    let tail = parse_inbox_tail(&decode(&proof.proof).extra);
    assert_eq!(tail.message_hash, m.stack().peek(0).hash());
}

#[test]
fn an_inbox_without_gas_errors_without_a_message() {
    let mut m = machine("push 3\nsetgas\ninbox\nhalt");
    let proofs = prove_run(&mut m);
    let inbox = proofs.last().unwrap();
    assert_eq!(inbox.proof[0], 0x72);
    assert!(decode(&inbox.proof).extra.is_empty());
    assert_eq!(inbox.after.machine_hash, U256::one(), "ErrorStop");
    assert_eq!(inbox.after.inbox_count, 0);
}

#[test]
fn aux_underflow_sends_the_empty_aux_remainder() {
    let empty_stack = (keccak(&[&[0]]), U256::one());
    for source in ["auxpop\nhalt", "errset @h\nxget 0\nh: auxstackempty\nhalt"] {
        let mut m = machine(source);
        let proofs = prove_run(&mut m);
        let underflow = proofs
            .iter()
            .find(|p| matches!(p.proof[0], 0x39 | 0x53))
            .unwrap();
        let decoded = decode(&underflow.proof);
        assert_eq!(decoded.aux_count, 0);
        assert_eq!(decoded.aux_rest, empty_stack);
        assert_eq!(
            hash_preimage(&empty_stack.0, &empty_stack.1),
            *EMPTY_TUPLE_HASH
        );
        assert_eq!(underflow.after.gas_used - underflow.before.gas_used, 5);
        if decoded.opcode == 0x53 {
            // The data operand (the immediate index) is present and sent at its level.
            assert_eq!(decoded.stack_count, 1);
            assert_eq!(&underflow.proof[3..4], &[0]);
        }
    }
}

#[test]
fn data_underflow_sends_what_is_there_at_level_zero() {
    let mut m = machine("push (1, 2)\nadd\nhalt");
    let proofs = prove_run(&mut m);
    let add = &proofs[1];
    let decoded = decode(&add.proof);
    assert_eq!(decoded.stack_count, 1);
    assert_eq!(add.proof[3], 2, "the tuple as a pre-image, not expanded");
    assert_eq!(add.after.machine_hash, U256::one());
}

#[test]
fn refusals_leave_the_machine_unchanged() {
    let unchanged = |m: &mut Machine, expected: ProveError| {
        let before = m.assertion_state();
        let steps = m.outputs().steps;
        assert_eq!(m.prove_next(), Err(expected));
        assert_eq!((m.assertion_state(), m.outputs().steps), (before, steps));
    };
    let mut m = machine("inbox");
    unchanged(&mut m, ProveError::InboxEmpty);
    m.push_inbox(Value::int(5u64));
    unchanged(&mut m, ProveError::InboxMessage("it is not a tuple"));

    let mut m = machine("inbox");
    m.push_inbox(inbox_message(3, 7, 0, &[1]));
    assert!(matches!(m.prove_next(), Err(ProveError::InboxMessage(_))));
    assert_eq!(m.pending_inbox(), 1);

    let mut m = machine("sideload 0\nhalt");
    m.push_sideload(Value::int(1u64));
    unchanged(&mut m, ProveError::SideloadValue);

    let mut m = machine("halt");
    prove_checked(&mut m).unwrap();
    unchanged(&mut m, ProveError::Halted);

    let mut m = machine("error");
    prove_checked(&mut m).unwrap();
    unchanged(&mut m, ProveError::ErrorStopped);
    assert!(ProveError::ErrorStopped.to_string().contains("ErrorStop"));
}

/// `(opcode, proof bytes, buffer proof bytes)` of each step after `skip` steps.
fn sizes(source: &str, skip: usize) -> Vec<(u8, usize, usize)> {
    let mut m = machine(source);
    prove_run(&mut m)
        .iter()
        .skip(skip)
        .map(|p| (p.proof[0], p.proof.len(), p.buffer_proof.len()))
        .collect()
}

#[test]
fn proof_size_does_not_grow_with_stack_depth_or_program_size() {
    const DEPTH: usize = 400;
    const PADDING: usize = 300;
    let deep_prefix = format!(
        "{}{}",
        "    push (1, (2, (3, 4)), 5)\n".repeat(DEPTH),
        "    nop\n".repeat(PADDING)
    );
    for source in [MAIN, BUFFERS, HASHES].into_iter().chain(EXAMPLES) {
        let shallow = sizes(source, 0);
        let deep = sizes(&format!("{deep_prefix}{source}"), DEPTH + PADDING);
        assert!(!shallow.is_empty());
        assert_eq!(shallow, deep, "{source}");
    }
}

#[test]
fn long_codepoint_chains_are_proven_without_deep_recursion() {
    // A codepoint operand is always expanded with its immediate (PROOFS.md §3.1), so `pop` of
    // a chain of 100000 run-time codepoints, each the next one's immediate, sends it whole.
    const LINKS: usize = 100_000;
    let mut chain = CodePoint::err();
    for _ in 0..LINKS {
        chain = CodePoint::detached(0x3b, Some(Value::CodePoint(chain)), U256::zero());
    }
    let mut m = machine("pop\nhalt");
    m.stack_mut().push(Value::CodePoint(chain));
    let mut expected = m.clone();
    let proof = m.prove_next().unwrap();
    expected.step(&Limits::default());
    assert_eq!(proof.after.machine_hash, expected.hash());
    assert_eq!(proof.proof.len(), 358 + (LINKS + 1) * 35);
}
