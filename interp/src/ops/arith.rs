//! Arithmetic, comparison and bitwise opcodes (AVM.md §8.1, §8.2): 256-bit wrapping math.

use avm_runtime::{U256, Value};
use primitive_types::U512;

use super::{Flow, OpResult, bool_value};
use crate::OpError;
use crate::machine::Machine;

/// Pops Ints A and B and pushes `f(A, B)`.
#[inline]
fn binary(m: &mut Machine, f: impl FnOnce(U256, U256) -> Result<U256, OpError>) -> OpResult {
    let a = m.stack.int(0)?;
    let b = m.stack.int(1)?;
    let result = f(a, b)?;
    m.stack.replace_top(2, Value::Int(result));
    Ok(Flow::Next)
}

/// Pops Ints A, B and C and pushes `f(A, B, C)`.
#[inline]
fn ternary(m: &mut Machine, f: impl FnOnce(U256, U256, U256) -> Result<U256, OpError>) -> OpResult {
    let (a, b, c) = (m.stack.int(0)?, m.stack.int(1)?, m.stack.int(2)?);
    let result = f(a, b, c)?;
    m.stack.replace_top(3, Value::Int(result));
    Ok(Flow::Next)
}

/// Pops Int A and pushes `f(A)`.
#[inline]
fn unary(m: &mut Machine, f: impl FnOnce(U256) -> U256) -> OpResult {
    let a = m.stack.int(0)?;
    m.stack.replace_top(1, Value::Int(f(a)));
    Ok(Flow::Next)
}

fn nonzero(x: U256) -> Result<U256, OpError> {
    if x.is_zero() {
        Err(OpError::DivisionByZero)
    } else {
        Ok(x)
    }
}

fn is_negative(x: &U256) -> bool {
    x.bit(255)
}

fn negate(x: U256) -> U256 {
    U256::zero().overflowing_sub(x).0
}

fn abs(x: U256) -> U256 {
    if is_negative(&x) { negate(x) } else { x }
}

/// `a < b` as signed two's-complement numbers.
fn signed_lt(a: U256, b: U256) -> bool {
    match (is_negative(&a), is_negative(&b)) {
        (true, false) => true,
        (false, true) => false,
        _ => a < b,
    }
}

pub(super) fn add(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a.overflowing_add(b).0))
}

pub(super) fn mul(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a.overflowing_mul(b).0))
}

pub(super) fn sub(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a.overflowing_sub(b).0))
}

pub(super) fn div(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a / nonzero(b)?))
}

pub(super) fn sdiv(m: &mut Machine) -> OpResult {
    binary(m, |a, b| {
        let quotient = abs(a) / abs(nonzero(b)?);
        Ok(if is_negative(&a) != is_negative(&b) {
            negate(quotient)
        } else {
            quotient
        })
    })
}

pub(super) fn modulo(m: &mut Machine) -> OpResult {
    binary(m, |a, b| Ok(a % nonzero(b)?))
}

pub(super) fn smod(m: &mut Machine) -> OpResult {
    binary(m, |a, b| {
        let remainder = abs(a) % abs(nonzero(b)?);
        Ok(if is_negative(&a) {
            negate(remainder)
        } else {
            remainder
        })
    })
}

pub(super) fn addmod(m: &mut Machine) -> OpResult {
    ternary(m, |a, b, c| {
        let c = nonzero(c)?;
        let sum = U512::from(a) + U512::from(b);
        Ok(U256::try_from(sum % U512::from(c)).expect("a remainder mod c fits"))
    })
}

pub(super) fn mulmod(m: &mut Machine) -> OpResult {
    ternary(m, |a, b, c| {
        let c = nonzero(c)?;
        Ok(U256::try_from(a.full_mul(b) % U512::from(c)).expect("a remainder mod c fits"))
    })
}

pub(super) fn exp(m: &mut Machine) -> OpResult {
    binary(m, |base, exponent| Ok(base.overflowing_pow(exponent).0))
}

pub(super) fn signextend(m: &mut Machine) -> OpResult {
    binary(m, |a, b| {
        if a >= U256::from(31) {
            return Ok(b);
        }
        let bit = 8 * a.low_u64() as usize + 7;
        let mask = (U256::one() << bit) - 1;
        Ok(if b.bit(bit) { b | !mask } else { b & mask })
    })
}

pub(super) fn lt(m: &mut Machine) -> OpResult {
    compare(m, |a, b| a < b)
}

pub(super) fn gt(m: &mut Machine) -> OpResult {
    compare(m, |a, b| a > b)
}

pub(super) fn slt(m: &mut Machine) -> OpResult {
    compare(m, signed_lt)
}

pub(super) fn sgt(m: &mut Machine) -> OpResult {
    compare(m, |a, b| signed_lt(b, a))
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
    binary(m, |a, b| {
        Ok(if a < U256::from(32) {
            U256::from(b.byte(31 - a.low_u64() as usize))
        } else {
            U256::zero()
        })
    })
}

pub(super) fn shl(m: &mut Machine) -> OpResult {
    binary(m, |shift, value| {
        Ok(if shift < U256::from(256) {
            value << shift.low_u64() as usize
        } else {
            U256::zero()
        })
    })
}

pub(super) fn shr(m: &mut Machine) -> OpResult {
    binary(m, |shift, value| {
        Ok(if shift < U256::from(256) {
            value >> shift.low_u64() as usize
        } else {
            U256::zero()
        })
    })
}

pub(super) fn sar(m: &mut Machine) -> OpResult {
    binary(m, |shift, value| {
        if !is_negative(&value) {
            return Ok(if shift < U256::from(256) {
                value >> shift.low_u64() as usize
            } else {
                U256::zero()
            });
        }
        if shift >= U256::from(256) {
            return Ok(U256::MAX);
        }
        let s = shift.low_u64() as usize;
        Ok(if s == 0 {
            value
        } else {
            (value >> s) | (U256::MAX << (256 - s))
        })
    })
}
