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

/// Reads a JSON list of messages, the format of the corpus `*.inbox.json` files: objects with
/// the six number fields (decimal strings, JSON numbers or `0x` hex) and `data` (`0x` hex).
/// Errors name the message index; a key given twice and text after the list are errors.
pub fn parse_inbox_json(json: &[u8]) -> Result<Vec<InboxMessage>> {
    let json = json.strip_prefix(crate::BOM).unwrap_or(json);
    let mut events = Events::new(json);
    let fail = |index, message: String| Error::Inbox { index, message };
    if events.next()? != JsonEvent::StartArray {
        return Err(fail(0, "the file is not a JSON list".into()));
    }
    let mut messages = Vec::new();
    loop {
        let index = messages.len();
        match events.next()? {
            JsonEvent::EndArray => break,
            JsonEvent::StartObject => {}
            other => {
                return Err(fail(
                    index,
                    format!("expected an object, found {}", describe(&other)),
                ));
            }
        }
        let mut message = InboxMessage::default();
        let mut seen = [false; 7];
        loop {
            let key = match events.next()? {
                JsonEvent::EndObject => break,
                JsonEvent::ObjectKey(key) => key,
                other => return Err(fail(index, format!("unexpected {}", describe(&other)))),
            };
            let value = events.next()?;
            let slot = match &*key {
                "data" => Some(6),
                name => FIELDS.iter().position(|f| *f == name),
            };
            if let Some(slot) = slot
                && std::mem::replace(&mut seen[slot], true)
            {
                return Err(fail(index, format!("`{key}` appears twice")));
            }
            if key == "data" {
                let JsonEvent::String(text) = &value else {
                    return Err(fail(index, "`data` must be a 0x hex string".into()));
                };
                let digits = text.strip_prefix("0x").unwrap_or(text);
                message.data =
                    parse_bytes(digits).map_err(|e| fail(index, format!("`data`: {e}")))?;
            } else if let Some(field) = FIELDS.iter().position(|f| *f == key) {
                let number = match &value {
                    JsonEvent::String(text) | JsonEvent::Number(text) => parse_number(text),
                    _ => None,
                };
                let number = number.ok_or_else(|| {
                    fail(
                        index,
                        format!("`{key}` is not a number: {}", describe(&value)),
                    )
                })?;
                *message.field_mut(field) = number;
            } else {
                return Err(fail(index, format!("unknown key `{key}`")));
            }
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            let name = FIELDS.get(missing).copied().unwrap_or("data");
            return Err(fail(index, format!("missing `{name}`")));
        }
        messages.push(message);
    }
    if events.next()? != JsonEvent::Eof {
        return Err(fail(messages.len(), "text follows the list".into()));
    }
    Ok(messages)
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
                Err(e @ Error::Inbox { index: 1, .. }) => {
                    assert!(e.to_string().contains(needle), "{e}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
