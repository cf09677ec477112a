//! Pure cryptographic primitives behind the AVM's hashing and elliptic-curve opcodes
//! (AVM.md §10.3–§10.5): `keccakf`, `sha256f`, `ecrecover`, `ecadd`, `ecmul` and `ecpairing`.
//!
//! These functions only compute: operand type checks, list walking, item limits and gas are the
//! caller's job. None of them panics on any input; an AVM error is reported as `None`.

use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G2Affine};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{BigInt, PrimeField, Zero};
use primitive_types::U256;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use sha3::{Digest, Keccak256};

/// The BN254 base-field modulus `p` (AVM.md §10.5).
const BN254_P: U256 = U256([
    0x3c20_8c16_d87c_fd47,
    0x9781_6a91_6871_ca8d,
    0xb850_45b6_8181_585d,
    0x3064_4e72_e131_a029,
]);

/// The BN254 group order `r` (the order of G1 and of the G2 subgroup).
const BN254_R: U256 = U256([
    0x43e1_f593_f000_0001,
    0x2833_e848_79b9_7091,
    0xb850_45b6_8181_585d,
    0x3064_4e72_e131_a029,
]);

/// The secp256k1 group order `n` (AVM.md §10.5, `ecrecover`).
const SECP256K1_N: U256 = U256([
    0xbfd2_5e8c_d036_4141,
    0xbaae_dce6_af48_a03b,
    0xffff_ffff_ffff_fffe,
    0xffff_ffff_ffff_ffff,
]);

/// The 24-round Keccak-f[1600] permutation of the `keccakf` opcode (0x23, AVM.md §10.3).
///
/// The state is laid out little-endian, as the C++ engine and the on-chain checker do (the
/// informal spec's big-endian layout is wrong): lane `i` (standard order `x + 5y`) is
/// `(state[i / 4] >> (64 · (i mod 4))) mod 2^64`, so `state[6]` contributes only its low 64 bits
/// (lane 24). The result is read back the same way; its last Int is `< 2^64`. The caller checks
/// that the operand is a 7-tuple of Ints.
pub fn keccakf(state: &[U256; 7]) -> [U256; 7] {
    let mut lanes = [0u64; 25];
    for (i, lane) in lanes.iter_mut().enumerate() {
        *lane = state[i / 4].0[i % 4];
    }
    // Absorbing one 8-byte block of zeros XORs nothing in and applies the permutation once:
    // this reaches the assembly Keccak-f of `sha3-asm` (the one `keccak-asm` hashes with),
    // about 4x fewer instructions than the portable permutation.
    sha3_asm::sha3_absorb(&mut lanes, &[0; 8], 8);
    let mut out = [U256::zero(); 7];
    for (i, lane) in lanes.iter().enumerate() {
        out[i / 4].0[i % 4] = *lane;
    }
    out
}

/// Splits `x` into eight 32-bit words, most significant first (`be32(x)` read as big-endian
/// words), writing them to `out`.
#[inline]
fn u256_to_be_words(x: &U256, out: &mut [u32]) {
    for (k, pair) in out.chunks_exact_mut(2).enumerate() {
        let limb = x.0[3 - k];
        pair[0] = (limb >> 32) as u32;
        pair[1] = limb as u32;
    }
}

/// One SHA-256 compression, the `sha256f` opcode (0x24, AVM.md §10.4).
///
/// The chaining state is `state` read as eight big-endian 32-bit words (`H0` = its top 32 bits,
/// `H7` = its low 32 bits); the 64-byte block is `be32(b) ‖ be32(c)`; the result packs the eight
/// output words the same way. No padding is added (the informal spec's little-endian layout is
/// wrong). With `state` = the SHA-256 IV and a correctly padded final block, the result is the
/// message's SHA-256 as a big-endian Int.
pub fn sha256f(state: &U256, b: &U256, c: &U256) -> U256 {
    let mut h = [0u32; 8];
    u256_to_be_words(state, &mut h);
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(&b.to_big_endian());
    block[32..].copy_from_slice(&c.to_big_endian());
    sha2::compress256(&mut h, &[block.into()]);
    let mut out = U256::zero();
    for (k, pair) in h.chunks_exact(2).enumerate() {
        out.0[3 - k] = (u64::from(pair[0]) << 32) | u64::from(pair[1]);
    }
    out
}

/// The `ecrecover` opcode (0x80, AVM.md §10.5): recovers the secp256k1 key that signed the
/// 32-byte hash `msg` with the compact signature `be32(r) ‖ be32(s)` and recovery id `v`, and
/// returns its Ethereum address (the low 20 bytes of keccak of the 64-byte uncompressed key) as
/// an Int.
///
/// Returns 0 (never an error) when `v` is not 0 or 1 (not Ethereum's 27/28), `r` or `s` is 0 or
/// `≥` the group order, or recovery fails. High-s signatures are accepted: libsecp256k1's
/// compact parser and its recovery do not normalise or reject them, so `(r, n − s, v ^ 1)`
/// recovers the same key as `(r, s, v)`. Uses the crate's global context.
pub fn ecrecover(r: &U256, s: &U256, v: &U256, msg: &U256) -> U256 {
    let recid = if *v == U256::zero() {
        RecoveryId::Zero
    } else if *v == U256::one() {
        RecoveryId::One
    } else {
        return U256::zero();
    };
    if r.is_zero() || s.is_zero() || *r >= SECP256K1_N || *s >= SECP256K1_N {
        return U256::zero();
    }
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&r.to_big_endian());
    compact[32..].copy_from_slice(&s.to_big_endian());
    let Ok(sig) = RecoverableSignature::from_compact(&compact, recid) else {
        return U256::zero();
    };
    let Ok(key) = sig.recover_ecdsa(secp256k1::Message::from_digest(msg.to_big_endian())) else {
        return U256::zero();
    };
    let uncompressed = key.serialize_uncompressed();
    let digest = Keccak256::digest(&uncompressed[1..]);
    U256::from_big_endian(&digest[12..])
}

/// `x` as a BN254 base-field element, or `None` if `x ≥ p` (never reduced mod `p`).
#[inline]
fn to_fq(x: &U256) -> Option<Fq> {
    if *x >= BN254_P {
        return None;
    }
    Fq::from_bigint(BigInt(x.0))
}

/// The canonical integer value of a base-field element.
#[inline]
fn from_fq(x: Fq) -> U256 {
    U256(x.into_bigint().0)
}

/// A G1 operand as a point: `(0, 0)` is infinity; otherwise both coordinates must be `< p` and
/// the point on `y² = x³ + 3` (G1 has cofactor 1, so that also puts it in the group).
#[inline]
fn to_g1(x: &U256, y: &U256) -> Option<G1Affine> {
    if x.is_zero() && y.is_zero() {
        return Some(G1Affine::identity());
    }
    let point = G1Affine::new_unchecked(to_fq(x)?, to_fq(y)?);
    point.is_on_curve().then_some(point)
}

/// A G1 point as the AVM's `(x, y)`, infinity being `(0, 0)`.
#[inline]
fn from_g1(point: G1Affine) -> (U256, U256) {
    match point.xy() {
        Some((x, y)) => (from_fq(x), from_fq(y)),
        None => (U256::zero(), U256::zero()),
    }
}

/// The `ecadd` opcode (0x81, AVM.md §10.5): the BN254 G1 sum `(ax, ay) + (bx, by)`.
///
/// Returns `None` (an AVM error, not a zero result) if either operand is invalid: a coordinate
/// `≥ p`, or a point other than `(0, 0)` (infinity) that is not on the curve. A sum at infinity
/// is returned as `(0, 0)`. The caller pushes y, then x.
pub fn ecadd(ax: &U256, ay: &U256, bx: &U256, by: &U256) -> Option<(U256, U256)> {
    let a = to_g1(ax, ay)?;
    let b = to_g1(bx, by)?;
    Some(from_g1((a.into_group() + b).into_affine()))
}

/// The `ecmul` opcode (0x82, AVM.md §10.5): the BN254 G1 multiple `scalar · (x, y)`.
///
/// All 256 bits of `scalar` count; since G1 has prime order `r` it acts mod `r`. Returns `None`
/// (an AVM error) if the point is invalid (as for [`ecadd`]); infinity is `(0, 0)`. The caller
/// pushes y, then x.
pub fn ecmul(x: &U256, y: &U256, scalar: &U256) -> Option<(U256, U256)> {
    let point = to_g1(x, y)?;
    let mut k = *scalar;
    if k >= BN254_R {
        k %= BN254_R;
    }
    Some(from_g1(point.into_group().mul_bigint(k.0).into_affine()))
}

/// A G2 operand as a point, from `(x_re, x_im, y_re, y_im)` with `x = x_re + x_im·i`: all four
/// zero is infinity; otherwise every coordinate must be `< p`, the point on the twist
/// `y² = x³ + 3/(9 + i)` and in the prime-order subgroup.
#[inline]
fn to_g2(x_re: &U256, x_im: &U256, y_re: &U256, y_im: &U256) -> Option<G2Affine> {
    if x_re.is_zero() && x_im.is_zero() && y_re.is_zero() && y_im.is_zero() {
        return Some(G2Affine::identity());
    }
    let x = Fq2::new(to_fq(x_re)?, to_fq(x_im)?);
    let y = Fq2::new(to_fq(y_re)?, to_fq(y_im)?);
    let point = G2Affine::new_unchecked(x, y);
    (point.is_on_curve() && point.is_in_correct_subgroup_assuming_on_curve()).then_some(point)
}

/// The pairing check of the `ecpairing` opcode (0x83, AVM.md §10.5): is
/// `∏ e(P_i, Q_i) = 1` over BN254?
///
/// Each item is `(g1_x, g1_y, g2_x_re, g2_x_im, g2_y_re, g2_y_im)` (real part first, unlike the
/// EVM precompile). Returns `None` (an AVM error) if any coordinate is `≥ p` or any point other
/// than infinity (G1 `(0, 0)`, G2 all four zero) is not on its curve; pairs containing an
/// infinity point are skipped; an empty product is 1 (`Some(true)`). The caller walks the list,
/// enforces the 30-item limit and charges gas.
///
/// G2 points on the twist but outside the prime-order subgroup (unsettled, AVM.md §12): this
/// engine rejects them with `None`, an AVM error. The on-chain checker (EVM precompile 8) also
/// fails on them, whereas the C++ engine only checks the curve equation and would compute a
/// (meaningless) product; no vector covers the case.
pub fn ecpairing(pairs: &[[U256; 6]]) -> Option<bool> {
    let mut g1s = Vec::with_capacity(pairs.len());
    let mut g2s = Vec::with_capacity(pairs.len());
    for [ax, ay, bxr, bxi, byr, byi] in pairs {
        let p = to_g1(ax, ay)?;
        let q = to_g2(bxr, bxi, byr, byi)?;
        if !p.is_zero() && !q.is_zero() {
            g1s.push(p);
            g2s.push(q);
        }
    }
    if g1s.is_empty() {
        return Some(true);
    }
    // The Miller loop of valid points is never zero, so final exponentiation cannot fail; were
    // it to, the product is certainly not 1.
    let mlo = Bn254::multi_miller_loop(g1s, g2s);
    Some(Bn254::final_exponentiation(mlo).is_some_and(|out| out.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fr, G1Projective, G2Projective};
    use ark_ff::Field;
    use secp256k1::{PublicKey, SecretKey};

    fn hex(s: &str) -> U256 {
        U256::from_str_radix(s, 16).expect("hex literal")
    }

    #[test]
    fn constants_match_the_libraries() {
        assert_eq!(BN254_P.0, Fq::MODULUS.0);
        assert_eq!(BN254_R.0, Fr::MODULUS.0);
        assert_eq!(
            SECP256K1_N.to_big_endian(),
            secp256k1::constants::CURVE_ORDER
        );
    }

    const KECCAKF_ZERO: [&str; 7] = [
        "bd1547306f80494dd598261ea65aa9ee84d5ccf933c0478af1258f7940e1dde7",
        "8c5bda0cd6192e7690fee5a0a44647c4ff97a42d7f8e6fd48b284e056253d057",
        "a9a6e6260d712103eb5aa93f2317d63530935ab7d08ffc64ad30a6f71b19059c",
        "05e5635a21d9ae6101f22f1a11a5569f43b831cd0347c82681a57c16dbcf555f",
        "8c3ee88a1ccf32c8b87c5a554fd00ecb613670957bc4661164befef28cc970f2",
        "75f644e97f30a13b16f53526e70465c21841f924a2c509e4940c7922ae3a2614",
        "eaf1ff7b5ceca249",
    ];

    const KECCAKF_TWICE: [&str; 7] = [
        "8a20d9b25569d094093d8d1270d76b6c6a332cd07057b56d2d5c954df96ecb3c",
        "faf4f247c3d810f785773dae1275af0df957b9a2da65fb384f9c4f99e5e7f156",
        "deea66c4ba8f974f68ce61b6b9ce68a1e4fecc0fee98b4251f1b9ee6f79a8759",
        "fd5449a6bf1747437cf8a9f009831265e00654042719dbd933c43d836eafb1f5",
        "91a0226e649e42e9e3b8c8ee55b7b03c48ead5fc5d0be77497ddad33d8994b40",
        "609f4e62a44c10595b3402464e1c3db6202a9ec5faa3cce8900e3129e7badd7b",
        "20d06cd26a8fbf5c",
    ];

    #[test]
    fn keccakf_vectors() {
        let once = keccakf(&[U256::zero(); 7]);
        assert_eq!(once, KECCAKF_ZERO.map(hex));
        let twice = keccakf(&once);
        assert_eq!(twice, KECCAKF_TWICE.map(hex));
    }

    #[test]
    fn keccakf_ignores_high_bits_of_last_int() {
        let mut state = [U256::zero(); 7];
        state[6] = U256::MAX << 64;
        assert_eq!(keccakf(&state), KECCAKF_ZERO.map(hex));
    }

    #[test]
    fn keccakf_of_padded_block_gives_keccak256() {
        // Rate 136 bytes; keccak padding 0x01 … 0x80.
        for msg in [
            &b""[..],
            b"abc",
            b"The quick brown fox jumps over the lazy dog",
        ] {
            let mut bytes = [0u8; 200];
            bytes[..msg.len()].copy_from_slice(msg);
            bytes[msg.len()] ^= 0x01;
            bytes[135] ^= 0x80;
            let mut state = [U256::zero(); 7];
            for (i, chunk) in bytes.chunks(32).enumerate() {
                state[i] = U256::from_little_endian(chunk);
            }
            let out = keccakf(&state);
            assert_eq!(out[0].to_little_endian(), Keccak256::digest(msg)[..]);
        }
    }

    const SHA256_IV: &str = "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19";

    #[test]
    fn sha256f_vectors() {
        let iv = hex(SHA256_IV);
        let seq = |start: u8| {
            let mut b = [0u8; 32];
            for (i, x) in b.iter_mut().enumerate() {
                *x = start + i as u8;
            }
            U256::from_big_endian(&b)
        };
        let cases = [
            (
                U256::zero(),
                U256::zero(),
                hex("da5698be17b9b46962335799779fbeca8ce5d491c0d26243bafef9ea1837a9d8"),
            ),
            (
                U256::MAX,
                U256::MAX,
                hex("ef0c748df4da50a8d6c43c013edc3ce76c9d9fa9a1458ade56eb86c0a64492d2"),
            ),
            (
                seq(0x00),
                seq(0x20),
                hex("fc99a2df88f42a7a7bb9d18033cdc6a20256755f9d5b9a5044a9cc315abe84a7"),
            ),
            (
                hex("243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89"),
                hex("452821e638d01377be5466cf34e90c6cc0ac29b7c97c50dd3f84d5b5b5470917"),
                hex("cf0ae4eb67d38ffeb94068984b22abde4e92bc548d14585e48dca8882d7b09ce"),
            ),
        ];
        for (b, c, want) in cases {
            assert_eq!(sha256f(&iv, &b, &c), want);
        }
    }

    /// SHA-256 of `msg` by padding and chaining `sha256f` from the IV.
    fn sha256_via_sha256f(msg: &[u8]) -> U256 {
        let mut padded = msg.to_vec();
        padded.push(0x80);
        while padded.len() % 64 != 56 {
            padded.push(0);
        }
        padded.extend_from_slice(&((msg.len() as u64) * 8).to_be_bytes());
        let mut state = hex(SHA256_IV);
        for block in padded.chunks(64) {
            state = sha256f(
                &state,
                &U256::from_big_endian(&block[..32]),
                &U256::from_big_endian(&block[32..]),
            );
        }
        state
    }

    #[test]
    fn sha256f_padded_abc() {
        assert_eq!(
            sha256_via_sha256f(b"abc"),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn sha256f_matches_sha2_crate() {
        use sha2::{Digest as _, Sha256};
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 200] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let want = U256::from_big_endian(&Sha256::digest(&msg));
            assert_eq!(sha256_via_sha256f(&msg), want, "len {len}");
        }
    }

    fn address_of(key: &PublicKey) -> U256 {
        let pk = key.serialize_uncompressed();
        U256::from_big_endian(&Keccak256::digest(&pk[1..])[12..])
    }

    /// Signs `msg` with `sk`; returns (r, s, v).
    fn sign(sk: &SecretKey, msg: &U256) -> (U256, U256, U256) {
        let sig = RecoverableSignature::sign_ecdsa_recoverable(
            secp256k1::Message::from_digest(msg.to_big_endian()),
            sk,
        );
        let (recid, bytes) = sig.serialize_compact();
        (
            U256::from_big_endian(&bytes[..32]),
            U256::from_big_endian(&bytes[32..]),
            U256::from(recid.to_u8()),
        )
    }

    #[test]
    fn ecrecover_known_address() {
        // Private key 1 is Ethereum address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf.
        let mut one = [0u8; 32];
        one[31] = 1;
        let sk = SecretKey::from_secret_bytes(one).expect("key");
        let addr = address_of(&PublicKey::from_secret_key(&sk));
        assert_eq!(addr, hex("7e5f4552091a69125d5dfcb7b8c2659029395bdf"));
        let msg = U256::from_big_endian(&Keccak256::digest(b"hello"));
        let (r, s, v) = sign(&sk, &msg);
        assert_eq!(ecrecover(&r, &s, &v, &msg), addr);
    }

    #[test]
    fn ecrecover_round_trip_and_rejections() {
        for seed in 1u8..=8 {
            let sk = SecretKey::from_secret_bytes([seed.wrapping_mul(37) | 1; 32]).expect("key");
            let addr = address_of(&PublicKey::from_secret_key(&sk));
            let msg = U256::from_big_endian(&Keccak256::digest([seed]));
            let (r, s, v) = sign(&sk, &msg);
            assert_eq!(ecrecover(&r, &s, &v, &msg), addr);

            // High s: negate s mod n and flip the recovery id.
            let high_s = SECP256K1_N - s;
            assert!(high_s > SECP256K1_N >> 1);
            let flipped = v ^ U256::one();
            assert_eq!(ecrecover(&r, &high_s, &flipped, &msg), addr);

            // Wrong recovery id gives some other key (or none), never this one.
            assert_ne!(ecrecover(&r, &s, &flipped, &msg), addr);
            // Invalid inputs give 0.
            let zero = U256::zero();
            assert_eq!(ecrecover(&r, &s, &U256::from(2), &msg), zero);
            assert_eq!(ecrecover(&r, &s, &U256::from(27), &msg), zero);
            assert_eq!(ecrecover(&zero, &s, &v, &msg), zero);
            assert_eq!(ecrecover(&r, &zero, &v, &msg), zero);
            assert_eq!(ecrecover(&SECP256K1_N, &s, &v, &msg), zero);
            assert_eq!(ecrecover(&(SECP256K1_N + 1), &s, &v, &msg), zero);
            assert_eq!(ecrecover(&r, &SECP256K1_N, &v, &msg), zero);
            assert_eq!(ecrecover(&r, &U256::MAX, &v, &msg), zero);
        }
    }

    #[test]
    fn ecrecover_never_panics_on_odd_inputs() {
        // r = 5 is not the x-coordinate of a secp256k1 point (5³ + 7 = 132 is a non-residue) or
        // is; either way the call must return without panicking.
        let m = U256::MAX;
        for r in [U256::one(), U256::from(5), SECP256K1_N - 1] {
            for s in [U256::one(), SECP256K1_N - 1] {
                for v in [U256::zero(), U256::one()] {
                    let _ = ecrecover(&r, &s, &v, &m);
                    let _ = ecrecover(&r, &s, &v, &U256::zero());
                }
            }
        }
    }

    fn g1_u256(p: G1Projective) -> (U256, U256) {
        from_g1(p.into_affine())
    }

    #[test]
    fn ecadd_ecmul() {
        let (one, two) = (U256::one(), U256::from(2));
        let zero = U256::zero();
        let g2x = hex("030644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd3");
        let g2y = hex("15ed738c0e0a7c92e7845f96b2ae9c0a68a6a449e3538fc7ff3ebf7a5a18a2c4");
        assert_eq!(ecadd(&one, &two, &one, &two), Some((g2x, g2y)));
        assert_eq!(ecmul(&one, &two, &two), Some((g2x, g2y)));
        assert_eq!(ecmul(&one, &two, &(BN254_R + two)), Some((g2x, g2y)));
        // G + 2G == 3G.
        assert_eq!(
            ecadd(&one, &two, &g2x, &g2y),
            ecmul(&one, &two, &U256::from(3))
        );
        // Scalars act mod r.
        assert_eq!(
            ecmul(&one, &two, &U256::MAX),
            ecmul(&one, &two, &(U256::MAX % BN254_R))
        );
        assert_eq!(
            ecmul(&one, &two, &U256::MAX),
            Some(g1_u256(
                G1Projective::generator() * Fr::from_be_bytes_mod_order(&[0xff; 32])
            ))
        );
        // Zero scalar, order scalar, infinity operand.
        assert_eq!(ecmul(&one, &two, &zero), Some((zero, zero)));
        assert_eq!(ecmul(&one, &two, &BN254_R), Some((zero, zero)));
        assert_eq!(ecmul(&zero, &zero, &two), Some((zero, zero)));
        // Infinity is the identity; P + (−P) is infinity.
        assert_eq!(ecadd(&zero, &zero, &one, &two), Some((one, two)));
        assert_eq!(ecadd(&one, &two, &zero, &zero), Some((one, two)));
        assert_eq!(ecadd(&zero, &zero, &zero, &zero), Some((zero, zero)));
        assert_eq!(
            ecadd(&one, &two, &one, &(BN254_P - two)),
            Some((zero, zero))
        );
        // Invalid operands are errors.
        assert_eq!(ecadd(&one, &U256::from(3), &one, &two), None);
        assert_eq!(ecadd(&one, &two, &zero, &one), None);
        assert_eq!(ecadd(&(BN254_P + one), &two, &one, &two), None);
        assert_eq!(ecadd(&one, &(BN254_P + two), &one, &two), None);
        assert_eq!(ecadd(&one, &two, &BN254_P, &zero), None);
        assert_eq!(ecmul(&one, &U256::from(3), &two), None);
        assert_eq!(ecmul(&(BN254_P + one), &two, &two), None);
    }

    fn g2_item(p: G1Projective, q: G2Projective) -> [U256; 6] {
        let (px, py) = g1_u256(p);
        let q = q.into_affine();
        match q.xy() {
            Some((x, y)) => [
                px,
                py,
                from_fq(x.c0),
                from_fq(x.c1),
                from_fq(y.c0),
                from_fq(y.c1),
            ],
            None => [
                px,
                py,
                U256::zero(),
                U256::zero(),
                U256::zero(),
                U256::zero(),
            ],
        }
    }

    #[test]
    fn ecpairing_checks() {
        let g = G1Projective::generator();
        let q = G2Projective::generator();
        assert_eq!(ecpairing(&[]), Some(true));
        assert_eq!(ecpairing(&[g2_item(g, q), g2_item(-g, q)]), Some(true));
        assert_eq!(ecpairing(&[g2_item(g, q)]), Some(false));
        // Bilinearity: e(2G, Q) · e(−G, 2Q) = 1.
        let two = Fr::from(2u64);
        assert_eq!(
            ecpairing(&[g2_item(g * two, q), g2_item(-g, q * two)]),
            Some(true)
        );
        assert_eq!(
            ecpairing(&[g2_item(g * two, q), g2_item(-g, q)]),
            Some(false)
        );
        // Pairs with an infinity point are skipped.
        let inf1 = g2_item(G1Projective::zero(), q);
        let inf2 = g2_item(g, G2Projective::zero());
        assert_eq!(inf1[..2], [U256::zero(), U256::zero()]);
        assert_eq!(inf2[2..], [U256::zero(); 4]);
        assert_eq!(ecpairing(&[inf1, inf2]), Some(true));
        assert_eq!(
            ecpairing(&[inf1, g2_item(g, q), inf2, g2_item(-g, q)]),
            Some(true)
        );
        assert_eq!(ecpairing(&[inf1, g2_item(g, q)]), Some(false));
        // G2 point not on the curve.
        let mut bad = g2_item(g, q);
        bad[5] += U256::one();
        assert_eq!(ecpairing(&[bad]), None);
        assert_eq!(ecpairing(&[g2_item(g, q), g2_item(-g, q), bad]), None);
        // …even when paired with G1 infinity.
        bad[0] = U256::zero();
        bad[1] = U256::zero();
        assert_eq!(ecpairing(&[bad]), None);
        // G1 point not on the curve, even when paired with G2 infinity.
        let mut bad1 = inf2;
        bad1[1] = U256::from(3);
        assert_eq!(ecpairing(&[bad1]), None);
        // Coordinates ≥ p.
        for i in 0..6 {
            let mut big = g2_item(g, q);
            big[i] += BN254_P;
            assert_eq!(ecpairing(&[big]), None, "coordinate {i}");
        }
    }

    #[test]
    fn ecpairing_real_part_first() {
        // EIP-197's G2 generator, written real part first as the AVM expects.
        let dec = |d: &str| U256::from_dec_str(d).expect("decimal literal");
        let q = [
            dec("10857046999023057135944570762232829481370756359578518086990519993285655852781"),
            dec("11559732032986387107991004021392285783925812861821192530917403151452391805634"),
            dec("8495653923123431417604973247489272438418190587263600148770280649306958101930"),
            dec("4082367875863433681332203403145435568316851327593401208105741076214120093531"),
        ];
        let g = G1Projective::generator();
        assert_eq!(g2_item(g, G2Projective::generator())[2..], q);
        let (one, two, neg_two) = (U256::one(), U256::from(2), BN254_P - 2);
        let item = |y: U256| [one, y, q[0], q[1], q[2], q[3]];
        assert_eq!(ecpairing(&[item(two), item(neg_two)]), Some(true));
        assert_eq!(ecpairing(&[item(two), item(two)]), Some(false));
        // Swapping the real and imaginary parts leaves the curve.
        let swapped = [one, two, q[1], q[0], q[3], q[2]];
        assert_eq!(ecpairing(&[swapped]), None);
    }

    #[test]
    fn ecpairing_rejects_g2_outside_subgroup() {
        // Find a point on the twist (almost all are outside the order-r subgroup).
        let point = (1u64..)
            .find_map(|k| {
                G2Affine::get_point_from_x_unchecked(Fq2::new(Fq::from(k), Fq::ONE), false)
            })
            .expect("a point on the twist");
        assert!(point.is_on_curve());
        assert!(!point.is_in_correct_subgroup_assuming_on_curve());
        let (x, y) = point.xy().expect("finite");
        let item = [
            U256::one(),
            U256::from(2),
            from_fq(x.c0),
            from_fq(x.c1),
            from_fq(y.c0),
            from_fq(y.c1),
        ];
        assert_eq!(ecpairing(&[item]), None);
    }
}
