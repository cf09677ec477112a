//! Arithmetic, comparison and bitwise opcodes (AVM.md §8.1, §8.2): 256-bit wrapping math.

use avm_runtime::{U256, Value, math};

use super::{Flow, OpResult, bool_value};
use crate::OpError;
use crate::machine::Machine;

/// Pops Ints A and B and pushes `f(A, B)`.
#[inline]
fn binary(m: &mut Machine, f: impl FnOnce(U256, U256) -> Result<U256, OpError>) -> OpResult {
    let a = m.stack.int(0)?;
    let b = m.stack.int(1)?;
    let result = f(a, b)?;
    m.stack.replace_top(2, Value::int(result));
    Ok(Flow::Next)
}

/// Pops Ints A, B and C and pushes `f(A, B, C)`.
#[inline]
fn ternary(m: &mut Machine, f: impl FnOnce(U256, U256, U256) -> Result<U256, OpError>) -> OpResult {
    let (a, b, c) = (m.stack.int(0)?, m.stack.int(1)?, m.stack.int(2)?);
    let result = f(a, b, c)?;
    m.stack.replace_top(3, Value::int(result));
    Ok(Flow::Next)
}

/// Pops Int A and pushes `f(A)`.
#[inline]
fn unary(m: &mut Machine, f: impl FnOnce(U256) -> U256) -> OpResult {
    let a = m.stack.int(0)?;
    m.stack.replace_top(1, Value::int(f(a)));
    Ok(Flow::Next)
}

/// An error for the division-like opcodes' `None`.
fn or_div_error(x: Option<U256>) -> Result<U256, OpError> {
    x.ok_or(OpError::DivisionByZero)
}

pub(super) fn add(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::add(a, b)))
}

pub(super) fn mul(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::mul(a, b)))
}

pub(super) fn sub(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::sub(a, b)))
}

pub(super) fn div(m: &mut Machine) -> OpResult {
    binary(m, |a, b| or_div_error(math::div(a, b)))
}

pub(super) fn sdiv(m: &mut Machine) -> OpResult {
    binary(m, |a, b| or_div_error(math::sdiv(a, b)))
}

pub(super) fn modulo(m: &mut Machine) -> OpResult {
    binary(m, |a, b| or_div_error(math::modulo(a, b)))
}

pub(super) fn smod(m: &mut Machine) -> OpResult {
    binary(m, |a, b| or_div_error(math::smod(a, b)))
}

pub(super) fn addmod(m: &mut Machine) -> OpResult {
    ternary(m, |a, b, c| or_div_error(math::addmod(a, b, c)))
}

pub(super) fn mulmod(m: &mut Machine) -> OpResult {
    ternary(m, |a, b, c| or_div_error(math::mulmod(a, b, c)))
}

pub(super) fn exp(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::exp(a, b)))
}

pub(super) fn signextend(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::signextend(a, b)))
}

pub(super) fn lt(m: &mut Machine) -> OpResult {
    compare(m, |a, b| a < b)
}

pub(super) fn gt(m: &mut Machine) -> OpResult {
    compare(m, |a, b| a > b)
}

pub(super) fn slt(m: &mut Machine) -> OpResult {
    compare(m, math::slt)
}

pub(super) fn sgt(m: &mut Machine) -> OpResult {
    compare(m, |a, b| math::slt(b, a))
}

fn compare(m: &mut Machine, f: impl FnOnce(U256, U256) -> bool) -> OpResult {
    let a = m.stack.int(0)?;
    let b = m.stack.int(1)?;
    m.stack.replace_top(2, bool_value(f(a, b)));
    Ok(Flow::Next)
}

/// `eq` compares any two values and never errors (AVM.md §8.2).
pub(super) fn eq(m: &mut Machine) -> OpResult {
    let equal = m.stack.peek(0) == m.stack.peek(1);
    m.stack.replace_top(2, bool_value(equal));
    Ok(Flow::Next)
}

pub(super) fn iszero(m: &mut Machine) -> OpResult {
    let a = m.stack.int(0)?;
    m.stack.replace_top(1, bool_value(a.is_zero()));
    Ok(Flow::Next)
}

pub(super) fn and(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a & b))
}

pub(super) fn or(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a | b))
}

pub(super) fn xor(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a ^ b))
}

pub(super) fn not(m: &mut Machine) -> OpResult {
    unary(m, |a| !a)
}

pub(super) fn byte(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::byte(a, b)))
}

pub(super) fn shl(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::shl(a, b)))
}

pub(super) fn shr(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::shr(a, b)))
}

pub(super) fn sar(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(math::sar(a, b)))
}
