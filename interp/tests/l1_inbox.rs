//! `inbox` steps proven in an L1 inbox with its full structure (PROOFS.md §6): sequencer
//! batches of several items, delayed-message ranges, messages of the delayed inbox never
//! included. Every step of a run is proven with `prove_next_in` and checked by the verifier
//! against the same inbox as its accumulator oracle; the accumulators are recomputed here from
//! the contracts' formulas; tampered proofs and inboxes that break the contracts' rules are
//! refused.

mod inbox_formulas;

use avm_interp::l1_inbox::{L1Inbox, L1InboxError};
use avm_interp::proof::OneStepProof;
use avm_interp::verify::{self, InboxAccumulators, InboxRead, execute_step};
use avm_interp::{Limits, Machine, Status, Stop};
use avm_runtime::hash::{be32, keccak};
use avm_runtime::inbox::{BatchItem, InboxMessage};
use avm_runtime::{U256, Value, asm};
use inbox_formulas::{delayed_item, delayed_message_hash, sequencer_item};

fn message(kind: u64, sequence: u64, sender: u64, gas_price: u64, data: &[u8]) -> InboxMessage {
    InboxMessage {
        kind: U256::from(kind),
        l1_block_number: U256::from(1000 + sequence),
        l1_timestamp: U256::from(5000 + sequence),
        sender: U256::from(sender),
        inbox_sequence_number: U256::from(sequence),
        l1_gas_price: U256::from(gas_price),
        data: data.to_vec(),
    }
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 1) as u8).collect()
}

/// Four delayed messages (the last never included) and three batches: a sequencer message, a
/// range of two delayed messages and the end-of-block message the contract adds after it; two
/// sequencer messages; a range of one delayed message. The machine reads seven messages.
fn structure() -> (Vec<InboxMessage>, Vec<Vec<BatchItem>>) {
    let delayed = vec![
        message(7, 0, 0x1111, 30, &bytes(40)),
        message(3, 1, 0x2222, 0, &bytes(5)),
        message(9, 2, 0x3333, 2, &[]),
        message(7, 3, 0x4444, 30, &bytes(3)),
    ];
    let batches = vec![
        vec![
            BatchItem::Message(Box::new(message(3, 0, 0xa11ce, 0, &bytes(70)))),
            BatchItem::Delayed { total_read: 2 },
            BatchItem::Message(Box::new(message(6, 3, 0, 0, &[]))),
        ],
        vec![
            BatchItem::Message(Box::new(message(3, 4, 0xa11ce, 0, &bytes(1)))),
            BatchItem::Message(Box::new(message(6, 5, 0xa11ce, 0, &[]))),
        ],
        vec![BatchItem::Delayed { total_read: 3 }],
    ];
    (delayed, batches)
}

fn inbox() -> L1Inbox {
    let (delayed, batches) = structure();
    L1Inbox::new(&delayed, &batches).expect("the structure follows the contracts' rules")
}

/// A program that reads `n` messages and halts.
fn reader(n: usize) -> Machine {
    let source = format!("{}halt", "inbox\npop\n".repeat(n));
    Machine::new(asm::assemble(&source).unwrap())
}

/// Every step of the reader over `inbox`, proven in it and checked by the verifier against it;
/// each proof's after state is the interpreter's. Returns the proofs of the inbox steps.
fn prove_run(inbox: &L1Inbox) -> Vec<OneStepProof> {
    let mut machine = reader(inbox.messages().len());
    for m in inbox.messages() {
        machine.push_inbox(m.clone());
    }
    let mut reference = machine.clone();
    let mut inbox_steps = Vec::new();
    while machine.status() == Status::Running {
        let proof = machine.prove_next_in(inbox).expect("every step proves");
        verify::verify_in(&proof, inbox).unwrap_or_else(|e| panic!("rejected: {e}"));
        assert!(!matches!(
            reference.step(&Limits::default()),
            Some(Stop::Blocked(_))
        ));
        assert_eq!(proof.after, reference.assertion_state());
        if proof.after.inbox_count > proof.before.inbox_count {
            inbox_steps.push(proof);
        }
    }
    assert_eq!(machine.status(), Status::Halted);
    inbox_steps
}

/// What the checker reads from `proof` with `oracle` as the L1 contracts.
fn read(proof: &[u8], oracle: &dyn InboxAccumulators, messages_read: u64) -> InboxRead {
    let result = execute_step(
        avm_interp::proof::ProverKind::Main,
        oracle,
        messages_read,
        U256::zero(),
        U256::zero(),
        proof,
        &[],
    )
    .unwrap_or_else(|e| panic!("rejected: {e}"));
    result.inbox.expect("an inbox step")
}

#[test]
fn every_inbox_step_proves_where_the_l1_inbox_holds_it() {
    let inbox = inbox();
    assert_eq!(inbox.messages().len(), 7);
    assert_eq!(inbox.batch_count(), 3);
    let proofs = prove_run(&inbox);
    assert_eq!(proofs.len(), 7);
    let places: Vec<(u64, bool)> = proofs
        .iter()
        .map(|p| {
            let read = read(&p.proof, &inbox, p.before.inbox_count);
            (read.batch.as_u64(), read.delayed)
        })
        .collect();
    assert_eq!(
        places,
        [
            (0, false),
            (0, true),
            (0, true),
            (0, false),
            (1, false),
            (1, false),
            (2, true)
        ]
    );
    // The machine reads delayed message i numbered i | 2^255.
    let delayed_sequence = |i: u64| U256::from(i) | (U256::one() << 255);
    let sequences: Vec<U256> = inbox
        .messages()
        .iter()
        .map(|m| match m {
            Value::Tuple(t) => t.get(4).and_then(Value::as_int).unwrap(),
            other => panic!("not a message: {other:?}"),
        })
        .collect();
    let expected: Vec<U256> = [0u64, 1, 2, 3, 4, 5, 6]
        .iter()
        .map(|&n| match n {
            1 => delayed_sequence(0),
            2 => delayed_sequence(1),
            6 => delayed_sequence(2),
            n => U256::from(n),
        })
        .collect();
    assert_eq!(sequences, expected);
}

/// The sequencer item of message `m`, an L2 or end-of-block message with gas price 0:
/// `prefixHash = keccak(sender ‖ be32(block) ‖ be32(timestamp))`, `dataHash = keccak(data)`.
fn sequencer_message(acc: U256, m: &InboxMessage) -> U256 {
    let sender = &be32(&m.sender)[12..];
    let prefix = keccak(&[sender, &be32(&m.l1_block_number), &be32(&m.l1_timestamp)]);
    let seq = m.inbox_sequence_number.as_u64();
    sequencer_item(acc, seq, prefix, keccak(&[&m.data]))
}

#[test]
fn accumulators_are_the_contracts() {
    let (delayed, batches) = structure();
    let inbox = inbox();
    let mut d = Vec::new();
    let mut acc = U256::zero();
    for m in &delayed {
        acc = keccak(&[&be32(&acc), &be32(&delayed_message_hash(m))]);
        d.push(acc);
    }
    for (i, acc) in d.iter().enumerate() {
        assert_eq!(inbox.delayed_acc(U256::from(i)), Some(*acc));
    }
    assert_eq!(inbox.delayed_acc(U256::from(4)), None);
    let range = |acc, seq, start, end: u64| delayed_item(acc, seq, start, end, d[end as usize - 1]);
    let message = |batch: usize, item: usize| match &batches[batch][item] {
        BatchItem::Message(m) => m.clone(),
        BatchItem::Delayed { .. } => unreachable!(),
    };
    let batch0 = sequencer_message(
        range(sequencer_message(U256::zero(), &message(0, 0)), 1, 0, 2),
        &message(0, 2),
    );
    let batch1 = sequencer_message(sequencer_message(batch0, &message(1, 0)), &message(1, 1));
    let batch2 = range(batch1, 6, 2, 3);
    for (b, acc) in [batch0, batch1, batch2].into_iter().enumerate() {
        assert_eq!(inbox.sequencer_batch(U256::from(b)), Some(acc), "batch {b}");
    }
    assert_eq!(inbox.sequencer_batch(U256::from(3)), None);
}

/// Where the inbox part of an `inbox` step's proof starts: the message fields.
fn message_offset(proof: &[u8], m: &InboxMessage) -> usize {
    let mut fields = vec![m.kind.low_u64() as u8];
    fields.extend_from_slice(&be32(&m.sender)[12..]);
    fields.extend_from_slice(&be32(&m.l1_block_number));
    proof
        .windows(fields.len())
        .rposition(|w| w == fields)
        .expect("the proof carries the message")
}

#[test]
fn tampered_inbox_proofs_are_rejected() {
    let (delayed, batches) = structure();
    let inbox = inbox();
    let proofs = prove_run(&inbox);
    // The message each proof carries, as the L1 inbox holds it.
    let carried = [
        batches[0][0].clone(),
        BatchItem::Message(Box::new(delayed[0].clone())),
        BatchItem::Message(Box::new(delayed[1].clone())),
        batches[0][2].clone(),
        batches[1][0].clone(),
        batches[1][1].clone(),
        BatchItem::Message(Box::new(delayed[2].clone())),
    ];
    let as_list = L1Inbox::from_messages(inbox.messages().to_vec());
    for (p, carried) in proofs.iter().zip(carried) {
        let BatchItem::Message(m) = carried else {
            unreachable!()
        };
        let at = message_offset(&p.proof, &m);
        let batch_at = at + 1 + 20 + 5 * 32 + m.data.len();
        let delayed = p.proof[batch_at + 32] == 1;
        let acc_at = batch_at + 33;
        // The offsets are right: the fields there are what the checker reads.
        let place = read(&p.proof, &inbox, p.before.inbox_count);
        assert_eq!(p.proof[batch_at..batch_at + 32], be32(&place.batch));
        assert_eq!(delayed, place.delayed);
        assert_eq!(p.proof[acc_at..acc_at + 32], be32(&place.start_acc));
        let mut tampers: Vec<(&str, usize)> = vec![
            ("message kind", at),
            ("message sender", at + 1),
            ("message block", at + 21 + 31),
            ("batch number", batch_at + 31),
            ("accumulator before the message", acc_at + 5),
        ];
        if !m.data.is_empty() {
            tampers.push(("message data", batch_at - 1));
        }
        if delayed {
            tampers.push(("first sequence number", acc_at + 32 + 31));
            tampers.push(("delayed range start", acc_at + 64 + 31));
            tampers.push(("delayed range end", acc_at + 96 + 31));
        }
        for (what, offset) in tampers {
            let mut bad = p.clone();
            bad.proof[offset] ^= 1;
            assert!(
                verify::verify_in(&bad, &inbox).is_err(),
                "message {}: a tampered {what} is accepted",
                p.before.inbox_count
            );
        }
        // The same step checked against the inbox where every message is its own batch: no
        // message sits in the same place there (the first one's batch has later items here).
        assert!(verify::verify_in(p, &as_list).is_err());
    }
}

#[test]
fn a_list_is_one_batch_per_message_and_proves_as_before() {
    let (_, batches) = structure();
    let list: Vec<InboxMessage> = batches
        .iter()
        .flatten()
        .filter_map(|item| match item {
            BatchItem::Message(m) => Some(m.clone()),
            BatchItem::Delayed { .. } => None,
        })
        .enumerate()
        .map(|(n, m)| InboxMessage {
            inbox_sequence_number: U256::from(n),
            ..*m
        })
        .collect();
    let values: Vec<_> = list.iter().map(InboxMessage::to_value).collect();
    let inbox = L1Inbox::from_messages(values.clone());
    let mut in_inbox = reader(list.len());
    for v in &values {
        in_inbox.push_inbox(v.clone());
    }
    let mut plain = in_inbox.clone();
    while plain.status() == Status::Running {
        let a = in_inbox.prove_next_in(&inbox).unwrap();
        let b = plain.prove_next().unwrap();
        assert_eq!(a, b);
        verify::verify(&b).unwrap();
        verify::verify_in(&a, &inbox).unwrap();
        // Batch n's accumulator is the machine's inbox accumulator after reading message n.
        if a.after.inbox_count > a.before.inbox_count {
            let batch = U256::from(a.before.inbox_count);
            assert_eq!(inbox.sequencer_batch(batch), Some(a.after.inbox_acc));
        }
    }
}

#[test]
fn a_message_the_inbox_does_not_hold_has_no_proof() {
    let inbox = inbox();
    let mut machine = reader(1);
    // The machine reads the inbox's second message first.
    machine.push_inbox(inbox.messages()[1].clone());
    let error = machine.prove_next_in(&inbox).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not the message the L1 inbox holds"),
        "{error}"
    );
}

#[test]
fn structures_the_contracts_refuse_are_refused() {
    let (delayed, batches) = structure();
    let check =
        |delayed: &[InboxMessage], batches: &[Vec<BatchItem>], place: &str, reason: &str| {
            match L1Inbox::new(delayed, batches) {
                Err(L1InboxError {
                    place: p,
                    reason: r,
                }) => {
                    assert_eq!(p, place);
                    assert!(r.contains(reason), "{r}");
                }
                Ok(_) => panic!("accepted; expected {place}: {reason}"),
            }
        };
    let mut wrong_number = batches.clone();
    wrong_number[1][1] = BatchItem::Message(Box::new(message(6, 4, 0xa11ce, 0, &[])));
    check(
        &delayed,
        &wrong_number,
        "batch 1 item 1",
        "5 messages come before it",
    );
    let mut empty = batches.clone();
    empty.insert(1, Vec::new());
    check(&delayed, &empty, "batch 1", "at least one item");
    let mut backwards = batches.clone();
    backwards[2][0] = BatchItem::Delayed { total_read: 2 };
    check(&delayed, &backwards, "batch 2 item 0", "2 are already read");
    let mut too_far = batches.clone();
    too_far[2][0] = BatchItem::Delayed { total_read: 5 };
    check(
        &delayed,
        &too_far,
        "batch 2 item 0",
        "the delayed inbox holds 4",
    );
    let mut misnumbered = delayed.clone();
    misnumbered[2].inbox_sequence_number = U256::from(7);
    check(&misnumbered, &batches, "delayed message 2", "numbers it 2");
    let mut wide_kind = delayed.clone();
    wide_kind[3].kind = U256::from(256);
    check(&wide_kind, &batches, "delayed message 3", "kind");
}
