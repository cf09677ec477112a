//! Control flow, error handler, gas and run-time code opcodes (AVM.md §8.3, §8.7, §4.3).

use avm_runtime::{CodePoint, U256, Value};

use super::{Flow, OpResult};
use crate::OpError;
use crate::code::Pc;
use crate::machine::Machine;

fn codepoint(value: &Value) -> Result<&CodePoint, OpError> {
    match value {
        Value::CodePoint(cp) => Ok(cp),
        _ => Err(OpError::WrongKind),
    }
}

#[inline(always)]
pub(super) fn jump(m: &mut Machine) -> OpResult {
    codepoint(m.stack.peek(0))?;
    match m.stack.take() {
        Some(Value::CodePoint(target)) => Ok(transfer(m, target)),
        _ => unreachable!("checked to be a codepoint"),
    }
}

/// `cjump` checks both operands' kinds whatever the condition (AVM.md §8.3).
#[inline(always)]
pub(super) fn cjump(m: &mut Machine) -> OpResult {
    let target = codepoint(m.stack.peek(0))?.clone();
    let condition = m.stack.int(1)?;
    m.stack.discard_top(2);
    Ok(if condition.is_zero() {
        Flow::Next
    } else {
        transfer(m, target)
    })
}

/// Control going to `target`: a loaded instruction by index, or, for a codepoint built at run
/// time, the codepoint itself, made the pc here.
#[inline(always)]
fn transfer(m: &mut Machine, target: CodePoint) -> Flow {
    match m.code.program.index_of(&target) {
        Some(index) => Flow::Goto(index as u32),
        None => {
            m.pc = Pc::Dynamic(target);
            Flow::Moved
        }
    }
}

/// `cjump` to loaded instruction `target` (its immediate): the flow, or `None` when the
/// condition is not an Int (nothing changed; the caller runs the plain `cjump`).
#[inline(always)]
pub(super) fn cjump_to(m: &mut Machine, target: u32) -> Option<Flow> {
    let taken = match m.stack.peek(0) {
        Value::SmallInt(condition) => *condition != 0,
        Value::BigInt(_) => true,
        _ => return None,
    };
    m.stack.discard_top(1);
    Some(if taken {
        Flow::Goto(target)
    } else {
        Flow::Next
    })
}

pub(super) fn pcpush(m: &mut Machine) -> OpResult {
    let here = m.current_codepoint();
    m.stack.push(Value::CodePoint(here));
    Ok(Flow::Next)
}

pub(super) fn errpush(m: &mut Machine) -> OpResult {
    m.stack.push(Value::CodePoint(m.err_handler.clone()));
    Ok(Flow::Next)
}

pub(super) fn errset(m: &mut Machine) -> OpResult {
    let handler = codepoint(m.stack.peek(0))?.clone();
    m.stack.discard_top(1);
    m.set_error_handler(handler);
    Ok(Flow::Next)
}

pub(super) fn setgas(m: &mut Machine) -> OpResult {
    m.gas = m.stack.int(0)?;
    m.stack.discard_top(1);
    Ok(Flow::Next)
}

pub(super) fn pushgas(m: &mut Machine) -> OpResult {
    m.stack.push(Value::int(m.gas));
    Ok(Flow::Next)
}

pub(super) fn errcodepoint(m: &mut Machine) -> OpResult {
    m.stack.push(Value::CodePoint(CodePoint::err()));
    Ok(Flow::Next)
}

/// The low 8 bits of an opcode operand (AVM.md §8.7).
fn opcode_byte(x: U256) -> u8 {
    x.low_u64() as u8
}

pub(super) fn pushinsn(m: &mut Machine) -> OpResult {
    let opcode = opcode_byte(m.stack.int(0)?);
    let next = codepoint(m.stack.peek(1))?.clone();
    m.stack
        .replace_top(2, Value::CodePoint(CodePoint::dynamic(opcode, None, next)));
    Ok(Flow::Next)
}

pub(super) fn pushinsnimm(m: &mut Machine) -> OpResult {
    let opcode = opcode_byte(m.stack.int(0)?);
    let immediate = m.stack.peek(1).clone();
    let next = codepoint(m.stack.peek(2))?.clone();
    m.stack.set_top(
        3,
        Value::CodePoint(CodePoint::dynamic(opcode, Some(immediate), next)),
    );
    Ok(Flow::Next)
}
