//! A growable array of values whose pointer, length and capacity sit at documented offsets,
//! so that compiled code can push and pop on a machine's stacks directly.
//!
//! `Vec`'s field order is unspecified; [`ValueVec`] is `#[repr(C)]` (`ptr`, `len`, `cap`, one
//! word each, [`layout`]). Its buffer is always one that a `Vec<Value>` allocated: growing and
//! freeing go through `Vec` itself, so the only code here that a `Vec` would not check is the
//! reading and writing of slots below the length, and the length's bookkeeping.
#![allow(unsafe_code)]

use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use crate::Value;

/// A growable array of [`Value`]s with a fixed, documented layout ([`layout`]).
///
/// Slots `0..len` hold values, slots `len..cap` are free; the buffer is `Vec<Value>`'s.
#[repr(C)]
pub struct ValueVec {
    ptr: NonNull<Value>,
    len: usize,
    cap: usize,
}

/// The layout of [`ValueVec`], for compiled code.
pub mod layout {
    /// The offset of the pointer to slot 0.
    pub const PTR_OFFSET: usize = 0;
    /// The offset of the number of values held.
    pub const LEN_OFFSET: usize = 8;
    /// The offset of the number of slots allocated.
    pub const CAP_OFFSET: usize = 16;
    /// Bytes per `ValueVec`.
    pub const SIZE: usize = 24;
}

const _: () = assert!(std::mem::offset_of!(ValueVec, ptr) == layout::PTR_OFFSET);
const _: () = assert!(std::mem::offset_of!(ValueVec, len) == layout::LEN_OFFSET);
const _: () = assert!(std::mem::offset_of!(ValueVec, cap) == layout::CAP_OFFSET);
const _: () = assert!(std::mem::size_of::<ValueVec>() == layout::SIZE);

impl ValueVec {
    /// An empty array (no allocation).
    pub const fn new() -> ValueVec {
        ValueVec {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
        }
    }

    /// The values of `values`, in order, taking over its buffer.
    pub fn from_vec(values: Vec<Value>) -> ValueVec {
        let mut values = ManuallyDrop::new(values);
        ValueVec {
            // SAFETY: a `Vec`'s pointer is never null (dangling when nothing is allocated).
            ptr: unsafe { NonNull::new_unchecked(values.as_mut_ptr()) },
            len: values.len(),
            cap: values.capacity(),
        }
    }

    /// The values as a `Vec`, which takes over the buffer.
    pub fn into_vec(self) -> Vec<Value> {
        let this = ManuallyDrop::new(self);
        // SAFETY: the parts are those of a `Vec<Value>` (`from_vec`, `grow`), slots `0..len`
        // hold values, and `this` is never used or dropped again.
        unsafe { Vec::from_raw_parts(this.ptr.as_ptr(), this.len, this.cap) }
    }

    /// The number of values.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of slots allocated.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The values, first to last.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Value] {
        // SAFETY: slots `0..len` hold values, borrowed as long as `self` is.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The values, first to last, to change in place.
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [Value] {
        // SAFETY: slots `0..len` hold values, borrowed mutably as long as `self` is.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Appends `value`.
    #[inline(always)]
    pub fn push(&mut self, value: Value) {
        if self.len == self.cap {
            self.grow();
        }
        // SAFETY: `len < cap` now, so slot `len` is allocated and free.
        unsafe { self.ptr.as_ptr().add(self.len).write(value) };
        self.len += 1;
    }

    /// Removes and returns the last value.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Value> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` held a value and is now outside `0..len`, so it is read once.
        Some(unsafe { self.ptr.as_ptr().add(self.len).read() })
    }

    /// Removes the value at `index` and puts the last value in its place.
    ///
    /// # Panics
    /// If `index` is out of range.
    #[inline(always)]
    pub fn swap_remove(&mut self, index: usize) -> Value {
        let last = self.len.checked_sub(1).filter(|&last| index <= last);
        let last = last.unwrap_or_else(|| panic!("index {index} of {} values", self.len));
        self.as_mut_slice().swap(index, last);
        self.pop().expect("not empty")
    }

    /// Makes room for at least `additional` more values without another allocation.
    pub fn reserve(&mut self, additional: usize) {
        if self.cap - self.len < additional {
            let mut values = std::mem::take(self).into_vec();
            values.reserve(additional);
            *self = ValueVec::from_vec(values);
        }
    }

    /// Doubles the buffer (at least 16 slots), through `Vec`.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let mut values = std::mem::take(self).into_vec();
        values.reserve(values.len().max(16));
        *self = ValueVec::from_vec(values);
    }
}

impl Default for ValueVec {
    fn default() -> ValueVec {
        ValueVec::new()
    }
}

impl Drop for ValueVec {
    fn drop(&mut self) {
        drop(std::mem::take(self).into_vec());
    }
}

impl Clone for ValueVec {
    fn clone(&self) -> ValueVec {
        ValueVec::from_vec(self.as_slice().to_vec())
    }
}

impl fmt::Debug for ValueVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl std::ops::Deref for ValueVec {
    type Target = [Value];

    #[inline(always)]
    fn deref(&self) -> &[Value] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for ValueVec {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [Value] {
        self.as_mut_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tuple;

    #[test]
    fn behaves_like_a_vec() {
        let mut model: Vec<Value> = Vec::new();
        let mut values = ValueVec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..20_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            match seed % 7 {
                0..=2 => {
                    let value = match round % 3 {
                        0 => Value::int(round),
                        1 => Value::tuple(vec![Value::int(round)]),
                        _ => Value::none(),
                    };
                    model.push(value.clone());
                    values.push(value);
                }
                3 | 4 => assert_eq!(values.pop(), model.pop()),
                5 if !model.is_empty() => {
                    let index = (seed >> 8) as usize % model.len();
                    assert_eq!(values.swap_remove(index), model.swap_remove(index));
                }
                _ => {
                    if model.len() > 1 {
                        let last = model.len() - 1;
                        model.swap(0, last);
                        values.swap(0, last);
                    }
                }
            }
            assert_eq!(values.as_slice(), model.as_slice());
            assert!(values.len() <= values.capacity());
        }
        let copy = values.clone();
        assert_eq!(copy.into_vec(), model);
        values.reserve(1_000);
        assert!(values.capacity() - values.len() >= 1_000);
        assert_eq!(values.as_slice(), model.as_slice());
    }

    #[test]
    fn drops_what_it_holds() {
        let shared = Tuple::new(vec![Value::int(1u64)]);
        let mut values = ValueVec::new();
        for _ in 0..100 {
            values.push(Value::Tuple(shared.clone()));
        }
        assert!(!shared.shared().is_unique());
        let taken = values.pop();
        drop(values);
        assert!(
            !shared.shared().is_unique(),
            "the popped handle still counts"
        );
        drop(taken);
        assert!(shared.shared().is_unique());
    }
}
