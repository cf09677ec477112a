//! The referee: `Challenge.sol`'s state and checks, move by move.

use avm_runtime::U256;

use super::merkle::{self, Route};
use super::{assertion_hash, bisection_degree, chunk_hash, chunk_hashes, rest_hash};
use crate::proof::{AssertionState, ProverKind};
use crate::verify::{self, InboxAccumulators, Rejection};

/// Whose move it is, and who won.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Turn {
    /// The player who made the assertion.
    Asserter,
    /// The player who disputes it.
    Challenger,
}

impl Turn {
    /// The other player.
    pub fn other(self) -> Turn {
        match self {
            Turn::Asserter => Turn::Challenger,
            Turn::Challenger => Turn::Asserter,
        }
    }
}

/// Why the referee refused a move: the contract's `require` that would revert, by its message.
/// A refused move changes nothing; the player may still move (or time out).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It is not this player's turn, or the game is over (`BIS_SENDER`, `NO_TURN`).
    #[error("BIS_SENDER: not this player's turn")]
    NotOnTurn,
    /// A bisection of a segment one gas long that claims a reachable end (`TOO_SHORT`).
    #[error("TOO_SHORT: a segment of one gas cannot be bisected")]
    TooShort,
    /// The chain does not have `bisectionDegree + 1` hashes (`CUT_COUNT`).
    #[error("CUT_COUNT: {given} hashes where the segment takes {expected}")]
    CutCount {
        /// Hashes given.
        given: usize,
        /// Hashes the segment's length and the degree call for.
        expected: U256,
    },
    /// The bisection ends where the segment it disputes ends (`SAME_END`).
    #[error("SAME_END: the bisection agrees with the end it disputes")]
    SameEnd,
    /// The chain does not start at the claimed start state (`segment pre-fields`).
    #[error("segment pre-fields: the chain does not start at the claimed start state")]
    SegmentPreFields,
    /// The chain starts at the unreachable assertion (`UNREACHABLE_START`).
    #[error("UNREACHABLE_START")]
    UnreachableStart,
    /// The start state's gas lies at or past the segment's end (`invalid segment length`).
    #[error("invalid segment length: the start state is past the segment's end")]
    InvalidSegmentLength,
    /// The segment is not a chunk of the current bisection: its hash and Merkle route do not
    /// lead to the challenge state (`BIS_PREV`).
    #[error("BIS_PREV: the segment is not a chunk of the current bisection")]
    NotAChunk,
    /// A continued-execution claim whose start is before the segment's end (`NOT_CONT`).
    #[error("NOT_CONT: the start state is before the segment's end")]
    NotContinued,
    /// The proven end is the one disputed (`WRONG_END`).
    #[error("WRONG_END: the proven end is the one disputed")]
    WrongEnd,
    /// The proven step reads more messages than the assertion may (`TOO_MANY_MESSAGES`).
    #[error("TOO_MANY_MESSAGES")]
    TooManyMessages,
    /// The one-step proof starts at or past the segment's end (`OSP_CONT`).
    #[error("OSP_CONT: the step starts past the segment; prove continued execution instead")]
    StartsPastSegment,
    /// The step's gas does not reach the segment's end (`OSP_SHORT`).
    #[error("OSP_SHORT: the step ends before the segment's end")]
    EndsShort,
    /// The executor contract reverted on the proof.
    #[error("the one-step proof was rejected")]
    Proof(#[source] Rejection),
}

/// The chunk of the current bisection a move is about: its place in the segment (gas start and
/// length), the end its opponent claimed, and the Merkle route from its chunk hash to the
/// challenge state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The route to the chunk (empty for the assertion's own segment, the first move).
    pub route: Route,
    /// The gas at the chunk's start.
    pub start: U256,
    /// Its gas length.
    pub length: U256,
    /// The assertion hash the opponent claimed at its end.
    pub old_end: U256,
}

/// What a one-step proof move claims about the state before the step, beside the proof:
/// `oneStepProveExecution`'s `_initialMessagesRead`, `_initialAccs` and `_initialState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepClaim {
    /// Inbox messages read before the step.
    pub messages_read: u64,
    /// The send accumulator before the step.
    pub send_acc: U256,
    /// The log accumulator before the step.
    pub log_acc: U256,
    /// Gas used before the step.
    pub gas_used: U256,
    /// Sends before the step.
    pub send_count: U256,
    /// Logs before the step.
    pub log_count: U256,
}

impl From<&AssertionState> for StepClaim {
    /// What a one-step proof claims when the state before its step is `state`.
    fn from(state: &AssertionState) -> StepClaim {
        StepClaim {
            messages_read: state.inbox_count,
            send_acc: state.send_acc,
            log_acc: state.log_acc,
            gas_used: U256::from(state.gas_used),
            send_count: U256::from(state.send_count),
            log_count: U256::from(state.log_count),
        }
    }
}

/// A game in progress, or over. Its only state is the contract's: the challenge state (a Merkle
/// root over the chunks of the last bisection), whose turn it is, and the winner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referee {
    state: U256,
    turn: Option<Turn>,
    winner: Option<Turn>,
    /// The most chunks a bisection may have (`challengeExecutionBisectionDegree`).
    degree: U256,
    /// The most inbox messages the assertion may read (`maxMessageCount`).
    max_message_count: u64,
}

/// The hash the contract uses for an end that execution cannot reach.
const UNREACHABLE_ASSERTION: U256 = U256::zero();

impl Referee {
    /// A game over the assertion whose [`super::execution_hash`] is `execution_hash`: the
    /// challenger moves first.
    pub fn new(execution_hash: U256, degree: u64, max_message_count: u64) -> Referee {
        Referee {
            state: execution_hash,
            turn: Some(Turn::Challenger),
            winner: None,
            degree: U256::from(degree),
            max_message_count,
        }
    }

    /// Whose move it is (`None` once the game is over).
    pub fn turn(&self) -> Option<Turn> {
        self.turn
    }

    /// The winner, once there is one.
    pub fn winner(&self) -> Option<Turn> {
        self.winner
    }

    /// The challenge state: the Merkle root over the chunks of the last bisection.
    pub fn state(&self) -> U256 {
        self.state
    }

    /// The player on turn did not move in time: the other wins (`timeout`).
    pub fn timeout(&mut self) -> Result<(), Refusal> {
        let late = self.turn.ok_or(Refusal::NotOnTurn)?;
        self.finish(late.other());
        Ok(())
    }

    /// `bisectExecution`: `mover` disputes the end of `segment` with its own `chain` of
    /// assertion hashes over it (its start, then the state at each cut), the first of which
    /// is `assertionHash(gas_used_before, assertion_rest)`.
    pub fn bisect(
        &mut self,
        mover: Turn,
        segment: &Segment,
        gas_used_before: U256,
        assertion_rest: U256,
        chain: &[U256],
    ) -> Result<(), Refusal> {
        self.on_turn(mover)?;
        let (first, last) = match chain {
            [first, .., last] => (*first, *last),
            _ => {
                return Err(Refusal::CutCount {
                    given: chain.len(),
                    expected: self.cut_count(segment.length),
                });
            }
        };
        if last != UNREACHABLE_ASSERTION && segment.length <= U256::one() {
            return Err(Refusal::TooShort);
        }
        let expected = self.cut_count(segment.length);
        if U256::from(chain.len()) != expected {
            return Err(Refusal::CutCount {
                given: chain.len(),
                expected,
            });
        }
        if last == segment.old_end {
            return Err(Refusal::SameEnd);
        }
        if first != assertion_hash(gas_used_before, assertion_rest) {
            return Err(Refusal::SegmentPreFields);
        }
        if first == UNREACHABLE_ASSERTION {
            return Err(Refusal::UnreachableStart);
        }
        if gas_used_before >= segment.start + segment.length {
            return Err(Refusal::InvalidSegmentLength);
        }
        self.check_chunk(segment, first)?;
        let leaves = chunk_hashes(chain, segment.start, segment.length);
        self.state = merkle::root(&leaves).expect("a chain of two hashes or more has a chunk");
        self.pass_turn();
        Ok(())
    }

    /// `proveContinuedExecution`: the chunk's start state already lies at or past its end, so
    /// its opponent's different end is wrong; `mover` wins.
    pub fn prove_continued(
        &mut self,
        mover: Turn,
        segment: &Segment,
        gas_used_before: U256,
        assertion_rest: U256,
    ) -> Result<(), Refusal> {
        self.on_turn(mover)?;
        let before = assertion_hash(gas_used_before, assertion_rest);
        self.check_chunk(segment, before)?;
        if gas_used_before < segment.start + segment.length {
            return Err(Refusal::NotContinued);
        }
        if before == segment.old_end {
            return Err(Refusal::WrongEnd);
        }
        self.finish(mover);
        Ok(())
    }

    /// `oneStepProveExecution`: `mover` proves the one step of the chunk with the verifier as
    /// the executor contract, from the state `claim` describes, and wins if the step's end
    /// differs from the one its opponent claimed.
    #[allow(clippy::too_many_arguments)]
    pub fn prove_step(
        &mut self,
        mover: Turn,
        segment: &Segment,
        claim: &StepClaim,
        prover: ProverKind,
        proof: &[u8],
        buffer_proof: &[u8],
        inbox: &dyn InboxAccumulators,
    ) -> Result<(), Refusal> {
        self.on_turn(mover)?;
        let step = verify::execute_step(
            prover,
            inbox,
            claim.messages_read,
            claim.send_acc,
            claim.log_acc,
            proof,
            buffer_proof,
        )
        .map_err(Refusal::Proof)?;
        if step.after_messages_read > self.max_message_count {
            return Err(Refusal::TooManyMessages);
        }
        let end = segment.start + segment.length;
        if claim.gas_used >= end {
            return Err(Refusal::StartsPastSegment);
        }
        if claim.gas_used + U256::from(step.gas) < end {
            return Err(Refusal::EndsShort);
        }
        let bump =
            |count: U256, before: U256, after: U256| count + U256::from(u8::from(before != after));
        let after = assertion_hash(
            claim.gas_used + U256::from(step.gas),
            rest_hash(
                U256::from(step.after_messages_read),
                step.end_hash,
                step.send_acc,
                bump(claim.send_count, claim.send_acc, step.send_acc),
                step.log_acc,
                bump(claim.log_count, claim.log_acc, step.log_acc),
            ),
        );
        if after == segment.old_end {
            return Err(Refusal::WrongEnd);
        }
        let before = assertion_hash(
            claim.gas_used,
            rest_hash(
                U256::from(claim.messages_read),
                step.start_hash,
                claim.send_acc,
                claim.send_count,
                claim.log_acc,
                claim.log_count,
            ),
        );
        self.check_chunk(segment, before)?;
        self.finish(mover);
        Ok(())
    }

    /// `onlyOnTurn`'s sender check.
    fn on_turn(&self, mover: Turn) -> Result<(), Refusal> {
        match self.turn == Some(mover) {
            true => Ok(()),
            false => Err(Refusal::NotOnTurn),
        }
    }

    /// The number of hashes a bisection of `length` gas takes.
    fn cut_count(&self, length: U256) -> U256 {
        bisection_degree(length, self.degree) + U256::one()
    }

    /// `verifySegmentProof`: the chunk from `start_hash` to the segment's old end, at the
    /// segment's place, leads by its route to the challenge state.
    fn check_chunk(&self, segment: &Segment, start_hash: U256) -> Result<(), Refusal> {
        let chunk = chunk_hash(segment.start, segment.length, start_hash, segment.old_end);
        match segment.route.root_from(chunk) == Some(self.state) {
            true => Ok(()),
            false => Err(Refusal::NotAChunk),
        }
    }

    fn pass_turn(&mut self) {
        self.turn = self.turn.map(Turn::other);
    }

    fn finish(&mut self, winner: Turn) {
        self.winner = Some(winner);
        self.turn = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use avm_runtime::asm::assemble;
    use avm_runtime::hash::keccak;

    use super::*;
    use crate::Machine;
    use crate::verify::NoInbox;

    fn h(i: u64) -> U256 {
        keccak(&[&i.to_be_bytes()])
    }

    /// A game over gas 100..110 from the state `assertion_hash(100, h(0))` to `h(99)`, with
    /// bisections of at most 3 chunks; and that start hash.
    fn game() -> (Referee, U256) {
        let start = assertion_hash(U256::from(100), h(0));
        let execution = chunk_hash(U256::from(100), U256::from(10), start, h(99));
        (Referee::new(execution, 3, 10), start)
    }

    fn whole() -> Segment {
        Segment {
            route: Route::default(),
            start: U256::from(100),
            length: U256::from(10),
            old_end: h(99),
        }
    }

    #[test]
    fn a_bisection_must_come_in_turn_with_the_right_cuts_and_a_new_end() {
        let (mut referee, start) = game();
        let (g, r) = (U256::from(100), h(0));
        let chain = [start, h(1), h(2), h(3)];
        assert_eq!(
            referee.bisect(Turn::Asserter, &whole(), g, r, &chain),
            Err(Refusal::NotOnTurn)
        );
        assert!(matches!(
            referee.bisect(Turn::Challenger, &whole(), g, r, &chain[..3]),
            Err(Refusal::CutCount { given: 3, .. })
        ));
        let same_end = [start, h(1), h(2), h(99)];
        assert_eq!(
            referee.bisect(Turn::Challenger, &whole(), g, r, &same_end),
            Err(Refusal::SameEnd)
        );
        assert_eq!(
            referee.bisect(Turn::Challenger, &whole(), g, h(7), &chain),
            Err(Refusal::SegmentPreFields)
        );
        let elsewhere = Segment {
            old_end: h(98),
            ..whole()
        };
        assert_eq!(
            referee.bisect(Turn::Challenger, &elsewhere, g, r, &chain),
            Err(Refusal::NotAChunk)
        );
        let before = referee.clone();
        assert_eq!(
            referee.bisect(Turn::Challenger, &whole(), g, r, &chain),
            Ok(())
        );
        assert_ne!(referee.state(), before.state());
        assert_eq!(referee.turn(), Some(Turn::Asserter));
    }

    #[test]
    fn the_next_bisection_is_of_a_chunk_reached_by_its_merkle_route() {
        let (mut referee, start) = game();
        let (r1, g1) = (h(11), U256::from(104));
        let c1 = assertion_hash(g1, r1);
        let chain = [start, c1, h(2), h(3)];
        referee
            .bisect(Turn::Challenger, &whole(), U256::from(100), h(0), &chain)
            .unwrap();
        let leaves = crate::challenge::chunk_hashes(&chain, U256::from(100), U256::from(10));
        let chunk = |route: Route| Segment {
            route,
            start: U256::from(104),
            length: U256::from(3),
            old_end: h(2),
        };
        let wrong_route = chunk(Route::to_leaf(&leaves, 2).unwrap());
        let asserter_chain = [c1, h(21), h(22), h(23)];
        assert_eq!(
            referee.bisect(Turn::Asserter, &wrong_route, g1, r1, &asserter_chain),
            Err(Refusal::NotAChunk)
        );
        let right = chunk(Route::to_leaf(&leaves, 1).unwrap());
        assert_eq!(
            referee.bisect(Turn::Asserter, &right, g1, r1, &asserter_chain),
            Ok(())
        );
        assert_eq!(referee.turn(), Some(Turn::Challenger));
        referee.timeout().unwrap();
        assert_eq!(referee.winner(), Some(Turn::Asserter));
        assert_eq!(referee.timeout(), Err(Refusal::NotOnTurn));
    }

    /// A real one-step proof of the `add` of `push 1; push 2; add; halt`, and a game whose
    /// only chunk is that step with `end` claimed after it.
    fn one_step_game(
        end: Option<U256>,
    ) -> (Referee, Segment, StepClaim, crate::proof::OneStepProof) {
        let program = Arc::new(assemble("push 1\npush 2\nadd\nhalt\n").unwrap());
        let mut machine = Machine::new(program);
        machine.prove_next().unwrap();
        machine.prove_next().unwrap();
        let proof = machine.prove_next().unwrap();
        let b = &proof.before;
        let segment = Segment {
            route: Route::default(),
            start: U256::from(b.gas_used),
            length: U256::one(),
            old_end: end.unwrap_or_else(|| proof.after.assertion_hash()),
        };
        let execution = chunk_hash(
            segment.start,
            segment.length,
            b.assertion_hash(),
            segment.old_end,
        );
        let claim = StepClaim::from(b);
        (Referee::new(execution, 400, 0), segment, claim, proof)
    }

    #[test]
    fn a_one_step_proof_wins_against_a_wrong_end_only() {
        let (mut referee, segment, claim, proof) = one_step_game(Some(h(5)));
        let prove = |referee: &mut Referee, claim: &StepClaim, bytes: &[u8]| {
            referee.prove_step(
                Turn::Challenger,
                &segment,
                claim,
                proof.prover,
                bytes,
                &proof.buffer_proof,
                &NoInbox,
            )
        };
        let past = StepClaim {
            gas_used: claim.gas_used + U256::one(),
            ..claim
        };
        assert_eq!(
            prove(&mut referee, &past, &proof.proof),
            Err(Refusal::StartsPastSegment)
        );
        let mut tampered = proof.proof.clone();
        tampered.truncate(tampered.len() / 2);
        assert!(matches!(
            prove(&mut referee, &claim, &tampered),
            Err(Refusal::Proof(_))
        ));
        assert_eq!(prove(&mut referee, &claim, &proof.proof), Ok(()));
        assert_eq!(referee.winner(), Some(Turn::Challenger));

        let (mut referee, segment, claim, proof) = one_step_game(None);
        let refused = referee.prove_step(
            Turn::Challenger,
            &segment,
            &claim,
            proof.prover,
            &proof.proof,
            &proof.buffer_proof,
            &NoInbox,
        );
        assert_eq!(
            refused,
            Err(Refusal::WrongEnd),
            "the true end cannot be disproven"
        );
        assert_eq!(referee.winner(), None);
    }
}
