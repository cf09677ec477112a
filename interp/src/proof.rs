//! The types a one-step proof is made of (PROOFS.md §1, §7), shared by the prover
//! ([`crate::prove`]) and the verifier ([`crate::verify`]), which otherwise share no code path
//! beyond value hashing.

use avm_runtime::U256;

/// Which checker contract verifies a step (PROOFS.md §1): the opcode table's selector.
pub use avm_runtime::opcode::Prover as ProverKind;

/// The part of a machine's state an assertion commits to, before or after a step (PROOFS.md
/// §7). Counts are the totals since the program started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AssertionState {
    /// The machine hash (AVM.md §5.2).
    pub machine_hash: U256,
    /// Inbox messages consumed so far.
    pub inbox_count: u64,
    /// The inbox accumulator (PROOFS.md §6).
    pub inbox_acc: U256,
    /// Gas used so far.
    pub gas_used: u128,
    /// Sends so far.
    pub send_count: u64,
    /// The send accumulator.
    pub send_acc: U256,
    /// Logs so far.
    pub log_count: u64,
    /// The log accumulator.
    pub log_acc: U256,
}

impl AssertionState {
    /// The assertion hash the challenge compares (PROOFS.md §7).
    pub fn assertion_hash(&self) -> U256 {
        crate::challenge::assertion_hash(U256::from(self.gas_used), self.rest_hash())
    }

    /// The hash of everything but the gas (`ChallengeLib.assertionRestHash`).
    pub fn rest_hash(&self) -> U256 {
        crate::challenge::rest_hash(
            U256::from(self.inbox_count),
            self.machine_hash,
            self.send_acc,
            U256::from(self.send_count),
            self.log_acc,
            U256::from(self.log_count),
        )
    }
}

/// One step's proof: what the prover sends to the checker, and the states before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneStepProof {
    /// The checker contract that verifies it.
    pub prover: ProverKind,
    /// The standard proof bytes (PROOFS.md §2), with any op-specific data appended.
    pub proof: Vec<u8>,
    /// The buffer proof bytes (PROOFS.md §5); empty for non-buffer opcodes.
    pub buffer_proof: Vec<u8>,
    /// The state before the step.
    pub before: AssertionState,
    /// The state after the step.
    pub after: AssertionState,
}
