//! One small function per opcode (AVM.md §8, §10), dispatched by [`execute`].
//!
//! Each operation runs only after the step has checked operand counts and charged gas. An
//! operation reads its operands in place and checks them all before it changes anything, so
//! on an error the step can remove exactly the operands (AVM.md §7.1). Operations never move
//! the pc themselves: they return a [`Flow`].

mod arith;
mod buffer;
mod control;
mod crypto;
mod io;
mod stack;
mod tuple;

pub(crate) use io::SEND_SIZE_LIMIT;

use avm_runtime::CodePoint;
use avm_runtime::opcode::*;

use crate::OpError;
use crate::code::{Instr, Op};
use crate::machine::Machine;

/// What the step does with the pc after an operation.
pub(crate) enum Flow {
    /// Continue at the next codepoint.
    Next,
    /// Continue at this codepoint.
    Jump(CodePoint),
    /// Continue at loaded instruction `n` (a pre-decoded immediate target).
    Goto(u32),
    /// Stop in Halted.
    Halt,
}

/// The result of one operation.
pub(crate) type OpResult = Result<Flow, OpError>;

/// Runs valid opcode `opcode` on `m`. Out of line: the run loop inlines only the operations of
/// [`Op`]'s own variants, which keeps it small enough for the compiler to inline those fully.
#[inline(never)]
pub(crate) fn execute(m: &mut Machine, opcode: u8) -> OpResult {
    match opcode {
        ADD => arith::add(m),
        MUL => arith::mul(m),
        SUB => arith::sub(m),
        DIV => arith::div(m),
        SDIV => arith::sdiv(m),
        MOD => arith::modulo(m),
        SMOD => arith::smod(m),
        ADDMOD => arith::addmod(m),
        MULMOD => arith::mulmod(m),
        EXP => arith::exp(m),
        SIGNEXTEND => arith::signextend(m),
        LT => arith::lt(m),
        GT => arith::gt(m),
        SLT => arith::slt(m),
        SGT => arith::sgt(m),
        EQ => arith::eq(m),
        ISZERO => arith::iszero(m),
        AND => arith::and(m),
        OR => arith::or(m),
        XOR => arith::xor(m),
        NOT => arith::not(m),
        BYTE => arith::byte(m),
        SHL => arith::shl(m),
        SHR => arith::shr(m),
        SAR => arith::sar(m),
        HASH => crypto::hash(m),
        TYPE => crypto::type_of(m),
        ETHHASH2 => crypto::ethhash2(m),
        KECCAKF => crypto::keccakf(m),
        SHA256F => crypto::sha256f(m),
        POP => stack::pop(m),
        SPUSH => stack::spush(m),
        RPUSH => stack::rpush(m),
        RSET => stack::rset(m),
        JUMP => control::jump(m),
        CJUMP => control::cjump(m),
        STACKEMPTY => stack::stackempty(m),
        PCPUSH => control::pcpush(m),
        AUXPUSH => stack::auxpush(m),
        AUXPOP => stack::auxpop(m),
        AUXSTACKEMPTY => stack::auxstackempty(m),
        NOP => Ok(Flow::Next),
        ERRPUSH => control::errpush(m),
        ERRSET => control::errset(m),
        DUP0 => stack::dup(m, 0),
        DUP1 => stack::dup(m, 1),
        DUP2 => stack::dup(m, 2),
        SWAP1 => stack::swap(m, 1),
        SWAP2 => stack::swap(m, 2),
        TGET => tuple::tget(m),
        TSET => tuple::tset(m),
        TLEN => tuple::tlen(m),
        XGET => tuple::xget(m),
        XSET => tuple::xset(m),
        BREAKPOINT => Ok(Flow::Next),
        LOG => io::log(m),
        SEND => io::send(m),
        INBOX => io::inbox(m),
        ERROR => Err(OpError::Raised),
        HALT => Ok(Flow::Halt),
        SETGAS => control::setgas(m),
        PUSHGAS => control::pushgas(m),
        ERRCODEPOINT => control::errcodepoint(m),
        PUSHINSN => control::pushinsn(m),
        PUSHINSNIMM => control::pushinsnimm(m),
        SIDELOAD => io::sideload(m),
        ECRECOVER => crypto::ecrecover(m),
        ECADD => crypto::ecadd(m),
        ECMUL => crypto::ecmul(m),
        ECPAIRING => crypto::ecpairing(m),
        DEBUGPRINT => io::debugprint(m),
        NEWBUFFER => buffer::newbuffer(m),
        GETBUFFER8 => buffer::getbuffer8(m),
        GETBUFFER64 => buffer::getbuffer64(m),
        GETBUFFER256 => buffer::getbuffer256(m),
        SETBUFFER8 => buffer::setbuffer8(m),
        SETBUFFER64 => buffer::setbuffer64(m),
        SETBUFFER256 => buffer::setbuffer256(m),
        _ => Err(OpError::InvalidOpcode),
    }
}

/// Runs `instr` as decoded ([`Op`]): exactly what pushing its immediate and running its opcode
/// does (AVM.md §7.1).
#[inline(always)]
pub(crate) fn execute_decoded(m: &mut Machine, instr: &Instr) -> OpResult {
    if instr.push_first {
        m.stack.push(immediate(instr).clone());
    }
    let taken = match instr.op {
        Op::Opcode => return execute(m, instr.opcode),
        Op::Nop => return Ok(Flow::Next),
        Op::Pop => return stack::pop(m),
        Op::Dup(depth) => return stack::dup(m, depth.into()),
        Op::Swap(depth) => return stack::swap(m, depth.into()),
        Op::AuxPush => return stack::auxpush(m),
        Op::AuxPop => return stack::auxpop(m),
        Op::IsZero => return arith::iszero(m),
        Op::Eq => return arith::eq(m),
        Op::Gt => return arith::gt(m),
        Op::Lt => return arith::lt(m),
        Op::Add => return arith::add(m),
        Op::Sub => return arith::sub(m),
        Op::And => return arith::and(m),
        Op::Jump => return control::jump(m),
        Op::JumpTo(target) => return Ok(Flow::Goto(target)),
        Op::CjumpTo(target) => control::cjump_to(m, target),
        Op::TgetAt(i) => tuple::tget_at(m, i.into()).then_some(Flow::Next),
        Op::TsetAt(i) => tuple::tset_at(m, i.into()).then_some(Flow::Next),
        Op::XgetAt(i) => tuple::xget_at(m, i.into()).then_some(Flow::Next),
        Op::XsetAt(i) => tuple::xset_at(m, i.into()).then_some(Flow::Next),
    };
    match taken {
        Some(flow) => Ok(flow),
        None => {
            m.stack.push(immediate(instr).clone());
            execute(m, instr.opcode)
        }
    }
}

fn immediate(instr: &Instr) -> &avm_runtime::Value {
    instr
        .immediate
        .as_ref()
        .expect("a form with an immediate")
        .get()
}

/// Pushes a boolean as Int 1 or 0.
#[inline]
fn bool_value(b: bool) -> avm_runtime::Value {
    avm_runtime::Value::int(avm_runtime::U256::from(b as u8))
}
