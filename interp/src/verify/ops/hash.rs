//! `OneStepProofHash`: `hash`, `type`, `ethhash2`, `keccakf`, `sha256f` (PROOFS.md §1, §4;
//! semantics AVM.md §10.1–§10.4).

use avm_runtime::U256;
use avm_runtime::hash::{be32, keccak};
use avm_runtime::opcode::{ETHHASH2, HASH, KECCAKF, SHA256F, TYPE};
use avm_runtime::precompile;

use super::{Fault, OpFn, OpResult};
use crate::verify::step::Step;
use crate::verify::value::Node;

/// The hashing contract's operation for `op`.
pub(super) fn operation(op: u8) -> Option<OpFn> {
    Some(match op {
        HASH => hash,
        TYPE => type_of,
        ETHHASH2 => ethhash2,
        KECCAKF => keccakf,
        SHA256F => sha256f,
        _ => return None,
    })
}

/// Pushes the operand's value hash.
fn hash(s: &mut Step<'_>) -> OpResult {
    let v = s.pop()?;
    s.push_int(s.arena.hash(v));
    Ok(())
}

/// Pushes the kind code: Int 0, CodePoint 1, tuple 3 (a pre-image counts as a tuple),
/// Buffer 12.
fn type_of(s: &mut Step<'_>) -> OpResult {
    let v = s.pop()?;
    let code = match s.arena.node(v) {
        Node::Int(_) => 0u8,
        Node::CodePoint => 1,
        Node::Hashed | Node::Tuple(_) => 3,
        Node::Buffer { .. } => 12,
    };
    s.push_int(U256::from(code));
    Ok(())
}

/// `keccak(be32(A) ‖ be32(B))`, A on top.
fn ethhash2(s: &mut Step<'_>) -> OpResult {
    let a = s.pop_int()?;
    let b = s.pop_int()?;
    s.push_int(keccak(&[&be32(&a), &be32(&b)]));
    Ok(())
}

/// Keccak-f\[1600\] on a 7-tuple of Ints (little-endian lanes); raises for anything else.
fn keccakf(s: &mut Step<'_>) -> OpResult {
    let v = s.pop()?;
    let slots = s.arena.as_tuple(v).ok_or(Fault::Raise)?;
    let slots: [_; 7] = slots.try_into().map_err(|_| Fault::Raise)?;
    let mut state = [U256::zero(); 7];
    for (lane, slot) in state.iter_mut().zip(slots) {
        *lane = s.arena.as_int(slot).ok_or(Fault::Raise)?;
    }
    let ints = precompile::keccakf(&state).map(|x| s.arena.int(x));
    let result = s.arena.tuple(ints.to_vec());
    s.push(result);
    Ok(())
}

/// One SHA-256 compression of state A over the block `be32(B) ‖ be32(C)`.
fn sha256f(s: &mut Step<'_>) -> OpResult {
    let a = s.pop_int()?;
    let b = s.pop_int()?;
    let c = s.pop_int()?;
    s.push_int(precompile::sha256f(&a, &b, &c));
    Ok(())
}
