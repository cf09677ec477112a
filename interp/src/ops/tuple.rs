//! Tuple opcodes (AVM.md §8.5).

use avm_runtime::{Tuple, U256, Value};

use super::{Flow, OpResult};
use crate::OpError;
use crate::machine::Machine;
use crate::stack::Stack;

fn tuple(value: &Value) -> Result<&Tuple, OpError> {
    match value {
        Value::Tuple(t) => Ok(t),
        _ => Err(OpError::WrongKind),
    }
}

/// The index operand as a slot of `t`, or the error a non-Int or out-of-range index raises.
/// Ints are canonical, so an index at or above 2^64 is a big Int and out of range.
fn index(i: &Value, t: &Tuple) -> Result<usize, OpError> {
    match i {
        Value::SmallInt(i) if *i < t.len() as u64 => Ok(*i as usize),
        Value::SmallInt(_) | Value::BigInt(_) => Err(OpError::IndexOutOfRange),
        _ => Err(OpError::WrongKind),
    }
}

#[inline(always)]
pub(super) fn tget(m: &mut Machine) -> OpResult {
    let i = m.stack.peek(0);
    let t = tuple(m.stack.peek(1))?;
    let value = t.slots()[index(i, t)?].clone();
    m.stack.set_top(2, value);
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn tset(m: &mut Machine) -> OpResult {
    let slot = index(m.stack.peek(0), tuple(m.stack.peek(1))?)?;
    m.stack.discard_top(1);
    set_in_top(&mut m.stack, slot);
    Ok(Flow::Next)
}

pub(super) fn tlen(m: &mut Machine) -> OpResult {
    let len = tuple(m.stack.peek(0))?.len();
    m.stack.set_top(1, Value::int(U256::from(len)));
    Ok(Flow::Next)
}

/// `xget` reads a slot of the tuple on top of the aux stack and leaves it there.
#[inline(always)]
pub(super) fn xget(m: &mut Machine) -> OpResult {
    let i = m.stack.peek(0);
    let t = tuple(m.aux.peek(0))?;
    let value = t.slots()[index(i, t)?].clone();
    m.stack.set_top(1, value);
    Ok(Flow::Next)
}

/// `xset` replaces a slot of the tuple on top of the aux stack.
#[inline(always)]
pub(super) fn xset(m: &mut Machine) -> OpResult {
    let slot = index(m.stack.peek(0), tuple(m.aux.peek(0))?)?;
    m.stack.discard_top(1);
    xset_checked(m, slot);
    Ok(Flow::Next)
}

/// The tuple on top of `stack` with slot `slot` (checked to exist) set to the value below it,
/// which is removed. The tuple stays in place, so a tuple nothing else shares is updated there.
#[inline(always)]
fn set_in_top(stack: &mut Stack, slot: usize) {
    let value = stack.remove_below_top();
    match stack.top_mut() {
        Value::Tuple(t) => t.set(slot, value),
        _ => unreachable!("checked to be a tuple"),
    }
}

/// `xset` of slot `slot` (checked to exist in the tuple on top of the aux stack) to the value
/// on top of the data stack.
#[inline(always)]
fn xset_checked(m: &mut Machine, slot: usize) {
    let value = m.stack.take().expect("xset pops two values");
    match m.aux.top_mut() {
        Value::Tuple(t) => t.set(slot, value),
        _ => unreachable!("checked to be a tuple"),
    }
}

/// `tget` with immediate index `i`: whether it ran (else nothing changed and the caller runs
/// the plain `tget`, which raises the error).
#[inline(always)]
pub(super) fn tget_at(m: &mut Machine, i: usize) -> bool {
    let Some(value) = slot_at(m.stack.peek(0), i) else {
        return false;
    };
    let value = value.clone();
    m.stack.set_top(1, value);
    true
}

/// `tset` with immediate index `i` (see [`tget_at`]).
#[inline(always)]
pub(super) fn tset_at(m: &mut Machine, i: usize) -> bool {
    if slot_at(m.stack.peek(0), i).is_none() {
        return false;
    }
    set_in_top(&mut m.stack, i);
    true
}

/// `xget` with immediate index `i` (see [`tget_at`]).
#[inline(always)]
pub(super) fn xget_at(m: &mut Machine, i: usize) -> bool {
    let Some(value) = slot_at(m.aux.peek(0), i) else {
        return false;
    };
    let value = value.clone();
    m.stack.push(value);
    true
}

/// `xset` with immediate index `i` (see [`tget_at`]).
#[inline(always)]
pub(super) fn xset_at(m: &mut Machine, i: usize) -> bool {
    if slot_at(m.aux.peek(0), i).is_none() {
        return false;
    }
    xset_checked(m, i);
    true
}

/// Slot `i` of `value`, if it is a tuple with that slot.
#[inline(always)]
fn slot_at(value: &Value, i: usize) -> Option<&Value> {
    match value {
        Value::Tuple(t) => t.get(i),
        _ => None,
    }
}
