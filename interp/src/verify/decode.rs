//! Reading the standard proof (PROOFS.md §2) and its marshaled values (PROOFS.md §3.2).
//!
//! Every read is bounds-checked and reports [`Rejection::Truncated`] instead of panicking, and
//! nested values are decoded with an explicit stack of partly read containers, never by
//! recursion.

use avm_runtime::U256;
use avm_runtime::tuple::Preimage;

use super::Rejection;
use super::value::{Arena, ValId};

/// A cursor over proof bytes.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], Rejection> {
        let end = self.pos.checked_add(n).ok_or(Rejection::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(Rejection::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    /// One byte.
    pub(super) fn byte(&mut self) -> Result<u8, Rejection> {
        Ok(self.take(1)?[0])
    }

    /// A 32-byte big-endian word.
    pub(super) fn word(&mut self) -> Result<U256, Rejection> {
        Ok(U256::from_big_endian(self.take(32)?))
    }

    /// A 64-byte pre-image `inner ‖ be32(size)`, without a type byte.
    fn preimage(&mut self) -> Result<Preimage, Rejection> {
        Ok(Preimage {
            inner: self.word()?,
            size: self.word()?,
        })
    }

    /// Everything not read yet.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }
}

/// A container whose elements are still being decoded.
enum Open {
    /// A tuple that needs `len` slots.
    Tuple { len: usize, slots: Vec<ValId> },
    /// A codepoint waiting for its immediate; the next hash follows it.
    CodePoint { opcode: u8 },
}

/// Decodes one marshaled value (`Marshaling.deserialize`, PROOFS.md §3.2).
pub(super) fn value(reader: &mut Reader<'_>, arena: &mut Arena) -> Result<ValId, Rejection> {
    let mut open: Vec<Open> = Vec::new();
    loop {
        let mut done = start_value(reader, arena, &mut open)?;
        while let Some(id) = done {
            done = match open.last_mut() {
                None => return Ok(id),
                Some(Open::Tuple { len, slots }) => {
                    slots.push(id);
                    if slots.len() < *len {
                        None
                    } else {
                        let slots = std::mem::take(slots);
                        open.pop();
                        Some(arena.tuple(slots))
                    }
                }
                Some(&mut Open::CodePoint { opcode }) => {
                    open.pop();
                    let next = reader.word()?;
                    Some(arena.codepoint(opcode, Some(id), next))
                }
            };
        }
    }
}

/// Reads a type byte and either finishes a value (returned) or opens a container.
fn start_value(
    reader: &mut Reader<'_>,
    arena: &mut Arena,
    open: &mut Vec<Open>,
) -> Result<Option<ValId>, Rejection> {
    let typecode = reader.byte()?;
    Ok(match typecode {
        0 => Some(arena.int(reader.word()?)),
        1 => {
            // Any immediate type other than 1 reads as "no immediate", as in the checker.
            let has_immediate = reader.byte()? == 1;
            let opcode = reader.byte()?;
            if has_immediate {
                open.push(Open::CodePoint { opcode });
                None
            } else {
                Some(arena.codepoint(opcode, None, reader.word()?))
            }
        }
        2 => {
            let p = reader.preimage()?;
            Some(arena.preimage(p.inner, p.size))
        }
        3 => Some(arena.empty_tuple()),
        4..=11 => {
            let len = usize::from(typecode - 3);
            open.push(Open::Tuple {
                len,
                slots: Vec::with_capacity(len),
            });
            None
        }
        12 => Some(arena.buffer(reader.word()?)),
        other => return Err(Rejection::InvalidTypecode(other)),
    })
}

/// The fields of a standard proof, in the order of PROOFS.md §2.
#[derive(Debug)]
pub(super) struct Parsed<'a> {
    /// The opcode.
    pub op: u8,
    /// The data-stack operands, deepest first; with an immediate, the last one is it.
    pub stack: Vec<ValId>,
    /// The aux-stack operands, deepest first.
    pub aux: Vec<ValId>,
    /// The hash of the codepoint after the current one.
    pub next_hash: U256,
    /// The data stack below the operands.
    pub data_rest: Preimage,
    /// The aux stack below the operands.
    pub aux_rest: Preimage,
    /// The register.
    pub register: ValId,
    /// The static value.
    pub static_value: ValId,
    /// The remaining AVM gas.
    pub gas: U256,
    /// The hash of the error handler.
    pub err_handler: U256,
    /// Whether the current codepoint has an immediate.
    pub has_immediate: bool,
    /// The op-specific data after the immediate flag (`send` bytes, inbox proof).
    pub extra: &'a [u8],
}

/// Parses the standard proof, decoding its values into `arena`.
pub(super) fn parse<'a>(proof: &'a [u8], arena: &mut Arena) -> Result<Parsed<'a>, Rejection> {
    let mut r = Reader::new(proof);
    let op = r.byte()?;
    let stack_count = r.byte()?;
    let aux_count = r.byte()?;
    let stack = values(&mut r, arena, stack_count)?;
    let aux = values(&mut r, arena, aux_count)?;
    let next_hash = r.word()?;
    let data_rest = r.preimage()?;
    let aux_rest = r.preimage()?;
    let register = value(&mut r, arena)?;
    let static_value = value(&mut r, arena)?;
    let gas = r.word()?;
    let err_handler = r.word()?;
    let has_immediate = match r.byte()? {
        0 => false,
        1 => true,
        other => return Err(Rejection::InvalidImmediateFlag(other)),
    };
    Ok(Parsed {
        op,
        stack,
        aux,
        next_hash,
        data_rest,
        aux_rest,
        register,
        static_value,
        gas,
        err_handler,
        has_immediate,
        extra: r.rest(),
    })
}

fn values(r: &mut Reader<'_>, arena: &mut Arena, count: u8) -> Result<Vec<ValId>, Rejection> {
    (0..count).map(|_| value(r, arena)).collect()
}
