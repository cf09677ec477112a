//! The partial machine of one step and the checker's algorithm (PROOFS.md §4).
//!
//! The checker never sees whole stacks: it keeps the hash and size of the part below the
//! operands ([`StackImage`]) and the operands themselves as work lists. It rebuilds the start
//! machine's hash from the proof, runs the instruction on the work lists and the after fields,
//! and hashes the result.

use avm_runtime::U256;
use avm_runtime::hash::{
    EMPTY_TUPLE_HASH, ERR_CODEPOINT_HASH, MachineHashParts, be32, hash_codepoint, hash_preimage,
    keccak,
};
use avm_runtime::opcode::{self, ERROR_GAS};
use avm_runtime::tuple::Preimage;

use super::decode::{self, Parsed};
use super::inbox::{InboxAccumulators, InboxRead};
use super::ops::{self, Fault, OpFn};
use super::value::{Arena, ValId};
use super::{Rejection, StepResult};
use crate::proof::ProverKind;

/// A stack known by the hash and size of its nested-pair tuple (AVM.md §2.5).
#[derive(Clone, Copy, Debug)]
pub(super) struct StackImage {
    hash: U256,
    size: U256,
}

impl StackImage {
    /// The stack with this pre-image (a proof's stack remainder).
    fn from_preimage(rest: &Preimage) -> StackImage {
        StackImage {
            hash: rest.hash(),
            size: rest.size,
        }
    }

    /// This stack with `values` pushed in order (the last ends on top).
    fn with(mut self, arena: &Arena, values: &[ValId]) -> StackImage {
        for &v in values {
            let inner = keccak(&[&[2], &be32(&arena.hash(v)), &be32(&self.hash)]);
            self.size = U256::one()
                .overflowing_add(arena.size(v))
                .0
                .overflowing_add(self.size)
                .0;
            self.hash = hash_preimage(&inner, &self.size);
        }
        self
    }

    /// Whether it is the empty stack, i.e. hashes as `()`.
    pub(super) fn is_empty(&self) -> bool {
        self.hash == *EMPTY_TUPLE_HASH
    }
}

/// Whether the machine still runs or has stopped (AVM.md §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    /// Running: hashed from its fields.
    Extensive,
    /// Stopped by `halt`: hash 0.
    Halted,
    /// Stopped by an error with no handler: hash 1.
    ErrorStop,
}

/// The facts of an opcode the checker's `opInfo` gives (PROOFS.md §4), plus the marshal
/// levels of §3.3.
#[derive(Clone, Copy, Debug)]
struct Shape {
    pops: usize,
    aux_pops: usize,
    gas: u64,
    levels: &'static [u8],
    aux_levels: &'static [u8],
}

impl Shape {
    /// From the opcode table; an invalid opcode pops nothing and costs the error gas.
    fn of(op: u8) -> Shape {
        match opcode::info(op) {
            Some(info) => Shape {
                pops: usize::from(info.pops),
                aux_pops: usize::from(info.aux_pops),
                gas: info.gas,
                levels: info.levels,
                aux_levels: info.aux_levels,
            },
            None => Shape {
                pops: 0,
                aux_pops: 0,
                gas: ERROR_GAS,
                levels: &[],
                aux_levels: &[],
            },
        }
    }
}

/// The step in progress: the after machine's fields, the operand work lists and the outputs.
/// Operations read and change it through the helpers below. (Not `Debug`: the oracle is any
/// [`InboxAccumulators`], closures included.)
pub(super) struct Step<'a> {
    /// Every value of the proof and the values made by the operation.
    pub arena: Arena,
    /// The hash of the codepoint being executed (what `pcpush` pushes).
    pub start_pc: U256,
    /// The after machine's pc hash; starts as the next codepoint's.
    pub pc: U256,
    /// The data stack below the operands.
    pub data_rest: StackImage,
    /// The aux stack below the operands.
    pub aux_rest: StackImage,
    /// The register.
    pub register: ValId,
    /// The static value.
    pub static_value: ValId,
    /// The remaining gas.
    pub gas: U256,
    /// The error handler's hash.
    pub err_handler: U256,
    /// Running or stopped.
    pub status: Status,
    /// The data operands, top last (the immediate included).
    pub work: Vec<ValId>,
    /// The aux operands, top last.
    pub work_aux: Vec<ValId>,
    /// Gas used by the step.
    pub gas_used: u64,
    /// The send accumulator.
    pub send_acc: U256,
    /// The log accumulator.
    pub log_acc: U256,
    /// Inbox messages read, including this step's.
    pub messages_read: u64,
    /// The message this step read and where its proof placed it (PROOFS.md §6).
    pub inbox_read: Option<InboxRead>,
    /// The op-specific bytes after the standard proof (`send` data, the inbox proof).
    pub extra: &'a [u8],
    /// The buffer proof bytes.
    pub buffer_proof: &'a [u8],
    /// The L1 inbox accumulators `inbox` checks its message against (PROOFS.md §6).
    pub inbox_accs: &'a dyn InboxAccumulators,
}

/// The arguments of the checker's `executeStep` (PROOFS.md §1), the L1 inbox contracts
/// (`bridges`) replaced by an accumulator oracle.
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    /// The checker contract.
    pub prover: ProverKind,
    /// The accumulator oracle.
    pub inbox_accs: &'a dyn InboxAccumulators,
    /// `initialMessagesRead`.
    pub initial_messages_read: u64,
    /// The send accumulator before the step.
    pub send_acc: U256,
    /// The log accumulator before the step.
    pub log_acc: U256,
    /// The standard proof, with its op-specific data.
    pub proof: &'a [u8],
    /// The buffer proof.
    pub buffer_proof: &'a [u8],
}

/// `executeStep` (PROOFS.md §1, §4) for the contract `prover`. With `claimed_start`, a proof
/// whose rebuilt start hash differs is rejected before the instruction runs (so a bad proof
/// never costs a pairing).
pub(super) fn run(claimed_start: Option<U256>, input: Input<'_>) -> Result<StepResult, Rejection> {
    let mut arena = Arena::default();
    let parsed = decode::parse(input.proof, &mut arena)?;
    let operation = ops::operation(input.prover, parsed.op)?;
    let shape = Shape::of(parsed.op);
    check_operand_counts(&parsed, &shape)?;
    let start_pc = start_pc(&parsed, &arena)?;
    let start_hash = start_hash(&parsed, &arena, start_pc);
    if let Some(claimed) = claimed_start.filter(|&claimed| claimed != start_hash) {
        return Err(Rejection::StartHashMismatch {
            claimed,
            computed: start_hash,
        });
    }
    let keep_immediate = parsed.has_immediate && shape.pops == 0;
    let mut step = Step {
        start_pc,
        pc: parsed.next_hash,
        data_rest: StackImage::from_preimage(&parsed.data_rest),
        aux_rest: StackImage::from_preimage(&parsed.aux_rest),
        register: parsed.register,
        static_value: parsed.static_value,
        gas: parsed.gas,
        err_handler: parsed.err_handler,
        status: Status::Extensive,
        work: parsed.stack,
        work_aux: parsed.aux,
        gas_used: 0,
        send_acc: input.send_acc,
        log_acc: input.log_acc,
        messages_read: input.initial_messages_read,
        inbox_read: None,
        extra: parsed.extra,
        buffer_proof: input.buffer_proof,
        inbox_accs: input.inbox_accs,
        arena,
    };
    if step.execute(&shape, operation)? {
        step.take_error_path(keep_immediate);
    }
    Ok(StepResult {
        gas: step.gas_used,
        after_messages_read: step.messages_read,
        start_hash,
        end_hash: step.machine_hash(),
        send_acc: step.send_acc,
        log_acc: step.log_acc,
        inbox: step.inbox_read,
    })
}

/// The checker's "STACK_MANY" and "AUX_MANY" requires: only minimal operand lists are
/// accepted (PROOFS.md §4, §8). `stack` counts the immediate.
fn check_operand_counts(parsed: &Parsed<'_>, shape: &Shape) -> Result<(), Rejection> {
    let (count, imm, pops) = (parsed.stack.len(), parsed.has_immediate, shape.pops);
    let minimal = ((pops > 0 || !imm) && count <= pops) || (imm && pops == 0 && count == 1);
    if !minimal {
        return Err(Rejection::NonMinimalOperands);
    }
    if parsed.aux.len() > shape.aux_pops {
        return Err(Rejection::NonMinimalAuxOperands);
    }
    Ok(())
}

/// The current codepoint's hash, from the opcode, the immediate (the last stack value) and the
/// next hash.
fn start_pc(parsed: &Parsed<'_>, arena: &Arena) -> Result<U256, Rejection> {
    let immediate = if parsed.has_immediate {
        let &imm = parsed.stack.last().ok_or(Rejection::MissingImmediate)?;
        Some(arena.hash(imm))
    } else {
        None
    };
    Ok(hash_codepoint(
        parsed.op,
        immediate.as_ref(),
        &parsed.next_hash,
    ))
}

/// The machine hash before the step: the remainders with the operands pushed back (the
/// immediate is not on the stack yet).
fn start_hash(parsed: &Parsed<'_>, arena: &Arena, pc: U256) -> U256 {
    let real_count = parsed
        .stack
        .len()
        .saturating_sub(usize::from(parsed.has_immediate));
    let real = &parsed.stack[..real_count];
    MachineHashParts {
        pc,
        data_stack: StackImage::from_preimage(&parsed.data_rest)
            .with(arena, real)
            .hash,
        aux_stack: StackImage::from_preimage(&parsed.aux_rest)
            .with(arena, &parsed.aux)
            .hash,
        register: arena.hash(parsed.register),
        static_value: arena.hash(parsed.static_value),
        gas_remaining: parsed.gas,
        error_handler: parsed.err_handler,
    }
    .hash()
}

impl Step<'_> {
    /// Underflow, gas and the operation, in the checker's order. `Ok(true)` if the instruction
    /// raised an AVM error.
    ///
    /// Stricter than the contract in one case: an aux list shorter than the opcode pops needs
    /// an empty aux remainder even when the data stack underflows too (the contract checks
    /// only the data stack then, which would let a proof keep an aux value the AVM removes).
    fn execute(&mut self, shape: &Shape, operation: OpFn) -> Result<bool, Rejection> {
        let data_short = self.work.len() < shape.pops;
        let aux_short = self.work_aux.len() < shape.aux_pops;
        if data_short && !self.data_rest.is_empty() {
            return Err(Rejection::StackNotExhausted);
        }
        if aux_short && !self.aux_rest.is_empty() {
            return Err(Rejection::AuxStackNotExhausted);
        }
        if data_short || aux_short {
            self.charge(ERROR_GAS);
            return Ok(true);
        }
        if !self.charge(shape.gas) {
            return Ok(true);
        }
        self.check_expansion(shape)?;
        match operation(self) {
            Ok(()) => Ok(false),
            Err(Fault::Raise) => Ok(true),
            Err(Fault::Reject(rejection)) => Err(rejection),
        }
    }

    /// Requires every operand to be expanded as deep as its marshal level (PROOFS.md §3.3), so
    /// that a proof cannot turn a tuple operation into an error by sending the tuple as a
    /// pre-image. Stricter than the contract, which would take such a proof.
    fn check_expansion(&self, shape: &Shape) -> Result<(), Rejection> {
        let data = shape.levels.iter().zip(self.work.iter().rev());
        let aux = shape.aux_levels.iter().zip(self.work_aux.iter().rev());
        if data
            .chain(aux)
            .all(|(&level, &v)| self.arena.expanded_to(v, level))
        {
            Ok(())
        } else {
            Err(Rejection::UnderExpandedOperand)
        }
    }

    /// The checker's `deductGas`: `false` (and remaining gas `MAX`, 5 used) if `cost` exceeds
    /// the remaining gas (AVM.md §6.1).
    pub(super) fn charge(&mut self, cost: u64) -> bool {
        let cost_u256 = U256::from(cost);
        if self.gas < cost_u256 {
            self.gas_used = self.gas_used.saturating_add(ERROR_GAS);
            self.gas = U256::MAX;
            false
        } else {
            self.gas_used = self.gas_used.saturating_add(cost);
            self.gas -= cost_u256;
            true
        }
    }

    /// The error path (PROOFS.md §4, AVM.md §6.2): stop, or jump to the handler; the operands
    /// are dropped except an immediate of an opcode that pops nothing.
    fn take_error_path(&mut self, keep_immediate: bool) {
        if self.err_handler == *ERR_CODEPOINT_HASH {
            self.status = Status::ErrorStop;
        } else {
            self.pc = self.err_handler;
        }
        if !keep_immediate {
            self.work.clear();
        }
        self.work_aux.clear();
    }

    /// The after machine's hash (AVM.md §5.2).
    fn machine_hash(&self) -> U256 {
        match self.status {
            Status::Halted => U256::zero(),
            Status::ErrorStop => U256::one(),
            Status::Extensive => MachineHashParts {
                pc: self.pc,
                data_stack: self.data_rest.with(&self.arena, &self.work).hash,
                aux_stack: self.aux_rest.with(&self.arena, &self.work_aux).hash,
                register: self.arena.hash(self.register),
                static_value: self.arena.hash(self.static_value),
                gas_remaining: self.gas,
                error_handler: self.err_handler,
            }
            .hash(),
        }
    }

    /// Pops a data operand (top first).
    pub(super) fn pop(&mut self) -> Result<ValId, Fault> {
        self.work
            .pop()
            .ok_or(Fault::Reject(Rejection::OperandMissing))
    }

    /// Pops a data operand that must be an Int; any other kind raises an AVM error.
    pub(super) fn pop_int(&mut self) -> Result<U256, Fault> {
        let v = self.pop()?;
        self.arena.as_int(v).ok_or(Fault::Raise)
    }

    /// Pops the aux top.
    pub(super) fn pop_aux(&mut self) -> Result<ValId, Fault> {
        self.work_aux
            .pop()
            .ok_or(Fault::Reject(Rejection::OperandMissing))
    }

    /// Pushes a value on the data stack.
    pub(super) fn push(&mut self, v: ValId) {
        self.work.push(v);
    }

    /// Pushes an Int.
    pub(super) fn push_int(&mut self, x: U256) {
        let v = self.arena.int(x);
        self.push(v);
    }

    /// Pushes 1 or 0.
    pub(super) fn push_bool(&mut self, b: bool) {
        let v = self.arena.boolean(b);
        self.push(v);
    }
}
