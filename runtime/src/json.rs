//! A JSON event stream over a byte slice, shared by the `.mexe` and inbox readers.

use std::borrow::Cow;

use json_event_parser::{JsonEvent, LowLevelJsonParser};

use crate::error::{Error, Location, MexeError, Result};

/// The JSON event stream, with parse errors turned into [`Error::Json`]. Nesting depth is not
/// bounded: the parser keeps its own stack on the heap.
pub(crate) struct Events<'a> {
    input: &'a [u8],
    parser: LowLevelJsonParser,
}

impl<'a> Events<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Events<'a> {
        Events {
            input,
            parser: LowLevelJsonParser::new().with_max_stack_size(usize::MAX),
        }
    }

    pub(crate) fn next(&mut self) -> Result<JsonEvent<'a>> {
        loop {
            let result = self.parser.parse_next(self.input, true);
            self.input = &self.input[result.consumed_bytes..];
            match result.event {
                None => continue,
                Some(Ok(event)) => return Ok(event),
                Some(Err(e)) => {
                    let at = e.location().start;
                    return Err(Error::Json {
                        line: at.line + 1,
                        column: at.column + 1,
                        message: e.message().to_string(),
                    });
                }
            }
        }
    }

    pub(crate) fn string(&mut self, at: Location) -> Result<Cow<'a, str>> {
        match self.next()? {
            JsonEvent::String(s) => Ok(s),
            other => Err(Error::Mexe {
                at,
                reason: MexeError::BadHex(describe(&other)),
            }),
        }
    }

    pub(crate) fn expect_end_object(&mut self, at: Location) -> Result<()> {
        match self.next()? {
            JsonEvent::EndObject => Ok(()),
            JsonEvent::ObjectKey(key) => Err(Error::mexe(
                at,
                MexeError::UnknownTag(format!("extra key \"{key}\"")),
            )),
            _ => Err(Error::Mexe {
                at,
                reason: MexeError::Expected("the end of an object"),
            }),
        }
    }

    /// Skips one value of any shape (keys the loader ignores).
    pub(crate) fn skip_value(&mut self) -> Result<()> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                JsonEvent::StartArray | JsonEvent::StartObject => depth += 1,
                JsonEvent::EndArray | JsonEvent::EndObject => depth -= 1,
                JsonEvent::Eof => {
                    return Err(Error::Mexe {
                        at: Location::File,
                        reason: MexeError::Expected("a value"),
                    });
                }
                _ => {}
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

/// How an unexpected event reads in an error message.
pub(crate) fn describe(event: &JsonEvent<'_>) -> String {
    match event {
        JsonEvent::String(s) => format!("\"{s}\""),
        JsonEvent::Number(n) => n.to_string(),
        JsonEvent::Boolean(b) => b.to_string(),
        JsonEvent::Null => "null".to_string(),
        JsonEvent::StartArray | JsonEvent::EndArray => "an array".to_string(),
        JsonEvent::StartObject | JsonEvent::EndObject => "an object".to_string(),
        JsonEvent::ObjectKey(k) => format!("key \"{k}\""),
        JsonEvent::Eof => "the end of the file".to_string(),
    }
}
