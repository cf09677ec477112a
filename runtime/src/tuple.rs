//! Tuples: immutable, shared by reference, hashed at most once.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};

use primitive_types::U256;

use crate::hash::{be32, hash_preimage, keccak};
use crate::value::{Value, dismantle};

/// The largest number of slots a tuple can have.
pub const MAX_TUPLE_SIZE: usize = 8;

/// An AVM tuple of 0 to 8 values.
///
/// Cloning shares the slots. The hash and the wrapping size (AVM.md §1.3, §2.2) are computed on
/// first request, without recursion on the native stack, and cached for the tuple's lifetime.
#[derive(Clone)]
pub struct Tuple(Arc<TupleData>);

struct TupleData {
    slots: Box<[Value]>,
    digest: OnceLock<Digest>,
}

/// A tuple's cached hash and size.
#[derive(Clone, Copy)]
struct Digest {
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

static EMPTY: LazyLock<Tuple> = LazyLock::new(|| Tuple::from_slots(Box::new([])));

impl Tuple {
    /// Builds a tuple from its slots.
    ///
    /// # Panics
    /// If there are more than [`MAX_TUPLE_SIZE`] slots: callers check lengths coming from input.
    pub fn new(slots: Vec<Value>) -> Tuple {
        Tuple::from_slots(slots.into_boxed_slice())
    }

    fn from_slots(slots: Box<[Value]>) -> Tuple {
        assert!(slots.len() <= MAX_TUPLE_SIZE, "a tuple has at most 8 slots");
        Tuple(Arc::new(TupleData {
            slots,
            digest: OnceLock::new(),
        }))
    }

    /// The empty tuple `()`, shared.
    pub fn empty() -> Tuple {
        EMPTY.clone()
    }

    /// A tuple of `len` slots, each holding Int 0 (what the `tset`-built structures start from).
    pub fn zeros(len: usize) -> Tuple {
        Tuple::new(vec![Value::Int(U256::zero()); len])
    }

    /// The number of slots.
    pub fn len(&self) -> usize {
        self.0.slots.len()
    }

    /// Whether this is `()`.
    pub fn is_empty(&self) -> bool {
        self.0.slots.is_empty()
    }

    /// Slot `index`, or `None` when out of range.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.0.slots.get(index)
    }

    /// All slots, in order.
    pub fn slots(&self) -> &[Value] {
        &self.0.slots
    }

    /// A copy of this tuple with slot `index` replaced, or `None` when out of range.
    pub fn with(&self, index: usize, value: Value) -> Option<Tuple> {
        if index >= self.len() {
            return None;
        }
        let mut slots = self.0.slots.to_vec();
        slots[index] = value;
        Some(Tuple::new(slots))
    }

    /// Whether both handles share the same allocation (equal without hashing).
    pub fn ptr_eq(&self, other: &Tuple) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
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
            inner: inner_hash(&self.0.slots),
            size,
        }
    }

    fn digest(&self) -> Digest {
        if let Some(d) = self.0.digest.get() {
            return *d;
        }
        compute_digests(&self.0);
        *self.0.digest.get().expect("digest computed above")
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

/// Fills in the digest of `root` and of every unhashed tuple below it, children first, using an
/// explicit worklist so that nests of any depth hash without native recursion.
fn compute_digests(root: &TupleData) {
    let mut pending: Vec<&TupleData> = vec![root];
    while let Some(&top) = pending.last() {
        if top.digest.get().is_some() {
            pending.pop();
            continue;
        }
        let unhashed_child = top.slots.iter().find_map(|slot| match slot {
            Value::Tuple(t) if t.0.digest.get().is_none() => Some(&*t.0),
            _ => None,
        });
        if let Some(child) = unhashed_child {
            pending.push(child);
            continue;
        }
        let size = top
            .slots
            .iter()
            .fold(U256::one(), |acc, slot| acc.overflowing_add(slot.size()).0);
        let inner = inner_hash(&top.slots);
        let _ = top.digest.set(Digest {
            hash: hash_preimage(&inner, &size),
            size,
        });
        pending.pop();
    }
}

impl Drop for TupleData {
    fn drop(&mut self) {
        if self.slots.iter().any(Value::owns_children) {
            dismantle(std::mem::take(&mut self.slots).into_vec());
        }
    }
}

impl Tuple {
    /// Takes this tuple's slots if this is the last handle to it; used by iterative drop.
    pub(crate) fn into_slots_if_unique(self) -> Option<Vec<Value>> {
        Arc::into_inner(self.0).map(|mut data| std::mem::take(&mut data.slots).into_vec())
    }
}

impl fmt::Debug for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Value::Tuple(self.clone()), f)
    }
}
