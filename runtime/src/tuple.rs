//! Tuples: immutable, shared by reference, hashed at most once.

use std::cell::OnceCell;
use std::fmt;
use std::sync::LazyLock;

use primitive_types::U256;

use crate::hash::{be32, hash_preimage, keccak};
use crate::heap::{Frozen, Shared};
use crate::value::{Unhashed, Value, fill_hashes, release};

/// The largest number of slots a tuple can have.
pub const MAX_TUPLE_SIZE: usize = 8;

/// An AVM tuple of 0 to 8 values.
///
/// Cloning shares the slots. The hash and the wrapping size (AVM.md §1.3, §2.2) are computed on
/// first request, without recursion on the native stack, and cached for the tuple's lifetime.
/// A handle is one pointer to one allocation: the count and length (8 bytes), the digest cache
/// (8 bytes: the digest is boxed on first use, since most tuples are never hashed), then the
/// slots, so an 8-tuple takes 144 bytes.
#[derive(Clone)]
pub struct Tuple(TupleData);

/// The shared object: the digest cache, then the slots.
pub(crate) type TupleData = Shared<DigestCache, Value>;

/// Where a tuple keeps its digest once computed.
pub(crate) type DigestCache = OnceCell<Box<Digest>>;

/// What a slot holds after its value was moved out by iterative drop.
const VACANT: Value = Value::SmallInt(0);

/// A tuple's cached hash and size.
#[derive(Clone, Copy)]
pub(crate) struct Digest {
    hash: U256,
    size: U256,
}

/// A tuple's pre-image `(inner, size)`: what proofs send in place of an unexpanded tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preimage {
    /// `keccak(u8(n) ‖ be32(hash(v1)) ‖ … ‖ be32(hash(vn)))`.
    pub inner: U256,
    /// `1 + Σ size(vi)`, wrapping at 2^256.
    pub size: U256,
}

impl Preimage {
    /// The hash of a tuple with this pre-image.
    pub fn hash(&self) -> U256 {
        hash_preimage(&self.inner, &self.size)
    }
}

static EMPTY: LazyLock<Frozen<Tuple>> = LazyLock::new(|| Frozen::new(Tuple::new(Vec::new())));

impl Tuple {
    /// Builds a tuple from its slots.
    ///
    /// # Panics
    /// If there are more than [`MAX_TUPLE_SIZE`] slots: callers check lengths coming from input.
    pub fn new(slots: Vec<Value>) -> Tuple {
        Tuple::from_iter(slots.into_iter())
    }

    fn from_iter(slots: impl ExactSizeIterator<Item = Value>) -> Tuple {
        assert!(slots.len() <= MAX_TUPLE_SIZE, "a tuple has at most 8 slots");
        Tuple(Shared::new(OnceCell::new(), slots))
    }

    /// The empty tuple `()`, immortal.
    pub fn empty() -> Tuple {
        EMPTY.get().clone()
    }

    /// A tuple of `len` slots, each holding Int 0 (what the `tset`-built structures start from).
    pub fn zeros(len: usize) -> Tuple {
        Tuple::new(vec![Value::SmallInt(0); len])
    }

    /// The number of slots.
    pub fn len(&self) -> usize {
        self.0.items().len()
    }

    /// Whether this is `()`.
    pub fn is_empty(&self) -> bool {
        self.0.items().is_empty()
    }

    /// Slot `index`, or `None` when out of range.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.0.items().get(index)
    }

    /// All slots, in order.
    pub fn slots(&self) -> &[Value] {
        self.0.items()
    }

    /// A copy of this tuple with slot `index` replaced, or `None` when out of range.
    pub fn with(&self, index: usize, value: Value) -> Option<Tuple> {
        if index >= self.len() {
            return None;
        }
        Some(Tuple(self.0.with_replaced(OnceCell::new(), index, value)))
    }

    /// This tuple with slot `index` replaced, or `None` when out of range (see [`Tuple::set`]).
    pub fn into_with(mut self, index: usize, value: Value) -> Option<Tuple> {
        if index >= self.len() {
            return None;
        }
        self.set(index, value);
        Some(self)
    }

    /// Replaces slot `index`, which must be in range. When this handle is the tuple's only
    /// owner the slot is replaced in place (and the cached digest dropped), which saves an
    /// allocation and a copy of every other slot; otherwise this handle moves to a copy.
    ///
    /// # Panics
    /// If `index` is out of range.
    #[inline(always)]
    pub fn set(&mut self, index: usize, value: Value) {
        match self.0.get_mut() {
            Some((digest, slots)) => {
                let old = std::mem::replace(&mut slots[index], value);
                if digest.get().is_some() {
                    *digest = OnceCell::new();
                }
                old.discard();
            }
            None => self.set_in_copy(index, value),
        }
    }

    /// [`Tuple::set`] on a shared tuple.
    #[inline(never)]
    fn set_in_copy(&mut self, index: usize, value: Value) {
        assert!(index < self.len(), "slot {index} of a {}-tuple", self.len());
        *self = Tuple(self.0.with_replaced(OnceCell::new(), index, value));
    }

    /// Whether both handles share the same allocation (equal without hashing).
    pub fn ptr_eq(&self, other: &Tuple) -> bool {
        self.0.ptr_eq(&other.0)
    }

    /// The value hash (AVM.md §2.2).
    pub fn hash(&self) -> U256 {
        self.digest().hash
    }

    /// The wrapping size (AVM.md §1.3).
    pub fn size(&self) -> U256 {
        self.digest().size
    }

    /// The pre-image `(inner, size)` (one keccak over the cached slot hashes).
    pub fn preimage(&self) -> Preimage {
        let size = self.digest().size;
        Preimage {
            inner: inner_hash(self.0.items()),
            size,
        }
    }

    fn digest(&self) -> Digest {
        if let Some(d) = self.0.header().get() {
            return **d;
        }
        fill_hashes(Unhashed::Tuple(&self.0));
        **self.0.header().get().expect("digest computed above")
    }
}

/// `keccak(u8(n) ‖ be32(hash(slot))…)`; every tuple slot must already have its digest.
fn inner_hash(slots: &[Value]) -> U256 {
    let mut bytes = Vec::with_capacity(1 + 32 * slots.len());
    bytes.push(slots.len() as u8);
    for slot in slots {
        bytes.extend_from_slice(&be32(&slot.hash()));
    }
    keccak(&[&bytes])
}

/// Frees nests of any depth without deep recursion: the last handle to a tuple moves out the
/// slots that are themselves the last handle to further structure and hands them to
/// [`release`]; dropping a shared slot only decrements its count.
impl Drop for Tuple {
    fn drop(&mut self) {
        if let Some((_, slots)) = self.0.get_mut()
            && slots.iter().any(Value::is_unique_parent)
        {
            let owners = slots.iter_mut().filter(|s| s.is_unique_parent());
            release(owners.map(|slot| std::mem::replace(slot, VACANT)));
        }
    }
}

/// The parts of a tuple's digest, for [`fill_hashes`].
pub(crate) fn is_hashed(data: &TupleData) -> bool {
    data.header().get().is_some()
}

/// A slot of this tuple that is not hashed yet.
pub(crate) fn unhashed_slot(data: &TupleData) -> Option<Unhashed<'_>> {
    data.items().iter().find_map(Value::unhashed)
}

/// Computes and caches the digest; every slot is already hashed.
pub(crate) fn store_digest(data: &TupleData) {
    let size = data
        .items()
        .iter()
        .fold(U256::one(), |acc, slot| acc.overflowing_add(slot.size()).0);
    let inner = inner_hash(data.items());
    let _ = data.header().set(Box::new(Digest {
        hash: hash_preimage(&inner, &size),
        size,
    }));
}

impl Tuple {
    /// Whether this is the last handle to a tuple that owns further structure.
    pub(crate) fn is_unique_parent(&self) -> bool {
        !self.is_empty() && self.0.is_unique()
    }

    pub(crate) fn shared(&self) -> &TupleData {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn shared_mut(&mut self) -> &mut TupleData {
        &mut self.0
    }

    /// A tuple of `slots` with this one's cached digest: for a deep copy, whose slots equal
    /// these.
    pub(crate) fn copy_with(&self, slots: Vec<Value>) -> Tuple {
        debug_assert_eq!(slots.len(), self.len());
        Tuple(Shared::new(self.0.header().clone(), slots.into_iter()))
    }

    /// Takes this tuple's slots if this is the last handle to it; used by iterative drop.
    pub(crate) fn into_slots_if_unique(mut self) -> Option<Vec<Value>> {
        let (_, slots) = self.0.get_mut()?;
        Some(
            slots
                .iter_mut()
                .map(|slot| std::mem::replace(slot, VACANT))
                .collect(),
        )
    }
}

impl fmt::Debug for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Value::Tuple(self.clone()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[u64]) -> Tuple {
        Tuple::new(values.iter().map(|&x| Value::int(x)).collect())
    }

    #[test]
    fn into_with_updates_in_place_only_when_unshared() {
        let expected = ints(&[1, 9, 3]).hash();

        let unique = ints(&[1, 2, 3]);
        unique.hash();
        let before = unique.0.addr();
        let updated = unique.into_with(1, Value::int(9u64)).unwrap();
        assert_eq!(updated.0.addr(), before);
        assert_eq!(
            updated.hash(),
            expected,
            "the stale cached digest is dropped"
        );

        let shared = ints(&[1, 2, 3]);
        let other = shared.clone();
        let updated = shared.into_with(1, Value::int(9u64)).unwrap();
        assert_eq!(updated.hash(), expected);
        assert_eq!(
            other.hash(),
            ints(&[1, 2, 3]).hash(),
            "a shared tuple never changes"
        );
        assert!(other.into_with(3, Value::int(0u64)).is_none());
    }
}
