//! Buffer opcodes (AVM.md §8.8). The offset is on top.

use avm_runtime::{Buffer, U256, Value};

use super::{Flow, OpResult};
use crate::OpError;
use crate::machine::Machine;

fn buffer(value: &Value) -> Result<&Buffer, OpError> {
    match value {
        Value::Buffer(b) => Ok(b),
        _ => Err(OpError::WrongKind),
    }
}

/// An offset whose `width` bytes all lie below 2^64.
fn offset(x: U256, width: u64) -> Result<u64, OpError> {
    if x.bits() > 64 {
        return Err(OpError::OutOfRange);
    }
    let start = x.low_u64();
    start
        .checked_add(width - 1)
        .map(|_| start)
        .ok_or(OpError::OutOfRange)
}

pub(super) fn newbuffer(m: &mut Machine) -> OpResult {
    m.stack.push(Value::Buffer(Buffer::new()));
    Ok(Flow::Next)
}

/// Reads `N` bytes at the offset on top from the buffer below it, big-endian.
fn get<const N: usize>(m: &mut Machine) -> OpResult {
    let at = offset(m.stack.int(0)?, N as u64)?;
    let mut bytes = [0u8; N];
    buffer(m.stack.peek(1))?.read(at, &mut bytes);
    m.stack
        .replace_top(2, Value::int(U256::from_big_endian(&bytes)));
    Ok(Flow::Next)
}

pub(super) fn getbuffer8(m: &mut Machine) -> OpResult {
    get::<1>(m)
}

pub(super) fn getbuffer64(m: &mut Machine) -> OpResult {
    get::<8>(m)
}

pub(super) fn getbuffer256(m: &mut Machine) -> OpResult {
    get::<32>(m)
}

/// Writes the value's low `N` bytes big-endian at the offset; values needing more bytes than
/// `N` raise an error (`setbuffer8` rejects values over 255, AVM.md §8.8).
fn set<const N: usize>(m: &mut Machine) -> OpResult {
    let at = offset(m.stack.int(0)?, N as u64)?;
    let value = m.stack.int(1)?;
    if value.bits() > 8 * N {
        return Err(OpError::OutOfRange);
    }
    let updated = buffer(m.stack.peek(2))?.write(at, &value.to_big_endian()[32 - N..]);
    m.stack.set_top(3, Value::Buffer(updated));
    Ok(Flow::Next)
}

pub(super) fn setbuffer8(m: &mut Machine) -> OpResult {
    set::<1>(m)
}

pub(super) fn setbuffer64(m: &mut Machine) -> OpResult {
    set::<8>(m)
}

pub(super) fn setbuffer256(m: &mut Machine) -> OpResult {
    set::<32>(m)
}
