//! Buffer proofs (`bproof`, PROOFS.md §5.1–§5.5) and `send` data (§5.6).

use avm_runtime::buffer::LEAF_BYTES;
use avm_runtime::hash::be32;
use avm_runtime::opcode::{
    GETBUFFER8, GETBUFFER64, GETBUFFER256, SETBUFFER8, SETBUFFER64, SETBUFFER256,
};
use avm_runtime::{Buffer, U256, Value};

use super::Operands;
use crate::ops::SEND_SIZE_LIMIT;

/// The four Merkle / normalization proofs a buffer proof carries, in container order:
/// `proof1, nproof1, proof2, nproof2` (PROOFS.md §5.1).
type Parts = [Vec<U256>; 4];

/// The buffer proof of a buffer access `opcode` (0xa1–0xa6) whose operands are all present
/// (PROOFS.md §5.5). Operands of the wrong kind, or an offset of 2^64 or more, get the header
/// alone: the checker raises an error before it reads a proof.
pub(super) fn access_proof(opcode: u8, operands: &Operands) -> Vec<u8> {
    let parts = match opcode {
        GETBUFFER8 => get_parts(operands, 1),
        GETBUFFER64 => get_parts(operands, 8),
        GETBUFFER256 => get_parts(operands, 32),
        SETBUFFER8 => set_parts(operands, 1),
        SETBUFFER64 => set_parts(operands, 8),
        SETBUFFER256 => set_parts(operands, 32),
        _ => None,
    };
    container(&parts.unwrap_or_default())
}

/// The op-specific data of `send` (PROOFS.md §5.6, the C++ prover's rule): a size over the
/// limit or operands of the wrong kind send nothing; a buffer with non-zero bytes at or after
/// `size` gets a buffer proof of the first such leaf path (returned); otherwise the message
/// bytes, padded with zeros to `size`, are appended to `proof`.
pub(super) fn send_data(operands: &Operands, proof: &mut Vec<u8>) -> Vec<u8> {
    let (Some(size), Some(Value::Buffer(buffer))) =
        (operands.get(0).and_then(Value::as_int), operands.get(1))
    else {
        return Vec::new();
    };
    let size = size.low_u64();
    if size > SEND_SIZE_LIMIT {
        return Vec::new();
    }
    if u128::from(size) < buffer.data_len() {
        return container(&[buffer.merkle_proof(size), vec![], vec![], vec![]]);
    }
    let mut message = vec![0; size as usize];
    buffer.read(0, &mut message);
    proof.extend_from_slice(&message);
    Vec::new()
}

/// `getbuffer{8,64,256}` (width 1/8/32 bytes): the path to the first byte's leaf, and for
/// multi-byte reads the path to the last byte's leaf as the second proof.
fn get_parts(operands: &Operands, width: u64) -> Option<Parts> {
    let offset = offset(operands.get(0)?)?;
    let Value::Buffer(buffer) = operands.get(1)? else {
        return None;
    };
    let first = buffer.merkle_proof(offset);
    let second = if width == 1 {
        Vec::new()
    } else {
        buffer.merkle_proof(offset.wrapping_add(width - 1))
    };
    Some([first, Vec::new(), second, Vec::new()])
}

/// `setbuffer{8,64,256}` (width 1/8/32 bytes): the path to the first leaf written and the
/// normalization of the result; a write that crosses into a second leaf proves it in two
/// halves, through the buffer with only the first leaf's bytes written.
fn set_parts(operands: &Operands, width: usize) -> Option<Parts> {
    let offset = offset(operands.get(0)?)?;
    let value = operands.get(1)?.as_int()?;
    let Value::Buffer(buffer) = operands.get(2)? else {
        return None;
    };
    let word = value.to_big_endian();
    let bytes = &word[32 - width..];
    let first = buffer.merkle_proof(offset);
    let result = write_wrapping(buffer, offset, bytes);
    let in_first_leaf = (LEAF_BYTES - (offset % LEAF_BYTES as u64) as usize).min(width);
    if in_first_leaf == width {
        return Some([first, result.normalization_proof().to_vec(), vec![], vec![]]);
    }
    let mid = write_wrapping(buffer, offset, &bytes[..in_first_leaf]);
    let last = offset.wrapping_add(width as u64 - 1);
    Some([
        first,
        mid.normalization_proof().to_vec(),
        mid.merkle_proof(last),
        result.normalization_proof().to_vec(),
    ])
}

/// An offset operand the C++ prover accepts: an Int below 2^64.
fn offset(value: &Value) -> Option<u64> {
    value.as_small_int()
}

/// `buffer` with `bytes` written from `offset`, byte `i` at `offset + i` mod 2^64 (the C++
/// prover's 64-bit arithmetic). Wrapping is only reachable for ranges that run past 2^64,
/// which the checker rejects before it reads the proof; it just keeps the prover total.
fn write_wrapping(buffer: &Buffer, offset: u64, bytes: &[u8]) -> Buffer {
    let room = u128::from(u64::MAX - offset) + 1;
    if bytes.len() as u128 <= room {
        return buffer.write(offset, bytes);
    }
    let (low, high) = bytes.split_at(room as usize);
    buffer.write(offset, low).write(0, high)
}

/// The container of PROOFS.md §5.1: a header word whose bytes 0–4 are the cumulative word
/// offsets `1, 1+|p1|, …` of the four parts, then the parts' words.
fn container(parts: &Parts) -> Vec<u8> {
    let mut header = [0u8; 32];
    let mut end = 1usize;
    header[0] = 1;
    for (i, part) in parts.iter().enumerate() {
        end += part.len();
        header[i + 1] = u8::try_from(end).expect("at most 1 + 2·(60 + 3) words");
    }
    let mut out = Vec::with_capacity(32 * end);
    out.extend_from_slice(&header);
    for word in parts.iter().flatten() {
        out.extend_from_slice(&be32(word));
    }
    out
}
