//! `OneStepProof`, the main checker contract: every opcode but the hashing and buffer ones,
//! and every invalid opcode (PROOFS.md §4, §6 for `inbox`; semantics AVM.md §8, §10.5).

use avm_runtime::U256;
use avm_runtime::hash::{ERR_CODEPOINT_HASH, hash_int, hash2};
use avm_runtime::opcode::{self, *};
use avm_runtime::{math, precompile};

use super::{Fault, OpFn, OpResult, raise};
use crate::verify::step::{Status, Step};
use crate::verify::value::{Arena, ValId};
use crate::verify::{Rejection, inbox};

/// The main contract's operation for `op`; `None` for the other contracts' opcodes.
pub(super) fn operation(op: u8) -> Option<OpFn> {
    Some(match op {
        ADD => add,
        MUL => mul,
        SUB => sub,
        DIV => div,
        SDIV => sdiv,
        MOD => modulo,
        SMOD => smod,
        ADDMOD => addmod,
        MULMOD => mulmod,
        EXP => exp,
        SIGNEXTEND => signextend,
        LT => lt,
        GT => gt,
        SLT => slt,
        SGT => sgt,
        EQ => eq,
        ISZERO => iszero,
        AND => and,
        OR => or,
        XOR => xor,
        NOT => not,
        BYTE => byte,
        SHL => shl,
        SHR => shr,
        SAR => sar,
        POP | DEBUGPRINT => pop,
        SPUSH => spush,
        RPUSH => rpush,
        RSET => rset,
        JUMP => jump,
        CJUMP => cjump,
        STACKEMPTY => stackempty,
        PCPUSH => pcpush,
        AUXPUSH => auxpush,
        AUXPOP => auxpop,
        AUXSTACKEMPTY => auxstackempty,
        NOP | BREAKPOINT => nop,
        ERRPUSH => errpush,
        ERRSET => errset,
        DUP0 => dup0,
        DUP1 => dup1,
        DUP2 => dup2,
        SWAP1 => swap1,
        SWAP2 => swap2,
        TGET => tget,
        TSET => tset,
        TLEN => tlen,
        XGET => xget,
        XSET => xset,
        LOG => log,
        INBOX => inbox,
        ERROR => raise,
        HALT => halt,
        SETGAS => setgas,
        PUSHGAS => pushgas,
        ERRCODEPOINT => errcodepoint,
        PUSHINSN => pushinsn,
        PUSHINSNIMM => pushinsnimm,
        SIDELOAD => sideload,
        ECRECOVER => ecrecover,
        ECADD => ecadd,
        ECMUL => ecmul,
        ECPAIRING => ecpairing,
        NEWBUFFER => newbuffer,
        _ if opcode::info(op).is_none() => raise,
        _ => return None,
    })
}

// ---- arithmetic, comparison and bitwise (AVM.md §8.1, §8.2; operands top first) ----

/// Pops two Ints `a` (top) and `b`, pushes `f(a, b)`; `None` raises.
fn binary(s: &mut Step<'_>, f: fn(U256, U256) -> Option<U256>) -> OpResult {
    let a = s.pop_int()?;
    let b = s.pop_int()?;
    let result = f(a, b).ok_or(Fault::Raise)?;
    s.push_int(result);
    Ok(())
}

/// Pops three Ints, pushes `f(a, b, c)`; `None` raises.
fn ternary(s: &mut Step<'_>, f: fn(U256, U256, U256) -> Option<U256>) -> OpResult {
    let a = s.pop_int()?;
    let b = s.pop_int()?;
    let c = s.pop_int()?;
    let result = f(a, b, c).ok_or(Fault::Raise)?;
    s.push_int(result);
    Ok(())
}

/// Pops one Int, pushes `f(a)`.
fn unary(s: &mut Step<'_>, f: fn(U256) -> U256) -> OpResult {
    let a = s.pop_int()?;
    s.push_int(f(a));
    Ok(())
}

fn flag(b: bool) -> U256 {
    U256::from(u8::from(b))
}

fn add(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::add(a, b)))
}
fn mul(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::mul(a, b)))
}
fn sub(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::sub(a, b)))
}
fn div(s: &mut Step<'_>) -> OpResult {
    binary(s, math::div)
}
fn sdiv(s: &mut Step<'_>) -> OpResult {
    binary(s, math::sdiv)
}
fn modulo(s: &mut Step<'_>) -> OpResult {
    binary(s, math::modulo)
}
fn smod(s: &mut Step<'_>) -> OpResult {
    binary(s, math::smod)
}
fn addmod(s: &mut Step<'_>) -> OpResult {
    ternary(s, math::addmod)
}
fn mulmod(s: &mut Step<'_>) -> OpResult {
    ternary(s, math::mulmod)
}
fn exp(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::exp(a, b)))
}
fn signextend(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::signextend(a, b)))
}
fn lt(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(flag(a < b)))
}
fn gt(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(flag(a > b)))
}
fn slt(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(flag(math::slt(a, b))))
}
fn sgt(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(flag(math::slt(b, a))))
}
fn iszero(s: &mut Step<'_>) -> OpResult {
    unary(s, |a| flag(a.is_zero()))
}
fn and(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(a & b))
}
fn or(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(a | b))
}
fn xor(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(a ^ b))
}
fn not(s: &mut Step<'_>) -> OpResult {
    unary(s, |a| !a)
}
fn byte(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::byte(a, b)))
}
fn shl(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::shl(a, b)))
}
fn shr(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::shr(a, b)))
}
fn sar(s: &mut Step<'_>) -> OpResult {
    binary(s, |a, b| Some(math::sar(a, b)))
}

/// `eq` compares hashes, whatever the kinds (PROOFS.md §4).
fn eq(s: &mut Step<'_>) -> OpResult {
    let a = s.pop()?;
    let b = s.pop()?;
    let equal = s.arena.hash(a) == s.arena.hash(b);
    s.push_bool(equal);
    Ok(())
}

// ---- stack, register and flow (AVM.md §8.3, §8.4) ----

fn pop(s: &mut Step<'_>) -> OpResult {
    s.pop()?;
    Ok(())
}
fn spush(s: &mut Step<'_>) -> OpResult {
    s.push(s.static_value);
    Ok(())
}
fn rpush(s: &mut Step<'_>) -> OpResult {
    s.push(s.register);
    Ok(())
}
fn rset(s: &mut Step<'_>) -> OpResult {
    s.register = s.pop()?;
    Ok(())
}
fn nop(_: &mut Step<'_>) -> OpResult {
    Ok(())
}

/// Pops a codepoint and returns its hash; any other kind raises.
fn pop_codepoint_hash(s: &mut Step<'_>) -> Result<U256, Fault> {
    let v = s.pop()?;
    if s.arena.is_codepoint(v) {
        Ok(s.arena.hash(v))
    } else {
        Err(Fault::Raise)
    }
}

fn jump(s: &mut Step<'_>) -> OpResult {
    s.pc = pop_codepoint_hash(s)?;
    Ok(())
}

/// Both operands are checked whatever the condition (AVM.md §8.3).
fn cjump(s: &mut Step<'_>) -> OpResult {
    let dest = s.pop()?;
    let cond = s.pop_int()?;
    if !s.arena.is_codepoint(dest) {
        return Err(Fault::Raise);
    }
    if !cond.is_zero() {
        s.pc = s.arena.hash(dest);
    }
    Ok(())
}

/// 1 iff no operand is left (an immediate counts) and the remainder is the empty stack.
fn stackempty(s: &mut Step<'_>) -> OpResult {
    let empty = s.work.is_empty() && s.data_rest.is_empty();
    s.push_bool(empty);
    Ok(())
}
fn auxstackempty(s: &mut Step<'_>) -> OpResult {
    let empty = s.work_aux.is_empty() && s.aux_rest.is_empty();
    s.push_bool(empty);
    Ok(())
}

/// Pushes a hash-only value equal to the current codepoint (PROOFS.md §4).
fn pcpush(s: &mut Step<'_>) -> OpResult {
    let v = s.arena.hash_only(s.start_pc);
    s.push(v);
    Ok(())
}
fn auxpush(s: &mut Step<'_>) -> OpResult {
    let v = s.pop()?;
    s.work_aux.push(v);
    Ok(())
}
fn auxpop(s: &mut Step<'_>) -> OpResult {
    let v = s.pop_aux()?;
    s.push(v);
    Ok(())
}
fn errpush(s: &mut Step<'_>) -> OpResult {
    let v = s.arena.hash_only(s.err_handler);
    s.push(v);
    Ok(())
}
fn errset(s: &mut Step<'_>) -> OpResult {
    s.err_handler = pop_codepoint_hash(s)?;
    Ok(())
}

/// Pops `N` operands (top first) and pushes `order` of them, naming them by pop position.
fn rearrange<const N: usize>(s: &mut Step<'_>, order: &[usize]) -> OpResult {
    let mut popped = [None; N];
    for slot in &mut popped {
        *slot = Some(s.pop()?);
    }
    for &i in order {
        let v = popped
            .get(i)
            .copied()
            .flatten()
            .ok_or(Rejection::OperandMissing)?;
        s.push(v);
    }
    Ok(())
}
fn dup0(s: &mut Step<'_>) -> OpResult {
    rearrange::<1>(s, &[0, 0])
}
fn dup1(s: &mut Step<'_>) -> OpResult {
    rearrange::<2>(s, &[1, 0, 1])
}
fn dup2(s: &mut Step<'_>) -> OpResult {
    rearrange::<3>(s, &[2, 1, 0, 2])
}
fn swap1(s: &mut Step<'_>) -> OpResult {
    rearrange::<2>(s, &[0, 1])
}
fn swap2(s: &mut Step<'_>) -> OpResult {
    rearrange::<3>(s, &[0, 1, 2])
}

// ---- tuples (AVM.md §8.5) ----

/// The slots of expanded tuple `tuple` and `index` as a position in it; raises unless the
/// tuple is expanded and `index < len`.
fn indexed(arena: &Arena, tuple: ValId, index: U256) -> Result<(Vec<ValId>, usize), Fault> {
    let slots = arena.as_tuple(tuple).ok_or(Fault::Raise)?;
    let i = usize::try_from(index)
        .ok()
        .filter(|&i| i < slots.len())
        .ok_or(Fault::Raise)?;
    Ok((slots.to_vec(), i))
}

fn tget(s: &mut Step<'_>) -> OpResult {
    let index = s.pop_int()?;
    let tuple = s.pop()?;
    let (slots, i) = indexed(&s.arena, tuple, index)?;
    s.push(slots[i]);
    Ok(())
}
fn tset(s: &mut Step<'_>) -> OpResult {
    let index = s.pop_int()?;
    let tuple = s.pop()?;
    let value = s.pop()?;
    let (mut slots, i) = indexed(&s.arena, tuple, index)?;
    slots[i] = value;
    let updated = s.arena.tuple(slots);
    s.push(updated);
    Ok(())
}
fn tlen(s: &mut Step<'_>) -> OpResult {
    let tuple = s.pop()?;
    let len = s.arena.as_tuple(tuple).ok_or(Fault::Raise)?.len();
    s.push_int(U256::from(len));
    Ok(())
}
/// The aux top stays in place on success; on error the error path removes it.
fn xget(s: &mut Step<'_>) -> OpResult {
    let index = s.pop_int()?;
    let tuple = s.pop_aux()?;
    let (slots, i) = indexed(&s.arena, tuple, index)?;
    s.push(slots[i]);
    s.work_aux.push(tuple);
    Ok(())
}
fn xset(s: &mut Step<'_>) -> OpResult {
    let index = s.pop_int()?;
    let value = s.pop()?;
    let tuple = s.pop_aux()?;
    let (mut slots, i) = indexed(&s.arena, tuple, index)?;
    slots[i] = value;
    let updated = s.arena.tuple(slots);
    s.work_aux.push(updated);
    Ok(())
}

// ---- logging and system (AVM.md §8.6, §8.7; PROOFS.md §4) ----

/// `logAcc' = hash2(logAcc, hash(v))`.
fn log(s: &mut Step<'_>) -> OpResult {
    let v = s.pop()?;
    s.log_acc = hash2(&s.log_acc, &s.arena.hash(v));
    Ok(())
}

/// Pushes the message of the inbox proof, checked against the accumulator oracle, and counts
/// it read (PROOFS.md §6).
fn inbox(s: &mut Step<'_>) -> OpResult {
    let (message, read) = inbox::read(s.extra, &mut s.arena, s.messages_read, s.inbox_accs)?;
    s.messages_read = s
        .messages_read
        .checked_add(1)
        .ok_or(Rejection::CountOverflow)?;
    s.inbox_read = Some(read);
    s.push(message);
    Ok(())
}
fn halt(s: &mut Step<'_>) -> OpResult {
    s.status = Status::Halted;
    Ok(())
}
fn setgas(s: &mut Step<'_>) -> OpResult {
    s.gas = s.pop_int()?;
    Ok(())
}
fn pushgas(s: &mut Step<'_>) -> OpResult {
    s.push_int(s.gas);
    Ok(())
}
/// Pushes a hash-only value `H_ERR` (PROOFS.md §4).
fn errcodepoint(s: &mut Step<'_>) -> OpResult {
    let v = s.arena.hash_only(*ERR_CODEPOINT_HASH);
    s.push(v);
    Ok(())
}
/// The low 8 bits of the opcode Int (AVM.md §8.7).
fn opcode_byte(x: U256) -> u8 {
    x.low_u64() as u8
}
fn pushinsn(s: &mut Step<'_>) -> OpResult {
    let op = s.pop_int()?;
    let next = pop_codepoint_hash(s)?;
    let cp = s.arena.codepoint(opcode_byte(op), None, next);
    s.push(cp);
    Ok(())
}
fn pushinsnimm(s: &mut Step<'_>) -> OpResult {
    let op = s.pop_int()?;
    let immediate = s.pop()?;
    let next = pop_codepoint_hash(s)?;
    let cp = s.arena.codepoint(opcode_byte(op), Some(immediate), next);
    s.push(cp);
    Ok(())
}
/// The operand must be an Int; no sideload value is provable, so `()` (PROOFS.md §4).
fn sideload(s: &mut Step<'_>) -> OpResult {
    s.pop_int()?;
    let none = s.arena.empty_tuple();
    s.push(none);
    Ok(())
}
fn newbuffer(s: &mut Step<'_>) -> OpResult {
    let empty = s.arena.buffer(hash_int(&U256::zero()));
    s.push(empty);
    Ok(())
}

// ---- elliptic-curve precompiles (AVM.md §10.5, PROOFS.md §4) ----

/// EVM precompile 1 with `r = S0, s = S1, v = S2 + 27, msg = S3`; failures push 0.
fn ecrecover(s: &mut Step<'_>) -> OpResult {
    let r = s.pop_int()?;
    let sig_s = s.pop_int()?;
    let v = s.pop_int()?;
    let msg = s.pop_int()?;
    s.push_int(precompile::ecrecover(&r, &sig_s, &v, &msg));
    Ok(())
}

/// Pushes a G1 point as `y`, then `x` (x on top).
fn push_point(s: &mut Step<'_>, (x, y): (U256, U256)) -> OpResult {
    s.push_int(y);
    s.push_int(x);
    Ok(())
}
fn ecadd(s: &mut Step<'_>) -> OpResult {
    let [ax, ay, bx, by] = [s.pop_int()?, s.pop_int()?, s.pop_int()?, s.pop_int()?];
    let sum = precompile::ecadd(&ax, &ay, &bx, &by).ok_or(Fault::Raise)?;
    push_point(s, sum)
}
fn ecmul(s: &mut Step<'_>) -> OpResult {
    let [x, y, k] = [s.pop_int()?, s.pop_int()?, s.pop_int()?];
    let product = precompile::ecmul(&x, &y, &k).ok_or(Fault::Raise)?;
    push_point(s, product)
}

/// Walks the pair list, charges per pair, then checks the list and its points and runs EVM
/// precompile 8 (PROOFS.md §4). If the per-pair charge fails, the base cost is given back, so
/// the step costs the error gas alone.
fn ecpairing(s: &mut Step<'_>) -> OpResult {
    let list = s.pop()?;
    let (items, well_formed) = walk_pairs(&s.arena, list);
    if !s.charge(ECPAIRING_GAS_PER_PAIR * items.len() as u64) {
        let base = opcode::info(ECPAIRING).map_or(0, |info| info.gas);
        s.gas_used = s.gas_used.saturating_sub(base);
        return Err(Fault::Raise);
    }
    if !well_formed {
        return Err(Fault::Raise);
    }
    let points = items
        .iter()
        .map(|&item| six_ints(&s.arena, item))
        .collect::<Option<Vec<_>>>()
        .ok_or(Fault::Raise)?;
    let product_is_one = precompile::ecpairing(&points).ok_or(Fault::Raise)?;
    s.push_bool(product_is_one);
    Ok(())
}

/// The items of a `(item, rest)` list, at most [`ECPAIRING_MAX_PAIRS`], and whether the list
/// is well formed: every link an expanded 2-tuple, ending on `()` within the limit.
fn walk_pairs(arena: &Arena, mut node: ValId) -> (Vec<ValId>, bool) {
    let mut items = Vec::new();
    for _ in 0..ECPAIRING_MAX_PAIRS {
        match arena.as_tuple(node) {
            Some([]) => return (items, true),
            Some(&[item, rest]) => {
                items.push(item);
                node = rest;
            }
            _ => return (items, false),
        }
    }
    let ends = arena.as_tuple(node).is_some_and(<[ValId]>::is_empty);
    (items, ends)
}

/// A pairing item `(g1x, g1y, g2x_re, g2x_im, g2y_re, g2y_im)`, if it is a 6-tuple of Ints.
fn six_ints(arena: &Arena, item: ValId) -> Option<[U256; 6]> {
    let slots: &[ValId; 6] = arena.as_tuple(item)?.try_into().ok()?;
    let mut ints = [U256::zero(); 6];
    for (out, &slot) in ints.iter_mut().zip(slots) {
        *out = arena.as_int(slot)?;
    }
    Some(ints)
}
