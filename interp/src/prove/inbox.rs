//! Inbox messages in proofs (PROOFS.md §6): which messages an inbox proof can carry, the
//! hashes the L1 inbox contracts accumulate, the accumulator a machine keeps over the messages
//! it consumes, and the proof bytes. The model and the machine's accumulator are in the
//! [`crate::prove`] module doc; the L1 inbox's structure is [`crate::l1_inbox`].

use avm_runtime::hash::{be32, keccak};
use avm_runtime::marshal::MARSHAL_BUFFER_LIMIT;
use avm_runtime::{Buffer, U256, Value};

/// The kind of an L2 message sequenced with data.
const L2_MESSAGE: u8 = 3;
/// The kind of an end-of-block message (no data).
const END_OF_BLOCK: u8 = 6;
/// The prefix of a delayed range's batch item.
const DELAYED_PREFIX: &[u8] = b"Delayed messages:";
/// Item tag: a sequencer message is in the batch (also the tag of a proven sequencer message).
const SEQUENCER_ITEM: u8 = 0;
/// Item tag: a range of delayed messages is in the batch (also the tag of a proven delayed
/// message).
const DELAYED_ITEM: u8 = 1;
/// Item tag: end of the batch.
const END_OF_BATCH: u8 = 2;

/// An inbox message in the form an inbox proof carries it: the 8-tuple `(kind, l1 block,
/// l1 timestamp, sender, sequence number, l1 gas price, data length, Buffer(data))` with a
/// one-byte kind, a 20-byte sender, and a data length covering every non-zero byte of the
/// buffer (the proof sends exactly `data length` bytes).
#[derive(Clone, Debug)]
pub(crate) struct ProvableMessage {
    kind: u8,
    sender: [u8; 20],
    l1_block_number: U256,
    l1_timestamp: U256,
    sequence_number: U256,
    l1_gas_price: U256,
    data_length: usize,
    data: Buffer,
}

impl ProvableMessage {
    /// Reads `message`, or says why an inbox proof cannot carry it.
    pub(crate) fn parse(message: &Value) -> Result<ProvableMessage, &'static str> {
        let Value::Tuple(tuple) = message else {
            return Err("it is not a tuple");
        };
        let [fields @ .., Value::Buffer(data)] = tuple.slots() else {
            return Err("it is not an 8-tuple ending in a buffer");
        };
        let ints: Vec<U256> = fields
            .iter()
            .map(|field| {
                field
                    .as_int()
                    .ok_or("a field before the data is not an Int")
            })
            .collect::<Result<_, _>>()?;
        let &[kind, block, timestamp, sender, sequence, gas_price, length] = ints.as_slice() else {
            return Err("it is not an 8-tuple ending in a buffer");
        };
        let kind = u8::try_from(kind).map_err(|_| "the kind does not fit in a byte")?;
        if sender.bits() > 160 {
            return Err("the sender is not a 20-byte address");
        }
        let data_length = usize::try_from(length)
            .ok()
            .filter(|&n| n <= MARSHAL_BUFFER_LIMIT)
            .ok_or("the data length is too large")?;
        if (data_length as u128) < data.data_len() {
            return Err("the data length is shorter than the buffer's data");
        }
        let mut sender_bytes = [0u8; 20];
        sender_bytes.copy_from_slice(&be32(&sender)[12..]);
        Ok(ProvableMessage {
            kind,
            sender: sender_bytes,
            l1_block_number: block,
            l1_timestamp: timestamp,
            sequence_number: sequence,
            l1_gas_price: gas_price,
            data_length,
            data: data.clone(),
        })
    }

    /// Reads the message at `position` of the inbox; the checker also requires its sequence
    /// number to equal the messages read before it (so a delayed message, whose number has
    /// bit 255 set, has no proof in the one-message-per-batch model).
    pub(crate) fn at_position(
        message: &Value,
        position: u64,
    ) -> Result<ProvableMessage, &'static str> {
        let message = ProvableMessage::parse(message)?;
        if message.sequence_number != U256::from(position) {
            return Err("its sequence number is not the number of messages read before it");
        }
        Ok(message)
    }

    /// The data bytes the proof carries: the buffer's bytes, zero-padded to the data length.
    fn data_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0; self.data_length];
        self.data.read(0, &mut bytes);
        bytes
    }

    /// `(prefixHash, dataHash)` of this message as a sequencer item (zero unless it is an L2
    /// or end-of-block message with gas price 0).
    pub(crate) fn item_hashes(&self) -> (U256, U256) {
        let expected_kind = if self.data_length > 0 {
            L2_MESSAGE
        } else {
            END_OF_BLOCK
        };
        if self.kind != expected_kind || !self.l1_gas_price.is_zero() {
            return (U256::zero(), U256::zero());
        }
        let prefix = keccak(&[
            &self.sender,
            &be32(&self.l1_block_number),
            &be32(&self.l1_timestamp),
        ]);
        (prefix, keccak(&[&self.data_bytes()]))
    }

    /// The message hash the delayed inbox accumulates (`Messages.messageHash`): `keccak(kind ‖
    /// sender ‖ be32(block) ‖ be32(timestamp) ‖ be32(seqNum) ‖ be32(gasPrice) ‖ keccak(data))`.
    pub(crate) fn delayed_hash(&self) -> U256 {
        keccak(&[
            &[self.kind],
            &self.sender,
            &be32(&self.l1_block_number),
            &be32(&self.l1_timestamp),
            &be32(&self.sequence_number),
            &be32(&self.l1_gas_price),
            &be32(&keccak(&[&self.data_bytes()])),
        ])
    }

    /// Appends the message part of an inbox proof: the fields and the data bytes.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        out.extend_from_slice(&self.sender);
        for field in [
            self.l1_block_number,
            self.l1_timestamp,
            self.sequence_number,
            self.l1_gas_price,
            U256::from(self.data_length),
        ] {
            out.extend_from_slice(&be32(&field));
        }
        out.extend_from_slice(&self.data_bytes());
    }
}

/// `(prefixHash, dataHash)` of `message` as a sequencer batch item: the checker's hashes for a
/// message a proof can carry; for any other value `(0, hash(value))`, so the item still
/// commits to it.
pub(crate) fn item_hashes(message: &Value) -> (U256, U256) {
    match ProvableMessage::parse(message) {
        Ok(message) => message.item_hashes(),
        Err(_) => (U256::zero(), message.hash()),
    }
}

/// The inbox accumulator after folding in `message`, consumed at `position` (0 for the first
/// message), from `acc`: the sequencer item of `message` ([`item_hashes`]).
pub(crate) fn accumulate(acc: &U256, position: u64, message: &Value) -> U256 {
    let (prefix, data) = item_hashes(message);
    sequencer_item(*acc, U256::from(position), prefix, data)
}

/// An item of a sequencer batch and what it adds to the accumulator (PROOFS.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchItem {
    /// A sequencer message, by its `(prefixHash, dataHash)`.
    Message { prefix: U256, data: U256 },
    /// Delayed messages `start..end`, with `end_acc` the delayed inbox's accumulator after
    /// message `end - 1`.
    Delayed { start: u64, end: u64, end_acc: U256 },
}

impl BatchItem {
    /// The accumulator after this item, from `acc`, where the item's first message has
    /// sequence number `sequence`.
    pub(crate) fn fold(&self, acc: U256, sequence: u64) -> U256 {
        match *self {
            BatchItem::Message { prefix, data } => {
                sequencer_item(acc, U256::from(sequence), prefix, data)
            }
            BatchItem::Delayed {
                start,
                end,
                end_acc,
            } => keccak(&[
                DELAYED_PREFIX,
                &be32(&acc),
                &be32(&U256::from(sequence)),
                &be32(&U256::from(start)),
                &be32(&U256::from(end)),
                &be32(&end_acc),
            ]),
        }
    }

    /// How many messages the item holds.
    pub(crate) fn len(&self) -> u64 {
        match *self {
            BatchItem::Message { .. } => 1,
            BatchItem::Delayed { start, end, .. } => end - start,
        }
    }

    /// Appends the item as a later item of an inbox proof's batch replay.
    fn write(&self, out: &mut Vec<u8>) {
        match *self {
            BatchItem::Message { prefix, data } => {
                out.push(SEQUENCER_ITEM);
                out.extend_from_slice(&be32(&prefix));
                out.extend_from_slice(&be32(&data));
            }
            BatchItem::Delayed { start, end, .. } => {
                out.push(DELAYED_ITEM);
                out.extend_from_slice(&be32(&U256::from(start)));
                out.extend_from_slice(&be32(&U256::from(end)));
            }
        }
    }
}

/// A sequencer item: `keccak(acc ‖ be32(seq) ‖ prefixHash ‖ dataHash)`.
fn sequencer_item(acc: U256, sequence: U256, prefix: U256, data: U256) -> U256 {
    keccak(&[&be32(&acc), &be32(&sequence), &be32(&prefix), &be32(&data)])
}

/// Where a proven message lies in its sequencer batch.
pub(crate) struct BatchPlace<'a> {
    /// The batch's number.
    pub batch: u64,
    /// The batch's accumulator just before the message's item.
    pub acc_before: U256,
    /// For a delayed message: its item's first sequence number, and the range `start..end`.
    pub delayed: Option<(u64, u64, u64)>,
    /// The batch's items after the message's own.
    pub later: &'a [BatchItem],
}

/// Appends the inbox proof of `message` at `place` (PROOFS.md §6): the message, then its batch
/// (number, kind, accumulator before it, the delayed range if any, the later items, the end).
pub(crate) fn write_proof(message: &ProvableMessage, place: &BatchPlace, out: &mut Vec<u8>) {
    message.write(out);
    out.extend_from_slice(&be32(&U256::from(place.batch)));
    out.push(match place.delayed {
        Some(_) => DELAYED_ITEM,
        None => SEQUENCER_ITEM,
    });
    out.extend_from_slice(&be32(&place.acc_before));
    if let Some((first_sequence, start, end)) = place.delayed {
        for word in [first_sequence, start, end] {
            out.extend_from_slice(&be32(&U256::from(word)));
        }
    }
    for item in place.later {
        item.write(out);
    }
    out.push(END_OF_BATCH);
}
