//! The data and aux stacks, with cached hashes per depth (AVM.md §2.5).

use avm_runtime::hash::{EMPTY_TUPLE_HASH, be32, hash_preimage, keccak};
use avm_runtime::value_vec::{self, ValueVec};
use avm_runtime::{U256, Value};

use crate::OpError;

/// A stack of values that hashes as nested pairs `(top, (next, … ()))`.
///
/// The hash of every prefix `values[..n]` follows from the one below it, so the stack caches
/// prefix hashes: densely for the top [`WINDOW`] depths (where steps change it, so asking for
/// the hash after a step costs one keccak pair per value that changed) and every [`STRIDE`]th
/// depth below (so a stack of 10^8 values costs about a byte per value to hash, not a second
/// copy of itself, and a change deep down is re-hashed from the nearest cached depth).
///
/// `#[repr(C)]`: the values and the staleness mark, which compiled code reads and writes, sit
/// at the offsets of [`layout`].
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct Stack {
    values: ValueVec,
    /// Cached prefixes of more than this many values are stale (a change reached into them):
    /// steps only lower this mark, and the caches are cut to it when a hash is next asked for.
    fresh: usize,
    /// `sparse[j]`: hash and size of the prefix of `(j + 1) * STRIDE` values.
    sparse: Vec<(U256, U256)>,
    /// `dense[k]`: hash and size of the prefix of `base + 1 + k` values.
    dense: Vec<(U256, U256)>,
    base: usize,
}

/// The layout of [`Stack`], for compiled code.
pub mod layout {
    use super::value_vec;

    /// The offset of the pointer to the bottom value.
    pub const PTR_OFFSET: usize = value_vec::layout::PTR_OFFSET;
    /// The offset of the number of values.
    pub const LEN_OFFSET: usize = value_vec::layout::LEN_OFFSET;
    /// The offset of the number of value slots allocated.
    pub const CAP_OFFSET: usize = value_vec::layout::CAP_OFFSET;
    /// The offset of the staleness mark: a change to the values at depths `fresh..` must lower
    /// it to `fresh` (one compare and store per change, or per stretch of code).
    pub const FRESH_OFFSET: usize = 24;
}

const _: () = assert!(std::mem::offset_of!(Stack, values) == 0);
const _: () = assert!(std::mem::offset_of!(Stack, fresh) == layout::FRESH_OFFSET);

/// Every how many depths a prefix hash stays cached below the top window.
const STRIDE: usize = 64;

/// How many depths below the top keep every prefix hash (the dense cache holds up to twice
/// this before it is trimmed back).
const WINDOW: usize = 256;

impl Stack {
    /// An empty stack.
    pub fn new() -> Stack {
        Stack::default()
    }

    /// A stack holding `values`, bottom first (restoring a snapshot).
    pub fn from_values(values: Vec<Value>) -> Stack {
        Stack {
            values: ValueVec::from_vec(values),
            ..Stack::default()
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

    /// Makes room for `additional` more values without another allocation.
    pub fn reserve(&mut self, additional: usize) {
        self.values.reserve(additional);
    }

    /// Pushes `value` on top.
    #[inline]
    pub fn push(&mut self, value: Value) {
        self.values.push(value);
    }

    /// Removes and returns the top value.
    #[inline]
    pub fn pop(&mut self) -> Option<Value> {
        self.touch_top(1);
        self.take()
    }

    /// Removes the top `n` values (all of them if fewer).
    #[inline(always)]
    pub fn drop_top(&mut self, n: usize) {
        self.touch_top(n);
        self.discard_top(n);
    }

    /// Replaces the top `n` values (`n ≥ 1`, all present) with `value`.
    #[inline(always)]
    pub fn replace_top(&mut self, n: usize, value: Value) {
        self.touch_top(n);
        self.set_top(n, value);
    }

    /// Exchanges the top value with the one `depth` places below it.
    #[inline(always)]
    pub fn swap_top(&mut self, depth: usize) {
        self.touch_top(depth + 1);
        self.exchange(depth);
    }

    /// Marks the cached hashes that include any of the top `n` values stale: a step calls it
    /// once for the operands it may change (a straight-line run once for all of its steps),
    /// then changes them with the unmarked operations below.
    #[inline(always)]
    pub(crate) fn touch_top(&mut self, n: usize) {
        self.forget_above(self.values.len().saturating_sub(n));
    }
}

/// The changes a step makes within the top values it has touched ([`Stack::touch_top`]): they
/// leave the hash caches alone.
impl Stack {
    /// Removes and returns the top value.
    #[inline(always)]
    pub(crate) fn take(&mut self) -> Option<Value> {
        self.values.pop()
    }

    /// Removes the top `n` values (all of them if fewer).
    #[inline(always)]
    pub(crate) fn discard_top(&mut self, n: usize) {
        let len = self.values.len().saturating_sub(n);
        for _ in len..self.values.len() {
            if let Some(value) = self.values.pop() {
                value.discard();
            }
        }
    }

    /// Replaces the top `n` values (`n ≥ 1`, all present) with `value`.
    #[inline(always)]
    pub(crate) fn set_top(&mut self, n: usize, value: Value) {
        let at = self.values.len() - n;
        for _ in 1..n {
            // Popping one at a time lets a dropped Int (most operands) cost only its tag test.
            if let Some(value) = self.values.pop() {
                value.discard();
            }
        }
        std::mem::replace(&mut self.values[at], value).discard();
    }

    /// Replaces the top `n` values (`n ≥ 1`, all present) with `value`, when the caller has
    /// seen that they are Ints below 2^64: those own nothing, so nothing is dropped or tested.
    #[inline(always)]
    pub(crate) fn set_top_ints(&mut self, n: usize, value: Value) {
        debug_assert!(
            self.values[self.values.len() - n..]
                .iter()
                .all(|v| matches!(v, Value::SmallInt(_)))
        );
        for _ in 1..n {
            std::mem::forget(self.values.pop());
        }
        let at = self.values.len() - 1;
        std::mem::forget(std::mem::replace(&mut self.values[at], value));
    }

    /// The top value, to change in place. The caller has checked that there is one.
    #[inline(always)]
    pub(crate) fn top_mut(&mut self) -> &mut Value {
        let top = self.values.len() - 1;
        &mut self.values[top]
    }

    /// Removes and returns the value just below the top (the caller has checked there are two).
    #[inline(always)]
    pub(crate) fn remove_below_top(&mut self) -> Value {
        self.values.swap_remove(self.values.len() - 2)
    }

    /// Exchanges the top value with the one `depth` places below it.
    #[inline(always)]
    pub(crate) fn exchange(&mut self, depth: usize) {
        let len = self.values.len();
        self.values.swap(len - 1, len - 1 - depth);
    }
}

impl Stack {
    /// The value `depth` places below the top (0 is the top). The caller has checked the depth.
    #[inline]
    pub fn peek(&self, depth: usize) -> &Value {
        &self.values[self.values.len() - 1 - depth]
    }

    /// The Int `depth` places below the top, or a kind error.
    #[inline]
    pub fn int(&self, depth: usize) -> Result<U256, OpError> {
        self.peek(depth).as_int().ok_or(OpError::WrongKind)
    }

    /// Marks cached hashes of stacks that include `values[from..]` stale.
    #[inline]
    fn forget_above(&mut self, from: usize) {
        self.fresh = self.fresh.min(from);
    }

    /// Drops the stale cached hashes.
    fn drop_stale(&mut self) {
        self.dense.truncate(self.fresh.saturating_sub(self.base));
        self.sparse.truncate(self.fresh / STRIDE);
        self.fresh = usize::MAX;
    }

    /// The hash of the whole stack as nested pairs.
    pub fn hash(&mut self) -> U256 {
        self.prefix(self.values.len()).0
    }

    /// The pre-image `(inner, size)` of the stack below the top `depth` values (what proofs
    /// send for the untouched remainder).
    pub fn preimage_below(&mut self, depth: usize) -> (U256, U256) {
        let len = self.values.len().saturating_sub(depth);
        if len == 0 {
            return (keccak(&[&[0]]), U256::one());
        }
        let (rest_hash, rest_size) = self.prefix(len - 1);
        let top = &self.values[len - 1];
        let inner = keccak(&[&[2], &be32(&top.hash()), &be32(&rest_hash)]);
        (inner, pair_size(top, rest_size))
    }

    /// Hash and size of the stack made of `values[..n]`, computing (and caching) what is
    /// missing from the nearest cached prefix below.
    fn prefix(&mut self, n: usize) -> (U256, U256) {
        self.drop_stale();
        if let Some(known) = self.cached(n) {
            return known;
        }
        let start = self.nearest_cached(n);
        if start != self.base + self.dense.len() {
            self.dense.clear();
            self.base = start;
        }
        let mut prefix = self.cached(start).expect("the nearest cached prefix");
        for len in start + 1..=n {
            let value = &self.values[len - 1];
            let inner = keccak(&[&[2], &be32(&value.hash()), &be32(&prefix.0)]);
            let size = pair_size(value, prefix.1);
            prefix = (hash_preimage(&inner, &size), size);
            if len.is_multiple_of(STRIDE) && self.sparse.len() == len / STRIDE - 1 {
                self.sparse.push(prefix);
            }
            if self.dense.is_empty() && len + WINDOW <= n {
                self.base = len;
            } else {
                self.dense.push(prefix);
            }
        }
        self.trim_dense();
        prefix
    }

    /// The cached hash and size of the prefix of `n` values, if cached.
    fn cached(&self, n: usize) -> Option<(U256, U256)> {
        if n == 0 {
            return Some((*EMPTY_TUPLE_HASH, U256::one()));
        }
        if n > self.base
            && let Some(&known) = self.dense.get(n - self.base - 1)
        {
            return Some(known);
        }
        if n.is_multiple_of(STRIDE) {
            return self.sparse.get(n / STRIDE - 1).copied();
        }
        None
    }

    /// The longest cached prefix of at most `n` values.
    fn nearest_cached(&self, n: usize) -> usize {
        let sparse = (n / STRIDE).min(self.sparse.len()) * STRIDE;
        let dense = match self.base < n && !self.dense.is_empty() {
            true => n.min(self.base + self.dense.len()),
            false => 0,
        };
        sparse.max(dense)
    }

    /// Keeps the dense cache to the top [`WINDOW`] entries once it holds twice that, moving
    /// the depths the sparse cache lacks into it first.
    fn trim_dense(&mut self) {
        if self.dense.len() <= 2 * WINDOW {
            return;
        }
        let drop = self.dense.len() - WINDOW;
        loop {
            let len = (self.sparse.len() + 1) * STRIDE;
            match len.checked_sub(self.base + 1) {
                Some(k) if k < drop => self.sparse.push(self.dense[k]),
                _ => break,
            }
        }
        self.dense.drain(..drop);
        self.base += drop;
    }
}

/// The size of a stack pair: the pair itself, its value and the stack below.
fn pair_size(value: &Value, rest_size: U256) -> U256 {
    U256::one()
        .overflowing_add(value.size())
        .0
        .overflowing_add(rest_size)
        .0
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

    /// The hash of `values` computed from scratch, as AVM.md §2.5 defines it.
    fn naive(values: &[Value]) -> (U256, (U256, U256)) {
        let mut stack = (*EMPTY_TUPLE_HASH, U256::one());
        let mut below_top = stack;
        for value in values {
            below_top = stack;
            let inner = keccak(&[&[2], &be32(&value.hash()), &be32(&stack.0)]);
            let size = pair_size(value, stack.1);
            stack = (hash_preimage(&inner, &size), size);
        }
        let preimage = match values.last() {
            None => (keccak(&[&[0]]), U256::one()),
            Some(top) => (
                keccak(&[&[2], &be32(&top.hash()), &be32(&below_top.0)]),
                stack.1,
            ),
        };
        (stack.0, preimage)
    }

    /// Random pushes, pops, swaps and replacements, deep and shallow, with hashes asked for
    /// now and then: the cache always agrees with hashing from scratch, and stays small.
    #[test]
    fn cached_hashes_agree_with_hashing_from_scratch() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut stack = Stack::new();
        for round in 0..4_000 {
            match random(10) {
                0..=3 => {
                    for _ in 0..random(if round % 500 == 0 { 3_000 } else { 20 }) {
                        stack.push(Value::int(random(1000)));
                    }
                }
                4 => stack.drop_top(random(30) as usize),
                5 if !stack.is_empty() => {
                    let _ = stack.pop();
                }
                6 if stack.len() > 1 => {
                    let depth = random(stack.len() as u64 - 1) as usize;
                    stack.swap_top(depth);
                }
                7 if !stack.is_empty() => {
                    let n = 1 + random(stack.len().min(3) as u64) as usize;
                    stack.replace_top(n, Value::tuple(vec![Value::int(round as u64)]));
                }
                _ => {}
            }
            if stack.len() > 6_000 {
                stack.drop_top(5_000);
            }
            if random(8) == 0 {
                let (hash, preimage) = naive(stack.values());
                assert_eq!(stack.hash(), hash, "round {round}");
                assert_eq!(stack.preimage_below(0), preimage, "round {round}");
                if stack.len() > 2 {
                    let (_, below) = naive(&stack.values()[..stack.len() - 2]);
                    assert_eq!(stack.preimage_below(2), below, "round {round}");
                }
                assert!(stack.dense.len() <= 2 * WINDOW + 1);
                assert!(stack.sparse.len() <= stack.len() / STRIDE);
            }
        }
    }

    #[test]
    fn a_deep_stack_hashes_in_little_extra_memory() {
        let mut stack = Stack::new();
        let values: Vec<Value> = (0..200_000u64).map(Value::int).collect();
        for value in &values {
            stack.push(value.clone());
        }
        assert_eq!(stack.hash(), naive(&values).0);
        assert!(stack.dense.len() <= 2 * WINDOW);
        assert_eq!(stack.sparse.len(), 200_000 / STRIDE);
        // A change deep down re-hashes from the nearest cached depth.
        stack.swap_top(150_000);
        let mut moved = values.clone();
        let top = moved.len() - 1;
        moved.swap(top, top - 150_000);
        assert_eq!(stack.hash(), naive(&moved).0);
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
