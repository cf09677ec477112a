//! The functions compiled code calls: the JIT's builtins.
//!
//! Rules for code called from JIT frames: every builtin has the C ABI and the signature
//! [`Builtin`]: `args` points to its operands, 256-bit words in pop order, each four
//! little-endian `u64` limbs (how `U256` stores them); `out` points to room for one word. It
//! returns 0 on success and 1 when the opcode raises an AVM error (then `out` is unspecified
//! and the engine runs the block in the interpreter instead). Builtins never unwind, never
//! allocate on behalf of the caller, and touch no memory but `args` and `out`.
//!
//! The list below is the one place that says which opcodes compiled code computes through a
//! builtin, with how many operands and under which symbol; the engine reads it to declare and
//! call them.
#![allow(unsafe_code)]

use primitive_types::U256;

use crate::math;
use crate::opcode::*;

/// The ABI of every builtin (see the module documentation).
pub type Builtin = unsafe extern "C" fn(args: *const u64, out: *mut u64) -> u32;

/// One builtin: the opcode it computes, its operand count, its symbol and its entry point.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinInfo {
    /// The opcode it computes.
    pub opcode: u8,
    /// Operands it reads.
    pub arity: usize,
    /// The symbol compiled code links it by.
    pub symbol: &'static str,
    /// Its entry point.
    pub function: Builtin,
}

/// Reads operand `index` of a builtin.
///
/// # Safety
/// `args` must point to at least `index + 1` words.
unsafe fn operand(args: *const u64, index: usize) -> U256 {
    let mut limbs = [0u64; 4];
    // SAFETY: the caller guarantees `args` holds word `index`, four limbs from `4 * index`.
    unsafe { std::ptr::copy_nonoverlapping(args.add(4 * index), limbs.as_mut_ptr(), 4) };
    U256(limbs)
}

/// Writes a builtin's result, or reports the AVM error.
///
/// # Safety
/// `out` must point to room for one word.
unsafe fn finish(out: *mut u64, result: Option<U256>) -> u32 {
    match result {
        Some(value) => {
            // SAFETY: the caller guarantees `out` has room for four limbs.
            unsafe { std::ptr::copy_nonoverlapping(value.0.as_ptr(), out, 4) };
            0
        }
        None => 1,
    }
}

macro_rules! builtins {
    ($( $opcode:ident => $symbol:ident ( $($arg:ident),+ ) $body:expr ; )*) => {
        $(
            #[doc = concat!("The builtin for `", stringify!($opcode), "`.")]
            ///
            /// # Safety
            /// See the module documentation: `args` holds the operands, `out` room for one word.
            unsafe extern "C" fn $symbol(args: *const u64, out: *mut u64) -> u32 {
                let mut _index = 0;
                $(
                    // SAFETY: the compiled caller passes one word per operand of this opcode.
                    let $arg = unsafe { operand(args, _index) };
                    _index += 1;
                )+
                // SAFETY: the compiled caller passes room for the result word.
                unsafe { finish(out, $body) }
            }
        )*

        /// Every builtin.
        pub static BUILTINS: &[BuiltinInfo] = &[
            $(BuiltinInfo {
                opcode: $opcode,
                arity: [$(stringify!($arg)),+].len(),
                symbol: stringify!($symbol),
                function: $symbol,
            },)*
        ];
    };
}

builtins! {
    MUL => avm_rt_mul(a, b) Some(math::mul(a, b));
    DIV => avm_rt_div(a, b) math::div(a, b);
    SDIV => avm_rt_sdiv(a, b) math::sdiv(a, b);
    MOD => avm_rt_mod(a, b) math::modulo(a, b);
    SMOD => avm_rt_smod(a, b) math::smod(a, b);
    ADDMOD => avm_rt_addmod(a, b, c) math::addmod(a, b, c);
    MULMOD => avm_rt_mulmod(a, b, c) math::mulmod(a, b, c);
    EXP => avm_rt_exp(a, b) Some(math::exp(a, b));
    SIGNEXTEND => avm_rt_signextend(a, b) Some(math::signextend(a, b));
    BYTE => avm_rt_byte(a, b) Some(math::byte(a, b));
    SHL => avm_rt_shl(a, b) Some(math::shl(a, b));
    SHR => avm_rt_shr(a, b) Some(math::shr(a, b));
    SAR => avm_rt_sar(a, b) Some(math::sar(a, b));
    ETHHASH2 => avm_rt_ethhash2(a, b) Some(crate::hash::hash2(&a, &b));
}

/// The builtin that computes `opcode`, if there is one.
pub fn builtin(opcode: u8) -> Option<&'static BuiltinInfo> {
    BUILTINS.iter().find(|b| b.opcode == opcode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(opcode: u8, args: &[U256]) -> Option<U256> {
        let info = builtin(opcode).unwrap();
        assert_eq!(info.arity, args.len());
        let limbs: Vec<u64> = args.iter().flat_map(|a| a.0).collect();
        let mut out = [0u64; 4];
        // SAFETY: `limbs` holds one word per operand and `out` one word, as the ABI requires.
        let status = unsafe { (info.function)(limbs.as_ptr(), out.as_mut_ptr()) };
        (status == 0).then_some(U256(out))
    }

    #[test]
    fn builtins_compute_the_opcodes() {
        let n = |x: u64| U256::from(x);
        assert_eq!(call(MUL, &[n(4), n(3)]), Some(n(12)));
        assert_eq!(call(DIV, &[n(12), n(3)]), Some(n(4)));
        assert_eq!(call(DIV, &[n(3), n(0)]), None);
        assert_eq!(call(MULMOD, &[n(8), n(2), n(3)]), Some(n(1)));
        assert_eq!(call(ADDMOD, &[n(8), n(3), n(0)]), None);
        assert_eq!(call(SHL, &[n(4), n(1)]), Some(n(16)));
        assert_eq!(call(BYTE, &[n(31), n(16)]), Some(n(16)));
        assert_eq!(call(SAR, &[n(4), U256::MAX - 15]), Some(U256::MAX));
        assert_eq!(BUILTINS.iter().filter(|b| b.arity == 3).count(), 2);
    }
}
