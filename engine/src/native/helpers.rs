//! The Rust functions region code calls for what it does not do inline: freeing the last handle
//! to an object, cloning a buffer handle, updating a tuple that is shared or hashed, and making
//! room on the stacks.
//!
//! Region code holds values as their two words (kind and payload, `avm_runtime::value::layout`)
//! and keeps the counting rule of `avm_runtime::heap`: every pair of words it passes here is a
//! value handle it owns (or borrows, for [`clone_value`]), so rebuilding the [`Value`] from its
//! words and dropping or keeping it is what the interpreter would do with that handle.
#![allow(unsafe_code)]

use avm_interp::engine_hooks::EngineHooks;
use avm_interp::{Machine, Pc, Status};
use avm_runtime::Value;

/// The handle whose words are `kind` and `payload`.
///
/// # Safety
/// The words must be those of a live value handle that the caller gives up (or forgets again).
unsafe fn value(kind: u64, payload: u64) -> Value {
    // SAFETY: `Value` is `#[repr(u64)]`, 16 bytes: its kind word then its payload word; the
    // caller passes the words of a live handle, so they are a valid `Value`.
    unsafe { std::mem::transmute::<[u64; 2], Value>([kind, payload]) }
}

/// The words of `value`, which the caller now owns as a handle.
fn words(value: Value) -> [u64; 2] {
    // SAFETY: as in `value`: a `Value` is exactly its two words, and the handle they make is
    // handed to the caller with them (nothing is dropped here).
    unsafe { std::mem::transmute::<Value, [u64; 2]>(value) }
}

/// The payload word of `value` (its Int, or its object's address), read without taking a
/// handle: region code embeds the address of a program's immortal constant.
pub fn payload_word(value: &Value) -> u64 {
    // SAFETY: a `Value` is 16 bytes, its kind word then its payload word
    // (`avm_runtime::value::layout`); reading the second word copies plain data.
    unsafe {
        (value as *const Value)
            .cast::<u64>()
            .add(avm_runtime::value::layout::PAYLOAD_OFFSET / 8)
            .read()
    }
}

/// Drops a value handle (region code calls it when the count may reach zero, or for a buffer).
///
/// # Safety
/// `kind` and `payload` are the words of a value handle the caller owns and gives up.
pub unsafe extern "C" fn drop_value(kind: u64, payload: u64) {
    // SAFETY: the caller gives up this handle (the function's contract).
    drop(unsafe { value(kind, payload) });
}

/// Adds a handle to the object a value points to (region code calls it for buffers, which
/// count atomically, and for a count about to overflow, which aborts as `Clone` does).
///
/// # Safety
/// `kind` and `payload` are the words of a live value handle (borrowed: it stays the caller's).
pub unsafe extern "C" fn clone_value(kind: u64, payload: u64) {
    // SAFETY: the handle is borrowed: rebuilt, cloned, and forgotten again, so its count is
    // unchanged while the clone's new count stays with the words the caller copies.
    let borrowed = std::mem::ManuallyDrop::new(unsafe { value(kind, payload) });
    std::mem::forget(Value::clone(&borrowed));
}

/// `tset`/`xset` of slot `index` to the value `(kind, payload)` on the tuple `tuple` when the
/// tuple is shared or hashed: returns the payload word of the updated tuple handle.
///
/// # Safety
/// `tuple` is the payload of a tuple handle with more than `index` slots, and `(kind, payload)`
/// the words of a value handle; the caller gives up both and owns the returned handle.
pub unsafe extern "C" fn tuple_set(tuple: u64, index: u64, kind: u64, payload: u64) -> u64 {
    // SAFETY: both handles are given up by the caller (the function's contract).
    let (mut handle, slot) = unsafe {
        (
            value(avm_runtime::value::layout::TUPLE, tuple),
            value(kind, payload),
        )
    };
    match &mut handle {
        Value::Tuple(t) => t.set(index as usize, slot),
        _ => unreachable!("region code checked the kind"),
    }
    words(handle)[1]
}

/// The loaded pc that a jump to the codepoint `payload` goes to, or `u64::MAX` when the
/// codepoint is not one of the program's (the interpreter then runs the jump).
///
/// # Safety
/// `machine` points to a machine, and `payload` is the payload word of a live codepoint handle
/// (borrowed: it stays the caller's).
pub unsafe extern "C" fn resolve_jump(machine: *const Machine, payload: u64) -> u64 {
    // SAFETY: region code passes the machine it runs, not otherwise borrowed during the call.
    let machine = unsafe { &*machine };
    // SAFETY: the handle is borrowed: rebuilt and never dropped.
    let target = std::mem::ManuallyDrop::new(unsafe {
        value(avm_runtime::value::layout::CODEPOINT, payload)
    });
    match &*target {
        Value::CodePoint(cp) => machine
            .program()
            .index_of(cp)
            .map_or(u64::MAX, |pc| pc as u64),
        _ => unreachable!("region code checked the kind"),
    }
}

/// Runs the instruction at the machine's pc (a loaded, plain one) in the interpreter; returns 0
/// when control goes on to the next instruction, 1 when it went elsewhere (an error).
///
/// # Safety
/// `machine` points to a machine nothing else borrows during the call, written back whole.
pub unsafe extern "C" fn interpret_step(machine: *mut Machine) -> u64 {
    // SAFETY: region code passes the machine it runs, with nothing of it held in registers
    // that the interpreter could change (it wrote everything back first).
    let machine = unsafe { &mut *machine };
    let Pc::Loaded(at) = *machine.pc() else {
        unreachable!("region code runs at loaded pcs")
    };
    machine.step_plain();
    let went_on = machine.status() == Status::Running
        && matches!(machine.pc(), Pc::Loaded(to) if *to == at + 1);
    u64::from(!went_on)
}

/// The opcode `op` (`iszero`, or one of the binary opcodes region code runs inline) on the
/// values `(a_kind, a_payload)` (the top operand) and `(b_kind, b_payload)` (ignored by
/// `iszero`), as the interpreter computes it (the same `avm_runtime::math` functions), for the
/// operands the inline code does not take (Ints of 64 bits or more, `eq` on any values,
/// results past 64 bits, zero divisors). Writes the result's words (a handle the caller owns)
/// to `out` and returns 0, or returns 1 when the operation raises an error (an operand is not
/// an Int, a divisor is zero), writing nothing: the interpreter then runs the instruction.
///
/// # Safety
/// The operand words are those of live value handles, borrowed (they stay the caller's), and
/// `out` points to two writable words.
pub unsafe extern "C" fn value_op(
    op: u64,
    a_kind: u64,
    a_payload: u64,
    b_kind: u64,
    b_payload: u64,
    out: *mut u64,
) -> u64 {
    use avm_runtime::opcode;
    // SAFETY: both handles are borrowed: rebuilt and never dropped.
    let (a, b) = unsafe {
        (
            std::mem::ManuallyDrop::new(value(a_kind, a_payload)),
            std::mem::ManuallyDrop::new(value(b_kind, b_payload)),
        )
    };
    let result = match op as u8 {
        opcode::EQ => Some(Value::bool(*a == *b)),
        opcode::ISZERO => a.as_int().map(|x| Value::bool(x.is_zero())),
        opcode::NOT => a.as_int().map(|x| Value::int(!x)),
        // A zero divisor raises an error: the interpreter reports it.
        op => a
            .as_int()
            .zip(b.as_int())
            .and_then(|(x, y)| avm_interp::int_pair(op, x, y).ok()),
    };
    match result {
        Some(result) => {
            let [kind, payload] = words(result);
            // SAFETY: `out` points to two writable words (the function's contract).
            unsafe {
                out.write(kind);
                out.add(1).write(payload);
            }
            0
        }
        None => 1,
    }
}

/// Makes room for `data` more values on the data stack and `aux` more on the aux stack.
///
/// # Safety
/// `machine` points to a machine nothing else borrows during the call.
pub unsafe extern "C" fn reserve(machine: *mut Machine, data: u64, aux: u64) {
    // SAFETY: region code passes the machine it was called with, which it does not otherwise
    // use while this runs.
    let machine = unsafe { &mut *machine };
    machine.stack_mut().reserve(data as usize);
    machine.aux_stack_mut().reserve(aux as usize);
}

/// Aborts the process: a count would reach the immortal mark (see `avm_runtime::heap`).
pub extern "C" fn count_overflow() {
    std::process::abort();
}
