//! One small function per opcode (AVM.md §8, §10), dispatched by [`execute`].
//!
//! Each operation runs only after the step has checked operand counts and charged gas. An
//! operation reads its operands in place and checks them all before it changes anything, so
//! on an error the step can remove exactly the operands (AVM.md §7.1). Operations return a
//! [`Flow`] saying where control goes; only a jump to a run-time codepoint moves the pc itself.

mod arith;
mod buffer;
mod control;
mod crypto;
mod io;
mod stack;
mod tuple;

pub use arith::int_pair;
pub(crate) use io::SEND_SIZE_LIMIT;

use avm_runtime::opcode::*;

use crate::OpError;
use crate::code::{Instr, Op};
use crate::machine::Machine;

/// What the step does with the pc after an operation: a word, so that results pass in
/// registers.
#[derive(Clone, Copy)]
pub(crate) enum Flow {
    /// Continue at the next codepoint.
    Next,
    /// Continue at loaded instruction `n`.
    Goto(u32),
    /// Continue at a codepoint built at run time, which the operation made the pc (the one
    /// case where an operation moves the pc itself: only it holds the codepoint).
    Moved,
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
/// does (AVM.md §7.1). Returns `true` when control goes on to the next instruction, else
/// leaves in `exit` where it went or the error. (Each arm settles its own result, so that the
/// common case compiles to a jump straight to the next dispatch.)
#[inline(always)]
pub(crate) fn execute_decoded(m: &mut Machine, instr: &Instr, exit: &mut OpResult) -> bool {
    if instr.push_first {
        m.stack.push(immediate(instr).clone());
    }
    match instr.op {
        Op::Opcode => goes_on(execute(m, instr.opcode), exit),
        Op::Nop => true,
        Op::Pop => goes_on(stack::pop(m), exit),
        Op::Dup(depth) => goes_on(stack::dup(m, depth.into()), exit),
        Op::Swap(depth) => goes_on(stack::swap(m, depth.into()), exit),
        Op::AuxPush => goes_on(stack::auxpush(m), exit),
        Op::AuxPop => goes_on(stack::auxpop(m), exit),
        Op::IsZero => goes_on(arith::iszero(m), exit),
        Op::Eq => goes_on(arith::eq(m), exit),
        Op::Gt => goes_on(arith::gt(m), exit),
        Op::Lt => goes_on(arith::lt(m), exit),
        Op::Add => goes_on(arith::add(m), exit),
        Op::Sub => goes_on(arith::sub(m), exit),
        Op::And => goes_on(arith::and(m), exit),
        Op::Jump => goes_on(control::jump(m), exit),
        Op::JumpTo(target) => goes_on(Ok(Flow::Goto(target)), exit),
        Op::CjumpTo(target) => match control::cjump_to(m, target) {
            Some(flow) => goes_on(Ok(flow), exit),
            None => goes_on(push_then_execute(m, instr), exit),
        },
        Op::TgetAt(i) => tuple::tget_at(m, i.into()) || goes_on(push_then_execute(m, instr), exit),
        Op::TsetAt(i) => tuple::tset_at(m, i.into()) || goes_on(push_then_execute(m, instr), exit),
        Op::XgetAt(i) => tuple::xget_at(m, i.into()) || goes_on(push_then_execute(m, instr), exit),
        Op::XsetAt(i) => tuple::xset_at(m, i.into()) || goes_on(push_then_execute(m, instr), exit),
    }
}

/// Whether `result` lets control go on to the next instruction; if not, it goes to `exit`.
#[inline(always)]
fn goes_on(result: OpResult, exit: &mut OpResult) -> bool {
    match result {
        Ok(Flow::Next) => true,
        other => {
            *exit = other;
            false
        }
    }
}

/// Pushes the immediate and runs the opcode: what a variant that takes its immediate as an
/// operand does with an operand it cannot handle (the opcode raises the error).
#[cold]
fn push_then_execute(m: &mut Machine, instr: &Instr) -> OpResult {
    m.stack.push(immediate(instr).clone());
    execute(m, instr.opcode)
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
