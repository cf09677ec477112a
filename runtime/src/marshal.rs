//! Byte forms of values: the canonical marshal of the test vectors (AVM.md §3.1) and the
//! depth-limited proof marshal (AVM.md §3.2, PROOFS.md §3).

use primitive_types::U256;

use crate::buffer::Buffer;
use crate::codepoint::CodePoint;
use crate::error::{Error, Result, UnmarshalError};
use crate::hash::be32;
use crate::tuple::{MAX_TUPLE_SIZE, Tuple};
use crate::value::Value;

const INT: u8 = 0;
const CODEPOINT: u8 = 1;
const PREIMAGE: u8 = 2;
const TUPLE: u8 = 3;
const BUFFER: u8 = 12;

/// The largest buffer the canonical marshal writes out (its form carries every byte).
pub const MARSHAL_BUFFER_LIMIT: usize = 1 << 30;

/// The canonical marshal of `value`, written without recursion.
pub fn marshal(value: &Value) -> Result<Vec<u8>> {
    enum Item<'a> {
        Value(&'a Value),
        NextHash(U256),
    }
    let mut out = Vec::new();
    let mut work = vec![Item::Value(value)];
    while let Some(item) = work.pop() {
        match item {
            Item::NextHash(h) => out.extend_from_slice(&be32(&h)),
            Item::Value(v @ (Value::SmallInt(_) | Value::BigInt(_))) => {
                out.push(INT);
                out.extend_from_slice(&be32(&v.as_int().expect("an Int")));
            }
            Item::Value(Value::Tuple(t)) => {
                out.push(TUPLE + t.len() as u8);
                work.extend(t.slots().iter().rev().map(Item::Value));
            }
            Item::Value(Value::CodePoint(cp)) => {
                out.push(CODEPOINT);
                out.push(cp.immediate().is_some() as u8);
                out.push(cp.opcode());
                work.push(Item::NextHash(cp.next_hash()));
                work.extend(cp.immediate().map(Item::Value));
            }
            Item::Value(Value::Buffer(b)) => {
                let bytes = b
                    .to_bytes(MARSHAL_BUFFER_LIMIT)
                    .ok_or(Error::BufferTooLarge(b.data_len()))?;
                out.push(BUFFER);
                out.extend_from_slice(&be32(&U256::from(bytes.len())));
                out.extend_from_slice(&bytes);
            }
        }
    }
    Ok(out)
}

/// Reads one canonically marshaled value, rejecting unknown type bytes, truncation and trailing
/// bytes. Iterative, so nests of any depth decode.
pub fn unmarshal(bytes: &[u8]) -> Result<Value> {
    enum Frame {
        Tuple { len: usize, slots: Vec<Value> },
        Immediate { opcode: u8 },
    }
    let mut reader = Reader { bytes, pos: 0 };
    let mut frames: Vec<Frame> = Vec::new();
    loop {
        let mut value = match reader.byte()? {
            INT => Value::int(reader.word()?),
            BUFFER => {
                let len = reader.word()?;
                let data = reader.take_len(len)?;
                Value::Buffer(Buffer::from_bytes(data))
            }
            CODEPOINT => {
                let flag = reader.byte()?;
                let opcode = reader.byte()?;
                match flag {
                    0 => Value::CodePoint(CodePoint::detached(opcode, None, reader.word()?)),
                    1 => {
                        frames.push(Frame::Immediate { opcode });
                        continue;
                    }
                    other => {
                        return Err(reader.error_before(2, UnmarshalError::BadImmediateFlag(other)));
                    }
                }
            }
            t if (TUPLE..=TUPLE + MAX_TUPLE_SIZE as u8).contains(&t) => {
                let len = (t - TUPLE) as usize;
                if len > 0 {
                    frames.push(Frame::Tuple {
                        len,
                        slots: Vec::with_capacity(len),
                    });
                    continue;
                }
                Value::none()
            }
            other => return Err(reader.error_before(1, UnmarshalError::UnknownType(other))),
        };
        // Hand the finished value to the frames waiting for it, closing every frame it completes.
        loop {
            match frames.last_mut() {
                None => {
                    let rest = bytes.len() - reader.pos;
                    if rest > 0 {
                        return Err(reader.error_before(0, UnmarshalError::TrailingBytes(rest)));
                    }
                    return Ok(value);
                }
                Some(Frame::Tuple { len, slots }) => {
                    slots.push(value);
                    if slots.len() < *len {
                        break;
                    }
                    let slots = std::mem::take(slots);
                    frames.pop();
                    value = Value::Tuple(Tuple::new(slots));
                }
                Some(&mut Frame::Immediate { opcode }) => {
                    frames.pop();
                    let next = reader.word()?;
                    value = Value::CodePoint(CodePoint::detached(opcode, Some(value), next));
                }
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(Error::Unmarshal {
            offset: self.bytes.len(),
            reason: UnmarshalError::Truncated,
        })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn take_len(&mut self, len: U256) -> Result<&'a [u8]> {
        let n = if len > U256::from(usize::MAX) {
            usize::MAX
        } else {
            len.as_usize()
        };
        self.take(n)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn word(&mut self) -> Result<U256> {
        Ok(U256::from_big_endian(self.take(32)?))
    }

    fn error_before(&self, back: usize, reason: UnmarshalError) -> Error {
        Error::Unmarshal {
            offset: self.pos - back,
            reason,
        }
    }
}

/// Appends the proof marshal of `value` at `level` (AVM.md §3.2, PROOFS.md §3.1): tuples below
/// the level become their pre-image, buffers their unwrapped root, and a codepoint is always
/// expanded one level with its immediate at `level − 1` (floored at 0).
///
/// Written with a worklist, not recursion: the level bounds tuple nesting, but a codepoint's
/// immediate is expanded whatever the level, so a run-time chain of codepoints nested through
/// immediates (`pushinsnimm` in a loop) would otherwise recurse once per link.
pub fn proof_marshal(value: &Value, level: u32, out: &mut Vec<u8>) {
    enum Item<'a> {
        Value(&'a Value, u32),
        NextHash(U256),
    }
    let mut work = vec![Item::Value(value, level)];
    while let Some(item) = work.pop() {
        match item {
            Item::NextHash(h) => out.extend_from_slice(&be32(&h)),
            Item::Value(v @ (Value::SmallInt(_) | Value::BigInt(_)), _) => {
                out.push(INT);
                out.extend_from_slice(&be32(&v.as_int().expect("an Int")));
            }
            Item::Value(Value::Tuple(t), 0) => {
                let pre = t.preimage();
                out.push(PREIMAGE);
                out.extend_from_slice(&be32(&pre.inner));
                out.extend_from_slice(&be32(&pre.size));
            }
            Item::Value(Value::Tuple(t), level) => {
                out.push(TUPLE + t.len() as u8);
                work.extend(t.slots().iter().rev().map(|s| Item::Value(s, level - 1)));
            }
            Item::Value(Value::CodePoint(cp), level) => {
                out.push(CODEPOINT);
                out.extend_from_slice(&[cp.immediate().is_some() as u8, cp.opcode()]);
                work.push(Item::NextHash(cp.next_hash()));
                if let Some(imm) = cp.immediate() {
                    work.push(Item::Value(imm, level.saturating_sub(1)));
                }
            }
            Item::Value(Value::Buffer(b), _) => {
                out.push(BUFFER);
                out.extend_from_slice(&be32(&b.root()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rejects_malformed_bytes_with_offsets() {
        let cases: [(&str, usize, UnmarshalError); 5] = [
            ("0d", 0, UnmarshalError::UnknownType(0x0d)),
            ("00ff", 2, UnmarshalError::Truncated),
            ("0300", 1, UnmarshalError::TrailingBytes(1)),
            ("010208", 1, UnmarshalError::BadImmediateFlag(2)),
            ("04", 1, UnmarshalError::Truncated),
        ];
        for (hex, offset, reason) in cases {
            match unmarshal(&unhex(hex)) {
                Err(Error::Unmarshal {
                    offset: o,
                    reason: r,
                }) => assert_eq!((o, r), (offset, reason), "{hex}"),
                other => panic!("{hex}: {other:?}"),
            }
        }
    }

    #[test]
    fn buffer_round_trips() {
        let value = Value::Buffer(Buffer::new().write(40, &[0xaa]));
        let bytes = marshal(&value).unwrap();
        assert_eq!(bytes.len(), 1 + 32 + 41);
        assert_eq!(unmarshal(&bytes).unwrap(), value);
    }

    #[test]
    fn proof_marshal_walks_long_codepoint_chains_without_recursion() {
        let mut cp = CodePoint::err();
        for _ in 0..200_000 {
            cp = CodePoint::detached(0x3b, Some(Value::CodePoint(cp)), U256::zero());
        }
        let mut out = Vec::new();
        proof_marshal(&Value::CodePoint(cp), 0, &mut out);
        assert_eq!(out.len(), 200_000 * 35 + 35);
        assert_eq!(&out[..3], &[CODEPOINT, 1, 0x3b]);
    }

    #[test]
    fn proof_marshal_collapses_tuples_below_the_level() {
        let inner = Value::tuple(vec![Value::int(1u64), Value::int(2u64)]);
        let outer = Value::tuple(vec![inner.clone()]);
        let mut level0 = Vec::new();
        proof_marshal(&outer, 0, &mut level0);
        assert_eq!(level0.len(), 65);
        assert_eq!(level0[0], PREIMAGE);
        let mut level1 = Vec::new();
        proof_marshal(&outer, 1, &mut level1);
        assert_eq!(&level1[..2], &[TUPLE + 1, PREIMAGE]);
        let mut level2 = Vec::new();
        proof_marshal(&outer, 2, &mut level2);
        assert_eq!(level2, marshal(&outer).unwrap());
    }
}
