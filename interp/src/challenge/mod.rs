//! The classic dispute game, as arbitrum-classic's contracts play it on L1
//! (`challenge/Challenge.sol`, `ChallengeLib.sol`, `libraries/MerkleLib.sol` and the rollup's
//! `RollupLib.executionHash`): an asserter claims that execution went from one assertion state
//! to another over a segment of AVM gas; the challenger disagrees. They take turns: each cuts
//! the segment its opponent claimed into chunks (`bisect`) with a different end, until a chunk
//! one step long is left, which the player on turn settles with a one-step proof checked by the
//! verifier (or by showing that the chunk started past its own end, `prove_continued`). A
//! player who does not move in time loses.
//!
//! The [`Referee`] checks each move as the contract does, from hashes, Merkle routes and the
//! verifier's [`crate::verify::execute_step`] alone: it trusts neither player's execution.

pub mod merkle;
mod referee;

use avm_runtime::U256;
use avm_runtime::hash::{be32, keccak};

pub use referee::{Referee, Refusal, Segment, StepClaim, Turn};

use crate::proof::AssertionState;

/// The hash of a chunk of a bisection: its gas start and length and the assertion hashes at its
/// two ends (`ChallengeLib.bisectionChunkHash`).
pub fn chunk_hash(start: U256, length: U256, start_hash: U256, end_hash: U256) -> U256 {
    keccak(&[
        &be32(&start),
        &be32(&length),
        &be32(&start_hash),
        &be32(&end_hash),
    ])
}

/// The length of the first of `count` chunks of `total` gas: the others' length plus the
/// remainder (`ChallengeLib.firstSegmentSize`).
pub fn first_chunk_length(total: U256, count: U256) -> U256 {
    total / count + total % count
}

/// The length of every chunk but the first (`ChallengeLib.otherSegmentSize`).
pub fn other_chunk_length(total: U256, count: U256) -> U256 {
    total / count
}

/// How many chunks a segment of `length` gas is cut into, at most `degree`
/// (`Challenge.bisectionDegree`).
pub fn bisection_degree(length: U256, degree: U256) -> U256 {
    length.min(degree)
}

/// The gas at which each cut of a segment falls: `count + 1` points from `start` to
/// `start + length`, the first chunk taking the remainder.
pub fn cut_points(start: U256, length: U256, count: U256) -> Vec<U256> {
    let mut points = vec![start];
    let mut at = start + first_chunk_length(length, count);
    points.push(at);
    let other = other_chunk_length(length, count);
    let mut cut = U256::one();
    while cut < count {
        at += other;
        points.push(at);
        cut += U256::one();
    }
    points
}

/// The chunk hashes of a bisection into `chain.len() - 1` chunks, whose Merkle root the game
/// goes on from (`ChallengeLib.updatedBisectionRoot`'s leaves).
pub fn chunk_hashes(chain: &[U256], start: U256, length: U256) -> Vec<U256> {
    let count = U256::from(chain.len() - 1);
    let points = cut_points(start, length, count);
    chain
        .windows(2)
        .zip(points.windows(2))
        .map(|(ends, at)| chunk_hash(at[0], at[1] - at[0], ends[0], ends[1]))
        .collect()
}

/// `ChallengeLib.assertionHash`: what a player claims about a point of execution.
pub fn assertion_hash(gas_used: U256, rest: U256) -> U256 {
    keccak(&[&be32(&gas_used), &be32(&rest)])
}

/// `ChallengeLib.assertionRestHash`: an assertion's state besides its gas.
pub fn rest_hash(
    messages_read: U256,
    machine_hash: U256,
    send_acc: U256,
    send_count: U256,
    log_acc: U256,
    log_count: U256,
) -> U256 {
    keccak(&[
        &be32(&messages_read),
        &be32(&machine_hash),
        &be32(&send_acc),
        &be32(&send_count),
        &be32(&log_acc),
        &be32(&log_count),
    ])
}

/// The challenge state a rollup assertion from `before` to `after` starts its game with
/// (`RollupLib.executionHash`).
pub fn execution_hash(before: &AssertionState, after: &AssertionState) -> U256 {
    chunk_hash(
        U256::from(before.gas_used),
        U256::from(after.gas_used - before.gas_used),
        before.assertion_hash(),
        after.assertion_hash(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_chunk_takes_the_remainder() {
        let u = U256::from;
        assert_eq!(
            cut_points(u(100), u(10), u(3)),
            [u(100), u(104), u(107), u(110)]
        );
        assert_eq!(cut_points(u(0), u(2), u(2)), [u(0), u(1), u(2)]);
        assert_eq!(bisection_degree(u(3), u(400)), u(3));
        assert_eq!(bisection_degree(u(1000), u(400)), u(400));
    }

    #[test]
    fn chunk_hashes_cover_the_segment_end_to_end() {
        let u = U256::from;
        let chain = [u(1), u(2), u(3), u(4)];
        let hashes = chunk_hashes(&chain, u(100), u(10));
        assert_eq!(
            hashes,
            [
                chunk_hash(u(100), u(4), u(1), u(2)),
                chunk_hash(u(104), u(3), u(2), u(3)),
                chunk_hash(u(107), u(3), u(3), u(4)),
            ]
        );
    }
}
