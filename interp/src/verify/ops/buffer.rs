//! `OneStepProof2`: the buffer reads and writes and `send` (PROOFS.md §5; semantics AVM.md
//! §8.7, §8.8). Operand kinds and ranges are checked first (AVM errors); only then is the
//! buffer proof read, so an erroring instruction needs none.

use avm_runtime::U256;
use avm_runtime::hash::{be32, keccak};
use avm_runtime::opcode::{
    GETBUFFER8, GETBUFFER64, GETBUFFER256, SEND, SETBUFFER8, SETBUFFER64, SETBUFFER256,
};

use super::{Fault, OpFn, OpResult};
use crate::verify::Rejection;
use crate::verify::merkle::{self, BufferProof};
use crate::verify::step::Step;

/// The largest message `send` accepts (`SEND_SIZE_LIMIT`, AVM.md §8.7).
const SEND_SIZE_LIMIT: u64 = 10_000;

/// The buffer contract's operation for `op`.
pub(super) fn operation(op: u8) -> Option<OpFn> {
    Some(match op {
        GETBUFFER8 => getbuffer8,
        GETBUFFER64 => getbuffer64,
        GETBUFFER256 => getbuffer256,
        SETBUFFER8 => setbuffer8,
        SETBUFFER64 => setbuffer64,
        SETBUFFER256 => setbuffer256,
        SEND => send,
        _ => return None,
    })
}

/// Pops an offset (top) that must be an Int with `offset + width − 1 < 2^64`.
fn pop_offset(s: &mut Step<'_>, width: u64) -> Result<u64, Fault> {
    let offset = s.pop_int()?;
    let offset = u64::try_from(offset).map_err(|_| Fault::Raise)?;
    offset.checked_add(width - 1).ok_or(Fault::Raise)?;
    Ok(offset)
}

/// Pops a buffer operand and returns its root.
fn pop_buffer(s: &mut Step<'_>) -> Result<U256, Fault> {
    let v = s.pop()?;
    s.arena.as_buffer(v).ok_or(Fault::Raise)
}

/// Reads `width` bytes at `offset` (below 2^64 − width) as a big-endian Int: from the word of
/// `proof1`, and the next word of `proof2` if the range straddles a leaf boundary.
fn read(root: U256, offset: u64, width: usize, proof: &BufferProof) -> Result<U256, Rejection> {
    let index = offset / 32;
    let start = (offset % 32) as usize;
    let first_len = width.min(32 - start);
    let mut bytes = [0u8; 32];
    let first = merkle::get(root, index, &proof.proof1)?.to_big_endian();
    bytes[..first_len].copy_from_slice(&first[start..start + first_len]);
    if first_len < width {
        let second = merkle::get(root, index + 1, &proof.proof2)?.to_big_endian();
        bytes[first_len..width].copy_from_slice(&second[..width - first_len]);
    }
    Ok(U256::from_big_endian(&bytes[..width]))
}

/// Writes `bytes` (at most 32) at `offset` and returns the new root: one `set` with
/// `proof1, nproof1`, and a second on the intermediate root with `proof2, nproof2` if the range
/// straddles a leaf boundary (PROOFS.md §5.5).
fn write(root: U256, offset: u64, bytes: &[u8], proof: &BufferProof) -> Result<U256, Rejection> {
    let index = offset / 32;
    let start = (offset % 32) as usize;
    let first_len = bytes.len().min(32 - start);
    let mut first = merkle::get(root, index, &proof.proof1)?.to_big_endian();
    first[start..start + first_len].copy_from_slice(&bytes[..first_len]);
    let root = merkle::set(
        root,
        index,
        U256::from_big_endian(&first),
        &proof.proof1,
        &proof.nproof1,
    )?;
    if first_len == bytes.len() {
        return Ok(root);
    }
    let mut second = merkle::get(root, index + 1, &proof.proof2)?.to_big_endian();
    second[..bytes.len() - first_len].copy_from_slice(&bytes[first_len..]);
    merkle::set(
        root,
        index + 1,
        U256::from_big_endian(&second),
        &proof.proof2,
        &proof.nproof2,
    )
}

/// `getbuffer8/64/256`: offset on top, then the buffer.
fn get(s: &mut Step<'_>, width: usize) -> OpResult {
    let offset = pop_offset(s, width as u64)?;
    let root = pop_buffer(s)?;
    let proof = merkle::load(s.buffer_proof)?;
    s.push_int(read(root, offset, width, &proof)?);
    Ok(())
}
fn getbuffer8(s: &mut Step<'_>) -> OpResult {
    get(s, 1)
}
fn getbuffer64(s: &mut Step<'_>) -> OpResult {
    get(s, 8)
}
fn getbuffer256(s: &mut Step<'_>) -> OpResult {
    get(s, 32)
}

/// `setbuffer8/64/256`: offset on top, then the value (an Int `<= max`), then the buffer;
/// pushes the buffer with the value's low `width` bytes written big-endian.
fn set(s: &mut Step<'_>, width: usize, max: U256) -> OpResult {
    let offset = pop_offset(s, width as u64)?;
    let value = s.pop_int()?;
    let root = pop_buffer(s)?;
    if value > max {
        return Err(Fault::Raise);
    }
    let proof = merkle::load(s.buffer_proof)?;
    let bytes = be32(&value);
    let new_root = write(root, offset, &bytes[32 - width..], &proof)?;
    let buffer = s.arena.buffer(new_root);
    s.push(buffer);
    Ok(())
}
fn setbuffer8(s: &mut Step<'_>) -> OpResult {
    set(s, 1, U256::from(u8::MAX))
}
fn setbuffer64(s: &mut Step<'_>) -> OpResult {
    set(s, 8, U256::from(u64::MAX))
}
fn setbuffer256(s: &mut Step<'_>) -> OpResult {
    set(s, 32, U256::MAX)
}

/// `send` (PROOFS.md §5.6): size on top, then the buffer. With no bytes after the standard
/// proof, the proof claims the buffer is longer than the size, shown false by `proof1`, and the
/// instruction raises; otherwise the first `size` of those bytes are the message and must be the
/// buffer's contents.
fn send(s: &mut Step<'_>) -> OpResult {
    let size = s.pop_int()?;
    let root = pop_buffer(s)?;
    if size.is_zero() || size > U256::from(SEND_SIZE_LIMIT) {
        return Err(Fault::Raise);
    }
    let size = size.low_u64() as usize;
    if s.extra.is_empty() {
        let proof = merkle::load(s.buffer_proof)?;
        if merkle::fits_in(root, size as u64, &proof.proof1)? {
            return Err(Fault::Reject(Rejection::FalseSendSizeClaim));
        }
        return Err(Fault::Raise);
    }
    let data = s.extra.get(..size).ok_or(Rejection::SendDataTruncated)?;
    if merkle::root_of_bytes(data) != root {
        return Err(Fault::Reject(Rejection::SendDataMismatch));
    }
    s.send_acc = keccak(&[&be32(&s.send_acc), &be32(&keccak(&[data]))]);
    Ok(())
}
