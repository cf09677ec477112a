//! 256-bit integer semantics of the arithmetic, comparison and bitwise opcodes (AVM.md §8.1,
//! §8.2), as plain functions shared by the interpreter and the JIT's builtins.
//!
//! Every function takes its operands in pop order (`a` is the top of the stack). `None` means
//! the opcode raises an error (division or modulus by zero).

use primitive_types::{U256, U512};

fn is_negative(x: &U256) -> bool {
    x.bit(255)
}

fn negate(x: U256) -> U256 {
    U256::zero().overflowing_sub(x).0
}

fn abs(x: U256) -> U256 {
    if is_negative(&x) { negate(x) } else { x }
}

fn nonzero(x: U256) -> Option<U256> {
    (!x.is_zero()).then_some(x)
}

/// `(a + b) mod 2^256`.
pub fn add(a: U256, b: U256) -> U256 {
    a.overflowing_add(b).0
}

/// `(a · b) mod 2^256`.
pub fn mul(a: U256, b: U256) -> U256 {
    a.overflowing_mul(b).0
}

/// `(a − b) mod 2^256`.
pub fn sub(a: U256, b: U256) -> U256 {
    a.overflowing_sub(b).0
}

/// `⌊a / b⌋`; `None` if `b = 0`.
pub fn div(a: U256, b: U256) -> Option<U256> {
    Some(a / nonzero(b)?)
}

/// Signed division truncated toward zero (`(−2^255) / (−1) = −2^255`); `None` if `b = 0`.
pub fn sdiv(a: U256, b: U256) -> Option<U256> {
    let quotient = abs(a) / abs(nonzero(b)?);
    Some(if is_negative(&a) != is_negative(&b) {
        negate(quotient)
    } else {
        quotient
    })
}

/// `a mod b`; `None` if `b = 0`.
pub fn modulo(a: U256, b: U256) -> Option<U256> {
    Some(a % nonzero(b)?)
}

/// Signed remainder with the dividend's sign; `None` if `b = 0`.
pub fn smod(a: U256, b: U256) -> Option<U256> {
    let remainder = abs(a) % abs(nonzero(b)?);
    Some(if is_negative(&a) {
        negate(remainder)
    } else {
        remainder
    })
}

/// `(a + b) mod c` without truncation; `None` if `c = 0`.
pub fn addmod(a: U256, b: U256, c: U256) -> Option<U256> {
    let c = nonzero(c)?;
    let sum = U512::from(a) + U512::from(b);
    U256::try_from(sum % U512::from(c)).ok()
}

/// `(a · b) mod c` from the full 512-bit product; `None` if `c = 0`.
pub fn mulmod(a: U256, b: U256, c: U256) -> Option<U256> {
    let c = nonzero(c)?;
    U256::try_from(a.full_mul(b) % U512::from(c)).ok()
}

/// `a^b mod 2^256` (`a` is the base, on top).
pub fn exp(a: U256, b: U256) -> U256 {
    a.overflowing_pow(b).0
}

/// Copies bit `8a + 7` of `b` into every higher bit when `a < 31`; `b` otherwise.
pub fn signextend(a: U256, b: U256) -> U256 {
    if a >= U256::from(31) {
        return b;
    }
    let bit = 8 * a.low_u64() as usize + 7;
    let mask = (U256::one() << bit) - 1;
    if b.bit(bit) { b | !mask } else { b & mask }
}

/// `a < b` as two's-complement numbers.
pub fn slt(a: U256, b: U256) -> bool {
    match (is_negative(&a), is_negative(&b)) {
        (true, false) => true,
        (false, true) => false,
        _ => a < b,
    }
}

/// Byte `a` of `b` counting from the most significant; 0 if `a ≥ 32`.
pub fn byte(a: U256, b: U256) -> U256 {
    if a < U256::from(32) {
        U256::from(b.byte(31 - a.low_u64() as usize))
    } else {
        U256::zero()
    }
}

/// `b << a` (`a` the shift); 0 if `a ≥ 256`.
pub fn shl(a: U256, b: U256) -> U256 {
    if a < U256::from(256) {
        b << a.low_u64() as usize
    } else {
        U256::zero()
    }
}

/// `b >> a`; 0 if `a ≥ 256`.
pub fn shr(a: U256, b: U256) -> U256 {
    if a < U256::from(256) {
        b >> a.low_u64() as usize
    } else {
        U256::zero()
    }
}

/// `b` shifted right by `a` with sign fill.
pub fn sar(a: U256, b: U256) -> U256 {
    if !is_negative(&b) {
        return shr(a, b);
    }
    if a >= U256::from(256) {
        return U256::MAX;
    }
    let shift = a.low_u64() as usize;
    if shift == 0 {
        b
    } else {
        (b >> shift) | (U256::MAX << (256 - shift))
    }
}
