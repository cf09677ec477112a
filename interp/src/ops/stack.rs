//! Stack and register opcodes (AVM.md §8.3, §8.4).

use super::{Flow, OpResult, bool_value};
use crate::machine::Machine;

#[inline(always)]
pub(super) fn pop(m: &mut Machine) -> OpResult {
    m.stack.discard_top(1);
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn spush(m: &mut Machine) -> OpResult {
    m.stack.push(m.static_value.clone());
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn rpush(m: &mut Machine) -> OpResult {
    m.stack.push(m.register.clone());
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn rset(m: &mut Machine) -> OpResult {
    m.register = m.stack.take().expect("operand checked by the step");
    Ok(Flow::Next)
}

pub(super) fn stackempty(m: &mut Machine) -> OpResult {
    let empty = m.stack.is_empty();
    m.stack.push(bool_value(empty));
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn auxpush(m: &mut Machine) -> OpResult {
    let value = m.stack.take().expect("operand checked by the step");
    m.aux.push(value);
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn auxpop(m: &mut Machine) -> OpResult {
    let value = m.aux.take().expect("operand checked by the step");
    m.stack.push(value);
    Ok(Flow::Next)
}

pub(super) fn auxstackempty(m: &mut Machine) -> OpResult {
    let empty = m.aux.is_empty();
    m.stack.push(bool_value(empty));
    Ok(Flow::Next)
}

/// `dup0`, `dup1`, `dup2`: pushes a copy of the value `depth` below the top.
#[inline(always)]
pub(super) fn dup(m: &mut Machine, depth: usize) -> OpResult {
    let value = m.stack.peek(depth).clone();
    m.stack.push(value);
    Ok(Flow::Next)
}

/// `swap1`, `swap2`: exchanges the top with the value `depth` below it.
#[inline(always)]
pub(super) fn swap(m: &mut Machine, depth: usize) -> OpResult {
    m.stack.exchange(depth);
    Ok(Flow::Next)
}
