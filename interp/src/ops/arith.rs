//! Arithmetic, comparison and bitwise opcodes (AVM.md §8.1, §8.2): 256-bit wrapping math.
//!
//! The 256-bit functions of `avm_runtime::math` define every result. The commonest opcodes also
//! take a shortcut when both operands are Ints below 2^64 (91.5% of ArbOS's operands): the
//! shortcut returns `None` whenever the 64-bit result could differ, and the 256-bit path runs.

use avm_runtime::{U256, Value, math, opcode};

use super::{Flow, OpResult, bool_value};
use crate::OpError;
use crate::machine::Machine;

/// What the opcode `op`, one that pops two Ints and pushes one (the arithmetic, compare and
/// bitwise opcodes but `eq`, which takes any values), pushes for the Ints A (the top operand)
/// and B, or the error it raises (AVM.md §8.1, §8.2). The one place that maps these opcodes to
/// their 256-bit functions: the interpreter's paths for wide operands and the JIT's helper for
/// them both call it.
///
/// # Panics
/// If `op` is not such an opcode.
#[inline(always)]
pub fn int_pair(op: u8, a: U256, b: U256) -> Result<Value, OpError> {
    let int = |x: U256| Ok(Value::int(x));
    let quotient = |x: Option<U256>| x.map(Value::int).ok_or(OpError::DivisionByZero);
    match op {
        opcode::ADD => int(math::add(a, b)),
        opcode::SUB => int(math::sub(a, b)),
        opcode::MUL => int(math::mul(a, b)),
        opcode::DIV => quotient(math::div(a, b)),
        opcode::SDIV => quotient(math::sdiv(a, b)),
        opcode::MOD => quotient(math::modulo(a, b)),
        opcode::SMOD => quotient(math::smod(a, b)),
        opcode::EXP => int(math::exp(a, b)),
        opcode::SIGNEXTEND => int(math::signextend(a, b)),
        opcode::LT => Ok(bool_value(a < b)),
        opcode::GT => Ok(bool_value(a > b)),
        opcode::SLT => Ok(bool_value(math::slt(a, b))),
        opcode::SGT => Ok(bool_value(math::slt(b, a))),
        opcode::AND => int(a & b),
        opcode::OR => int(a | b),
        opcode::XOR => int(a ^ b),
        opcode::BYTE => int(math::byte(a, b)),
        opcode::SHL => int(math::shl(a, b)),
        opcode::SHR => int(math::shr(a, b)),
        opcode::SAR => int(math::sar(a, b)),
        _ => panic!("{} does not pop two Ints", opcode::mnemonic(op)),
    }
}

/// Pops Ints A and B and pushes what `int_pair(OP, A, B)` gives.
#[inline(never)]
fn binary<const OP: u8>(m: &mut Machine) -> OpResult {
    let a = m.stack.int(0)?;
    let b = m.stack.int(1)?;
    let result = int_pair(OP, a, b)?;
    m.stack.set_top(2, result);
    Ok(Flow::Next)
}

/// [`binary`], with `small` computing the result of two Ints below 2^64 when it is one too.
#[inline(always)]
fn binary_small<const OP: u8>(
    m: &mut Machine,
    small: impl FnOnce(u64, u64) -> Option<u64>,
) -> OpResult {
    if let (Value::SmallInt(a), Value::SmallInt(b)) = (m.stack.peek(0), m.stack.peek(1))
        && let Some(result) = small(*a, *b)
    {
        m.stack.set_top_ints(2, Value::SmallInt(result));
        return Ok(Flow::Next);
    }
    binary::<OP>(m)
}

/// Pops Ints A, B and C and pushes `f(A, B, C)`.
#[inline]
fn ternary(m: &mut Machine, f: impl FnOnce(U256, U256, U256) -> Result<U256, OpError>) -> OpResult {
    let (a, b, c) = (m.stack.int(0)?, m.stack.int(1)?, m.stack.int(2)?);
    let result = f(a, b, c)?;
    m.stack.set_top(3, Value::int(result));
    Ok(Flow::Next)
}

/// Pops Int A and pushes `f(A)`.
#[inline]
fn unary(m: &mut Machine, f: impl FnOnce(U256) -> U256) -> OpResult {
    let a = m.stack.int(0)?;
    m.stack.set_top(1, Value::int(f(a)));
    Ok(Flow::Next)
}

/// An error for the division-like opcodes' `None`.
fn or_div_error(x: Option<U256>) -> Result<U256, OpError> {
    x.ok_or(OpError::DivisionByZero)
}

#[inline(always)]
pub(super) fn add(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::ADD }>(m, u64::checked_add)
}

pub(super) fn mul(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::MUL }>(m, u64::checked_mul)
}

#[inline(always)]
pub(super) fn sub(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::SUB }>(m, u64::checked_sub)
}

pub(super) fn div(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::DIV }>(m, u64::checked_div)
}

pub(super) fn sdiv(m: &mut Machine) -> OpResult {
    binary::<{ opcode::SDIV }>(m)
}

pub(super) fn modulo(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::MOD }>(m, u64::checked_rem)
}

pub(super) fn smod(m: &mut Machine) -> OpResult {
    binary::<{ opcode::SMOD }>(m)
}

pub(super) fn addmod(m: &mut Machine) -> OpResult {
    ternary(m, |a, b, c| or_div_error(math::addmod(a, b, c)))
}

pub(super) fn mulmod(m: &mut Machine) -> OpResult {
    ternary(m, |a, b, c| or_div_error(math::mulmod(a, b, c)))
}

pub(super) fn exp(m: &mut Machine) -> OpResult {
    binary::<{ opcode::EXP }>(m)
}

pub(super) fn signextend(m: &mut Machine) -> OpResult {
    binary::<{ opcode::SIGNEXTEND }>(m)
}

#[inline(always)]
pub(super) fn lt(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::LT }>(m, |a, b| Some(u64::from(a < b)))
}

#[inline(always)]
pub(super) fn gt(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::GT }>(m, |a, b| Some(u64::from(a > b)))
}

pub(super) fn slt(m: &mut Machine) -> OpResult {
    binary::<{ opcode::SLT }>(m)
}

pub(super) fn sgt(m: &mut Machine) -> OpResult {
    binary::<{ opcode::SGT }>(m)
}

/// `eq` compares any two values and never errors (AVM.md §8.2).
#[inline(always)]
pub(super) fn eq(m: &mut Machine) -> OpResult {
    if let (Value::SmallInt(a), Value::SmallInt(b)) = (m.stack.peek(0), m.stack.peek(1)) {
        let equal = a == b;
        m.stack.set_top_ints(2, bool_value(equal));
        return Ok(Flow::Next);
    }
    let equal = m.stack.peek(0) == m.stack.peek(1);
    m.stack.set_top(2, bool_value(equal));
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn iszero(m: &mut Machine) -> OpResult {
    if let Value::SmallInt(a) = m.stack.peek(0) {
        let zero = *a == 0;
        m.stack.set_top_ints(1, bool_value(zero));
        return Ok(Flow::Next);
    }
    let a = m.stack.int(0)?;
    m.stack.set_top(1, bool_value(a.is_zero()));
    Ok(Flow::Next)
}

#[inline(always)]
pub(super) fn and(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::AND }>(m, |a, b| Some(a & b))
}

pub(super) fn or(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::OR }>(m, |a, b| Some(a | b))
}

pub(super) fn xor(m: &mut Machine) -> OpResult {
    binary_small::<{ opcode::XOR }>(m, |a, b| Some(a ^ b))
}

pub(super) fn not(m: &mut Machine) -> OpResult {
    unary(m, |a| !a)
}

pub(super) fn byte(m: &mut Machine) -> OpResult {
    binary::<{ opcode::BYTE }>(m)
}

pub(super) fn shl(m: &mut Machine) -> OpResult {
    let small = |a: u64, b: u64| match a {
        0..64 => (b.checked_shl(a as u32)? >> a == b).then(|| b << a),
        _ => (b == 0).then_some(0),
    };
    binary_small::<{ opcode::SHL }>(m, small)
}

pub(super) fn shr(m: &mut Machine) -> OpResult {
    let small = |a: u64, b: u64| Some(b.checked_shr(a.try_into().ok()?).unwrap_or(0));
    binary_small::<{ opcode::SHR }>(m, small)
}

pub(super) fn sar(m: &mut Machine) -> OpResult {
    binary::<{ opcode::SAR }>(m)
}

#[cfg(test)]
mod tests {
    use avm_runtime::asm::assemble;

    use super::*;
    use crate::Limits;

    /// Pushes `operands` (the first one last, so it is the top), runs `op` and returns the
    /// value it left.
    fn run(op: &str, operands: &[U256]) -> Value {
        let pushes: String = operands
            .iter()
            .rev()
            .map(|x| format!("push {x:#x}\n"))
            .collect();
        let mut m = Machine::new(assemble(&format!("{pushes}{op}\nhalt")).unwrap());
        m.run(&Limits::default());
        assert_eq!(m.stack.len(), 1, "{op} {operands:?}");
        m.stack.peek(0).clone()
    }

    /// The 64-bit shortcuts give the 256-bit definitions' results on operands around every
    /// boundary they test (carries, borrows, shifts past 64 and 256, zero divisors).
    #[test]
    fn small_int_shortcuts_agree_with_256_bit_math() {
        let edges = [
            0,
            1,
            2,
            3,
            7,
            63,
            64,
            65,
            255,
            256,
            257,
            1 << 32,
            (1 << 32) + 1,
            u64::MAX / 3,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        let big = [
            U256::from(u64::MAX) + 1,
            U256::from(u64::MAX) + 2,
            U256::MAX,
        ];
        let edges: Vec<U256> = edges.map(U256::from).into_iter().chain(big).collect();
        let bool_int = |b: bool| Some(U256::from(u8::from(b)));
        type Definition = fn(U256, U256) -> Option<U256>;
        let ops: [(&str, Definition); 12] = [
            ("add", |a, b| Some(math::add(a, b))),
            ("sub", |a, b| Some(math::sub(a, b))),
            ("mul", |a, b| Some(math::mul(a, b))),
            ("div", math::div),
            ("mod", math::modulo),
            ("lt", |a, b| Some(U256::from(u8::from(a < b)))),
            ("gt", |a, b| Some(U256::from(u8::from(a > b)))),
            ("and", |a, b| Some(a & b)),
            ("or", |a, b| Some(a | b)),
            ("xor", |a, b| Some(a ^ b)),
            ("shl", |a, b| Some(math::shl(a, b))),
            ("shr", |a, b| Some(math::shr(a, b))),
        ];
        for (op, definition) in ops {
            for &a in &edges {
                for &b in &edges {
                    let expected = match definition(a, b) {
                        Some(x) => Value::int(x),
                        None => continue,
                    };
                    assert_eq!(run(op, &[a, b]), expected, "{op} {a} {b}");
                }
            }
        }
        for &a in &edges {
            for &b in &edges {
                let equal = Value::int(bool_int(a == b).unwrap());
                assert_eq!(run("eq", &[a, b]), equal, "eq {a} {b}");
            }
            let zero = Value::int(bool_int(a.is_zero()).unwrap());
            assert_eq!(run("iszero", &[a]), zero, "iszero {a}");
        }
    }
}
