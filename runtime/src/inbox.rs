//! Inbox messages as the host hands them to `inbox` (AVM.md §9).

use json_event_parser::JsonEvent;
use primitive_types::U256;

use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::hex::{parse_bytes, parse_int};
use crate::json::{Events, describe};
use crate::value::Value;

/// An L1 inbox message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboxMessage {
    /// The message kind.
    pub kind: U256,
    /// The L1 block number it arrived in.
    pub l1_block_number: U256,
    /// The L1 timestamp it arrived at.
    pub l1_timestamp: U256,
    /// The sender's 20-byte address.
    pub sender: U256,
    /// Its sequence number (`| 2^255` for the delayed inbox).
    pub inbox_sequence_number: U256,
    /// The L1 gas price.
    pub l1_gas_price: U256,
    /// The payload.
    pub data: Vec<u8>,
}

impl InboxMessage {
    /// The 8-tuple `inbox` pushes: `(kind, l1_block_number, l1_timestamp, sender,
    /// inbox_sequence_number, l1_gas_price, data length, Buffer(data))`.
    pub fn to_value(&self) -> Value {
        Value::tuple(vec![
            Value::int(self.kind),
            Value::int(self.l1_block_number),
            Value::int(self.l1_timestamp),
            Value::int(self.sender),
            Value::int(self.inbox_sequence_number),
            Value::int(self.l1_gas_price),
            Value::int(U256::from(self.data.len())),
            Value::Buffer(Buffer::from_bytes(&self.data)),
        ])
    }
}

/// The fields of an inbox message in a JSON inbox file, in tuple order.
const FIELDS: [&str; 6] = [
    "kind",
    "l1_block_number",
    "l1_timestamp",
    "sender",
    "inbox_sequence_number",
    "l1_gas_price",
];

/// The key of a batch item that includes delayed messages.
const DELAYED_MESSAGES_READ: &str = "delayed_messages_read";

/// An inbox file: the messages a machine reads, either as a plain list or with the structure
/// the L1 inbox contracts give them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboxFile {
    /// The messages in the order the machine reads them (the corpus `*.inbox.json` format).
    Messages(Vec<InboxMessage>),
    /// The L1 inbox: the delayed inbox's messages and the sequencer inbox's batches.
    L1 {
        /// The delayed inbox, in order: message `i` has sequence number `i`.
        delayed: Vec<InboxMessage>,
        /// The sequencer inbox's batches, each a list of items.
        batches: Vec<Vec<BatchItem>>,
    },
}

/// An item of a sequencer batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchItem {
    /// A message the sequencer posted.
    Message(Box<InboxMessage>),
    /// The delayed messages from where the previous such item stopped up to, not including,
    /// delayed message `total_read` (the contract's `totalDelayedMessagesRead` after it).
    Delayed {
        /// Delayed messages read once this item is included.
        total_read: u64,
    },
}

/// Reads a JSON list of messages, the format of the corpus `*.inbox.json` files: objects with
/// the six number fields (decimal strings, JSON numbers or `0x` hex) and `data` (`0x` hex).
/// Errors name the message index; a key given twice and text after the list are errors.
pub fn parse_inbox_json(json: &[u8]) -> Result<Vec<InboxMessage>> {
    let mut events = Events::new(json.strip_prefix(crate::BOM).unwrap_or(json));
    match events.next()? {
        JsonEvent::StartArray => {}
        _ => return Err(inbox_error("file", "the file is not a JSON list")),
    }
    let messages = message_list(&mut events, "message")?;
    end_of_file(&mut events)?;
    Ok(messages)
}

/// Reads an inbox file: a JSON list of messages ([`parse_inbox_json`]), or an object with the
/// L1 inbox's structure:
///
/// ```json
/// { "delayed": [ message, ... ],
///   "batches": [ [ message | {"delayed_messages_read": N}, ... ], ... ] }
/// ```
///
/// `delayed` (optional) is the delayed inbox; each batch is a list of the messages the sequencer
/// posted and of items that include the delayed messages up to `N` (exclusive). Whether the
/// structure is one the contracts accept (sequence numbers, ranges) is checked where it is
/// built, not here.
pub fn parse_inbox_file(json: &[u8]) -> Result<InboxFile> {
    let mut events = Events::new(json.strip_prefix(crate::BOM).unwrap_or(json));
    let file = match events.next()? {
        JsonEvent::StartArray => InboxFile::Messages(message_list(&mut events, "message")?),
        JsonEvent::StartObject => l1_inbox(&mut events)?,
        _ => {
            return Err(inbox_error(
                "file",
                "the file is neither a JSON list of messages nor an L1 inbox object",
            ));
        }
    };
    end_of_file(&mut events)?;
    Ok(file)
}

fn inbox_error(place: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Inbox {
        place: place.into(),
        message: message.into(),
    }
}

fn end_of_file(events: &mut Events) -> Result<()> {
    match events.next()? {
        JsonEvent::Eof => Ok(()),
        _ => Err(inbox_error("file", "text follows the inbox")),
    }
}

/// The rest of an L1 inbox object, after its `{`.
fn l1_inbox(events: &mut Events) -> Result<InboxFile> {
    let mut delayed = None;
    let mut batches = None;
    loop {
        let key = match events.next()? {
            JsonEvent::EndObject => break,
            JsonEvent::ObjectKey(key) => key,
            other => {
                return Err(inbox_error(
                    "file",
                    format!("unexpected {}", describe(&other)),
                ));
            }
        };
        let slot_is_free = match &*key {
            "delayed" => delayed.is_none(),
            "batches" => batches.is_none(),
            _ => return Err(inbox_error("file", format!("unknown key `{key}`"))),
        };
        if !slot_is_free {
            return Err(inbox_error("file", format!("`{key}` appears twice")));
        }
        if events.next()? != JsonEvent::StartArray {
            return Err(inbox_error("file", format!("`{key}` must be a list")));
        }
        match &*key {
            "delayed" => delayed = Some(message_list(events, "delayed message")?),
            _ => batches = Some(batch_list(events)?),
        }
    }
    Ok(InboxFile::L1 {
        delayed: delayed.unwrap_or_default(),
        batches: batches.ok_or_else(|| inbox_error("file", "missing `batches`"))?,
    })
}

/// The rest of a list of messages, after its `[`; `place` names an entry in errors.
fn message_list(events: &mut Events, place: &str) -> Result<Vec<InboxMessage>> {
    let mut messages = Vec::new();
    loop {
        let here = format!("{place} {}", messages.len());
        match events.next()? {
            JsonEvent::EndArray => return Ok(messages),
            JsonEvent::StartObject => messages.push(message(events, None, &here)?),
            other => {
                return Err(inbox_error(
                    here,
                    format!("expected an object, found {}", describe(&other)),
                ));
            }
        }
    }
}

/// The rest of the list of batches, after its `[`.
fn batch_list(events: &mut Events) -> Result<Vec<Vec<BatchItem>>> {
    let mut batches = Vec::new();
    loop {
        let here = format!("batch {}", batches.len());
        match events.next()? {
            JsonEvent::EndArray => return Ok(batches),
            JsonEvent::StartArray => batches.push(batch(events, &here)?),
            other => {
                return Err(inbox_error(
                    here,
                    format!("expected a list of items, found {}", describe(&other)),
                ));
            }
        }
    }
}

/// The rest of one batch, after its `[`.
fn batch(events: &mut Events, place: &str) -> Result<Vec<BatchItem>> {
    let mut items = Vec::new();
    loop {
        let here = format!("{place} item {}", items.len());
        match events.next()? {
            JsonEvent::EndArray => return Ok(items),
            JsonEvent::StartObject => items.push(batch_item(events, &here)?),
            other => {
                return Err(inbox_error(
                    here,
                    format!("expected an object, found {}", describe(&other)),
                ));
            }
        }
    }
}

/// The rest of a batch item, after its `{`: `{"delayed_messages_read": N}` or a message.
fn batch_item(events: &mut Events, place: &str) -> Result<BatchItem> {
    let first = match events.next()? {
        JsonEvent::ObjectKey(key) if key == DELAYED_MESSAGES_READ => {
            let total = number(events, DELAYED_MESSAGES_READ, place)?;
            let total_read = u64::try_from(total).map_err(|_| {
                inbox_error(place, format!("`{DELAYED_MESSAGES_READ}` is too large"))
            })?;
            return match events.next()? {
                JsonEvent::EndObject => Ok(BatchItem::Delayed { total_read }),
                _ => Err(inbox_error(
                    place,
                    format!("an item with `{DELAYED_MESSAGES_READ}` has no other key"),
                )),
            };
        }
        other => other,
    };
    message(events, Some(first), place).map(|m| BatchItem::Message(Box::new(m)))
}

/// The rest of a message object, after its `{` (and after `first`, its first event, if that was
/// already read).
fn message<'a>(
    events: &mut Events<'a>,
    mut first: Option<JsonEvent<'a>>,
    place: &str,
) -> Result<InboxMessage> {
    let mut message = InboxMessage::default();
    let mut seen = [false; 7];
    loop {
        let key = match first.take().map_or_else(|| events.next(), Ok)? {
            JsonEvent::EndObject => break,
            JsonEvent::ObjectKey(key) => key,
            other => {
                return Err(inbox_error(
                    place,
                    format!("unexpected {}", describe(&other)),
                ));
            }
        };
        let slot = match &*key {
            "data" => 6,
            name => FIELDS
                .iter()
                .position(|f| *f == name)
                .ok_or_else(|| inbox_error(place, format!("unknown key `{key}`")))?,
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(inbox_error(place, format!("`{key}` appears twice")));
        }
        if slot == 6 {
            let JsonEvent::String(text) = events.next()? else {
                return Err(inbox_error(place, "`data` must be a 0x hex string"));
            };
            let digits = text.strip_prefix("0x").unwrap_or(&text);
            message.data =
                parse_bytes(digits).map_err(|e| inbox_error(place, format!("`data`: {e}")))?;
        } else {
            *message.field_mut(slot) = number(events, &key, place)?;
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        let name = FIELDS.get(missing).copied().unwrap_or("data");
        return Err(inbox_error(place, format!("missing `{name}`")));
    }
    Ok(message)
}

/// The value of number field `key`.
fn number(events: &mut Events, key: &str, place: &str) -> Result<U256> {
    let value = events.next()?;
    let number = match &value {
        JsonEvent::String(text) | JsonEvent::Number(text) => parse_number(text),
        _ => None,
    };
    number.ok_or_else(|| {
        inbox_error(
            place,
            format!("`{key}` is not a number: {}", describe(&value)),
        )
    })
}

/// A u256 written in decimal or as `0x` hex.
fn parse_number(text: &str) -> Option<U256> {
    match text.strip_prefix("0x") {
        Some(hex) => parse_int(hex).ok(),
        None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            U256::from_dec_str(text).ok()
        }
        None => None,
    }
}

impl InboxMessage {
    fn field_mut(&mut self, index: usize) -> &mut U256 {
        match index {
            0 => &mut self.kind,
            1 => &mut self.l1_block_number,
            2 => &mut self.l1_timestamp,
            3 => &mut self.sender,
            4 => &mut self.inbox_sequence_number,
            _ => &mut self.l1_gas_price,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_number_form() {
        let json =
            br#"[{"kind": "4", "l1_block_number": 100000, "l1_timestamp": "0x10", "sender": "1025",
            "inbox_sequence_number": "0", "l1_gas_price": "2000000000", "data": "0x0102"}]"#;
        let messages = parse_inbox_json(json).unwrap();
        assert_eq!(messages[0].kind, U256::from(4));
        assert_eq!(messages[0].l1_block_number, U256::from(100_000));
        assert_eq!(messages[0].l1_timestamp, U256::from(16));
        assert_eq!(messages[0].data, vec![1, 2]);
        let Value::Tuple(t) = messages[0].to_value() else {
            panic!()
        };
        assert_eq!(t.get(6), Some(&Value::int(2u64)));
    }

    #[test]
    fn errors_name_the_message() {
        let good = r#"{"kind": "4", "l1_block_number": "1", "l1_timestamp": "1", "sender": "1", "inbox_sequence_number": "0", "l1_gas_price": "1", "data": "0x"}"#;
        for (bad, needle) in [
            (r#"{"kind": "x"}"#, "`kind`"),
            (r#"{"kind": "1"}"#, "missing"),
            (
                r#"{"kind": "4", "l1_block_number": "1", "l1_timestamp": "1", "sender": "1", "inbox_sequence_number": "0", "l1_gas_price": "1", "data": "0x1"}"#,
                "`data`",
            ),
            (
                r#"{"kind": "4", "l1_block_number": "1", "l1_timestamp": "1", "sender": "1", "inbox_sequence_number": "0", "l1_gas_price": "1", "data": "0x+5"}"#,
                "`data`",
            ),
            (
                r#"{"kind": "0x+4", "l1_block_number": "1", "l1_timestamp": "1", "sender": "1", "inbox_sequence_number": "0", "l1_gas_price": "1", "data": "0x"}"#,
                "`kind`",
            ),
            (
                r#"{"kind": "4", "kind": "5", "l1_block_number": "1", "l1_timestamp": "1", "sender": "1", "inbox_sequence_number": "0", "l1_gas_price": "1", "data": "0x"}"#,
                "appears twice",
            ),
            ("7", "expected an object"),
        ] {
            let json = format!("[{good}, {bad}]");
            match parse_inbox_json(json.as_bytes()) {
                Err(e @ Error::Inbox { .. }) if e.to_string().starts_with("inbox message 1:") => {
                    assert!(e.to_string().contains(needle), "{e}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    fn message_json(sequence: u64) -> String {
        format!(
            r#"{{"kind": "3", "l1_block_number": "1", "l1_timestamp": "1", "sender": "7", "inbox_sequence_number": "{sequence}", "l1_gas_price": "0", "data": "0x01"}}"#
        )
    }

    #[test]
    fn reads_both_inbox_forms() {
        let list = format!("[{}]", message_json(0));
        match parse_inbox_file(list.as_bytes()).unwrap() {
            InboxFile::Messages(messages) => assert_eq!(messages.len(), 1),
            other => panic!("{other:?}"),
        }
        let l1 = format!(
            r#"{{"delayed": [{}], "batches": [[{}, {{"delayed_messages_read": 1}}], [{}]]}}"#,
            message_json(0),
            message_json(0),
            message_json(2)
        );
        let InboxFile::L1 { delayed, batches } = parse_inbox_file(l1.as_bytes()).unwrap() else {
            panic!("an L1 inbox")
        };
        assert_eq!(delayed.len(), 1);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0][1], BatchItem::Delayed { total_read: 1 });
        assert!(
            matches!(&batches[1][0], BatchItem::Message(m) if m.inbox_sequence_number == U256::from(2))
        );
    }

    #[test]
    fn l1_inbox_errors_say_where() {
        let good = message_json(0);
        for (bad, needle) in [
            (r#"{"delayed": []}"#.to_string(), "missing `batches`"),
            (
                r#"{"batches": [], "batches": []}"#.to_string(),
                "appears twice",
            ),
            (
                r#"{"batches": [], "sequencer": []}"#.to_string(),
                "unknown key",
            ),
            (
                r#"{"batches": [7]}"#.to_string(),
                "inbox batch 0: expected a list",
            ),
            (
                format!(r#"{{"batches": [[{good}], [{good}, {{"kind": "x"}}]]}}"#),
                "inbox batch 1 item 1: `kind`",
            ),
            (
                r#"{"batches": [[{"delayed_messages_read": 1, "kind": "3"}]]}"#.to_string(),
                "no other key",
            ),
            (
                r#"{"batches": [[{"delayed_messages_read": "x"}]]}"#.to_string(),
                "not a number",
            ),
            (
                r#"{"delayed": [{"kind": "3"}], "batches": []}"#.to_string(),
                "inbox delayed message 0: missing",
            ),
            (r#"{"batches": []} []"#.to_string(), "invalid JSON"),
            ("7".to_string(), "neither"),
        ] {
            match parse_inbox_file(bad.as_bytes()) {
                Err(e) => assert!(e.to_string().contains(needle), "{bad}: {e}"),
                Ok(file) => panic!("{bad}: read as {file:?}"),
            }
        }
        assert!(
            parse_inbox_json(br#"{"batches": []}"#).is_err(),
            "a list is required"
        );
    }
}
