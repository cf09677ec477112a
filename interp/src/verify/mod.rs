//! The verifier: a Rust mirror of the on-chain one-step-proof checker (PROOFS.md §3–§6).
//!
//! [`execute_step`] is the contracts' `executeStep` (PROOFS.md §1): from the proof bytes alone
//! it rebuilds the hash of the machine before the step, runs the one instruction on that
//! partial state and hashes the result. [`verify`] checks a whole [`OneStepProof`] against the
//! assertion states it claims (PROOFS.md §7).
//!
//! It shares no code path with the interpreter or the prover: no `Machine`, `Stack` or
//! interpreter operation. It uses only the runtime's hashing primitives, its 256-bit opcode
//! arithmetic ([`avm_runtime::math`]), its precompiles and its opcode table (pops, gas, marshal
//! levels). Values are decoded into a flat arena and every walk is iterative, so no input can
//! recurse on the native stack, and every read is checked, so no input can panic.
//!
//! # Where this verifier is stricter than the contract
//!
//! PROOFS.md §8 asks for the contract's `require`s; four more are added, each rejecting only
//! proofs that no honest prover makes and that would otherwise prove a wrong transition:
//! * an operand sent less expanded than its marshal level (PROOFS.md §3.3) is rejected, so a
//!   tuple cannot be passed as a pre-image to make a tuple operation raise;
//! * an aux operand list shorter than the opcode pops needs an empty aux remainder even when the
//!   data stack underflows as well (the contract's `else if` skips that check);
//! * `send`'s "buffer is longer than the size" claim is false when the size lies beyond the
//!   whole Merkle tree, whatever siblings the proof shows;
//! * a buffer write with an empty Merkle proof, undefined in the contract, is rejected.
//!
//! [`verify`] adds two more for `inbox` steps, from the inbox model of the claimed states (see
//! there).
//!
//! # Inbox proofs and the accumulator oracle
//!
//! The checker proves an `inbox` step against two L1 contracts, the sequencer inbox (batch
//! accumulators) and the delayed inbox (PROOFS.md §6). Here they are an injected
//! [`InboxAccumulators`] oracle: [`execute_step`] takes one where the contract takes `bridges`,
//! and reports what the proof read in [`StepResult::inbox`]. Sequencer messages, with any later
//! batch items, are checked in full. Delayed messages are implemented as the deployed checker
//! does it (see the `inbox` module; PROOFS.md §6 gives their layout but not every formula) and
//! need [`InboxAccumulators::delayed_acc`]; an oracle without it rejects them with
//! [`Rejection::NoDelayedAccumulator`], as does the one [`verify`] builds.

mod decode;
mod inbox;
mod merkle;
mod ops;
mod rejection;
mod step;
mod value;

use avm_runtime::U256;

pub use inbox::{InboxAccumulators, InboxRead, NoInbox};
pub use rejection::Rejection;

use crate::proof::{AssertionState, OneStepProof, ProverKind};

/// What `executeStep` returns (PROOFS.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// AVM gas the step used.
    pub gas: u64,
    /// Inbox messages read after the step.
    pub after_messages_read: u64,
    /// The machine hash before the step, rebuilt from the proof.
    pub start_hash: U256,
    /// The machine hash after the step (0 if Halted, 1 if ErrorStop).
    pub end_hash: U256,
    /// The send accumulator after the step.
    pub send_acc: U256,
    /// The log accumulator after the step.
    pub log_acc: U256,
    /// The inbox message the step read, if it ran `inbox` (PROOFS.md §6).
    pub inbox: Option<InboxRead>,
}

impl StepResult {
    /// The machine's inbox accumulator after the step, from `before` with `position` messages
    /// read: the message's sequencer item folded in (the prover's model, [`crate::prove`]), or
    /// `before` if the step read none. It does not depend on where L1 placed the message.
    pub fn inbox_acc(&self, before: U256, position: u64) -> U256 {
        self.inbox.map_or(before, |read| {
            let (prefix, data) = read.message_item;
            inbox::sequencer_item(before, U256::from(position), prefix, data)
        })
    }

    /// The assertion state after the step, given the one before (PROOFS.md §7): gas added,
    /// each count bumped when its accumulator changed, the new message count, inbox
    /// accumulator ([`StepResult::inbox_acc`]) and machine hash.
    pub fn after_state(&self, before: &AssertionState) -> Result<AssertionState, Rejection> {
        let bump = |count: u64, old: U256, new: U256| {
            count
                .checked_add(u64::from(old != new))
                .ok_or(Rejection::CountOverflow)
        };
        Ok(AssertionState {
            machine_hash: self.end_hash,
            inbox_count: self.after_messages_read,
            inbox_acc: self.inbox_acc(before.inbox_acc, before.inbox_count),
            gas_used: before
                .gas_used
                .checked_add(u128::from(self.gas))
                .ok_or(Rejection::CountOverflow)?,
            send_count: bump(before.send_count, before.send_acc, self.send_acc)?,
            send_acc: self.send_acc,
            log_count: bump(before.log_count, before.log_acc, self.log_acc)?,
            log_acc: self.log_acc,
        })
    }
}

/// The checker's `executeStep(bridges, initialMessagesRead, [sendAcc, logAcc], proof, bproof)`
/// of contract `prover` (PROOFS.md §1, §4–§6), with the L1 inbox contracts `bridges` replaced
/// by the accumulator oracle `inbox_accs`, which only an `inbox` step that reads a message
/// consults ([`NoInbox`] for none).
///
/// `Err` is the contract reverting: a malformed, non-minimal or inconsistent proof, an inbox
/// message the oracle does not confirm, or an opcode that belongs to another contract. An AVM
/// error raised by the instruction is not a rejection; it is part of the result.
pub fn execute_step(
    prover: ProverKind,
    inbox_accs: &dyn InboxAccumulators,
    initial_messages_read: u64,
    send_acc: U256,
    log_acc: U256,
    proof: &[u8],
    buffer_proof: &[u8],
) -> Result<StepResult, Rejection> {
    step::run(
        None,
        step::Input {
            prover,
            inbox_accs,
            initial_messages_read,
            send_acc,
            log_acc,
            proof,
            buffer_proof,
        },
    )
}

/// The L1 sequencer inbox as the claimed states of a proof describe it, in the inbox model of
/// the prover ([`crate::prove`], PROOFS.md §6): every message is its own sequencer batch,
/// numbered by its position in the inbox, and the machine's inbox accumulator is the
/// accumulator of the last batch it read. So the batch of the message read at position
/// `before.inbox_count` is batch `before.inbox_count`, and its accumulator is
/// `after.inbox_acc`. No other batch, and no delayed inbox, is known.
struct ClaimedInbox {
    batch: U256,
    acc: U256,
}

impl InboxAccumulators for ClaimedInbox {
    fn sequencer_batch(&self, batch: U256) -> Option<U256> {
        (batch == self.batch).then_some(self.acc)
    }
}

/// Checks a one-step proof: runs [`execute_step`] from `proof.before`, requires the rebuilt
/// start hash to be `before.machine_hash`, and the after state it implies (PROOFS.md §7) to be
/// exactly `proof.after`.
///
/// An `inbox` step is checked against the sequencer inbox the claimed states describe (one
/// message per batch, see [`crate::prove`]): its batch must be batch `before.inbox_count` with
/// accumulator `after.inbox_acc`. The model adds two requires the checker, which trusts the L1
/// contracts, has no need for: the batch must start from `before.inbox_acc` (the previous
/// batch's accumulator) and hold no item after the message. Together they make
/// `after.inbox_acc` exactly the machine's accumulator step
/// `keccak(before.inbox_acc ‖ be32(position) ‖ prefixHash ‖ dataHash)`. A delayed message has
/// no place in this model and is rejected ([`Rejection::NoDelayedAccumulator`]); a machine fed
/// from an L1 inbox with more structure is checked with [`verify_in`].
pub fn verify(proof: &OneStepProof) -> Result<(), Rejection> {
    let claimed = ClaimedInbox {
        batch: U256::from(proof.before.inbox_count),
        acc: proof.after.inbox_acc,
    };
    let result = run_from_claimed_start(proof, &claimed)?;
    if let Some(read) = result.inbox {
        if read.start_acc != proof.before.inbox_acc {
            return Err(Rejection::InboxModelMismatch(
                "the batch does not start from the before state's inbox accumulator",
            ));
        }
        if read.item_acc != read.batch_acc {
            return Err(Rejection::InboxModelMismatch(
                "the batch holds items after the message",
            ));
        }
    }
    check_after_state(proof, &result)
}

/// [`verify`] with the L1 inbox contracts given as `inbox` (such as an
/// [`L1Inbox`](crate::l1_inbox::L1Inbox)): an `inbox` step's message must be where the proof
/// places it in `inbox`, a sequencer batch or a delayed range, and nothing else is asked of its
/// batch.
pub fn verify_in(proof: &OneStepProof, inbox: &dyn InboxAccumulators) -> Result<(), Rejection> {
    let result = run_from_claimed_start(proof, inbox)?;
    check_after_state(proof, &result)
}

/// [`execute_step`] from `proof.before`, requiring the rebuilt start hash to be the claimed one.
fn run_from_claimed_start(
    proof: &OneStepProof,
    inbox_accs: &dyn InboxAccumulators,
) -> Result<StepResult, Rejection> {
    let before = &proof.before;
    step::run(
        Some(before.machine_hash),
        step::Input {
            prover: proof.prover,
            inbox_accs,
            initial_messages_read: before.inbox_count,
            send_acc: before.send_acc,
            log_acc: before.log_acc,
            proof: &proof.proof,
            buffer_proof: &proof.buffer_proof,
        },
    )
}

/// Requires the after state `result` implies from `proof.before` to be exactly `proof.after`.
fn check_after_state(proof: &OneStepProof, result: &StepResult) -> Result<(), Rejection> {
    let expected = result.after_state(&proof.before)?;
    match first_difference(&expected, &proof.after) {
        Some(field) => Err(Rejection::AfterStateMismatch(field)),
        None => Ok(()),
    }
}

/// The name of the first field where two assertion states differ.
fn first_difference(a: &AssertionState, b: &AssertionState) -> Option<&'static str> {
    [
        ("machine hash", a.machine_hash == b.machine_hash),
        ("inbox count", a.inbox_count == b.inbox_count),
        ("inbox accumulator", a.inbox_acc == b.inbox_acc),
        ("gas used", a.gas_used == b.gas_used),
        ("send count", a.send_count == b.send_count),
        ("send accumulator", a.send_acc == b.send_acc),
        ("log count", a.log_count == b.log_count),
        ("log accumulator", a.log_acc == b.log_acc),
    ]
    .into_iter()
    .find_map(|(field, same)| (!same).then_some(field))
}
