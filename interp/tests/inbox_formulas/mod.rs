//! The L1 inbox contracts' hash formulas (PROOFS.md §6), written out here from the contracts
//! so the tests check the prover, the verifier and `L1Inbox` against them rather than against
//! the code under test.

use avm_runtime::hash::{be32, keccak};
use avm_runtime::{InboxMessage, U256};

/// A sequencer item: `keccak(acc ‖ be32(seq) ‖ prefixHash ‖ dataHash)`.
pub fn sequencer_item(acc: U256, seq: u64, prefix: U256, data_hash: U256) -> U256 {
    keccak(&[
        &be32(&acc),
        &be32(&U256::from(seq)),
        &be32(&prefix),
        &be32(&data_hash),
    ])
}

/// The delayed inbox's message hash: `keccak(kind ‖ sender ‖ be32(block) ‖ be32(timestamp) ‖
/// be32(seqNum) ‖ be32(gasPrice) ‖ keccak(data))`.
pub fn delayed_message_hash(m: &InboxMessage) -> U256 {
    let mut bytes = vec![m.kind.low_u64() as u8];
    bytes.extend_from_slice(&be32(&m.sender)[12..]);
    for field in [
        m.l1_block_number,
        m.l1_timestamp,
        m.inbox_sequence_number,
        m.l1_gas_price,
        keccak(&[&m.data]),
    ] {
        bytes.extend_from_slice(&be32(&field));
    }
    keccak(&[&bytes])
}

/// A delayed range's batch item (the deployed checker's formula, see `verify::inbox`):
/// `keccak("Delayed messages:" ‖ acc ‖ be32(seq) ‖ be32(start) ‖ be32(end) ‖ D(end − 1))`.
pub fn delayed_item(acc: U256, seq: u64, start: u64, end: u64, end_acc: U256) -> U256 {
    keccak(&[
        b"Delayed messages:",
        &be32(&acc),
        &be32(&U256::from(seq)),
        &be32(&U256::from(start)),
        &be32(&U256::from(end)),
        &be32(&end_acc),
    ])
}
