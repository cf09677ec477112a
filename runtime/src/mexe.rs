//! The `.mexe` loader (MEXE.md): JSON in, a linked [`Program`] out.
//!
//! The JSON is read as a stream of events and values are built with explicit stacks, so deep
//! nests in immediates or the static value load without recursion.

use std::fmt::{self, Write as _};
use std::path::Path;

use json_event_parser::JsonEvent;

use crate::json::{Events, describe};
use primitive_types::U256;

use crate::buffer::Buffer;
use crate::codepoint::CodePoint;
use crate::error::{Error, Location, MexeError, Result};
use crate::program::{Program, RawInstruction, RawValue, Token};
use crate::value::{Notation, write_hex, write_value};

mod locations;

pub use locations::{SourceLocation, SourceMap, source_map};

/// Reads (at most [`crate::MAX_INPUT_BYTES`]) and links the `.mexe` file at `path`.
pub fn load_file(path: impl AsRef<Path>) -> Result<Program> {
    load(&crate::read_input(path.as_ref())?)
}

/// Parses and links a `.mexe` document: one JSON object (after an optional UTF-8 byte order
/// mark), each key at most once, nothing after it.
pub fn load(json: &[u8]) -> Result<Program> {
    let json = json.strip_prefix(crate::BOM).unwrap_or(json);
    let mut events = Events::new(json);
    let mut code: Option<Vec<RawInstruction>> = None;
    let mut static_value: Option<RawValue> = None;
    let at = Location::File;
    if events.next()? != JsonEvent::StartObject {
        return Err(Error::mexe(at, MexeError::NotAnObject));
    }
    read_members(&mut events, at, MexeError::NotAnObject, |events, key| {
        match key {
            "code" => code = Some(read_code(events, read_instruction)?),
            "static_val" => {
                let first = events.next()?;
                static_value = Some(read_value(events, first, Location::Static)?);
            }
            _ => events.skip_value()?,
        }
        Ok(())
    })?;
    if events.next()? != JsonEvent::Eof {
        return Err(Error::mexe(at, MexeError::TrailingText));
    }
    let code = code.ok_or(Error::mexe(at, MexeError::MissingKey("code")))?;
    let static_value = static_value.ok_or(Error::mexe(at, MexeError::MissingKey("static_val")))?;
    Program::link(&code, &static_value)
}

/// Writes `program` as a `.mexe` document (the `version` 2 form of MEXE.md §1) that [`load`]
/// reads back into the same program.
pub fn to_json(program: &Program) -> String {
    let mut out = String::from("{\"version\":2,\"code\":[");
    let mut json = Json { program };
    for (pc, cp) in program.codepoints()[..program.len()].iter().enumerate() {
        if pc > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"opcode\":{},\"immediate\":", cp.opcode());
        match cp.immediate() {
            None => out.push_str("null"),
            Some(imm) => {
                let _ = write_value(&mut out, imm, &mut json);
            }
        }
        out.push('}');
    }
    out.push_str("],\"static_val\":");
    let _ = write_value(&mut out, program.static_value(), &mut json);
    out.push_str(",\"extensions\":[]}\n");
    out
}

/// The externally tagged JSON value notation of MEXE.md §3.
struct Json<'a> {
    program: &'a Program,
}

impl<W: fmt::Write> Notation<W> for Json<'_> {
    fn codepoint(&mut self, out: &mut W, cp: &CodePoint) -> fmt::Result {
        let index = self
            .program
            .index_of(cp)
            .expect("a linked program only holds its own codepoints");
        write!(out, "{{\"CodePoint\":{{\"Internal\":{index}}}}}")
    }

    fn int(&mut self, out: &mut W, x: &U256) -> fmt::Result {
        write!(out, "{{\"Int\":\"{x:x}\"}}")
    }

    fn buffer(&mut self, out: &mut W, b: &Buffer) -> fmt::Result {
        let bytes = b
            .to_bytes(usize::MAX)
            .expect("program buffers are written out in full");
        out.write_str("{\"Buffer\":\"")?;
        write_hex(out, &bytes)?;
        out.write_str("\"}")
    }

    fn open_tuple(&mut self, out: &mut W) -> fmt::Result {
        out.write_str("{\"Tuple\":[")
    }

    fn separator(&mut self, out: &mut W) -> fmt::Result {
        out.write_str(",")
    }

    fn close_tuple(&mut self, out: &mut W) -> fmt::Result {
        out.write_str("]}")
    }
}

/// Reads the members of a JSON object whose `{` was read, through its `}`: each key at most
/// once ([`MexeError::DuplicateKey`]), its value read (or skipped) by `member`; an event that
/// is not a key is `not_a_key`. Every object of a `.mexe` is read this way.
pub(super) fn read_members<'a>(
    events: &mut Events<'a>,
    at: Location,
    not_a_key: MexeError,
    mut member: impl FnMut(&mut Events<'a>, &str) -> Result<()>,
) -> Result<()> {
    let mut keys = Keys::default();
    loop {
        match events.next()? {
            JsonEvent::EndObject => return Ok(()),
            JsonEvent::ObjectKey(key) => {
                keys.first_time(&key, at)?;
                member(events, &key)?;
            }
            _ => return Err(Error::mexe(at, not_a_key)),
        }
    }
}

/// The instructions of `code`, each an object whose members `read` reads (at the instruction's
/// [`Location`]), in order.
pub(super) fn read_code<T>(
    events: &mut Events<'_>,
    mut read: impl FnMut(&mut Events<'_>, Location) -> Result<T>,
) -> Result<Vec<T>> {
    if events.next()? != JsonEvent::StartArray {
        return Err(Error::mexe(
            Location::File,
            MexeError::Expected("`code` to be an array"),
        ));
    }
    let mut code = Vec::new();
    loop {
        let at = Location::Instruction(code.len());
        match events.next()? {
            JsonEvent::EndArray => return Ok(code),
            JsonEvent::StartObject => code.push(read(events, at)?),
            _ => {
                return Err(Error::mexe(
                    at,
                    MexeError::Expected("an instruction object"),
                ));
            }
        }
    }
}

/// The keys of one JSON object seen so far.
#[derive(Default)]
struct Keys(Vec<String>);

impl Keys {
    /// Refuses a key the object already had.
    fn first_time(&mut self, key: &str, at: Location) -> Result<()> {
        if self.0.iter().any(|k| k == key) {
            return Err(Error::mexe(at, MexeError::DuplicateKey(key.to_string())));
        }
        self.0.push(key.to_string());
        Ok(())
    }
}

fn read_instruction(events: &mut Events<'_>, at: Location) -> Result<RawInstruction> {
    let mut opcode = None;
    let mut immediate = None;
    let not_a_key = MexeError::Expected("an instruction object");
    read_members(events, at, not_a_key, |events, key| {
        match key {
            "opcode" => opcode = Some(read_opcode(events, at)?),
            "immediate" => {
                immediate = match events.next()? {
                    JsonEvent::Null => Some(None),
                    first => Some(Some(read_value(events, first, at)?)),
                };
            }
            _ => events.skip_value()?,
        }
        Ok(())
    })?;
    Ok(RawInstruction {
        opcode: opcode.ok_or(Error::mexe(at, MexeError::MissingKey("opcode")))?,
        immediate: immediate.ok_or(Error::mexe(at, MexeError::MissingKey("immediate")))?,
    })
}

/// An opcode: a JSON integer, or `{"AVMOpcode": n}`.
fn read_opcode(events: &mut Events<'_>, at: Location) -> Result<u8> {
    let byte = |text: &str| {
        text.parse::<u8>()
            .map_err(|_| Error::mexe(at, MexeError::BadOpcode(text.to_string())))
    };
    match events.next()? {
        JsonEvent::Number(n) => byte(&n),
        JsonEvent::StartObject => {
            match events.next()? {
                JsonEvent::ObjectKey(key) if key == "AVMOpcode" => {}
                JsonEvent::ObjectKey(key) => {
                    return Err(Error::mexe(
                        at,
                        MexeError::BadOpcode(format!("{{\"{key}\": …}}")),
                    ));
                }
                _ => return Err(Error::mexe(at, MexeError::BadOpcode("{}".to_string()))),
            }
            let value = match events.next()? {
                JsonEvent::Number(n) => byte(&n)?,
                other => return Err(Error::mexe(at, MexeError::BadOpcode(describe(&other)))),
            };
            events.expect_end_object(at)?;
            Ok(value)
        }
        other => Err(Error::mexe(at, MexeError::BadOpcode(describe(&other)))),
    }
}

/// Reads one externally tagged value whose first event is `first` (MEXE.md §3), iteratively.
fn read_value<'a>(events: &mut Events<'a>, first: JsonEvent<'a>, at: Location) -> Result<RawValue> {
    let err = |reason| Error::mexe(at, reason);
    let mut raw = RawValue::new();
    // Slot counts of the tuples still open, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut event = first;
    loop {
        match event {
            JsonEvent::EndArray if !open.is_empty() => {
                let len = open.pop().expect("checked non-empty");
                raw.push(Token::Tuple(len));
                events.expect_end_object(at)?;
            }
            JsonEvent::StartObject => {
                let JsonEvent::ObjectKey(tag) = events.next()? else {
                    return Err(err(MexeError::UnknownTag(String::new())));
                };
                match &*tag {
                    "Tuple" => {
                        if events.next()? != JsonEvent::StartArray {
                            return Err(err(MexeError::Expected("a tuple's slots to be an array")));
                        }
                        open.push(0);
                        event = events.next()?;
                        continue;
                    }
                    "Int" => {
                        let text = events.string(at)?;
                        raw.push(Token::Int(crate::hex::parse_int(&text).map_err(err)?));
                    }
                    "Buffer" => {
                        let text = events.string(at)?;
                        raw.push(Token::Buffer(crate::hex::parse_bytes(&text).map_err(err)?));
                    }
                    "CodePoint" => raw.push(Token::Code(read_internal(events, at)?)),
                    other => return Err(err(MexeError::UnknownTag(other.to_string()))),
                }
                events.expect_end_object(at)?;
            }
            other => return Err(err(MexeError::UnknownTag(describe(&other)))),
        }
        match open.last_mut() {
            None => return Ok(raw),
            Some(count) => {
                *count += 1;
                if *count > crate::tuple::MAX_TUPLE_SIZE {
                    return Err(err(MexeError::TupleTooLong(*count)));
                }
            }
        }
        event = events.next()?;
    }
}

/// `{"Internal": N}`, the only codepoint form a linked file may hold.
fn read_internal(events: &mut Events<'_>, at: Location) -> Result<u64> {
    if events.next()? != JsonEvent::StartObject {
        return Err(Error::mexe(
            at,
            MexeError::UnknownTag("CodePoint".to_string()),
        ));
    }
    match events.next()? {
        JsonEvent::ObjectKey(key) if key == "Internal" => {}
        JsonEvent::ObjectKey(key) => {
            return Err(Error::mexe(
                at,
                MexeError::UnknownTag(format!("CodePoint {key}")),
            ));
        }
        _ => {
            return Err(Error::mexe(
                at,
                MexeError::UnknownTag("CodePoint".to_string()),
            ));
        }
    }
    let index = match events.next()? {
        JsonEvent::Number(n) => n
            .parse::<u64>()
            .map_err(|_| Error::mexe(at, MexeError::BadInternal(n.to_string())))?,
        other => return Err(Error::mexe(at, MexeError::BadInternal(describe(&other)))),
    };
    events.expect_end_object(at)?;
    Ok(index)
}
