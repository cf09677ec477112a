//! The L1 inbox a machine's messages come from (PROOFS.md §6): the sequencer inbox's batches,
//! whose items are messages the sequencer posted and ranges of the delayed inbox, and the
//! delayed inbox, with the accumulators the two contracts record. An `inbox` step is proven
//! against it: [`Machine::prove_next_in`](crate::Machine::prove_next_in) writes a message's
//! inbox proof from it, and it is the verifier's [`InboxAccumulators`] oracle.
//!
//! What the contracts record, and what is checked when an inbox is built:
//! * The sequencer inbox (`SequencerInbox.sol`): batch `b`'s accumulator starts from batch
//!   `b − 1`'s (0 for the first) and folds in its items in order. A message is
//!   `keccak(acc ‖ be32(seq) ‖ prefixHash ‖ dataHash)`; a range of delayed messages
//!   `start..end` is `keccak("Delayed messages:" ‖ acc ‖ be32(seq) ‖ be32(start) ‖ be32(end) ‖
//!   D(end − 1))`; `seq` counts every message before the item (the contract's `messageCount`),
//!   and a sequencer message must carry it as its sequence number. A batch holds at least one
//!   item (`EMPTY_BATCH`); each range starts where the last one stopped, reads at least one
//!   message (`DELAYED_BACKWARDS`) and no more than the delayed inbox holds (`DELAYED_TOO_FAR`).
//! * The delayed inbox (`Bridge.sol`): `D(i) = keccak(D(i − 1) ‖ messageHash)`, `D(−1) = 0`, where
//!   message `i` carries sequence number `i`.
//! * The machine reads the messages in sequence order: a sequencer message as posted, delayed
//!   message `i` with sequence number `i | 2^255`.
//!
//! The contract follows each delayed range with an end-of-block message (sender 0, no data);
//! here every item is listed, so an inbox mirroring the contract lists that message too. Its
//! other requires (block and time bounds, `MUST_DELAYED_INIT`) limit who may post what, not
//! what a proof shows, and are not checked.
//!
//! A plain list of messages is the inbox where every message is its own batch
//! ([`L1Inbox::from_messages`]), the model of [`crate::prove`]: its batch accumulators are the
//! machine's own inbox accumulator.

use avm_runtime::hash::{be32, keccak};
use avm_runtime::inbox::{BatchItem as FileItem, InboxFile, InboxMessage};
use avm_runtime::{U256, Value};

use crate::prove::inbox::{self, BatchItem, BatchPlace, ProvableMessage};
use crate::verify::InboxAccumulators;

/// An L1 inbox whose structure does not follow the contracts' rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("inbox {place}: {reason}")]
pub struct L1InboxError {
    /// Where: `batch 1 item 0`, `delayed message 2`.
    pub place: String,
    /// What is wrong.
    pub reason: String,
}

/// The L1 inbox: what the machine reads and where each message lies (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct L1Inbox {
    /// The messages the machine reads, in order.
    messages: Vec<Value>,
    /// Where each message of `messages` lies.
    places: Vec<Place>,
    /// The sequencer inbox's batches.
    batches: Vec<Batch>,
    /// The delayed inbox's messages as it holds them (message `i` numbered `i`).
    delayed: Vec<Value>,
    /// The delayed inbox's accumulator after each message.
    delayed_accs: Vec<U256>,
}

/// A sequencer batch: its items, the accumulator and sequence number before each, and its
/// accumulator.
#[derive(Clone, Debug)]
struct Batch {
    items: Vec<BatchItem>,
    /// `(accumulator, sequence number)` before each item.
    starts: Vec<(U256, u64)>,
    acc: U256,
}

/// Where a message the machine reads lies: its batch and item, and for a delayed message its
/// number in the delayed inbox.
#[derive(Clone, Copy, Debug)]
struct Place {
    batch: usize,
    item: usize,
    delayed: Option<usize>,
}

impl L1Inbox {
    /// The inbox where each of `messages` is its own sequencer batch, numbered by its position
    /// (the prover's model, [`crate::prove`]). Any values are accepted: one that is not a
    /// message an inbox proof can carry is committed to by its hash, and has no proof.
    pub fn from_messages(messages: Vec<Value>) -> L1Inbox {
        let mut builder = Builder::default();
        for message in messages {
            let (prefix, data) = inbox::item_hashes(&message);
            builder.start_batch();
            builder.push_item(BatchItem::Message { prefix, data });
            builder.push_message(message, None);
        }
        builder.inbox
    }

    /// The inbox of the delayed inbox `delayed` and the sequencer batches `batches`, checked
    /// against the contracts' rules (module doc).
    pub fn new(
        delayed: &[InboxMessage],
        batches: &[Vec<FileItem>],
    ) -> Result<L1Inbox, L1InboxError> {
        let mut builder = Builder::default();
        for (index, message) in delayed.iter().enumerate() {
            builder.push_delayed(index, message)?;
        }
        for (number, items) in batches.iter().enumerate() {
            if items.is_empty() {
                return Err(error(
                    format!("batch {number}"),
                    "a batch holds at least one item",
                ));
            }
            builder.start_batch();
            for (item, entry) in items.iter().enumerate() {
                let place = format!("batch {number} item {item}");
                match entry {
                    FileItem::Message(message) => builder.push_sequencer(message, &place)?,
                    FileItem::Delayed { total_read } => builder.push_range(*total_read, &place)?,
                }
            }
        }
        Ok(builder.inbox)
    }

    /// The inbox an inbox file describes: a list of messages ([`L1Inbox::from_messages`]) or
    /// the L1 structure ([`L1Inbox::new`]).
    pub fn from_file(file: &InboxFile) -> Result<L1Inbox, L1InboxError> {
        match file {
            InboxFile::Messages(messages) => Ok(L1Inbox::from_messages(
                messages.iter().map(InboxMessage::to_value).collect(),
            )),
            InboxFile::L1 { delayed, batches } => L1Inbox::new(delayed, batches),
        }
    }

    /// The messages the machine reads, in order.
    pub fn messages(&self) -> &[Value] {
        &self.messages
    }

    /// How many sequencer batches the inbox holds.
    pub fn batch_count(&self) -> usize {
        self.batches.len()
    }

    /// Appends the inbox proof of the message the machine reads at `position` (PROOFS.md §6),
    /// or says why there is none.
    pub(crate) fn write_proof(&self, position: u64, out: &mut Vec<u8>) -> Result<(), &'static str> {
        let place = usize::try_from(position)
            .ok()
            .and_then(|position| self.places.get(position))
            .ok_or("the L1 inbox holds no message at this position")?;
        let batch = &self.batches[place.batch];
        let (acc_before, first_sequence) = batch.starts[place.item];
        let (message, delayed) = match (place.delayed, batch.items[place.item]) {
            (Some(index), BatchItem::Delayed { start, end, .. }) => (
                ProvableMessage::parse(&self.delayed[index])?,
                Some((first_sequence, start, end)),
            ),
            _ => (
                ProvableMessage::at_position(&self.messages[position as usize], position)?,
                None,
            ),
        };
        let place = BatchPlace {
            batch: place.batch as u64,
            acc_before,
            delayed,
            later: &batch.items[place.item + 1..],
        };
        inbox::write_proof(&message, &place, out);
        Ok(())
    }
}

impl InboxAccumulators for L1Inbox {
    fn sequencer_batch(&self, batch: U256) -> Option<U256> {
        let batch = usize::try_from(batch).ok()?;
        self.batches.get(batch).map(|batch| batch.acc)
    }

    fn delayed_acc(&self, index: U256) -> Option<U256> {
        let index = usize::try_from(index).ok()?;
        self.delayed_accs.get(index).copied()
    }
}

fn error(place: impl Into<String>, reason: impl Into<String>) -> L1InboxError {
    L1InboxError {
        place: place.into(),
        reason: reason.into(),
    }
}

/// Builds an [`L1Inbox`] item by item, keeping the contracts' running counts.
#[derive(Default)]
struct Builder {
    inbox: L1Inbox,
    /// The accumulator after the last item (the contract's last `inboxAccs` entry).
    acc: U256,
    /// Messages before the next item (`messageCount`).
    sequence: u64,
    /// Delayed messages included so far (`totalDelayedMessagesRead`).
    delayed_read: u64,
    /// The delayed inbox's messages as the machine reads them (numbered `i | 2^255`).
    delayed_as_read: Vec<Value>,
}

impl Builder {
    fn start_batch(&mut self) {
        self.inbox.batches.push(Batch {
            items: Vec::new(),
            starts: Vec::new(),
            acc: self.acc,
        });
    }

    /// Folds `item` into the current batch.
    fn push_item(&mut self, item: BatchItem) {
        let batch = self.inbox.batches.last_mut().expect("a batch is started");
        batch.items.push(item);
        batch.starts.push((self.acc, self.sequence));
        self.acc = item.fold(self.acc, self.sequence);
        self.sequence += item.len();
        batch.acc = self.acc;
    }

    /// Records that the machine reads `message` from the current batch's last item.
    fn push_message(&mut self, message: Value, delayed: Option<usize>) {
        let batch = self.inbox.batches.len() - 1;
        let item = self.inbox.batches[batch].items.len() - 1;
        self.inbox.messages.push(message);
        self.inbox.places.push(Place {
            batch,
            item,
            delayed,
        });
    }

    /// Appends delayed-inbox message `index`.
    fn push_delayed(&mut self, index: usize, message: &InboxMessage) -> Result<(), L1InboxError> {
        let place = format!("delayed message {index}");
        if message.inbox_sequence_number != U256::from(index) {
            return Err(error(
                place,
                format!(
                    "its sequence number is {}, the delayed inbox numbers it {index}",
                    message.inbox_sequence_number
                ),
            ));
        }
        let value = message.to_value();
        let hash = ProvableMessage::parse(&value)
            .map_err(|reason| error(&place, reason))?
            .delayed_hash();
        let previous = self.inbox.delayed_accs.last().copied().unwrap_or_default();
        self.inbox
            .delayed_accs
            .push(keccak(&[&be32(&previous), &be32(&hash)]));
        self.inbox.delayed.push(value);
        let as_read = InboxMessage {
            inbox_sequence_number: U256::from(index) | (U256::one() << 255),
            ..message.clone()
        };
        self.delayed_as_read.push(as_read.to_value());
        Ok(())
    }

    /// Appends a message the sequencer posted.
    fn push_sequencer(&mut self, message: &InboxMessage, place: &str) -> Result<(), L1InboxError> {
        if message.inbox_sequence_number != U256::from(self.sequence) {
            return Err(error(
                place,
                format!(
                    "its sequence number is {}, and {} messages come before it",
                    message.inbox_sequence_number, self.sequence
                ),
            ));
        }
        let value = message.to_value();
        let (prefix, data) = ProvableMessage::parse(&value)
            .map_err(|reason| error(place, reason))?
            .item_hashes();
        self.push_item(BatchItem::Message { prefix, data });
        self.push_message(value, None);
        Ok(())
    }

    /// Appends the delayed messages up to `total_read` (exclusive).
    fn push_range(&mut self, total_read: u64, place: &str) -> Result<(), L1InboxError> {
        let (start, count) = (self.delayed_read, self.inbox.delayed.len() as u64);
        if total_read <= start {
            return Err(error(
                place,
                format!(
                    "it reads delayed messages up to {total_read}, but {start} are already read"
                ),
            ));
        }
        if total_read > count {
            return Err(error(
                place,
                format!(
                    "it reads delayed messages up to {total_read}, but the delayed inbox holds {count}"
                ),
            ));
        }
        let end_acc = self.inbox.delayed_accs[total_read as usize - 1];
        self.push_item(BatchItem::Delayed {
            start,
            end: total_read,
            end_acc,
        });
        for index in start as usize..total_read as usize {
            let message = self.delayed_as_read[index].clone();
            self.push_message(message, Some(index));
        }
        self.delayed_read = total_read;
        Ok(())
    }
}
