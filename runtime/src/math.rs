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
    let (a, b) = (a.0, b.0);
    let mut low = [0u64; 4];
    // Schoolbook over 64-bit limbs, keeping only the 10 partial products that reach the low 256
    // bits: `overflowing_mul` forms all 16 to report an overflow the AVM never needs.
    for i in 0..4 {
        let mut carry = 0u128;
        for j in 0..4 - i {
            let t = u128::from(a[i]) * u128::from(b[j]) + u128::from(low[i + j]) + carry;
            low[i + j] = t as u64;
            carry = t >> 64;
        }
    }
    U256(low)
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
    // Square-and-multiply over the exponent's bits, with the wrapping product above.
    let mut result = U256::one();
    let mut base = a;
    let bits = b.bits();
    for i in 0..bits {
        if b.bit(i) {
            result = mul(result, base);
        }
        if i + 1 < bits {
            base = mul(base, base);
        }
    }
    result
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Edge values and a spread of others, from a fixed multiplier walk.
    fn samples() -> Vec<U256> {
        let mut values = vec![
            U256::zero(),
            U256::one(),
            U256::from(2),
            U256::from(u64::MAX),
            U256::from(u128::MAX),
            U256::one() << 128,
            U256::one() << 255,
            U256::MAX,
        ];
        let mut x = U256::from(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..24 {
            x = x.overflowing_mul(U256::from(0x5851_f42d_4c95_7f2du64)).0 ^ (x >> 97);
            values.push(x);
        }
        values
    }

    #[test]
    fn mul_and_exp_wrap_like_the_reference_arithmetic() {
        for &a in &samples() {
            for &b in &samples() {
                assert_eq!(mul(a, b), a.overflowing_mul(b).0, "{a:#x} * {b:#x}");
            }
            for e in [0u64, 1, 2, 3, 255, 256, 257, 0xdead_beef] {
                let e = U256::from(e);
                assert_eq!(exp(a, e), a.overflowing_pow(e).0, "{a:#x} ^ {e}");
            }
            assert_eq!(exp(a, U256::MAX), a.overflowing_pow(U256::MAX).0);
        }
    }
}
