//! The four kinds of AVM value (AVM.md §1.2) and their 16-byte layout.
//!
//! A [`Value`] is two machine words: a kind word (the enum's `u64` tag, [`layout`]) and a
//! payload word. An Int below 2^64 is held inline, always in that form, so equality and kind
//! tests on small Ints are word compares; a larger Int, a tuple, a codepoint and a buffer are
//! one pointer to a shared heap object. 91.5% of ArbOS's arithmetic operands fit in 64 bits.

use std::cell::Cell;
use std::fmt;

use primitive_types::U256;

use crate::buffer::Buffer;
use crate::codepoint::{CodeNode, CodePoint};
use crate::hash::{hash_int, hash_small_int};
use crate::heap::Shared;
use crate::tuple::{self, Tuple, TupleData};

/// An AVM value. Cloning is cheap: big Ints, tuples, codepoints and buffers are shared by
/// reference.
///
/// The layout is `#[repr(u64)]` (RFC 2195): a `u64` kind word holding the discriminant, then
/// the variant's one-word payload at offset 8 ([`layout`] names both for compiled code).
#[repr(u64)]
pub enum Value {
    /// An Int below 2^64; every such Int is held this way.
    SmallInt(u64) = layout::SMALL_INT,
    /// An Int of 2^64 or more.
    BigInt(BigInt) = layout::BIG_INT,
    /// A point in code.
    CodePoint(CodePoint) = layout::CODEPOINT,
    /// 0 to 8 values.
    Tuple(Tuple) = layout::TUPLE,
    /// A sparse byte array.
    Buffer(Buffer) = layout::BUFFER,
}

/// The layout of [`Value`], for code that reads values by offset.
pub mod layout {
    /// Bytes per value.
    pub const SIZE: usize = 16;
    /// The offset of the kind word.
    pub const KIND_OFFSET: usize = 0;
    /// The offset of the payload word (the Int itself, or the pointer).
    pub const PAYLOAD_OFFSET: usize = 8;
    /// Kind word of an Int below 2^64 (the payload is the Int).
    pub const SMALL_INT: u64 = 0;
    /// Kind word of an Int of 2^64 or more (the payload points to a count and four limbs).
    pub const BIG_INT: u64 = 1;
    /// Kind word of a codepoint.
    pub const CODEPOINT: u64 = 2;
    /// Kind word of a tuple.
    pub const TUPLE: u64 = 3;
    /// Kind word of a buffer.
    pub const BUFFER: u64 = 4;
}

const _: () = assert!(std::mem::size_of::<Value>() == layout::SIZE);
const _: () = assert!(std::mem::align_of::<Value>() == 8);

impl Clone for Value {
    /// A copy of an Int below 2^64, or one more handle to a shared object (a count written
    /// unless the object is immortal). Always inline: the interpreter clones on every `dup`.
    #[inline(always)]
    fn clone(&self) -> Value {
        match self {
            Value::SmallInt(x) => Value::SmallInt(*x),
            Value::BigInt(x) => Value::BigInt(x.clone()),
            Value::CodePoint(x) => Value::CodePoint(x.clone()),
            Value::Tuple(x) => Value::Tuple(x.clone()),
            Value::Buffer(x) => Value::Buffer(x.clone()),
        }
    }
}

/// An Int of 2^64 or more, shared by reference. Only [`Value::int`] makes one, so every Int
/// below 2^64 is a [`Value::SmallInt`].
#[derive(Clone)]
pub struct BigInt(pub(crate) Shared<U256>);

impl BigInt {
    /// `x`, boxed; callers keep Ints canonical.
    pub(crate) fn new(x: U256) -> BigInt {
        BigInt(Shared::new(x, std::iter::empty()))
    }

    /// The Int.
    #[inline]
    pub fn get(&self) -> &U256 {
        self.0.header()
    }
}

impl fmt::Debug for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.get(), f)
    }
}

/// What the `type` opcode pushes for each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// An Int.
    Int = 0,
    /// A CodePoint.
    CodePoint = 1,
    /// A Tuple.
    Tuple = 3,
    /// A Buffer.
    Buffer = 12,
}

impl Value {
    /// The Int `x`, in its canonical form.
    #[inline]
    pub fn int(x: impl Into<U256>) -> Value {
        let x = x.into();
        match x.0[1] | x.0[2] | x.0[3] {
            0 => Value::SmallInt(x.0[0]),
            _ => Value::BigInt(BigInt::new(x)),
        }
    }

    /// The Int 0 or 1.
    #[inline]
    pub fn bool(b: bool) -> Value {
        Value::SmallInt(u64::from(b))
    }

    /// The Int this value is, if it is one.
    #[inline]
    pub fn as_int(&self) -> Option<U256> {
        match self {
            Value::SmallInt(x) => Some(U256::from(*x)),
            Value::BigInt(x) => Some(*x.get()),
            _ => None,
        }
    }

    /// The Int this value is, if it is one below 2^64.
    #[inline]
    pub fn as_small_int(&self) -> Option<u64> {
        match self {
            Value::SmallInt(x) => Some(*x),
            _ => None,
        }
    }

    /// Whether this is an Int.
    #[inline]
    pub fn is_int(&self) -> bool {
        matches!(self, Value::SmallInt(_) | Value::BigInt(_))
    }

    /// A tuple of these values (at most 8).
    pub fn tuple(slots: Vec<Value>) -> Value {
        Value::Tuple(Tuple::new(slots))
    }

    /// The empty tuple `()`.
    pub fn none() -> Value {
        Value::Tuple(Tuple::empty())
    }

    /// The value's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Value::SmallInt(_) | Value::BigInt(_) => Kind::Int,
            Value::CodePoint(_) => Kind::CodePoint,
            Value::Tuple(_) => Kind::Tuple,
            Value::Buffer(_) => Kind::Buffer,
        }
    }

    /// The value hash (AVM.md §2); tuple hashes are cached.
    pub fn hash(&self) -> U256 {
        match self {
            Value::SmallInt(x) => hash_small_int(*x),
            Value::BigInt(x) => hash_int(x.get()),
            Value::CodePoint(cp) => cp.hash(),
            Value::Tuple(t) => t.hash(),
            Value::Buffer(b) => b.hash(),
        }
    }

    /// The wrapping size used by tuple hashing (AVM.md §1.3).
    pub fn size(&self) -> U256 {
        match self {
            Value::Tuple(t) => t.size(),
            _ => U256::one(),
        }
    }

    /// This value's structure if its hash is not computed yet.
    pub(crate) fn unhashed(&self) -> Option<Unhashed<'_>> {
        match self {
            Value::Tuple(t) if !tuple::is_hashed(t.shared()) => Some(Unhashed::Tuple(t.shared())),
            Value::CodePoint(cp) if !cp.node().is_hashed() => Some(Unhashed::Code(cp.node())),
            _ => None,
        }
    }

    /// Whether this is the last handle to a structure that owns further structure (dropping it
    /// may walk an unbounded depth).
    pub(crate) fn is_unique_parent(&self) -> bool {
        match self {
            Value::Tuple(t) => t.is_unique_parent(),
            Value::CodePoint(cp) => cp.is_unique_parent(),
            _ => false,
        }
    }

    /// Whether dropping this value may walk a structure of unbounded depth.
    pub(crate) fn owns_children(&self) -> bool {
        match self {
            Value::Tuple(t) => !t.is_empty(),
            Value::CodePoint(cp) => cp.owns_children(),
            _ => false,
        }
    }
}

/// AVM equality (AVM.md §1.4): same kind and same hash. Ints are canonical, so a small and a
/// big Int are never equal.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::SmallInt(a), Value::SmallInt(b)) => a == b,
            (Value::BigInt(a), Value::BigInt(b)) => a.get() == b.get(),
            (Value::Tuple(a), Value::Tuple(b)) => {
                a.ptr_eq(b) || (a.len() == b.len() && a.hash() == b.hash())
            }
            (Value::CodePoint(a), Value::CodePoint(b)) => a.hash() == b.hash(),
            (Value::Buffer(a), Value::Buffer(b)) => a.ptr_eq(b) || a.root() == b.root(),
            _ => false,
        }
    }
}

impl Eq for Value {}

impl From<U256> for Value {
    fn from(x: U256) -> Value {
        Value::int(x)
    }
}

impl From<u64> for Value {
    fn from(x: u64) -> Value {
        Value::SmallInt(x)
    }
}

impl From<Tuple> for Value {
    fn from(t: Tuple) -> Value {
        Value::Tuple(t)
    }
}

impl From<CodePoint> for Value {
    fn from(cp: CodePoint) -> Value {
        Value::CodePoint(cp)
    }
}

impl From<Buffer> for Value {
    fn from(b: Buffer) -> Value {
        Value::Buffer(b)
    }
}

/// A tuple or codepoint whose hash is not cached yet.
pub(crate) enum Unhashed<'a> {
    Tuple(&'a TupleData),
    Code(&'a CodeNode),
}

impl Unhashed<'_> {
    fn is_hashed(&self) -> bool {
        match self {
            Unhashed::Tuple(t) => tuple::is_hashed(t),
            Unhashed::Code(c) => c.is_hashed(),
        }
    }
}

/// Hashes `root` and every unhashed tuple and run-time codepoint it reaches, parts first, with
/// an explicit worklist: nests and codepoint chains of any depth hash without native recursion.
pub(crate) fn fill_hashes(root: Unhashed<'_>) {
    let mut pending = vec![root];
    while let Some(top) = pending.last() {
        if top.is_hashed() {
            pending.pop();
            continue;
        }
        let part = match top {
            Unhashed::Tuple(t) => tuple::unhashed_slot(t),
            Unhashed::Code(c) => c.unhashed_part(),
        };
        match part {
            Some(part) => pending.push(part),
            None => {
                match top {
                    Unhashed::Tuple(t) => tuple::store_digest(t),
                    Unhashed::Code(c) => c.store_hash(),
                }
                pending.pop();
            }
        }
    }
}

/// How deep drops of nested structure may recurse on the native stack before the rest goes
/// through [`dismantle`]'s worklist.
const NATIVE_DROP_DEPTH: u32 = 32;

thread_local! {
    /// The native recursion depth of [`release`] on this thread.
    static DROP_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Drops values that are each the last handle to further structure: directly while the drop
/// recursion is shallow (the common case, with no allocation), through the worklist of
/// [`dismantle`] once it is deep, so that nests of any depth never overflow the stack.
#[inline(never)]
pub(crate) fn release(children: impl Iterator<Item = Value>) {
    let depth = DROP_DEPTH.get();
    if depth < NATIVE_DROP_DEPTH {
        DROP_DEPTH.set(depth + 1);
        children.for_each(drop);
        DROP_DEPTH.set(depth);
    } else {
        dismantle(children.collect());
    }
}

/// Drops `values` and everything only they own, breadth first on the heap instead of depth first
/// on the native stack, so nests of any depth free without overflowing it.
pub(crate) fn dismantle(mut values: Vec<Value>) {
    while let Some(value) = values.pop() {
        let children = match value {
            Value::Tuple(t) => t.into_slots_if_unique(),
            Value::CodePoint(cp) => cp.into_children_if_unique(),
            _ => None,
        };
        if let Some(children) = children {
            values.extend(children.into_iter().filter(Value::owns_children));
        }
    }
}

/// Writes an Int the way the assembler reads it back: decimal below 2^64, else `0x` hex.
pub(crate) fn write_int(out: &mut impl fmt::Write, x: &U256) -> fmt::Result {
    if x.bits() <= 64 {
        write!(out, "{}", x.low_u64())
    } else {
        write!(out, "{x:#x}")
    }
}

/// Formats a value without recursion in the assembler's notation ([`crate::asm`]); codepoints,
/// which have no label outside a program, are written `codepoint(op, next 0x…)`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Plain;
        impl<W: fmt::Write> Notation<W> for Plain {
            fn codepoint(&mut self, out: &mut W, cp: &CodePoint) -> fmt::Result {
                write!(
                    out,
                    "codepoint({:#04x}, next {:#066x})",
                    cp.opcode(),
                    cp.next_hash()
                )
            }
        }
        write_value(f, self, &mut Plain)
    }
}

impl Value {
    /// The value in the assembler's notation, cut to at most `max_chars` characters (the last
    /// one `…` when cut): for reports and traces, where one value may be megabytes long.
    pub fn brief(&self, max_chars: usize) -> String {
        /// Keeps the first `room` characters, then refuses more.
        struct Bounded {
            text: String,
            room: usize,
            cut: bool,
        }
        impl fmt::Write for Bounded {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for c in s.chars() {
                    if self.room == 0 {
                        self.cut = true;
                        return Err(fmt::Error);
                    }
                    self.text.push(c);
                    self.room -= 1;
                }
                Ok(())
            }
        }
        let mut out = Bounded {
            text: String::new(),
            room: max_chars,
            cut: false,
        };
        let _ = fmt::write(&mut out, format_args!("{self}"));
        if out.cut && max_chars > 0 {
            out.text.pop();
            out.text.push('…');
        }
        out.text
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The largest buffer written out byte by byte when formatting.
pub(crate) const FORMAT_BUFFER_LIMIT: usize = 1 << 20;

/// How each part of a value is written; the defaults are the assembler's notation.
pub(crate) trait Notation<W: fmt::Write> {
    /// A codepoint (notations differ in how they name one).
    fn codepoint(&mut self, out: &mut W, cp: &CodePoint) -> fmt::Result;

    fn int(&mut self, out: &mut W, x: &U256) -> fmt::Result {
        write_int(out, x)
    }

    fn buffer(&mut self, out: &mut W, b: &Buffer) -> fmt::Result {
        match b.to_bytes(FORMAT_BUFFER_LIMIT) {
            Some(bytes) => {
                out.write_str("buffer(0x")?;
                write_hex(out, &bytes)?;
                out.write_str(")")
            }
            None => write!(out, "buffer(root {:#066x})", b.root()),
        }
    }

    fn open_tuple(&mut self, out: &mut W) -> fmt::Result {
        out.write_str("(")
    }

    fn separator(&mut self, out: &mut W) -> fmt::Result {
        out.write_str(", ")
    }

    fn close_tuple(&mut self, out: &mut W) -> fmt::Result {
        out.write_str(")")
    }
}

/// Writes bytes as lower-case hex digits.
pub(crate) fn write_hex(out: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|byte| write!(out, "{byte:02x}"))
}

/// Writes `value` in `notation`, iteratively.
pub(crate) fn write_value<W: fmt::Write>(
    out: &mut W,
    value: &Value,
    notation: &mut impl Notation<W>,
) -> fmt::Result {
    enum Item<'a> {
        Value(&'a Value),
        Separator,
        Close,
    }
    let mut work = vec![Item::Value(value)];
    while let Some(item) = work.pop() {
        match item {
            Item::Separator => notation.separator(out)?,
            Item::Close => notation.close_tuple(out)?,
            Item::Value(Value::SmallInt(x)) => notation.int(out, &U256::from(*x))?,
            Item::Value(Value::BigInt(x)) => notation.int(out, x.get())?,
            Item::Value(Value::CodePoint(cp)) => notation.codepoint(out, cp)?,
            Item::Value(Value::Buffer(b)) => notation.buffer(out, b)?,
            Item::Value(Value::Tuple(t)) => {
                notation.open_tuple(out)?;
                work.push(Item::Close);
                for (i, slot) in t.slots().iter().enumerate().rev() {
                    work.push(Item::Value(slot));
                    if i > 0 {
                        work.push(Item::Separator);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_kind_word_then_payload() {
        fn payload_offset(value: &Value) -> usize {
            let base = value as *const Value as usize;
            let payload = match value {
                Value::SmallInt(x) => x as *const u64 as usize,
                Value::BigInt(x) => x as *const BigInt as usize,
                Value::CodePoint(x) => x as *const CodePoint as usize,
                Value::Tuple(x) => x as *const Tuple as usize,
                Value::Buffer(x) => x as *const Buffer as usize,
            };
            payload - base
        }
        let values = [
            Value::int(7u64),
            Value::int(U256::MAX),
            Value::CodePoint(CodePoint::err()),
            Value::none(),
            Value::Buffer(Buffer::new()),
        ];
        for value in &values {
            assert_eq!(payload_offset(value), layout::PAYLOAD_OFFSET);
        }
        assert_eq!(std::mem::size_of::<Option<Value>>(), layout::SIZE);
    }

    #[test]
    fn ints_are_canonical() {
        assert!(matches!(
            Value::int(U256::from(u64::MAX)),
            Value::SmallInt(u64::MAX)
        ));
        assert!(matches!(
            Value::int(U256::from(u64::MAX) + 1),
            Value::BigInt(_)
        ));
        assert_eq!(Value::int(U256::MAX).as_int(), Some(U256::MAX));
        assert_eq!(Value::int(5u64).as_int(), Some(U256::from(5)));
        assert_eq!(Value::none().as_int(), None);
        assert_ne!(Value::int(U256::MAX), Value::int(U256::MAX - 1));
        assert_eq!(Value::int(U256::MAX), Value::int(U256::MAX));
    }

    #[test]
    fn values_stay_on_their_thread_and_programs_are_shared() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Program>();
        assert_send_sync::<crate::Frozen>();
        // Compiles only while `Value` is not `Send` (plain counts, `heap`): were it `Send`, both
        // impls would apply and the call below would be ambiguous.
        trait NotSend<A> {
            fn check() {}
        }
        impl<T: ?Sized> NotSend<()> for T {}
        impl<T: ?Sized + Send> NotSend<u8> for T {}
        <Value as NotSend<_>>::check();
    }

    #[test]
    fn brief_renderings_are_cut_to_their_bound() {
        let pair = Value::tuple(vec![Value::int(1u64), Value::none()]);
        assert_eq!(pair.brief(80), "(1, ())");
        assert_eq!(pair.brief(7), "(1, ())");
        assert_eq!(pair.brief(6), "(1, (…");
        let big = Value::Buffer(Buffer::new().write(0, &[0xab; 4096]));
        let text = big.brief(20);
        assert_eq!(text.chars().count(), 20);
        assert!(
            text.starts_with("buffer(0xabab") && text.ends_with('…'),
            "{text}"
        );
        let mut deep = Value::none();
        for _ in 0..1_000_000 {
            deep = Value::tuple(vec![deep]);
        }
        assert_eq!(deep.brief(4), "(((…");
    }

    #[test]
    fn equality_is_kind_and_hash() {
        let pair = Value::tuple(vec![Value::int(1u64), Value::int(2u64)]);
        assert_eq!(pair, Value::tuple(vec![Value::int(1u64), Value::int(2u64)]));
        assert_ne!(pair, Value::tuple(vec![Value::int(1u64), Value::int(3u64)]));
        assert_ne!(Value::int(0u64), Value::none());
        assert_ne!(Value::Buffer(Buffer::new()), Value::int(0u64));
    }
}
