//! `inbox` (PROOFS.md §6): the inbox proof after the immediate flag, the message 8-tuple the
//! instruction pushes (AVM.md §9), and the replay of the message's sequencer batch against an
//! injected [`InboxAccumulators`] oracle, which stands in for the checker's two L1 contracts.
//!
//! The proof is
//! ```text
//! kind (1) ‖ sender (20) ‖ be32(l1BlockNumber) ‖ be32(l1Timestamp) ‖ be32(inboxSeqNum)
//! ‖ be32(gasPriceL1) ‖ be32(dataLength) ‖ data (dataLength bytes)
//! ‖ be32(seqBatchNum) ‖ isDelayed (0 or 1) ‖ acc (32)
//! ‖ [if isDelayed: be32(firstSequencerSeqNum) ‖ be32(delayedStart) ‖ be32(delayedEnd)]
//! ‖ { 00 ‖ prefixHash(32) ‖ dataHash(32)  |  01 ‖ be32(delayedStart) ‖ be32(delayedEnd) }* ‖ 02
//! ```
//! Starting from `acc`, the checker folds in the message's own item, then every later item of
//! the batch, and requires the result to be the batch's accumulator on L1
//! (`inboxAccs(seqBatchNum)`); it also requires the message to be the next one the machine
//! reads. Anything after the final `02` is not read, as in the checker.
//!
//! A sequencer item is `keccak(acc ‖ be32(seq) ‖ prefixHash ‖ dataHash)`, where `seq` is the
//! item's sequence number (the message's own, then one more per later message), and
//! `(prefixHash, dataHash)` is `(keccak(sender ‖ be32(block) ‖ be32(timestamp)), keccak(data))`
//! for an L2 message (kind 3, data non-empty) or end-of-block message (kind 6, no data) with L1
//! gas price 0, and `(0, 0)` for any other message (PROOFS.md §6).
//!
//! # Delayed messages
//!
//! PROOFS.md §6 gives the layout of a delayed message's proof, its message hash
//! `keccak(kind ‖ sender ‖ be32(block) ‖ be32(timestamp) ‖ be32(seqNum) ‖ be32(gasPrice) ‖
//! keccak(data))`, and the tuple's sequence number `seqNum | 2^255`, and says it is checked
//! against the delayed-inbox contract. The rest is the deployed checker's (`OneStepProof`,
//! `incrementInbox`), which this module follows:
//! * the message is delayed-inbox message `seqNum`: it must lie in `[delayedStart,
//!   delayedEnd)`, and `keccak(D(seqNum − 1) ‖ messageHash) = D(seqNum)`, where `D(i)` is the
//!   delayed inbox's accumulator after message `i` and `D(−1) = 0`;
//! * it is message `seqNum − delayedStart + firstSequencerSeqNum` of the machine's inbox, which
//!   must be the messages read before the step;
//! * a range of delayed messages is one batch item, `keccak("Delayed messages:" ‖ acc ‖
//!   be32(seq) ‖ be32(delayedStart) ‖ be32(delayedEnd) ‖ D(delayedEnd − 1))`, with `seq` the
//!   range's first sequence number (`firstSequencerSeqNum` for the message's own range), and
//!   it advances the sequence number by `delayedEnd − delayedStart`.
//!
//! `D(i)` comes from [`InboxAccumulators::delayed_acc`]; an oracle that has none (such as the
//! one [`super::verify`] builds) makes every proof that needs one fail with
//! [`Rejection::NoDelayedAccumulator`]. No recording covers this path (PROOFS.md §6).
//!
//! Arithmetic on sequence numbers wraps at 2^256, as in the (pre-0.8 Solidity) checker.

use avm_runtime::U256;
use avm_runtime::hash::{be32, keccak};

use super::Rejection;
use super::decode::Reader;
use super::merkle;
use super::value::{self, Arena, ValId};

/// The checker's view of the L1 inbox contracts (PROOFS.md §6): the accumulators an `inbox`
/// proof is checked against. [`super::execute_step`] takes one in place of the contract's
/// `bridges` argument; `None` stands for the contract reverting (no such entry).
///
/// A closure `Fn(U256) -> Option<U256>` is an oracle for sequencer batches alone.
pub trait InboxAccumulators {
    /// `sequencerBridge.inboxAccs(batch)`: the sequencer inbox's accumulator after batch
    /// `batch`.
    fn sequencer_batch(&self, batch: U256) -> Option<U256>;

    /// `delayedBridge.inboxAccs(index)`: the delayed inbox's accumulator after its message
    /// `index`. None by default: the oracle knows no delayed inbox.
    fn delayed_acc(&self, index: U256) -> Option<U256> {
        let _ = index;
        None
    }
}

impl<F: Fn(U256) -> Option<U256>> InboxAccumulators for F {
    fn sequencer_batch(&self, batch: U256) -> Option<U256> {
        self(batch)
    }
}

/// An oracle with no inbox at all: every `inbox` step that reads a message is rejected with
/// [`Rejection::UnknownInboxBatch`]. For checking steps that are known not to read one.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoInbox;

impl InboxAccumulators for NoInbox {
    fn sequencer_batch(&self, _: U256) -> Option<U256> {
        None
    }
}

/// What an `inbox` step read, as its proof places it (PROOFS.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxRead {
    /// The sequencer batch holding the message (`seqBatchNum`).
    pub batch: U256,
    /// Whether the message came from the delayed inbox.
    pub delayed: bool,
    /// The accumulator the replay starts from: the proof's `acc`, the batch's accumulator just
    /// before the message's item.
    pub start_acc: U256,
    /// The accumulator right after the message's own item (for a delayed message, after its
    /// whole delayed range).
    pub item_acc: U256,
    /// The batch's accumulator after the later items: the oracle's `inboxAccs(batch)`.
    pub batch_acc: U256,
    /// `(prefixHash, dataHash)` of the message as a sequencer item, whatever its place: what the
    /// machine's own inbox accumulator folds in (the one-message-per-batch model of
    /// [`crate::prove`]).
    pub message_item: (U256, U256),
}

/// The L2 message kind: a sequencer item with data.
const L2_MESSAGE: u8 = 3;
/// The end-of-block message kind: a sequencer item without data.
const END_OF_BLOCK: u8 = 6;
/// The prefix of a delayed range's batch item.
const DELAYED_PREFIX: &[u8] = b"Delayed messages:";
/// Item tags of the batch replay.
const SEQUENCER_ITEM: u8 = 0;
const DELAYED_ITEM: u8 = 1;
const END_OF_BATCH: u8 = 2;

/// The message fields of an inbox proof.
struct Message<'a> {
    kind: u8,
    sender: &'a [u8],
    block: U256,
    timestamp: U256,
    sequence: U256,
    gas_price: U256,
    length: U256,
    data: &'a [u8],
}

impl Message<'_> {
    fn read<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, Rejection> {
        let kind = r.byte()?;
        let sender = r.take(20)?;
        let block = r.word()?;
        let timestamp = r.word()?;
        let sequence = r.word()?;
        let gas_price = r.word()?;
        let length = r.word()?;
        // A length beyond the address space cannot be present in the proof.
        let data = r.take(usize::try_from(length).map_err(|_| Rejection::Truncated)?)?;
        Ok(Message {
            kind,
            sender,
            block,
            timestamp,
            sequence,
            gas_price,
            length,
            data,
        })
    }

    /// `(prefixHash, dataHash)` of the message as a sequencer item: zero unless it is an L2 or
    /// end-of-block message with L1 gas price 0.
    fn item_hashes(&self) -> (U256, U256) {
        let expected_kind = if self.length.is_zero() {
            END_OF_BLOCK
        } else {
            L2_MESSAGE
        };
        if self.kind != expected_kind || !self.gas_price.is_zero() {
            return (U256::zero(), U256::zero());
        }
        let prefix = keccak(&[self.sender, &be32(&self.block), &be32(&self.timestamp)]);
        (prefix, keccak(&[self.data]))
    }

    /// The message hash the delayed inbox accumulates.
    fn hash(&self) -> U256 {
        keccak(&[
            &[self.kind],
            self.sender,
            &be32(&self.block),
            &be32(&self.timestamp),
            &be32(&self.sequence),
            &be32(&self.gas_price),
            &be32(&keccak(&[self.data])),
        ])
    }

    /// The 8-tuple `inbox` pushes (AVM.md §9), with sequence number `sequence` and the data
    /// as a hash-only value of its buffer hash (`bytesToBufferHash`, PROOFS.md §5.6).
    fn tuple(&self, arena: &mut Arena, sequence: U256) -> ValId {
        let ints = [
            U256::from(self.kind),
            self.block,
            self.timestamp,
            U256::from_big_endian(self.sender),
            sequence,
            self.gas_price,
            self.length,
        ];
        let mut slots: Vec<ValId> = ints.iter().map(|&x| arena.int(x)).collect();
        let data = value::buffer_hash(&merkle::root_of_bytes(self.data));
        slots.push(arena.hash_only(data));
        arena.tuple(slots)
    }
}

/// A sequencer item: `keccak(acc ‖ be32(seq) ‖ prefixHash ‖ dataHash)`.
pub(super) fn sequencer_item(acc: U256, seq: U256, prefix: U256, data: U256) -> U256 {
    keccak(&[&be32(&acc), &be32(&seq), &be32(&prefix), &be32(&data)])
}

/// A delayed range item: `keccak("Delayed messages:" ‖ acc ‖ be32(seq) ‖ be32(start) ‖
/// be32(end) ‖ D(end − 1))`.
fn delayed_item(
    oracle: &dyn InboxAccumulators,
    acc: U256,
    seq: U256,
    start: U256,
    end: U256,
) -> Result<U256, Rejection> {
    let end_acc = delayed_acc(oracle, end.overflowing_sub(U256::one()).0)?;
    Ok(keccak(&[
        DELAYED_PREFIX,
        &be32(&acc),
        &be32(&seq),
        &be32(&start),
        &be32(&end),
        &be32(&end_acc),
    ]))
}

fn delayed_acc(oracle: &dyn InboxAccumulators, index: U256) -> Result<U256, Rejection> {
    oracle
        .delayed_acc(index)
        .ok_or(Rejection::NoDelayedAccumulator(index))
}

/// Reads the inbox proof `extra`, checks it against `oracle` for a step that has read
/// `messages_read` messages before, and returns the message tuple (in `arena`) and where the
/// proof placed it.
pub(super) fn read(
    extra: &[u8],
    arena: &mut Arena,
    messages_read: u64,
    oracle: &dyn InboxAccumulators,
) -> Result<(ValId, InboxRead), Rejection> {
    let mut r = Reader::new(extra);
    let message = Message::read(&mut r)?;
    let batch = r.word()?;
    let delayed = match r.byte()? {
        SEQUENCER_ITEM => false,
        DELAYED_ITEM => true,
        other => return Err(Rejection::InvalidInboxItem(other)),
    };
    let start_acc = r.word()?;
    let position = U256::from(messages_read);
    let (item_acc, mut seq, tuple_sequence) = if delayed {
        let first_sequencer_seq = r.word()?;
        let start = r.word()?;
        let end = r.word()?;
        let acc = delayed_item(oracle, start_acc, first_sequencer_seq, start, end)?;
        let index = message.sequence;
        if index < start || index >= end {
            return Err(Rejection::DelayedMessageOutOfRange);
        }
        let previous = if index.is_zero() {
            U256::zero()
        } else {
            delayed_acc(oracle, index - 1)?
        };
        if keccak(&[&be32(&previous), &be32(&message.hash())]) != delayed_acc(oracle, index)? {
            return Err(Rejection::DelayedMessageMismatch);
        }
        if (index - start).overflowing_add(first_sequencer_seq).0 != position {
            return Err(Rejection::WrongInboxSequenceNumber);
        }
        let next = first_sequencer_seq.overflowing_add(end - start).0;
        (acc, next, index | (U256::one() << 255))
    } else {
        if message.sequence != position {
            return Err(Rejection::WrongInboxSequenceNumber);
        }
        let (prefix, data) = message.item_hashes();
        let acc = sequencer_item(start_acc, message.sequence, prefix, data);
        let next = message.sequence.overflowing_add(U256::one()).0;
        (acc, next, message.sequence)
    };
    let mut acc = item_acc;
    loop {
        match r.byte()? {
            END_OF_BATCH => break,
            SEQUENCER_ITEM => {
                let (prefix, data) = (r.word()?, r.word()?);
                acc = sequencer_item(acc, seq, prefix, data);
                seq = seq.overflowing_add(U256::one()).0;
            }
            DELAYED_ITEM => {
                let (start, end) = (r.word()?, r.word()?);
                acc = delayed_item(oracle, acc, seq, start, end)?;
                seq = seq.overflowing_add(end.overflowing_sub(start).0).0;
            }
            other => return Err(Rejection::InvalidInboxItem(other)),
        }
    }
    let expected = oracle
        .sequencer_batch(batch)
        .ok_or(Rejection::UnknownInboxBatch(batch))?;
    if acc != expected {
        return Err(Rejection::InboxBatchMismatch {
            expected,
            computed: acc,
        });
    }
    let tuple = message.tuple(arena, tuple_sequence);
    Ok((
        tuple,
        InboxRead {
            batch,
            delayed,
            start_acc,
            item_acc,
            batch_acc: acc,
            message_item: message.item_hashes(),
        },
    ))
}
