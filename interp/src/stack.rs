//! The data and aux stacks, with cached hashes per depth (AVM.md §2.5).

use avm_runtime::hash::{EMPTY_TUPLE_HASH, be32, hash_preimage, keccak};
use avm_runtime::{U256, Value};

use crate::OpError;

/// A stack of values that hashes as nested pairs `(top, (next, … ()))`.
///
/// `hashes[i]` caches the hash and size of the stack made of `values[..=i]`; any change at or
/// below depth `i` drops the cache from there up, so asking for the hash after a step costs one
/// keccak pair per value that changed, not per value held.
#[derive(Clone, Debug, Default)]
pub struct Stack {
    values: Vec<Value>,
    hashes: Vec<(U256, U256)>,
}

impl Stack {
    /// An empty stack.
    pub fn new() -> Stack {
        Stack::default()
    }

    /// A stack holding `values`, bottom first (restoring a snapshot).
    pub fn from_values(values: Vec<Value>) -> Stack {
        Stack {
            values,
            hashes: Vec::new(),
        }
    }

    /// The number of values.
    #[inline]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the stack is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values, bottom first.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Pushes `value` on top.
    #[inline]
    pub fn push(&mut self, value: Value) {
        self.values.push(value);
    }

    /// Removes and returns the top value.
    #[inline]
    pub fn pop(&mut self) -> Option<Value> {
        let value = self.values.pop();
        self.forget_above(self.values.len());
        value
    }

    /// Removes the top `n` values (all of them if fewer).
    #[inline]
    pub fn drop_top(&mut self, n: usize) {
        let len = self.values.len().saturating_sub(n);
        self.values.truncate(len);
        self.forget_above(len);
    }

    /// Replaces the top `n` values (`n ≥ 1`, all present) with `value`.
    #[inline]
    pub fn replace_top(&mut self, n: usize, value: Value) {
        let at = self.values.len() - n;
        self.values.truncate(at + 1);
        self.values[at] = value;
        self.forget_above(at);
    }

    /// The value `depth` places below the top (0 is the top). The caller has checked the depth.
    #[inline]
    pub fn peek(&self, depth: usize) -> &Value {
        &self.values[self.values.len() - 1 - depth]
    }

    /// The Int `depth` places below the top, or a kind error.
    #[inline]
    pub fn int(&self, depth: usize) -> Result<U256, OpError> {
        match self.peek(depth) {
            Value::Int(x) => Ok(*x),
            _ => Err(OpError::WrongKind),
        }
    }

    /// Exchanges the top value with the one `depth` places below it.
    #[inline]
    pub fn swap_top(&mut self, depth: usize) {
        let len = self.values.len();
        self.values.swap(len - 1, len - 1 - depth);
        self.forget_above(len - 1 - depth);
    }

    /// Drops cached hashes of stacks that include `values[from..]`.
    #[inline]
    fn forget_above(&mut self, from: usize) {
        if self.hashes.len() > from {
            self.hashes.truncate(from);
        }
    }

    /// The hash of the whole stack as nested pairs.
    pub fn hash(&mut self) -> U256 {
        self.fill_hashes(self.values.len());
        self.hashes
            .last()
            .map_or(*EMPTY_TUPLE_HASH, |&(hash, _)| hash)
    }

    /// The pre-image `(inner, size)` of the stack below the top `depth` values (what proofs
    /// send for the untouched remainder).
    pub fn preimage_below(&mut self, depth: usize) -> (U256, U256) {
        let len = self.values.len().saturating_sub(depth);
        if len == 0 {
            return (keccak(&[&[0]]), U256::one());
        }
        self.fill_hashes(len);
        let rest = if len >= 2 {
            self.hashes[len - 2]
        } else {
            (*EMPTY_TUPLE_HASH, U256::one())
        };
        let top = &self.values[len - 1];
        let inner = keccak(&[&[2], &be32(&top.hash()), &be32(&rest.0)]);
        (inner, self.hashes[len - 1].1)
    }

    fn fill_hashes(&mut self, len: usize) {
        while self.hashes.len() < len {
            let i = self.hashes.len();
            let (rest_hash, rest_size) = if i == 0 {
                (*EMPTY_TUPLE_HASH, U256::one())
            } else {
                self.hashes[i - 1]
            };
            let value = &self.values[i];
            let inner = keccak(&[&[2], &be32(&value.hash()), &be32(&rest_hash)]);
            let size = U256::one()
                .overflowing_add(value.size())
                .0
                .overflowing_add(rest_size)
                .0;
            self.hashes.push((hash_preimage(&inner, &size), size));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> U256 {
        U256::from_str_radix(s, 16).unwrap()
    }

    #[test]
    fn hashes_follow_avm_section_2_5() {
        let mut stack = Stack::new();
        assert_eq!(stack.hash(), *EMPTY_TUPLE_HASH);
        stack.push(Value::int(1u64));
        assert_eq!(
            stack.hash(),
            h("c06c1e0ab1fde965934546068ec3325001234b92c667541f71535192f3c463c7")
        );
        stack.push(Value::int(2u64));
        assert_eq!(
            stack.hash(),
            h("6c39a8bd47aec5dbb4c421ced6dfe4b70b2cb5953621665aa5d2100b7e103c49")
        );
        stack.swap_top(1);
        stack.swap_top(1);
        assert_eq!(
            stack.hash(),
            h("6c39a8bd47aec5dbb4c421ced6dfe4b70b2cb5953621665aa5d2100b7e103c49")
        );
        stack.pop();
        stack.pop();
        stack.push(Value::int(7u64));
        let (inner, size) = stack.preimage_below(0);
        assert_eq!(
            inner,
            h("544fdfbf64bf6ec8a43a68f3ebd764c2a367a0b642b2d5acc91279d891aceb3d")
        );
        assert_eq!(size, U256::from(3));
        assert_eq!(
            stack.hash(),
            h("4f9bdb1af7edd2f43106d1a9c0bcdef6e1b98ccaf7d2c2c3b6fc40388a1dbf43")
        );
    }

    #[test]
    fn cached_hash_tracks_changes_below_the_top() {
        let mut stack = Stack::new();
        for i in 0..10u64 {
            stack.push(Value::int(i));
        }
        let before = stack.hash();
        stack.swap_top(2);
        let mut fresh = Stack::new();
        for v in stack.values() {
            fresh.push(v.clone());
        }
        assert_ne!(stack.hash(), before);
        assert_eq!(stack.hash(), fresh.hash());
    }
}
