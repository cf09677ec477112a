//! The four kinds of AVM value (AVM.md §1.2).

use std::cell::Cell;
use std::fmt;

use primitive_types::U256;

use crate::buffer::Buffer;
use crate::codepoint::{CodeNode, CodePoint};
use crate::hash::hash_int;
use crate::tuple::{self, Tuple, TupleData};

/// An AVM value. Cloning is cheap: tuples, codepoints and buffers are shared by reference.
#[derive(Clone)]
pub enum Value {
    /// A 256-bit unsigned integer.
    Int(U256),
    /// A point in code.
    CodePoint(CodePoint),
    /// 0 to 8 values.
    Tuple(Tuple),
    /// A sparse byte array.
    Buffer(Buffer),
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
    /// The Int `x`.
    pub fn int(x: impl Into<U256>) -> Value {
        Value::Int(x.into())
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
            Value::Int(_) => Kind::Int,
            Value::CodePoint(_) => Kind::CodePoint,
            Value::Tuple(_) => Kind::Tuple,
            Value::Buffer(_) => Kind::Buffer,
        }
    }

    /// The value hash (AVM.md §2); tuple hashes are cached.
    pub fn hash(&self) -> U256 {
        match self {
            Value::Int(x) => hash_int(x),
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
            Value::Tuple(t) if !tuple::is_hashed(t.data()) => Some(Unhashed::Tuple(t.data())),
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

/// AVM equality (AVM.md §1.4): same kind and same hash.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a == b,
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
        Value::Int(x)
    }
}

impl From<u64> for Value {
    fn from(x: u64) -> Value {
        Value::Int(U256::from(x))
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
            Item::Value(Value::Int(x)) => notation.int(out, x)?,
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
    fn values_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Value>();
        assert_send_sync::<crate::Program>();
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
