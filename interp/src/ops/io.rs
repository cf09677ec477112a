//! Host interface opcodes: logs, sends, inbox, sideload (AVM.md §8.6, §8.7, §9).

use avm_runtime::hash::{be32, hash2, keccak};
use avm_runtime::{U256, Value};

use super::{Flow, OpResult};
use crate::OpError;
use crate::machine::Machine;
use crate::prove::inbox::accumulate;

/// The largest message `send` accepts (`SEND_SIZE_LIMIT`).
pub const SEND_SIZE_LIMIT: u64 = 10_000;

pub(super) fn log(m: &mut Machine) -> OpResult {
    let value = m.stack.take().expect("operand checked by the step");
    m.out.log_acc = hash2(&m.out.log_acc, &value.hash());
    m.out.log_count += 1;
    m.out.logs.push(value);
    Ok(Flow::Next)
}

pub(super) fn debugprint(m: &mut Machine) -> OpResult {
    let value = m.stack.take().expect("operand checked by the step");
    m.out.debug_prints.push(value);
    Ok(Flow::Next)
}

/// `send` A, B: emits the first A bytes of buffer B (AVM.md §8.7).
pub(super) fn send(m: &mut Machine) -> OpResult {
    let size = m.stack.int(0)?;
    let Value::Buffer(buffer) = m.stack.peek(1) else {
        return Err(OpError::WrongKind);
    };
    if size.is_zero()
        || size > U256::from(SEND_SIZE_LIMIT)
        || buffer.data_len() > size.low_u64() as u128
    {
        return Err(OpError::BadSend);
    }
    let mut message = vec![0; size.low_u64() as usize];
    buffer.read(0, &mut message);
    m.out.send_acc = keccak(&[&be32(&m.out.send_acc), &be32(&keccak(&[&message]))]);
    m.out.send_count += 1;
    m.out.sends.push(message);
    m.stack.discard_top(2);
    Ok(Flow::Next)
}

/// `inbox` pushes the next message; the step has already blocked if there is none. It also
/// advances the inbox accumulator, the only work the prover adds to execution.
pub(super) fn inbox(m: &mut Machine) -> OpResult {
    let message = m
        .inbox
        .pop_front()
        .expect("the step blocks on an empty inbox");
    m.out.inbox_acc = accumulate(&m.out.inbox_acc, m.out.inbox_consumed, &message);
    m.out.inbox_consumed += 1;
    log_consumed(m.out.inbox_consumed);
    m.stack.push(message);
    Ok(Flow::Next)
}

/// Logs an inbox message consumed, out of line: the event's code stays out of the
/// interpreter's hot dispatch.
#[cold]
#[inline(never)]
fn log_consumed(consumed: u64) {
    tracing::info!(consumed, "inbox message consumed");
}

/// `sideload` pushes the host's next value, or `()` (the step has already blocked if the host
/// asked to stop here).
pub(super) fn sideload(m: &mut Machine) -> OpResult {
    m.stack.int(0)?;
    let value = m.sideloads.pop_front().unwrap_or_else(Value::none);
    m.stack.set_top(1, value);
    Ok(Flow::Next)
}
