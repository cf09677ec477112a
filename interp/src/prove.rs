//! The prover: the one-step proof of a machine's next instruction (PROOFS.md §2–§6), as the
//! C++ `marshalForProof` / `marshalBufferProof` and the node's inbox proof lay it out.
//!
//! [`Machine::prove_next`] writes the proof from the state *before* the step and then runs
//! that step in the interpreter, so the `after` state is the interpreter's own: a proof whose
//! checker result differs from it is a prover or checker bug, never a second semantics.
//!
//! The proof is constant size: each operand is marshaled only to the depth its opcode needs
//! (the levels of the opcode table), the rest of each stack is one 64-byte pre-image, and the
//! program is one next-codepoint hash. The unbounded parts are those PROOFS.md §1 names —
//! `send` data, inbox message data, buffer Merkle paths (at most 60 words each) — and one the
//! format forces: a codepoint operand is always expanded with its immediate, so a run-time
//! chain of codepoints nested through immediates is sent whole.
//!
//! # The inbox model
//!
//! An inbox proof (PROOFS.md §6) places the message in a sequencer batch whose accumulator
//! the checker reads from L1. A machine only sees a queue of messages, so the prover uses the
//! simplest batching consistent with that: **every message is its own sequencer batch**,
//! numbered by its position in the queue. The machine's inbox accumulator
//! ([`crate::Outputs::inbox_acc`]) is then exactly what an L1 sequencer inbox holding those
//! batches would record after each one, and an inbox proof is
//! `message ‖ be32(position) ‖ 00 (not delayed) ‖ acc before ‖ 02 (end of batch)`.
//!
//! The accumulator step is the checker's: `acc' = keccak(acc ‖ be32(position) ‖ prefixHash ‖
//! dataHash)`, with `prefixHash = keccak(sender(20) ‖ be32(l1 block) ‖ be32(l1 timestamp))`
//! and `dataHash = keccak(data)` for an L2 message (kind 3, data non-empty) or end-of-block
//! message (kind 6, no data) with L1 gas price 0, and both zero for any other message. A
//! message proves only if it is the 8-tuple of AVM.md §9 with a one-byte kind, a 20-byte
//! sender, a data length covering the buffer's data, and sequence number `position` (so a
//! delayed message, numbered `seq | 2^255`, does not). A value no proof can carry still
//! advances the accumulator, with data hash `hash(value)`, so the accumulator commits to it.
//!
//! A machine fed from an L1 inbox with more structure (batches of several items, delayed
//! messages: [`crate::l1_inbox`]) is proven with [`Machine::prove_next_in`], which places the
//! message where that inbox holds it. The machine's own accumulator stays the one above: a
//! commitment to the messages read that does not depend on how L1 batched them.

mod buffer;
pub(crate) mod inbox;

use std::fmt;

use avm_runtime::hash::be32;
use avm_runtime::marshal::proof_marshal;
use avm_runtime::opcode::{self, OpInfo};
use avm_runtime::{CodePoint, U256, Value};

use crate::l1_inbox::L1Inbox;
use crate::machine::{Machine, Status};
use crate::proof::{AssertionState, OneStepProof, ProverKind};
use crate::run::Limits;
use crate::stack::Stack;

/// Why [`Machine::prove_next`] made no proof. The machine is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProveError {
    /// The machine has halted: there is no next instruction.
    Halted,
    /// The machine is in ErrorStop: there is no next instruction.
    ErrorStopped,
    /// The next instruction is `inbox` and no message is queued: the step would block, and a
    /// blocked attempt is not a step (PROOFS.md §8).
    InboxEmpty,
    /// The next instruction is `sideload` and the host queued a value for it. The checker
    /// always pushes `()` (PROOFS.md §4), so that step cannot be proven.
    SideloadValue,
    /// The next message cannot be carried by an inbox proof (PROOFS.md §6); the reason says
    /// which field is off.
    InboxMessage(&'static str),
}

impl fmt::Display for ProveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProveError::Halted => f.write_str("the machine has halted"),
            ProveError::ErrorStopped => f.write_str("the machine is in ErrorStop"),
            ProveError::InboxEmpty => {
                f.write_str("the next instruction is inbox and the inbox is empty: it would block")
            }
            ProveError::SideloadValue => f.write_str(
                "the next instruction is sideload with a host value queued; \
                 the checker can only prove sideload pushing ()",
            ),
            ProveError::InboxMessage(reason) => {
                write!(f, "the next inbox message has no inbox proof: {reason}")
            }
        }
    }
}

impl std::error::Error for ProveError {}

impl Machine {
    /// Proves the machine's next instruction and executes it (PROOFS.md §2–§6).
    ///
    /// The proof bytes, buffer proof and `before` state describe the machine before the step;
    /// `after` is the state the interpreter reaches by running it, as [`Machine::step`] does
    /// with default limits (so `sideload` and `breakpoint` never block). On an error nothing
    /// about the machine changes.
    pub fn prove_next(&mut self) -> Result<OneStepProof, ProveError> {
        self.prove(None)
    }

    /// [`Machine::prove_next`] for a machine fed the messages of `inbox` (in order, from its
    /// first): an `inbox` step's proof places the message where `inbox` holds it, in a
    /// sequencer batch or a delayed range, and verifies against `inbox` as the accumulator
    /// oracle.
    pub fn prove_next_in(&mut self, inbox: &L1Inbox) -> Result<OneStepProof, ProveError> {
        self.prove(Some(inbox))
    }

    fn prove(&mut self, inbox: Option<&L1Inbox>) -> Result<OneStepProof, ProveError> {
        let cp = self.current_codepoint();
        let info = opcode::info(cp.opcode());
        let inbox_proof = self.check_provable(&cp, info, inbox)?;
        let before = self.assertion_state();
        let (mut proof, underflow) = self.standard_proof(&cp, info);
        proof.extend_from_slice(&inbox_proof);
        let buffer_proof = self.op_specific_data(&cp, underflow, &mut proof);
        let steps = self.out.steps;
        self.step(&Limits::default());
        debug_assert_eq!(self.out.steps, steps + 1, "a provable step always runs");
        Ok(OneStepProof {
            prover: prover_kind(info),
            proof,
            buffer_proof,
            before,
            after: self.assertion_state(),
        })
    }

    /// What an assertion commits to now (PROOFS.md §7): the machine hash, the inbox, gas, send
    /// and log counters and accumulators.
    pub fn assertion_state(&mut self) -> AssertionState {
        AssertionState {
            machine_hash: self.hash(),
            inbox_count: self.out.inbox_consumed,
            inbox_acc: self.out.inbox_acc,
            gas_used: self.out.gas_used,
            send_count: self.out.send_count,
            send_acc: self.out.send_acc,
            log_count: self.out.log_count,
            log_acc: self.out.log_acc,
        }
    }

    /// Refuses the steps a checker cannot prove, before anything changes. For an `inbox` that
    /// will consume a message, returns its inbox proof (PROOFS.md §6): from `inbox` if given,
    /// else in the one-message-per-batch model; empty for any other step.
    fn check_provable(
        &self,
        cp: &CodePoint,
        info: Option<&OpInfo>,
        inbox: Option<&L1Inbox>,
    ) -> Result<Vec<u8>, ProveError> {
        match self.status {
            Status::Halted => return Err(ProveError::Halted),
            Status::ErrorStop => return Err(ProveError::ErrorStopped),
            Status::Running => {}
        }
        let Some(info) = info.filter(|info| self.reaches_operation(cp, info)) else {
            return Ok(Vec::new());
        };
        match info.byte {
            opcode::INBOX => {
                let message = self.inbox.front().ok_or(ProveError::InboxEmpty)?;
                self.inbox_proof(message, inbox)
                    .map_err(ProveError::InboxMessage)
            }
            opcode::SIDELOAD if !self.sideloads.is_empty() => {
                let operands = Operands {
                    immediate: cp.immediate(),
                    stack: &self.stack,
                };
                match operands.get(0) {
                    Some(v) if v.is_int() => Err(ProveError::SideloadValue),
                    _ => Ok(Vec::new()),
                }
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The inbox proof of `message`, the next one the machine reads: placed where `inbox`
    /// holds it (which must be the same message), or as its own batch.
    fn inbox_proof(
        &self,
        message: &Value,
        inbox: Option<&L1Inbox>,
    ) -> Result<Vec<u8>, &'static str> {
        let position = self.out.inbox_consumed;
        let mut proof = Vec::new();
        match inbox {
            Some(inbox) => {
                let same = usize::try_from(position)
                    .ok()
                    .and_then(|position| inbox.messages().get(position))
                    .is_some_and(|expected| expected.hash() == message.hash());
                if !same {
                    return Err("it is not the message the L1 inbox holds at this position");
                }
                inbox.write_proof(position, &mut proof)?;
            }
            None => {
                let message = inbox::ProvableMessage::at_position(message, position)?;
                let place = inbox::BatchPlace {
                    batch: position,
                    acc_before: self.out.inbox_acc,
                    delayed: None,
                    later: &[],
                };
                inbox::write_proof(&message, &place, &mut proof);
            }
        }
        Ok(proof)
    }

    /// Whether the step gets as far as the operation: its operands are present and its table
    /// gas is covered (AVM.md §7.1). Only then does `inbox` consume or `sideload` take a value.
    fn reaches_operation(&self, cp: &CodePoint, info: &OpInfo) -> bool {
        let data = self.stack.len() + usize::from(cp.immediate().is_some());
        data >= usize::from(info.pops)
            && self.aux.len() >= usize::from(info.aux_pops)
            && self.gas_covers(info.gas)
    }

    /// Appends the op-specific data that ends a standard proof (`send` bytes, PROOFS.md §5.6)
    /// and returns the buffer proof (§5), which is empty for other opcodes and whenever the
    /// instruction underflows.
    fn op_specific_data(&self, cp: &CodePoint, underflow: bool, proof: &mut Vec<u8>) -> Vec<u8> {
        let operands = Operands {
            immediate: cp.immediate(),
            stack: &self.stack,
        };
        match cp.opcode() {
            _ if underflow => Vec::new(),
            opcode::SEND => buffer::send_data(&operands, proof),
            op @ opcode::GETBUFFER8..=opcode::SETBUFFER256 => buffer::access_proof(op, &operands),
            _ => Vec::new(),
        }
    }

    /// The standard proof bytes (PROOFS.md §2), without op-specific data, and whether the
    /// instruction underflows a stack.
    fn standard_proof(&mut self, cp: &CodePoint, info: Option<&OpInfo>) -> (Vec<u8>, bool) {
        let levels = info.map_or(&[][..], |i| i.levels);
        let aux_levels = info.map_or(&[][..], |i| i.aux_levels);
        let immediate = cp.immediate();
        let (immediate_level, stack_levels) = split_immediate_level(levels, immediate.is_some());

        let mut out = vec![cp.opcode(), 0, 0];
        let data = write_operands(&self.stack, stack_levels, &mut out);
        if let Some(value) = immediate {
            proof_marshal(value, immediate_level, &mut out);
        }
        let aux = write_operands(&self.aux, aux_levels, &mut out);
        out[1] = (data.sent + usize::from(immediate.is_some())) as u8;
        out[2] = aux.sent as u8;

        out.extend_from_slice(&be32(&cp.next_hash()));
        write_preimage(self.stack.preimage_below(data.sent), &mut out);
        write_preimage(self.aux.preimage_below(aux.sent), &mut out);
        proof_marshal(&self.register, 0, &mut out);
        proof_marshal(&self.static_value, 0, &mut out);
        out.extend_from_slice(&be32(&self.gas));
        out.extend_from_slice(&be32(&self.err_handler.hash()));
        out.push(u8::from(immediate.is_some()));
        (out, data.underflow || aux.underflow)
    }
}

/// The operands of the instruction, top first, as the step sees them once the immediate is
/// pushed: the immediate (if any) is operand 0 and the stack follows.
struct Operands<'a> {
    immediate: Option<&'a Value>,
    stack: &'a Stack,
}

impl Operands<'_> {
    /// Operand `depth` (0 = top), if present.
    fn get(&self, depth: usize) -> Option<&Value> {
        let depth = match (self.immediate, depth) {
            (Some(value), 0) => return Some(value),
            (Some(_), depth) => depth - 1,
            (None, depth) => depth,
        };
        (depth < self.stack.len()).then(|| self.stack.peek(depth))
    }
}

/// The levels `(immediate, real stack)` of PROOFS.md §2: with an immediate, the first entry of
/// a non-empty list is the immediate's and the rest apply to the stack; with an empty list the
/// immediate goes at level 0.
fn split_immediate_level(levels: &[u8], has_immediate: bool) -> (u32, &[u8]) {
    match levels.split_first() {
        Some((&first, rest)) if has_immediate => (u32::from(first), rest),
        _ => (0, levels),
    }
}

/// How many values of a stack a proof sends, and whether the stack was too short.
struct Sent {
    sent: usize,
    underflow: bool,
}

/// Marshals the top `levels.len()` values of `stack`, deepest first, entry 0 of `levels` being
/// the top's level. A stack too short sends all its values, each at level 0 (the C++ rule).
fn write_operands(stack: &Stack, levels: &[u8], out: &mut Vec<u8>) -> Sent {
    let underflow = stack.len() < levels.len();
    let sent = levels.len().min(stack.len());
    for depth in (0..sent).rev() {
        let level = if underflow { 0 } else { levels[depth] };
        proof_marshal(stack.peek(depth), u32::from(level), out);
    }
    Sent { sent, underflow }
}

/// A stack remainder pre-image: 32-byte inner hash, then the size as 32 bytes (no type byte).
fn write_preimage((inner, size): (U256, U256), out: &mut Vec<u8>) {
    out.extend_from_slice(&be32(&inner));
    out.extend_from_slice(&be32(&size));
}

/// The checker contract of an opcode (invalid opcodes go to the main one, PROOFS.md §1).
fn prover_kind(info: Option<&OpInfo>) -> ProverKind {
    info.map_or(ProverKind::Main, |i| i.prover)
}
