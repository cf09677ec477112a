//! Buffer Merkle proofs: the container (PROOFS.md §5.1), reads (§5.2), writes with
//! normalization (§5.3, §5.4), the `send` size check and the Merkle root of raw bytes (§5.6).
//!
//! Leaves are 32-byte words, handled here as big-endian [`U256`]s so that a leaf's hash is
//! `hash_int(word)` (`keccak` of its 32 bytes).

use std::sync::LazyLock;

use avm_runtime::U256;
use avm_runtime::hash::{hash_int, hash2, keccak};

use super::Rejection;

/// `Z[k]`, the root of `2^k` all-zero leaves, for every depth a 255-word proof can name.
static ZERO_ROOTS: LazyLock<[U256; 256]> = LazyLock::new(|| {
    let mut roots = [U256::zero(); 256];
    roots[0] = keccak(&[&[0u8; 32]]);
    for k in 1..256 {
        roots[k] = hash2(&roots[k - 1], &roots[k - 1]);
    }
    roots
});

/// `Z[k]`; `None` past the table (such depths only come from malformed proofs).
fn zero_root(k: usize) -> Option<U256> {
    ZERO_ROOTS.get(k).copied()
}

/// The four word lists of a buffer proof (PROOFS.md §5.1).
#[derive(Debug, Default)]
pub(super) struct BufferProof {
    /// Merkle proof for the first access.
    pub proof1: Vec<U256>,
    /// Normalization proof after the first write.
    pub nproof1: Vec<U256>,
    /// Merkle proof for the second access of a straddling read or write.
    pub proof2: Vec<U256>,
    /// Normalization proof after the second write.
    pub nproof2: Vec<U256>,
}

/// Splits `bytes` into its four parts by the header's word offsets `h0..h4` (bytes 0–4 of word
/// 0). Bytes 5–31 of the header, words past `h4` and a trailing partial word are not read,
/// as in the checker; offsets out of order or past the end are rejected.
pub(super) fn load(bytes: &[u8]) -> Result<BufferProof, Rejection> {
    let words: Vec<U256> = bytes.chunks_exact(32).map(U256::from_big_endian).collect();
    let header = bytes
        .get(..5)
        .filter(|_| !words.is_empty())
        .ok_or(Rejection::MalformedBufferProof)?;
    let part = |i: usize| -> Result<Vec<U256>, Rejection> {
        let (start, end) = (usize::from(header[i]), usize::from(header[i + 1]));
        words
            .get(start..end)
            .map(<[U256]>::to_vec)
            .ok_or(Rejection::MalformedBufferProof)
    };
    Ok(BufferProof {
        proof1: part(0)?,
        nproof1: part(1)?,
        proof2: part(2)?,
        nproof2: part(3)?,
    })
}

/// Hashes `acc` (the node at `index` on the lowest level) up through `siblings`; returns the
/// root and the index bits left over above the proof's depth.
fn climb(mut acc: U256, mut index: u64, siblings: &[U256]) -> (U256, u64) {
    for sibling in siblings {
        acc = if index & 1 == 1 {
            hash2(sibling, &acc)
        } else {
            hash2(&acc, sibling)
        };
        index >>= 1;
    }
    (acc, index)
}

/// Whether `index` lies outside a tree whose proofs have `depth` siblings.
fn outside_tree(index: u64, depth: usize) -> bool {
    u32::try_from(depth)
        .ok()
        .and_then(|d| index.checked_shr(d))
        .is_some_and(|high| high != 0)
}

/// The checker's `get(root, wordIndex, proof)` (PROOFS.md §5.2): the word at `index`, 0 if it
/// lies beyond the tree. An empty proof proves the all-zero depth-0 buffer.
pub(super) fn get(root: U256, index: u64, proof: &[U256]) -> Result<U256, Rejection> {
    let Some((leaf, siblings)) = proof.split_first() else {
        return if Some(root) == zero_root(0) {
            Ok(U256::zero())
        } else {
            Err(Rejection::MerkleMismatch)
        };
    };
    let (computed, high) = climb(hash_int(leaf), index, siblings);
    if computed != root {
        return Err(Rejection::MerkleMismatch);
    }
    Ok(if high > 0 { U256::zero() } else { *leaf })
}

/// The checker's `set(root, wordIndex, newWord, proof, nproof)` (PROOFS.md §5.4): the root
/// after writing `word` at `index`.
///
/// Stricter than the contract in one case: an empty `proof`, for which the contract's
/// `2^(len(proof) − 1)` is undefined, is rejected.
pub(super) fn set(
    root: U256,
    index: u64,
    word: U256,
    proof: &[U256],
    nproof: &[U256],
) -> Result<U256, Rejection> {
    let &[normal_depth, left, right] = nproof else {
        return Err(Rejection::MalformedNormalization);
    };
    get(root, index, proof)?;
    let Some((_, siblings)) = proof.split_first() else {
        return Err(Rejection::EmptyWriteProof);
    };
    if outside_tree(index, siblings.len()) {
        return Ok(grow(root, index, word, proof.len()));
    }
    let (new_root, _) = climb(hash_int(&word), index, siblings);
    if !word.is_zero() {
        return Ok(new_root);
    }
    shrink(new_root, siblings.len(), normal_depth, left, right)
}

/// A write outside the current tree: pad the old tree on the right up to the left half of a
/// tree tall enough for `index`, and build the right half from the new leaf and zero subtrees.
fn grow(mut root: U256, index: u64, word: U256, proof_len: usize) -> U256 {
    if word.is_zero() {
        return root;
    }
    // `height` is the checker's `calcHeight(index)`, bit length + 1; `index >= 1` here.
    let height = (u64::BITS - index.leading_zeros()) as usize + 1;
    for i in proof_len..height - 1 {
        root = hash2(&root, &ZERO_ROOTS[i - 1]);
    }
    let mut acc = hash_int(&word);
    let mut loc = index;
    for zero in &ZERO_ROOTS[..height - 2] {
        acc = if loc & 1 == 1 {
            hash2(zero, &acc)
        } else {
            hash2(&acc, zero)
        };
        loc >>= 1;
    }
    hash2(&root, &acc)
}

/// After a zero write: the normalization proof `[depth, left, right]` claims the minimal tree;
/// padding it with zero subtrees up to the old depth must give `new_root` (PROOFS.md §5.4).
/// A claimed depth past the zero-root table (≥ 256, where the contract's recursive `Z`
/// would exhaust its gas) is rejected.
fn shrink(
    new_root: U256,
    old_depth: usize,
    normal_depth: U256,
    left: U256,
    right: U256,
) -> Result<U256, Rejection> {
    let depth = usize::try_from(normal_depth)
        .ok()
        .filter(|&d| d < ZERO_ROOTS.len());
    let Some(depth) = depth else {
        return Err(Rejection::NormalizationMismatch);
    };
    let result = if depth == 0 {
        left
    } else {
        // The contract's (vacuous) check that the right half is not all zero, mirrored as is.
        if Some(right) == zero_root(depth) {
            return Err(Rejection::NormalizationMismatch);
        }
        hash2(&left, &right)
    };
    let padded = (depth..old_depth).fold(result, |acc, i| hash2(&acc, &ZERO_ROOTS[i]));
    if padded != new_root {
        return Err(Rejection::NormalizationMismatch);
    }
    Ok(result)
}

/// The checker's `checkBufferSize(root, size, proof)` (PROOFS.md §5.6): whether every byte at or
/// after `size` is zero, shown by the word holding byte `size` and the right-hand siblings on
/// its path.
///
/// Stricter than a literal reading in one case: if `size` lies beyond the whole tree, the
/// buffer fits (every byte at or after it is zero), whatever the proved path's siblings are.
pub(super) fn fits_in(root: U256, size: u64, proof: &[U256]) -> Result<bool, Rejection> {
    let index = size / 32;
    let word = get(root, index, proof)?.to_big_endian();
    if outside_tree(index, proof.len().saturating_sub(1)) {
        return Ok(true);
    }
    let tail_is_zero = word[(size % 32) as usize..].iter().all(|&b| b == 0);
    let mut loc = index;
    let mut right_is_zero = true;
    for (level, sibling) in proof.iter().skip(1).enumerate() {
        if loc & 1 == 0 && *sibling != ZERO_ROOTS[level] {
            right_is_zero = false;
        }
        loc >>= 1;
    }
    Ok(tail_is_zero && right_is_zero)
}

/// The canonical Merkle root of `data` as a buffer (AVM.md §2.4): trailing zero bytes dropped,
/// leaves padded to a power of two with zero subtrees. The checker's `bytesToBufferHash` is
/// this root wrapped with 123.
pub(super) fn root_of_bytes(data: &[u8]) -> U256 {
    let len = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mut level: Vec<U256> = data[..len].chunks(32).map(leaf_hash).collect();
    let mut depth = 0;
    while level.len() > 1 {
        let zero = ZERO_ROOTS[depth];
        level = level
            .chunks(2)
            .map(|pair| hash2(&pair[0], pair.get(1).unwrap_or(&zero)))
            .collect();
        depth += 1;
    }
    level.first().copied().unwrap_or(ZERO_ROOTS[0])
}

/// The hash of a leaf holding `bytes` followed by zeros.
fn leaf_hash(bytes: &[u8]) -> U256 {
    let mut word = [0u8; 32];
    word[..bytes.len()].copy_from_slice(bytes);
    keccak(&[&word])
}

#[cfg(test)]
mod tests {
    use super::*;
    use avm_runtime::Buffer;

    fn proof_path(leaves: &[U256], index: usize) -> Vec<U256> {
        let mut level: Vec<U256> = leaves.iter().map(hash_int).collect();
        let mut proof = vec![leaves[index]];
        let mut i = index;
        while level.len() > 1 {
            proof.push(level[i ^ 1]);
            level = level.chunks(2).map(|p| hash2(&p[0], &p[1])).collect();
            i >>= 1;
        }
        proof
    }

    #[test]
    fn root_of_bytes_matches_runtime_buffer_hashing() {
        for data in [
            vec![],
            vec![0; 40],
            vec![1],
            {
                let mut d = vec![0; 101];
                d[100] = 5;
                d
            },
            (0..=255).collect::<Vec<u8>>(),
        ] {
            assert_eq!(root_of_bytes(&data), Buffer::from_bytes(&data).root());
        }
    }

    #[test]
    fn get_reads_a_leaf_and_zero_beyond_the_tree() {
        let leaves = [U256::from(7), U256::zero(), U256::from(9), U256::from(1)];
        let root = root_of_leaves(&leaves);
        let proof = proof_path(&leaves, 2);
        assert_eq!(get(root, 2, &proof), Ok(U256::from(9)));
        assert_eq!(get(root, 6, &proof), Ok(U256::zero()));
        assert_eq!(get(root, 3, &proof), Err(Rejection::MerkleMismatch));
    }

    fn root_of_leaves(leaves: &[U256]) -> U256 {
        let bytes: Vec<u8> = leaves.iter().flat_map(|w| w.to_big_endian()).collect();
        root_of_bytes(&bytes)
    }

    #[test]
    fn set_grows_and_shrinks_canonically() {
        // Grow: a depth-0 buffer written at word 5 becomes a depth-3 tree.
        let leaves = [U256::from(3)];
        let grown = set(
            root_of_leaves(&leaves),
            5,
            U256::from(4),
            &proof_path(&leaves, 0),
            &[U256::zero(); 3],
        );
        let mut expect = vec![U256::zero(); 6];
        expect[0] = U256::from(3);
        expect[5] = U256::from(4);
        assert_eq!(grown, Ok(root_of_leaves(&expect)));
        // Shrink: zeroing word 3 of [1, 0, 0, 2] leaves a depth-0 tree.
        let leaves = [U256::one(), U256::zero(), U256::zero(), U256::from(2)];
        let nproof = [U256::zero(), hash_int(&U256::one()), U256::zero()];
        let shrunk = set(
            root_of_leaves(&leaves),
            3,
            U256::zero(),
            &proof_path(&leaves, 3),
            &nproof,
        );
        assert_eq!(shrunk, Ok(hash_int(&U256::one())));
    }

    #[test]
    fn fits_in_checks_the_tail_and_right_siblings() {
        let leaves = [U256::one(), U256::zero(), U256::zero(), U256::zero()];
        // The canonical tree of this data has depth 0; build a depth-2 proof by hand anyway.
        let root = hash2(
            &hash2(&hash_int(&leaves[0]), &ZERO_ROOTS[0]),
            &ZERO_ROOTS[1],
        );
        let proof = proof_path(&leaves, 0);
        assert_eq!(fits_in(root, 32, &proof_path(&leaves, 1)), Ok(true));
        assert_eq!(fits_in(root, 31, &proof), Ok(false));
        assert_eq!(fits_in(root, 0, &proof), Ok(false));
        // Beyond the tree: the proof is for the offset modulo the tree size (word 15 → 3).
        assert_eq!(fits_in(root, 500, &proof_path(&leaves, 3)), Ok(true));
        assert_eq!(fits_in(root, 500, &proof), Err(Rejection::MerkleMismatch));
    }
}
