//! Hashing and precompile opcodes (AVM.md §10); the cryptography is `avm_runtime::precompile`.

use avm_runtime::hash::hash2;
use avm_runtime::opcode::ECPAIRING_MAX_PAIRS;
use avm_runtime::{Tuple, U256, Value, precompile};

use super::{Flow, OpResult};
use crate::OpError;
use crate::machine::Machine;

pub(super) fn hash(m: &mut Machine) -> OpResult {
    let hash = m.stack.peek(0).hash();
    m.stack.set_top(1, Value::int(hash));
    Ok(Flow::Next)
}

pub(super) fn type_of(m: &mut Machine) -> OpResult {
    let kind = m.stack.peek(0).kind() as u8;
    m.stack.set_top(1, Value::int(U256::from(kind)));
    Ok(Flow::Next)
}

pub(super) fn ethhash2(m: &mut Machine) -> OpResult {
    let (a, b) = (m.stack.int(0)?, m.stack.int(1)?);
    m.stack.set_top(2, Value::int(hash2(&a, &b)));
    Ok(Flow::Next)
}

/// The Ints of a tuple of exactly `N` Ints.
fn ints<const N: usize>(value: &Value) -> Result<[U256; N], OpError> {
    let Value::Tuple(t) = value else {
        return Err(OpError::WrongKind);
    };
    if t.len() != N {
        return Err(OpError::WrongKind);
    }
    let mut out = [U256::zero(); N];
    for (slot, x) in t.slots().iter().zip(&mut out) {
        *x = slot.as_int().ok_or(OpError::WrongKind)?;
    }
    Ok(out)
}

pub(super) fn keccakf(m: &mut Machine) -> OpResult {
    let state = ints::<7>(m.stack.peek(0))?;
    let result = precompile::keccakf(&state);
    let value = Value::Tuple(Tuple::new(result.iter().map(|x| Value::int(*x)).collect()));
    m.stack.set_top(1, value);
    Ok(Flow::Next)
}

pub(super) fn sha256f(m: &mut Machine) -> OpResult {
    let (a, b, c) = (m.stack.int(0)?, m.stack.int(1)?, m.stack.int(2)?);
    m.stack
        .replace_top(3, Value::int(precompile::sha256f(&a, &b, &c)));
    Ok(Flow::Next)
}

pub(super) fn ecrecover(m: &mut Machine) -> OpResult {
    let (r, s, v, hash) = (
        m.stack.int(0)?,
        m.stack.int(1)?,
        m.stack.int(2)?,
        m.stack.int(3)?,
    );
    m.stack
        .replace_top(4, Value::int(precompile::ecrecover(&r, &s, &v, &hash)));
    Ok(Flow::Next)
}

/// Pushes a G1 point as y then x, so x ends on top.
fn push_point(m: &mut Machine, pops: usize, (x, y): (U256, U256)) -> OpResult {
    m.stack.set_top(pops, Value::int(y));
    m.stack.push(Value::int(x));
    Ok(Flow::Next)
}

pub(super) fn ecadd(m: &mut Machine) -> OpResult {
    let (ax, ay, bx, by) = (
        m.stack.int(0)?,
        m.stack.int(1)?,
        m.stack.int(2)?,
        m.stack.int(3)?,
    );
    let sum = precompile::ecadd(&ax, &ay, &bx, &by).ok_or(OpError::BadCurvePoint)?;
    push_point(m, 4, sum)
}

pub(super) fn ecmul(m: &mut Machine) -> OpResult {
    let (x, y, scalar) = (m.stack.int(0)?, m.stack.int(1)?, m.stack.int(2)?);
    let product = precompile::ecmul(&x, &y, &scalar).ok_or(OpError::BadCurvePoint)?;
    push_point(m, 3, product)
}

/// `ecpairing` on a list `()` / `(item, rest)` of at most 30 six-tuples (AVM.md §10.5).
pub(super) fn ecpairing(m: &mut Machine) -> OpResult {
    let mut pairs = Vec::new();
    let mut link = m.stack.peek(0);
    loop {
        let Value::Tuple(t) = link else {
            return Err(OpError::BadCurvePoint);
        };
        match t.len() {
            0 => break,
            2 => {}
            _ => return Err(OpError::BadCurvePoint),
        }
        if pairs.len() as u64 == ECPAIRING_MAX_PAIRS {
            return Err(OpError::BadCurvePoint);
        }
        pairs.push(ints::<6>(&t.slots()[0]).map_err(|_| OpError::BadCurvePoint)?);
        link = &t.slots()[1];
    }
    let one = precompile::ecpairing(&pairs).ok_or(OpError::BadCurvePoint)?;
    m.stack.set_top(1, super::bool_value(one));
    Ok(Flow::Next)
}
