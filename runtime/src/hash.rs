//! Keccak-256 and the fixed hashes of AVM.md §2.
//!
//! Every hash in the AVM is a Keccak-256 digest read as a big-endian 256-bit integer, so the
//! helpers here take byte slices and return [`U256`].
//!
//! Keccak-256 is `keccak-asm` (the CRYPTOGAMS assembly the Rust Ethereum clients use): about 22%
//! fewer instructions per 32- to 97-byte message than `sha3`'s portable Rust (5,033 against
//! 6,433 in callgrind), and the hashes are the same (the vectors below and AVM.md's).

use std::sync::LazyLock;

use keccak_asm::{Digest, Keccak256};
use primitive_types::U256;

/// Keccak-256 of the concatenation of `parts`, as a big-endian integer.
pub fn keccak(parts: &[&[u8]]) -> U256 {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    U256::from_big_endian(&hasher.finalize())
}

/// The 32-byte big-endian encoding of `x` (AVM.md's `be32`).
#[inline]
pub fn be32(x: &U256) -> [u8; 32] {
    x.to_big_endian()
}

/// `hash2(a, b) = keccak(be32(a) ‖ be32(b))`.
pub fn hash2(a: &U256, b: &U256) -> U256 {
    keccak(&[&be32(a), &be32(b)])
}

/// The value hash of an Int: `keccak(be32(x))`.
pub fn hash_int(x: &U256) -> U256 {
    keccak(&[&be32(x)])
}

/// The value hash of an Int below 2^64. Those below 256 (most immediates, tuple slots and
/// flags: 95% of the Ints hashed loading and running ArbOS) come from a table filled once.
#[inline]
pub fn hash_small_int(x: u64) -> U256 {
    static TABLE: LazyLock<Box<[U256]>> =
        LazyLock::new(|| (0..256u64).map(|x| hash_int(&U256::from(x))).collect());
    match TABLE.get(x as usize) {
        Some(hash) => *hash,
        None => hash_int(&U256::from(x)),
    }
}

/// A tuple's hash from its pre-image: `keccak(03 ‖ inner ‖ be32(size))`.
pub fn hash_preimage(inner: &U256, size: &U256) -> U256 {
    keccak(&[&[3], &be32(inner), &be32(size)])
}

/// A codepoint's hash from its parts (AVM.md §2.3).
pub fn hash_codepoint(opcode: u8, immediate: Option<&U256>, next: &U256) -> U256 {
    match immediate {
        None => keccak(&[&[1, opcode], &be32(next)]),
        Some(imm) => keccak(&[&[1, opcode], &be32(imm), &be32(next)]),
    }
}

/// `H_ERR`, the hash of the error codepoint (opcode 0, no immediate, next hash 0).
pub static ERR_CODEPOINT_HASH: LazyLock<U256> =
    LazyLock::new(|| hash_codepoint(0, None, &U256::zero()));

/// `hash(())`, which is also the hash of an empty stack.
pub static EMPTY_TUPLE_HASH: LazyLock<U256> =
    LazyLock::new(|| hash_preimage(&keccak(&[&[0]]), &U256::one()));

/// `Z(k)`: the Merkle root of `2^k` all-zero 32-byte leaves, for `k` in `0..64`.
pub static ZERO_ROOTS: LazyLock<[U256; 64]> = LazyLock::new(|| {
    let mut roots = [U256::zero(); 64];
    roots[0] = keccak(&[&[0u8; 32]]);
    for k in 1..64 {
        roots[k] = hash2(&roots[k - 1], &roots[k - 1]);
    }
    roots
});

/// The hashes that make up an Extensive machine's hash (AVM.md §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineHashParts {
    /// `hash(pc)`.
    pub pc: U256,
    /// The data stack's hash (AVM.md §2.5).
    pub data_stack: U256,
    /// The aux stack's hash.
    pub aux_stack: U256,
    /// `hash(register)`.
    pub register: U256,
    /// `hash(static)`.
    pub static_value: U256,
    /// Remaining AVM gas (the number itself, not a hash).
    pub gas_remaining: U256,
    /// `hash(error handler)`.
    pub error_handler: U256,
}

impl MachineHashParts {
    /// `keccak` of the seven fields, each as 32 big-endian bytes.
    pub fn hash(&self) -> U256 {
        keccak(&[
            &be32(&self.pc),
            &be32(&self.data_stack),
            &be32(&self.aux_stack),
            &be32(&self.register),
            &be32(&self.static_value),
            &be32(&self.gas_remaining),
            &be32(&self.error_handler),
        ])
    }
}

/// Formats bytes as `0x` and lower-case hex digits (how the CLI and the corpus write sends).
pub fn hex_bytes(bytes: &[u8]) -> String {
    format!("0x{}", crate::hex::encode(bytes))
}

/// Formats a hash the way the CLI and the vectors write it: `0x` and 64 lower-case hex digits.
pub fn hex_hash(h: &U256) -> String {
    format!("{h:#066x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> U256 {
        U256::from_str_radix(s, 16).unwrap()
    }

    #[test]
    fn constants_match_avm_spec() {
        assert_eq!(
            keccak(&[]),
            h("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        );
        assert_eq!(
            *ERR_CODEPOINT_HASH,
            h("b4c00615f95dc249934075fcc669947596baf6e070ac80a59f79dae98aa932f0")
        );
        assert_eq!(
            *EMPTY_TUPLE_HASH,
            h("5dfd744753c13a6de9cf0e9e3d0164cdf0b1bbdb5efb3660a684d46477176058")
        );
        assert_eq!(
            ZERO_ROOTS[0],
            h("290decd9548b62a8d60345a988386fc84ba6bc95484008f6362f93160ef3e563")
        );
        assert_eq!(
            ZERO_ROOTS[1],
            h("633dc4d7da7256660a892f8f1604a44b5432649cc8ec5cb3ced4c4e6ac94dd1d")
        );
        assert_eq!(
            hash_int(&U256::from(10)),
            h("c65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8")
        );
        let halt = hash_codepoint(0x74, None, &ERR_CODEPOINT_HASH);
        assert_eq!(
            halt,
            h("dc207027f0fefccc361e5ed5bf81a9b2591d0858607f1535afc92441cd2fc149")
        );
        assert_eq!(
            hash_codepoint(0x3b, Some(&hash_int(&U256::from(5))), &halt),
            h("b12ce7f9ae290e69399e222f392f022cd0f06f8836b9d6e107d7f55e0f2aa49e")
        );
    }

    #[test]
    fn small_int_hashes_are_int_hashes() {
        assert_eq!(
            hash_small_int(10),
            h("c65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8")
        );
        for x in [0, 1, 2, 254, 255, 256, 257, 1 << 40, u64::MAX] {
            assert_eq!(hash_small_int(x), hash_int(&U256::from(x)), "{x}");
        }
    }

    #[test]
    fn hex_hash_is_padded_lower_case() {
        assert_eq!(
            hex_hash(&U256::from(0xab)),
            format!("0x{}ab", "0".repeat(62))
        );
    }
}
