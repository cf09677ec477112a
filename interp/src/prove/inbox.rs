//! Inbox messages in proofs (PROOFS.md §6): which messages an inbox proof can carry, the
//! accumulator a machine keeps over the messages it consumes, and the proof bytes. The model
//! and the accumulator formula are in the [`crate::prove`] module doc.

use avm_runtime::hash::{be32, keccak};
use avm_runtime::marshal::MARSHAL_BUFFER_LIMIT;
use avm_runtime::{Buffer, U256, Value};

/// The kind of an L2 message sequenced with data.
const L2_MESSAGE: u8 = 3;
/// The kind of an end-of-block message (no data).
const END_OF_BLOCK: u8 = 6;
/// Item tag: a sequencer message is in the batch (also the tag of the proven message).
const SEQUENCER_ITEM: u8 = 0;
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
    fn parse(message: &Value) -> Result<ProvableMessage, &'static str> {
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
    fn item_hashes(&self) -> (U256, U256) {
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
}

/// The inbox accumulator after folding in `message`, consumed at `position` (0 for the first
/// message), from `acc`. A message no proof can carry still changes the accumulator, as an
/// item whose data hash is the message's value hash, so the accumulator commits to it.
pub(crate) fn accumulate(acc: &U256, position: u64, message: &Value) -> U256 {
    let (prefix, data) = match ProvableMessage::parse(message) {
        Ok(message) => message.item_hashes(),
        Err(_) => (U256::zero(), message.hash()),
    };
    keccak(&[
        &be32(acc),
        &be32(&U256::from(position)),
        &be32(&prefix),
        &be32(&data),
    ])
}

/// The sequencer inbox of the prover's model (PROOFS.md §6, see [`crate::prove`]) for a
/// machine fed `messages` in order: batch `n` holds message `n` alone, and its accumulator is
/// the machine's inbox accumulator after reading it. The accumulator oracle a referee gives
/// the verifier in place of the L1 inbox contracts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageInbox {
    /// The accumulator after each batch.
    accs: Vec<U256>,
}

impl MessageInbox {
    /// The inbox of `messages`, the first read at position 0 from accumulator 0.
    pub fn new(messages: &[Value]) -> MessageInbox {
        let mut acc = U256::zero();
        let accs = messages
            .iter()
            .enumerate()
            .map(|(position, message)| {
                acc = accumulate(&acc, position as u64, message);
                acc
            })
            .collect();
        MessageInbox { accs }
    }
}

impl crate::verify::InboxAccumulators for MessageInbox {
    fn sequencer_batch(&self, batch: U256) -> Option<U256> {
        let index = usize::try_from(batch).ok()?;
        self.accs.get(index).copied()
    }
}

/// Appends the inbox proof of `message`, consumed at `position` with the accumulator `acc`
/// before it (PROOFS.md §6): the message fields and data, then its batch — number `position`,
/// not delayed, starting from `acc`, with no later items.
pub(crate) fn write_proof(message: &ProvableMessage, position: u64, acc: &U256, out: &mut Vec<u8>) {
    out.push(message.kind);
    out.extend_from_slice(&message.sender);
    for field in [
        message.l1_block_number,
        message.l1_timestamp,
        message.sequence_number,
        message.l1_gas_price,
        U256::from(message.data_length),
    ] {
        out.extend_from_slice(&be32(&field));
    }
    out.extend_from_slice(&message.data_bytes());
    out.extend_from_slice(&be32(&U256::from(position)));
    out.push(SEQUENCER_ITEM);
    out.extend_from_slice(&be32(acc));
    out.push(END_OF_BATCH);
}
