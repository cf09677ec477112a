//! Counted heap objects: the tuples, big Ints and codepoints that values share by reference.
//!
//! # The rule that makes plain counts sound
//!
//! Reference counts are plain `u32`s, not atomics: a clone is a load, a compare and a store.
//! That is sound because every object is in one of two states, and neither lets two threads
//! touch one count:
//!
//! - **Counted**: every handle to it lives on one thread. A [`crate::Value`] holding one is
//!   neither `Send` nor `Sync` (the handle is a raw pointer), so handles never cross threads on
//!   their own. Values cross only inside an [`Isolated`], whose constructor deep-copies them:
//!   the copy shares no counted object with anything left behind, and moves whole.
//! - **Immortal**: made so by [`Frozen::new`], which first fills every hash cache it reaches,
//!   then marks every object it reaches. An immortal object's count is never written again (a
//!   clone or a drop only reads it) and neither is anything else in it ([`Shared::get_mut`]
//!   refuses it, its caches are full), and it only reaches immortal objects. So any number of
//!   threads may read it at once. A program's values (code immediates, the static value, the
//!   loaded codepoints) and `()` are immortal: every machine of the program, on any thread,
//!   shares them without counting.
//!
//! A count that would reach the immortal mark aborts the process, as `Rc` does on overflow;
//! 2^32 handles of 16 bytes need 64 GiB before that can happen.
//!
//! Immortal objects are never freed, since a handle to one can outlive anything (a clone of
//! it counts nothing): a program's values live until the process ends, even after the
//! [`crate::Program`] drops. A node loads a handful of programs; a process that loads new ones
//! without end (a fuzzer feeding programs) grows by each one's values: about 2 KB for a
//! 16-instruction program, 11 MB for ArbOS (measured by loading each repeatedly).
//!
//! This module holds the runtime's `unsafe` code for values; each block says why it is sound.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::collections::HashMap;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, offset_of};
use std::ptr::{self, NonNull};

use crate::codepoint::CodePoint;
use crate::tuple::Tuple;
use crate::value::{BigInt, Value};
use primitive_types::U256;

/// The count of an immortal object.
const IMMORTAL: u32 = u32::MAX;

/// A heap object: a count, a length, a header, then `len` items.
#[repr(C)]
struct Node<H, T> {
    count: Cell<u32>,
    len: u32,
    header: H,
    items: [T; 0],
}

/// The layout of the objects that big Int, codepoint and tuple values point to, for compiled
/// code: every one starts with its count and length.
pub mod layout {
    /// The offset of the count (`u32`).
    pub const COUNT_OFFSET: usize = 0;
    /// The offset of the number of items (`u32`): a tuple's slots.
    pub const LEN_OFFSET: usize = 4;
    /// The count of an immortal object, which is never written.
    pub const IMMORTAL: u32 = super::IMMORTAL;
    /// The offset of a tuple's digest cache: a pointer, null until the tuple is hashed.
    pub const TUPLE_DIGEST_OFFSET: usize = 8;
    /// The offset of a tuple's first slot (slots are values, 16 bytes each).
    pub const TUPLE_SLOTS_OFFSET: usize = 16;
}

const _: () = {
    use crate::tuple::DigestCache;
    type TupleNode = Node<DigestCache, Value>;
    assert!(offset_of!(TupleNode, count) == layout::COUNT_OFFSET);
    assert!(offset_of!(TupleNode, len) == layout::LEN_OFFSET);
    assert!(offset_of!(TupleNode, header) == layout::TUPLE_DIGEST_OFFSET);
    assert!(size_of::<DigestCache>() == 8);
    assert!(offset_of!(TupleNode, items) == layout::TUPLE_SLOTS_OFFSET);
    assert!(offset_of!(Node<U256, ()>, count) == layout::COUNT_OFFSET);
    assert!(offset_of!(Node<crate::codepoint::CodeNode, ()>, count) == layout::COUNT_OFFSET);
};

/// A counted handle to a heap object with header `H` and a slice of `T` (a thin pointer).
///
/// Cloning adds one to the count and dropping the last handle frees the object, unless it is
/// immortal, when neither touches it (module doc).
pub(crate) struct Shared<H, T = ()> {
    node: NonNull<Node<H, T>>,
    owns: PhantomData<(H, T)>,
}

impl<H, T> Shared<H, T> {
    /// The allocation of an object with `len` items.
    pub(crate) fn layout(len: usize) -> Layout {
        let size = offset_of!(Node<H, T>, items) + len * size_of::<T>();
        Layout::from_size_align(size, align_of::<Node<H, T>>())
            .expect("a tuple-sized object fits any layout")
            .pad_to_align()
    }

    /// A new object with count 1.
    ///
    /// # Panics
    /// If `items` yields fewer items than it said it would (the object then leaks).
    pub(crate) fn new(header: H, mut items: impl ExactSizeIterator<Item = T>) -> Self {
        let len = items.len();
        let (node, slots) = Self::allocate(header, len);
        for i in 0..len {
            let item = items.next().expect("the iterator yields its length");
            // SAFETY: `slots` has room for `len` items (`allocate`), each written once.
            unsafe { slots.add(i).write(item) };
        }
        Shared {
            node,
            owns: PhantomData,
        }
    }

    /// A new object with count 1 holding this one's header and items, but `value` at `index`
    /// (`index` in range): the copy a shared tuple's update makes.
    #[inline]
    pub(crate) fn with_replaced(&self, header: H, index: usize, value: T) -> Self
    where
        T: Clone,
    {
        let items = self.items();
        let (node, slots) = Self::allocate(header, items.len());
        // SAFETY: `slots` has room for `items.len()` items (`allocate`); each index below it
        // is written exactly once (`index` is in range, the caller's contract).
        unsafe {
            for (i, item) in items[..index].iter().enumerate() {
                slots.add(i).write(item.clone());
            }
            slots.add(index).write(value);
            for (i, item) in items.iter().enumerate().skip(index + 1) {
                slots.add(i).write(item.clone());
            }
        }
        Shared {
            node,
            owns: PhantomData,
        }
    }

    /// A fresh node with count 1, `header` and room for `len` items, which the caller writes
    /// before making a handle of it.
    #[inline]
    fn allocate(header: H, len: usize) -> (NonNull<Node<H, T>>, *mut T) {
        let stored_len = u32::try_from(len).expect("an object has few items");
        let layout = Self::layout(len);
        // SAFETY: the layout is not empty (it holds the count and the length).
        let raw = unsafe { alloc::alloc(layout) }.cast::<Node<H, T>>();
        let node = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        // SAFETY: `node` is a fresh allocation of `layout`, large and aligned enough for the
        // fields and `len` items; each field is written once. Until the caller has written the
        // items nothing reads them, and if it panics first the allocation leaks, which is safe.
        unsafe {
            ptr::addr_of_mut!((*raw).count).write(Cell::new(1));
            ptr::addr_of_mut!((*raw).len).write(stored_len);
            ptr::addr_of_mut!((*raw).header).write(header);
            (node, ptr::addr_of_mut!((*raw).items).cast::<T>())
        }
    }

    fn node(&self) -> &Node<H, T> {
        // SAFETY: the node stays allocated while this handle exists (the count includes it, or
        // the object is immortal and never freed).
        unsafe { self.node.as_ref() }
    }

    /// The header.
    #[inline]
    pub(crate) fn header(&self) -> &H {
        &self.node().header
    }

    /// The items.
    #[inline]
    pub(crate) fn items(&self) -> &[T] {
        let node = self.node.as_ptr();
        // SAFETY: `new` wrote `len` items after the header, and they live as long as the node.
        unsafe {
            let len = (*node).len as usize;
            std::slice::from_raw_parts(ptr::addr_of!((*node).items).cast::<T>(), len)
        }
    }

    /// The header and items, mutable, when this is the only handle (never for an immortal).
    #[inline]
    pub(crate) fn get_mut(&mut self) -> Option<(&mut H, &mut [T])> {
        if !self.is_unique() {
            return None;
        }
        let node = self.node.as_ptr();
        // SAFETY: count 1 means this is the only handle, and `&mut self` means nobody borrows
        // through it, so nothing else can see the header or the items while these live.
        unsafe {
            let len = (*node).len as usize;
            let items = ptr::addr_of_mut!((*node).items).cast::<T>();
            Some((
                &mut *ptr::addr_of_mut!((*node).header),
                std::slice::from_raw_parts_mut(items, len),
            ))
        }
    }

    /// Whether this is the only handle.
    #[inline]
    pub(crate) fn is_unique(&self) -> bool {
        self.node().count.get() == 1
    }

    /// Whether the object is immortal.
    #[inline]
    pub(crate) fn is_immortal(&self) -> bool {
        self.node().count.get() == IMMORTAL
    }

    /// Gives up this handle if that only lowers the count (or the object is immortal) and
    /// returns `true`; returns `false`, changing nothing, when this is the last handle.
    ///
    /// # Safety
    /// After `true` the caller must not drop or use this handle again (forget it).
    #[inline]
    unsafe fn release_shared(&self) -> bool {
        let count = &self.node().count;
        match count.get() {
            IMMORTAL => true,
            1 => false,
            n => {
                count.set(n - 1);
                true
            }
        }
    }

    /// Marks the object immortal. Only [`Frozen::new`] calls it, on a whole value.
    fn make_immortal(&self) {
        self.node().count.set(IMMORTAL);
    }

    /// The object's address, which identifies it while it lives.
    #[inline]
    pub(crate) fn addr(&self) -> usize {
        self.node.as_ptr() as usize
    }

    /// Whether both handles are to one object.
    #[inline]
    pub(crate) fn ptr_eq(&self, other: &Self) -> bool {
        self.node == other.node
    }

    /// The header and items, if this is the only handle; the object is freed.
    pub(crate) fn into_parts(self) -> Result<(H, Vec<T>), Self> {
        if !self.is_unique() {
            return Err(self);
        }
        let this = ManuallyDrop::new(self);
        let node = this.node.as_ptr();
        // SAFETY: this is the only handle and it is consumed without running its drop: the
        // header and items are moved out exactly once, then the allocation `new` made is freed.
        unsafe {
            let len = (*node).len as usize;
            let header = ptr::addr_of!((*node).header).read();
            let first = ptr::addr_of!((*node).items).cast::<T>();
            let items = (0..len).map(|i| first.add(i).read()).collect();
            Self::free(this.node, len);
            Ok((header, items))
        }
    }

    /// Frees the allocation of a node whose contents are already dropped or moved out.
    ///
    /// # Safety
    /// `node` was allocated by [`Shared::new`] with `len` items, and no handle to it is used
    /// again.
    unsafe fn free(node: NonNull<Node<H, T>>, len: usize) {
        // SAFETY: allocated by `allocate` with this layout (the caller's contract).
        unsafe { alloc::dealloc(node.as_ptr().cast(), Self::layout(len)) };
    }

    /// Drops the contents and frees the node: the last handle is going.
    #[inline(never)]
    fn destroy(&mut self) {
        let node = self.node.as_ptr();
        // SAFETY: the count was 1, so this was the last handle and nobody else can reach the
        // node; the contents are dropped once and the allocation freed once.
        unsafe {
            let len = (*node).len as usize;
            ptr::drop_in_place(ptr::addr_of_mut!((*node).header));
            let items = ptr::addr_of_mut!((*node).items).cast::<T>();
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(items, len));
            Self::free(self.node, len);
        }
    }
}

impl<H, T> Clone for Shared<H, T> {
    #[inline]
    fn clone(&self) -> Self {
        let count = &self.node().count;
        let n = count.get();
        if n != IMMORTAL {
            if n == IMMORTAL - 1 {
                std::process::abort();
            }
            count.set(n + 1);
        }
        Shared {
            node: self.node,
            owns: PhantomData,
        }
    }
}

impl<H, T> Drop for Shared<H, T> {
    #[inline]
    fn drop(&mut self) {
        let count = &self.node().count;
        match count.get() {
            IMMORTAL => {}
            1 => self.destroy(),
            n => count.set(n - 1),
        }
    }
}

/// Drops a value that may be the last handle to its object (the slow half of [`Value::discard`]).
#[inline(never)]
fn drop_last(value: Value) {
    drop(value);
}

/// Kinds of value that can be frozen.
pub trait Freeze: Clone + sealed::Sealed {
    /// This value as a [`Value`], for the walk that freezes it.
    fn as_value(&self) -> Value;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Value {}
    impl Sealed for crate::CodePoint {}
    impl Sealed for crate::Tuple {}
}

impl Freeze for Value {
    fn as_value(&self) -> Value {
        self.clone()
    }
}

impl Freeze for CodePoint {
    fn as_value(&self) -> Value {
        Value::CodePoint(self.clone())
    }
}

impl Freeze for Tuple {
    fn as_value(&self) -> Value {
        Value::Tuple(self.clone())
    }
}

/// A value every thread may share: it and everything it reaches are immortal (module doc).
#[derive(Clone)]
#[repr(transparent)]
pub struct Frozen<T: Freeze = Value>(T);

// SAFETY: everything a `Frozen` reaches is immortal or a buffer (atomically counted): clones
// and drops never write an immortal count, nothing mutates an immortal object, and its hash
// caches were filled before it was frozen, so threads sharing it only ever read it.
unsafe impl<T: Freeze> Send for Frozen<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Freeze> Sync for Frozen<T> {}

impl<T: Freeze> Frozen<T> {
    /// Makes `value` and everything it reaches immortal, after computing every hash it has.
    /// Handles to these objects held elsewhere stay valid and stop counting.
    pub fn new(value: T) -> Frozen<T> {
        let root = value.as_value();
        root.hash();
        let mut pending = vec![root];
        while let Some(value) = pending.pop() {
            match &value {
                Value::BigInt(x) if !x.0.is_immortal() => x.0.make_immortal(),
                Value::Tuple(t) if !t.shared().is_immortal() => {
                    t.shared().make_immortal();
                    pending.extend(t.slots().iter().filter(|s| s.is_counted()).cloned());
                }
                Value::CodePoint(cp) if !cp.shared().is_immortal() => {
                    cp.shared().make_immortal();
                    pending.extend(cp.children().filter(|s| s.is_counted()));
                }
                _ => {}
            }
        }
        Frozen(value)
    }

    /// The value.
    #[inline]
    pub fn get(&self) -> &T {
        &self.0
    }

    /// The values of a slice of frozen ones.
    pub fn slice(frozen: &[Frozen<T>]) -> &[T] {
        // SAFETY: `Frozen<T>` is `repr(transparent)` over `T`, so the slices have one layout;
        // the `&[T]` borrows `frozen`, and a `T` handle to an immortal object is sound on this
        // thread like any other handle.
        unsafe { std::slice::from_raw_parts(frozen.as_ptr().cast::<T>(), frozen.len()) }
    }
}

impl<T: Freeze> std::ops::Deref for Frozen<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Frozen<Value> {
    /// `value` if it is already immortal (or holds no counted object), so it may be shared.
    pub fn of(value: &Value) -> Option<Frozen<Value>> {
        (!value.is_counted()).then(|| Frozen(value.clone()))
    }
}

impl<T: Freeze + PartialEq> PartialEq for Frozen<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<T: Freeze + Eq> Eq for Frozen<T> {}

impl<T: Freeze + std::fmt::Debug> std::fmt::Debug for Frozen<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Value {
    /// Drops this value, inline when that only lowers a count (most drops: Ints, shared
    /// tuples, the program's immortal values), out of line when it frees the last handle.
    #[inline(always)]
    pub fn discard(self) {
        // SAFETY: a handle whose release succeeded is forgotten at once, never dropped.
        let released = unsafe {
            match &self {
                Value::SmallInt(_) => true,
                Value::BigInt(b) => b.0.release_shared(),
                Value::Tuple(t) => t.shared().release_shared(),
                Value::CodePoint(cp) => cp.shared().release_shared(),
                Value::Buffer(_) => false,
            }
        };
        if released {
            std::mem::forget(self);
        } else {
            drop_last(self);
        }
    }

    /// Whether this value is a handle to a counted (not immortal) object.
    #[inline]
    pub(crate) fn is_counted(&self) -> bool {
        match self {
            Value::BigInt(x) => !x.0.is_immortal(),
            Value::Tuple(t) => !t.shared().is_immortal(),
            Value::CodePoint(cp) => !cp.shared().is_immortal(),
            Value::SmallInt(_) | Value::Buffer(_) => false,
        }
    }

    /// The address of the counted object this value is a handle to, if it is one.
    fn counted_addr(&self) -> Option<usize> {
        match self {
            Value::BigInt(x) if !x.0.is_immortal() => Some(x.0.addr()),
            Value::Tuple(t) if !t.shared().is_immortal() => Some(t.shared().addr()),
            Value::CodePoint(cp) if !cp.shared().is_immortal() => Some(cp.shared().addr()),
            _ => None,
        }
    }
}

/// Values moved to another thread whole, with `rest`, the part of their owner that is `Send`
/// already: a machine's counters, say, beside its stacks.
///
/// [`Isolated::new`] deep-copies the values, keeping the sharing among them (an object
/// reached twice is copied once) and sharing only immortal objects and buffers, so nothing
/// left behind holds a handle to a counted object of the copy.
#[derive(Debug)]
pub struct Isolated<R> {
    rest: R,
    values: Vec<Value>,
}

// SAFETY: every counted object reachable from `values` was allocated by the deep copy in
// `Isolated::new` and is reachable only from `values` (module doc), so moving them all to
// another thread leaves no handle to them here; `R: Send` covers the rest.
unsafe impl<R: Send> Send for Isolated<R> {}

impl<R> Isolated<R> {
    /// Deep copies of `values`, with `rest`.
    pub fn new<'a>(rest: R, values: impl IntoIterator<Item = &'a Value>) -> Isolated<R> {
        let mut copier = Copier::default();
        let values = values.into_iter().map(|v| copier.copy(v)).collect();
        Isolated { rest, values }
    }

    /// The rest and the copied values, in the order given to [`Isolated::new`].
    pub fn into_parts(self) -> (R, Vec<Value>) {
        (self.rest, self.values)
    }
}

/// Deep copies counted structure iteratively, copying each shared object once.
#[derive(Default)]
struct Copier {
    /// The copy of each counted object copied so far, by source address.
    copied: HashMap<usize, Value>,
}

/// One step of [`Copier::copy`].
enum Task {
    /// Copy this value onto the result stack.
    Visit(Value),
    /// Its parts are on the result stack: build the copy of this tuple.
    Tuple(Tuple),
    /// Its parts are on the result stack: build the copy of this codepoint.
    Code(CodePoint),
}

impl Copier {
    fn copy(&mut self, root: &Value) -> Value {
        let mut tasks = vec![Task::Visit(root.clone())];
        let mut done: Vec<Value> = Vec::new();
        while let Some(task) = tasks.pop() {
            let (source, copy) = match task {
                Task::Visit(value) => {
                    let Some(addr) = value.counted_addr() else {
                        done.push(value);
                        continue;
                    };
                    if let Some(copy) = self.copied.get(&addr) {
                        done.push(copy.clone());
                        continue;
                    }
                    match value {
                        Value::BigInt(x) => (addr, Value::BigInt(BigInt::new(*x.get()))),
                        Value::Tuple(t) => {
                            let slots: Vec<Value> = t.slots().to_vec();
                            tasks.push(Task::Tuple(t));
                            tasks.extend(slots.into_iter().rev().map(Task::Visit));
                            continue;
                        }
                        Value::CodePoint(cp) => {
                            let parts: Vec<Value> = cp.children().collect();
                            tasks.push(Task::Code(cp));
                            tasks.extend(parts.into_iter().rev().map(Task::Visit));
                            continue;
                        }
                        Value::SmallInt(_) | Value::Buffer(_) => unreachable!("not counted"),
                    }
                }
                Task::Tuple(t) => {
                    let slots = done.split_off(done.len() - t.len());
                    (t.shared().addr(), Value::Tuple(t.copy_with(slots)))
                }
                Task::Code(cp) => {
                    let parts = done.split_off(done.len() - cp.children().count());
                    (cp.shared().addr(), Value::CodePoint(cp.copy_with(parts)))
                }
            };
            self.copied.insert(source, copy.clone());
            done.push(copy);
        }
        done.pop().expect("one result per root")
    }
}

/// The addresses of the counted objects reachable from `roots`: two sets of values that must
/// not share counted objects (a machine and its copy on another thread) have disjoint sets.
pub fn counted_objects<'a>(roots: impl IntoIterator<Item = &'a Value>) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut pending: Vec<Value> = roots.into_iter().cloned().collect();
    while let Some(value) = pending.pop() {
        let Some(addr) = value.counted_addr() else {
            continue;
        };
        if !seen.insert(addr) {
            continue;
        }
        match &value {
            Value::Tuple(t) => pending.extend(t.slots().iter().cloned()),
            Value::CodePoint(cp) => pending.extend(cp.children()),
            _ => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use primitive_types::U256;

    fn ints(xs: &[u64]) -> Value {
        Value::tuple(xs.iter().map(|&x| Value::int(x)).collect())
    }

    #[test]
    fn objects_are_as_small_as_the_layout_promises() {
        // An 8-tuple: count, length, the hash-cache pointer, then eight 16-byte values.
        assert_eq!(crate::tuple::TupleData::layout(8).size(), 144);
        // A big Int: count and length, then its 32 bytes.
        assert_eq!(Shared::<U256>::layout(0).size(), 40);
        assert_eq!(size_of::<Value>(), 16);
    }

    #[test]
    fn counts_follow_handles_and_the_last_drop_frees() {
        let a = Shared::<u8, Value>::new(7, vec![Value::int(1u64), ints(&[2])].into_iter());
        assert!(a.is_unique());
        let b = a.clone();
        assert!(!a.is_unique() && a.ptr_eq(&b));
        drop(b);
        assert!(a.is_unique());
        assert_eq!(*a.header(), 7);
        assert_eq!(a.items().len(), 2);
        let (header, items) = a.into_parts().ok().expect("unique");
        assert_eq!((header, items.len()), (7, 2));
    }

    #[test]
    fn only_a_unique_handle_mutates() {
        let mut a = Shared::<u8, u64>::new(0, [1, 2, 3].into_iter());
        a.get_mut().expect("unique").1[1] = 9;
        assert_eq!(a.items(), &[1, 9, 3]);
        let b = a.clone();
        assert!(a.get_mut().is_none());
        drop(b);
        assert!(a.get_mut().is_some());
    }

    #[test]
    fn frozen_values_stop_counting_and_refuse_mutation() {
        let inner = ints(&[1, 2]);
        let outer = Value::tuple(vec![inner.clone(), Value::int(U256::MAX)]);
        let frozen = Frozen::new(outer);
        assert!(!frozen.get().is_counted());
        assert!(
            !inner.is_counted(),
            "a handle held elsewhere sees the object immortal"
        );
        let Value::Tuple(mut t) = frozen.get().clone() else {
            unreachable!()
        };
        assert!(t.shared_mut().get_mut().is_none());
        assert!(counted_objects([frozen.get()]).is_empty());
        assert!(Frozen::of(frozen.get()).is_some());
        assert!(Frozen::of(&ints(&[1])).is_none());
        assert!(Frozen::of(&Value::int(3u64)).is_some());
    }

    #[test]
    fn frozen_values_are_shared_by_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Frozen<Value>>();
        let frozen = Frozen::new(ints(&[1, 2, 3]));
        let hash = frozen.get().hash();
        let hashes: Vec<U256> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..1000).for_each(|_| drop(frozen.get().clone()));
                        frozen.get().hash()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(hashes.iter().all(|h| *h == hash));
    }

    #[test]
    fn an_isolated_copy_shares_no_counted_object_and_keeps_its_sharing() {
        let shared = ints(&[4, 5]);
        let program = Frozen::new(ints(&[9]));
        let source = vec![
            Value::tuple(vec![shared.clone(), shared.clone(), program.get().clone()]),
            Value::int(U256::MAX),
            shared,
        ];
        let isolated = Isolated::new((), &source);
        let copy = std::thread::spawn(move || isolated)
            .join()
            .unwrap()
            .into_parts()
            .1;
        assert_eq!(copy, source);
        let ours = counted_objects(&source);
        let theirs = counted_objects(&copy);
        assert!(ours.is_disjoint(&theirs));
        assert_eq!(
            ours.len(),
            theirs.len(),
            "an object reached twice is copied once"
        );
        let Value::Tuple(t) = &copy[0] else {
            unreachable!()
        };
        assert!(
            matches!((&t.slots()[0], &t.slots()[1]), (Value::Tuple(a), Value::Tuple(b)) if a.ptr_eq(b))
        );
        assert!(
            matches!((&t.slots()[2], program.get()), (Value::Tuple(a), Value::Tuple(b)) if a.ptr_eq(b))
        );
    }

    #[test]
    fn deep_nests_copy_freeze_and_drop_without_recursion() {
        let mut deep = Value::none();
        for i in 0..1_000_000u64 {
            deep = Value::tuple(vec![deep, Value::int(i)]);
        }
        let copy = Isolated::new((), [&deep]).into_parts().1.pop().unwrap();
        assert_eq!(copy.hash(), deep.hash());
        drop(copy);
        let frozen = Frozen::new(deep);
        assert!(!frozen.get().is_counted());
    }
}
