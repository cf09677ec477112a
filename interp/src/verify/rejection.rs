//! Why the verifier refuses a proof: the checker contracts' `require`s and reverts.

use std::fmt;

use avm_runtime::U256;
use avm_runtime::hash::hex_hash;

use crate::proof::ProverKind;

/// Why a one-step proof was rejected.
///
/// A rejection is the verifier's equivalent of the on-chain checker reverting: the proof is
/// malformed, inconsistent or dishonest. It is distinct from an AVM error raised by the proven
/// instruction, which is a legitimate outcome of the step (PROOFS.md §8: the verifier must
/// "reject (not error)" bad proofs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The standard proof ends before a field it must contain (PROOFS.md §2).
    Truncated,
    /// A marshaled value has a type byte outside 0–12 (PROOFS.md §3.2).
    InvalidTypecode(u8),
    /// The immediate flag is neither 0 nor 1 (PROOFS.md §4, parse).
    InvalidImmediateFlag(u8),
    /// The immediate flag is set but no stack value was sent to be the immediate.
    MissingImmediate,
    /// More data-stack operands than the opcode pops ("STACK_MANY", PROOFS.md §4).
    NonMinimalOperands,
    /// More aux-stack operands than the opcode pops ("AUX_MANY", PROOFS.md §4).
    NonMinimalAuxOperands,
    /// Fewer data operands than the opcode pops, but the remainder is not the empty stack
    /// ("STACK_MISSING").
    StackNotExhausted,
    /// Fewer aux operands than the opcode pops, but the aux remainder is not the empty stack
    /// ("AUX_MISSING").
    AuxStackNotExhausted,
    /// An operand is sent less expanded than the opcode's marshal level (PROOFS.md §3.3), so the
    /// checker could not see inside a tuple the instruction reads.
    UnderExpandedOperand,
    /// The opcode belongs to another checker contract (PROOFS.md §1).
    WrongProver {
        /// The opcode of the proof.
        opcode: u8,
        /// The contract the proof was submitted to.
        prover: ProverKind,
    },
    /// The buffer proof is shorter than its header says, or its header ranges are not ordered
    /// (PROOFS.md §5.1).
    MalformedBufferProof,
    /// A buffer Merkle proof does not lead to the buffer's root (PROOFS.md §5.2).
    MerkleMismatch,
    /// A buffer write came with an empty Merkle proof, for which the checker's write algorithm
    /// is undefined (PROOFS.md §5.4).
    EmptyWriteProof,
    /// A normalization proof is not exactly 3 words (PROOFS.md §5.4).
    MalformedNormalization,
    /// A normalization proof does not describe the buffer after a zero write (PROOFS.md §5.4).
    NormalizationMismatch,
    /// `send` data is shorter than the size operand (PROOFS.md §5.6).
    SendDataTruncated,
    /// `send` data does not hash to the buffer operand (PROOFS.md §5.6).
    SendDataMismatch,
    /// The proof claims the `send` buffer is longer than the size, but it is not (PROOFS.md §5.6).
    FalseSendSizeClaim,
    /// The delayed flag of an inbox proof, or the tag of a later batch item, is not one PROOFS.md
    /// §6 allows (the checker's "IS_DELAYED_VAL", "REM_IS_DELAYED_VAL").
    InvalidInboxItem(u8),
    /// The inbox message is not the next one the machine reads: its sequence number (for a
    /// delayed message, its place in the batch) is not `initialMessagesRead` (PROOFS.md §6;
    /// "WRONG_SEQUENCER_MSG_SEQ_NUM", "WRONG_DELAYED_MSG_SEQ_NUM").
    WrongInboxSequenceNumber,
    /// The accumulator oracle has no sequencer batch with this number (the checker's read of
    /// `inboxAccs` reverting, PROOFS.md §6).
    UnknownInboxBatch(U256),
    /// The batch replayed from the inbox proof does not end on the batch's accumulator
    /// (PROOFS.md §6; "WRONG_BATCH_ACC").
    InboxBatchMismatch {
        /// The accumulator the oracle holds for the batch.
        expected: U256,
        /// The accumulator the proof's items give.
        computed: U256,
    },
    /// The accumulator oracle cannot supply the delayed inbox's accumulator after this message
    /// (PROOFS.md §6: delayed messages are checked against the delayed inbox).
    NoDelayedAccumulator(U256),
    /// A delayed message lies outside the delayed range the proof puts it in
    /// ("DELAYED_START", "DELAYED_END").
    DelayedMessageOutOfRange,
    /// A delayed message is not the delayed inbox's message at its index ("DELAYED_ACC").
    DelayedMessageMismatch,
    /// The inbox proof places the message other than the one-message-per-batch model of the
    /// claimed states does (see [`crate::verify::verify`]); the reason says how.
    InboxModelMismatch(&'static str),
    /// The machine hash rebuilt from the proof is not the claimed before state's.
    StartHashMismatch {
        /// The claimed machine hash.
        claimed: U256,
        /// The hash rebuilt from the proof.
        computed: U256,
    },
    /// The after state computed from the step differs from the claimed one (PROOFS.md §7).
    AfterStateMismatch(&'static str),
    /// A count or gas total of the after state would overflow.
    CountOverflow,
    /// An operation popped more operands than the proof supplied. The operand-count checks make
    /// this unreachable; it exists so that no input can cause a panic.
    OperandMissing,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Truncated => f.write_str("proof truncated"),
            Rejection::InvalidTypecode(t) => write!(f, "invalid typecode {t}"),
            Rejection::InvalidImmediateFlag(b) => write!(f, "invalid immediate flag {b}"),
            Rejection::MissingImmediate => f.write_str("immediate flag set without a value"),
            Rejection::NonMinimalOperands => f.write_str("non-minimal operand list"),
            Rejection::NonMinimalAuxOperands => f.write_str("non-minimal aux operand list"),
            Rejection::StackNotExhausted => {
                f.write_str("stack underflow claimed on a non-empty stack")
            }
            Rejection::AuxStackNotExhausted => {
                f.write_str("aux stack underflow claimed on a non-empty aux stack")
            }
            Rejection::UnderExpandedOperand => f.write_str("operand less expanded than its level"),
            Rejection::WrongProver { opcode, prover } => {
                write!(
                    f,
                    "opcode {opcode:#04x} is not proven by the {prover:?} contract"
                )
            }
            Rejection::MalformedBufferProof => f.write_str("malformed buffer proof"),
            Rejection::MerkleMismatch => f.write_str("buffer Merkle proof does not match the root"),
            Rejection::EmptyWriteProof => f.write_str("empty Merkle proof for a buffer write"),
            Rejection::MalformedNormalization => f.write_str("normalization proof is not 3 words"),
            Rejection::NormalizationMismatch => f.write_str("normalization proof mismatch"),
            Rejection::SendDataTruncated => f.write_str("send data truncated"),
            Rejection::SendDataMismatch => f.write_str("send data does not match the buffer"),
            Rejection::FalseSendSizeClaim => {
                f.write_str("send buffer claimed longer than its size but is not")
            }
            Rejection::InvalidInboxItem(tag) => write!(f, "invalid inbox batch item tag {tag}"),
            Rejection::WrongInboxSequenceNumber => {
                f.write_str("the inbox message is not the next one the machine reads")
            }
            Rejection::UnknownInboxBatch(batch) => write!(f, "no sequencer inbox batch {batch}"),
            Rejection::InboxBatchMismatch { expected, computed } => write!(
                f,
                "inbox batch accumulator mismatch: the inbox holds {}, the proof gives {}",
                hex_hash(expected),
                hex_hash(computed)
            ),
            Rejection::NoDelayedAccumulator(index) => write!(
                f,
                "no delayed inbox accumulator after delayed message {index}"
            ),
            Rejection::DelayedMessageOutOfRange => {
                f.write_str("the delayed message lies outside its delayed range")
            }
            Rejection::DelayedMessageMismatch => {
                f.write_str("the delayed message is not in the delayed inbox at its index")
            }
            Rejection::InboxModelMismatch(reason) => {
                write!(
                    f,
                    "inbox proof outside the one-message-per-batch model: {reason}"
                )
            }
            Rejection::StartHashMismatch { claimed, computed } => write!(
                f,
                "start hash mismatch: claimed {}, proof gives {}",
                hex_hash(claimed),
                hex_hash(computed)
            ),
            Rejection::AfterStateMismatch(field) => write!(f, "after state mismatch in {field}"),
            Rejection::CountOverflow => f.write_str("after state count overflows"),
            Rejection::OperandMissing => f.write_str("operation ran out of proof operands"),
        }
    }
}

impl std::error::Error for Rejection {}
