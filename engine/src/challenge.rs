//! Players of the dispute game ([`avm_interp::challenge`]) and a game between two of them.
//!
//! A player answers from its own execution: it finds the first chunk of its opponent's last
//! bisection whose end it disagrees with, and either cuts that chunk with its own hashes, or,
//! once the chunk is one gas long, proves its one step (or that the agreed start already lies
//! past the chunk's end). A player that cannot make a move the referee accepts makes none and
//! loses on time.
//!
//! A player positions its machine at a gas point by running the interpreter from the nearest
//! state it has been at before (every position it reached is kept), so a whole game costs
//! about one execution per player.

use std::collections::BTreeMap;

use avm_interp::challenge::merkle::Route;
use avm_interp::challenge::{
    Referee, Refusal, Segment, StepClaim, Turn, bisection_degree, chunk_hashes, cut_points,
    execution_hash,
};
use avm_interp::engine_hooks::EngineHooks;
use avm_interp::l1_inbox::L1Inbox;
use avm_interp::proof::AssertionState;
use avm_interp::{GasBound, Limits, Machine};
use avm_runtime::{U256, Value};

/// What a faulty execution does at its fault: at the first step boundary where gas used
/// reaches the fault's gas, it pushes this Int on its aux stack (a deterministic change of
/// state that every later machine hash shows).
pub const FAULT_VALUE: u64 = 0xFA017;

/// A player: its execution (honest, or with a fault) and the positions it has reached.
#[derive(Debug)]
pub struct Player {
    /// Positions at step boundaries, by gas used (the start always among them).
    positions: BTreeMap<u128, Position>,
    /// The gas at which the execution is corrupted, if it is.
    fault: Option<u128>,
}

/// A machine the player keeps, and its assertion state once asked for.
#[derive(Debug)]
struct Position {
    machine: Machine,
    state: Option<AssertionState>,
    /// The assertion hash of `state`, once asked for.
    hash: Option<U256>,
    /// The lowest gas point it was asked for: it is the first step boundary where gas used
    /// reaches any gas point from there to its own gas used (a cut rarely falls on a boundary).
    asked: u128,
}

impl Position {
    /// The assertion state, worked out once.
    fn state(&mut self) -> AssertionState {
        *self
            .state
            .get_or_insert_with(|| self.machine.assertion_state())
    }

    /// The assertion hash, worked out once.
    fn hash(&mut self) -> U256 {
        if let Some(hash) = self.hash {
            return hash;
        }
        let hash = self.state().assertion_hash();
        *self.hash.insert(hash)
    }
}

impl Player {
    /// A player whose execution starts at `start` and, with `fault`, is corrupted at the first
    /// step boundary where gas used reaches it ([`FAULT_VALUE`]).
    pub fn new(start: Machine, fault: Option<u128>) -> Player {
        let gas = start.outputs().gas_used;
        let start = Position {
            machine: start,
            state: None,
            hash: None,
            asked: 0,
        };
        Player {
            positions: BTreeMap::from([(gas, start)]),
            fault,
        }
    }

    /// The machine at the first step boundary where gas used reaches `gas`, or where the
    /// machine stops (blocks, halts) before that.
    pub fn machine_at(&mut self, gas: u128) -> Machine {
        self.position(gas).machine.clone()
    }

    /// The assertion state at gas point `gas` ([`Player::machine_at`]), worked out once per
    /// position. The kept machine is hashed in place, so the stack hashes it caches carry over
    /// to the positions run on from it: a later hash costs only what changed since.
    pub fn state_at(&mut self, gas: u128) -> AssertionState {
        self.position(gas).state()
    }

    /// The assertion hash at gas point `gas` ([`Player::state_at`]), worked out once per
    /// position (cuts closer together than a step share one).
    pub fn hash_at(&mut self, gas: u128) -> U256 {
        self.position(gas).hash()
    }

    /// Positions the player at each of `points` (ascending), keeping every machine: one run
    /// through them, so that asking for any of them later costs no run.
    pub fn keep(&mut self, points: &[U256]) {
        for at in points {
            self.position(at.as_u128());
        }
    }

    /// The kept position at gas point `gas` ([`Player::machine_at`]): one asked for before,
    /// or one run to from the nearest kept position below it (the start if there is none).
    fn position(&mut self, gas: u128) -> &mut Position {
        let known = self
            .positions
            .range(gas..)
            .next()
            .filter(|(_, kept)| kept.asked <= gas)
            .map(|(&at, _)| at);
        if let Some(at) = known {
            return self.positions.get_mut(&at).expect("just found");
        }
        let (&from, kept) = self
            .positions
            .range(..gas)
            .next_back()
            .or_else(|| self.positions.iter().next())
            .expect("the start is kept");
        let mut machine = kept.machine.clone();
        // The fault is still ahead: the boundary where gas used first reaches it (which a run
        // toward `gas` may cross) is corrupted before anything runs on from it.
        if let Some(fault) = self.fault.filter(|&f| from < f) {
            run_to(&mut machine, fault.min(gas));
            if machine.outputs().gas_used >= fault {
                corrupt(&mut machine);
            }
        }
        run_to(&mut machine, gas);
        // A position reached before (asked for at a higher gas, or stopped) keeps what it
        // worked out.
        self.positions
            .entry(machine.outputs().gas_used)
            .and_modify(|kept| kept.asked = kept.asked.min(gas))
            .or_insert(Position {
                machine,
                state: None,
                hash: None,
                asked: gas,
            })
    }
}

/// Runs `machine` until gas used reaches `gas` (the go-over bound) or it stops.
fn run_to(machine: &mut Machine, gas: u128) {
    machine.run(&Limits {
        gas: Some(GasBound {
            max_gas: gas,
            go_over: true,
        }),
        ..Limits::default()
    });
}

/// The fault: [`FAULT_VALUE`] pushed on the aux stack.
fn corrupt(machine: &mut Machine) {
    machine.aux_stack_mut().push(Value::int(FAULT_VALUE));
}

/// One move of a game, for its transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Round {
    /// `mover` cut the chunk at `start` (`length` gas) into `chunks`.
    Bisected {
        /// Who moved.
        mover: Turn,
        /// The chunk's gas start.
        start: U256,
        /// Its gas length.
        length: U256,
        /// How many chunks it was cut into.
        chunks: usize,
        /// Which chunk of the previous bisection it was.
        chosen: usize,
    },
    /// `mover` proved the one step at `gas` (or, `continued`, that the agreed start lies past
    /// the chunk) and won.
    Proved {
        /// Who moved.
        mover: Turn,
        /// Gas used before the proven step.
        gas: U256,
        /// Whether it proved continued execution instead of a step.
        continued: bool,
        /// The one-step proof and buffer proof (empty for continued execution).
        proof: (Vec<u8>, Vec<u8>),
    },
    /// `mover` had no move the referee accepts (its last refusal, if it tried one) and lost.
    TimedOut {
        /// Who failed to move.
        mover: Turn,
        /// Why its attempt was refused.
        refusal: Option<Refusal>,
        /// Gas used before the step it tried to prove, if it tried one.
        gas: Option<U256>,
    },
}

/// A finished game.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Game {
    /// Every move, in order.
    pub rounds: Vec<Round>,
    /// Who won.
    pub winner: Turn,
    /// Host time each player spent working out its moves (positioning, hashing, proving):
    /// the asserter's (its assertion included), then the challenger's.
    pub time: [std::time::Duration; 2],
}

impl Game {
    /// Gas used before the step the game ended on: the step proven, or the one the losing
    /// player tried and failed to prove; `None` if it ended another way.
    pub fn final_step_gas(&self) -> Option<U256> {
        match self.rounds.last() {
            Some(Round::Proved { gas, .. } | Round::TimedOut { gas: Some(gas), .. }) => Some(*gas),
            _ => None,
        }
    }

    /// How many bisections the game took.
    pub fn bisections(&self) -> usize {
        self.rounds
            .iter()
            .filter(|round| matches!(round, Round::Bisected { .. }))
            .count()
    }

    /// Whether the challenger disputed the assertion at all: it has no first move when its
    /// own execution ends where the asserter's does (a fault the end state does not show).
    pub fn disputed(&self) -> bool {
        !matches!(
            self.rounds.first(),
            Some(Round::TimedOut {
                refusal: None,
                gas: None,
                ..
            })
        )
    }
}

/// The last bisection as both players know it (the contract's `Bisected` event): its segment
/// and the hashes at its cuts.
struct Bisection {
    start: U256,
    length: U256,
    chain: Vec<U256>,
    /// The first move disputes the assertion itself: one chunk with no Merkle route.
    whole: bool,
}

/// Plays the game over the assertion `asserter` makes, from its start to the state at gas
/// `end` of its own execution, against `challenger`, with bisections of at most `degree`
/// chunks and at most `max_messages` inbox messages read; `inbox` is the L1 inbox both
/// executions read their messages from: players prove `inbox` steps from it, and the referee
/// checks them against its accumulators.
pub fn play(
    asserter: &mut Player,
    challenger: &mut Player,
    end: u128,
    degree: u64,
    max_messages: u64,
    inbox: &L1Inbox,
) -> Game {
    let mut time = [std::time::Duration::ZERO; 2];
    let asserting = std::time::Instant::now();
    let start = *asserter.positions.keys().next().expect("the start is kept");
    // The challenger's first bisection cuts the assertion at these points and the asserter's
    // reply searches them: kept on the way to the end, none of them is run to again.
    asserter.keep(&whole_cuts(start, end, degree));
    let before = asserter.state_at(start);
    let after = asserter.state_at(end);
    time[0] += asserting.elapsed();
    let mut referee = Referee::new(execution_hash(&before, &after), degree, max_messages);
    let mut bisection = Bisection {
        start: U256::from(before.gas_used),
        length: U256::from(after.gas_used - before.gas_used),
        chain: vec![before.assertion_hash(), after.assertion_hash()],
        whole: true,
    };
    let mut rounds = Vec::new();
    while let Some(mover) = referee.turn() {
        let player = match mover {
            Turn::Asserter => &mut *asserter,
            Turn::Challenger => &mut *challenger,
        };
        let thinking = std::time::Instant::now();
        let answered = answer(player, mover, &mut referee, &bisection, degree, inbox);
        time[usize::from(mover == Turn::Challenger)] += thinking.elapsed();
        match answered {
            Ok((round, next)) => {
                rounds.push(round);
                if let Some(next) = next {
                    bisection = next;
                }
            }
            Err(Failed { refusal, gas }) => {
                referee.timeout().expect("the mover is on turn");
                rounds.push(Round::TimedOut {
                    mover,
                    refusal,
                    gas,
                });
            }
        }
    }
    Game {
        rounds,
        winner: referee.winner().expect("the game is over"),
        time,
    }
}

/// A player's failure to move: the refusal of its attempt, if it made one, and for a one-step
/// attempt the gas before the step.
struct Failed {
    refusal: Option<Refusal>,
    gas: Option<U256>,
}

impl Failed {
    fn refused(refusal: Refusal) -> Failed {
        Failed {
            refusal: Some(refusal),
            gas: None,
        }
    }

    /// A one-step attempt from gas `gas` that was refused.
    fn refused_at(gas: U256) -> impl FnOnce(Refusal) -> Failed {
        move |refusal| Failed {
            refusal: Some(refusal),
            gas: Some(gas),
        }
    }
}

/// A game between an honest player and one whose execution from `start` is corrupted at gas
/// `fault` ([`FAULT_VALUE`]), the faulty player on side `faulty`; the rest as in [`play`].
pub fn dispute(
    start: &Machine,
    fault: u128,
    faulty: Turn,
    end: u128,
    degree: u64,
    max_messages: u64,
    inbox: &L1Inbox,
) -> Game {
    let mut honest = Player::new(start.clone(), None);
    let mut corrupted = Player::new(start.clone(), Some(fault));
    let (asserter, challenger) = match faulty {
        Turn::Asserter => (&mut corrupted, &mut honest),
        Turn::Challenger => (&mut honest, &mut corrupted),
    };
    play(asserter, challenger, end, degree, max_messages, inbox)
}

/// `player`'s move against the last bisection: the round and, for a bisection, the new one.
/// `Err` when it has no move the referee accepts.
fn answer(
    player: &mut Player,
    mover: Turn,
    referee: &mut Referee,
    last: &Bisection,
    degree: u64,
    inbox: &L1Inbox,
) -> Result<(Round, Option<Bisection>), Failed> {
    let count = U256::from(last.chain.len() - 1);
    let cuts = cut_points(last.start, last.length, count);
    let mine = |player: &mut Player, at: U256| player.hash_at(at.as_u128());
    if last.whole {
        // Disputing the assertion means bisecting the same segment: its cuts are hashed on the
        // way to the end, in order, so that no stretch is run twice and each hash starts from
        // the one before (the stack hashes the kept machine caches).
        let end = last.start + last.length;
        for at in whole_cuts(last.start.as_u128(), end.as_u128(), degree) {
            mine(player, at);
        }
    }
    let chosen = first_disagreement(last, |i| mine(player, cuts[i])).ok_or(Failed {
        refusal: None,
        gas: None,
    })?;
    let route = match last.whole {
        true => Route::default(),
        false => Route::to_leaf(&chunk_hashes(&last.chain, last.start, last.length), chosen)
            .expect("a chunk of the bisection"),
    };
    let segment = Segment {
        route,
        start: cuts[chosen],
        length: cuts[chosen + 1] - cuts[chosen],
        old_end: last.chain[chosen + 1],
    };
    let end = segment.start + segment.length;
    let mut machine = player.machine_at(segment.start.as_u128());
    let state = machine.assertion_state();
    let gas_before = U256::from(state.gas_used);
    if gas_before >= end {
        referee
            .prove_continued(mover, &segment, gas_before, state.rest_hash())
            .map_err(Failed::refused_at(gas_before))?;
        let round = Round::Proved {
            mover,
            gas: gas_before,
            continued: true,
            proof: (Vec::new(), Vec::new()),
        };
        return Ok((round, None));
    }
    if segment.length > U256::one() {
        let count = bisection_degree(segment.length, U256::from(degree));
        let chain: Vec<U256> = cut_points(segment.start, segment.length, count)
            .into_iter()
            .map(|at| mine(player, at))
            .collect();
        referee
            .bisect(mover, &segment, gas_before, state.rest_hash(), &chain)
            .map_err(Failed::refused)?;
        let round = Round::Bisected {
            mover,
            start: segment.start,
            length: segment.length,
            chunks: chain.len() - 1,
            chosen,
        };
        let next = Bisection {
            start: segment.start,
            length: segment.length,
            chain,
            whole: false,
        };
        return Ok((round, Some(next)));
    }
    let proof = machine.prove_next_in(inbox).map_err(|_| Failed {
        refusal: None,
        gas: Some(gas_before),
    })?;
    let claim = StepClaim::from(&proof.before);
    referee
        .prove_step(
            mover,
            &segment,
            &claim,
            proof.prover,
            &proof.proof,
            &proof.buffer_proof,
            inbox,
        )
        .map_err(Failed::refused_at(gas_before))?;
    let round = Round::Proved {
        mover,
        gas: claim.gas_used,
        continued: false,
        proof: (proof.proof, proof.buffer_proof),
    };
    Ok((round, None))
}

/// The cuts of a bisection of the segment from gas `start` to gas `end` at degree `degree`.
fn whole_cuts(start: u128, end: u128, degree: u64) -> Vec<U256> {
    let length = U256::from(end - start);
    let count = bisection_degree(length, U256::from(degree));
    cut_points(U256::from(start), length, count)
}

/// A chunk of `last` whose start the player agrees with and whose end it does not, found by
/// bisecting the cuts (`mine(i)`: the player's hash at cut `i`): a handful of positions
/// instead of one per cut. The chain's start is agreed (both players' bisections start from
/// the agreed state), so if its end is disputed such a chunk exists; `None` if the player
/// agrees with the end.
fn first_disagreement(last: &Bisection, mut mine: impl FnMut(usize) -> U256) -> Option<usize> {
    let n = last.chain.len() - 1;
    if mine(n) == last.chain[n] {
        return None;
    }
    // Invariant: the player agrees at cut `lo` and disagrees at cut `hi`.
    let (mut lo, mut hi) = (0, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match mine(mid) == last.chain[mid] {
            true => lo = mid,
            false => hi = mid,
        }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use avm_runtime::asm::assemble;

    use super::*;

    /// A counting loop that ends blocked on its empty inbox (a halted machine's hash is 0
    /// whatever its state, so a fault must stay visible at the end), and the gas it ends at.
    fn loop_machine() -> (Machine, u128) {
        let source = "push 0\npush 1000\nloop:\ndup0\nswap2\nadd\nswap1\nadd -1\ndup0\n\
                      cjump @loop\npop\ninbox\n";
        let machine = Machine::new(Arc::new(assemble(source).unwrap()));
        let mut end = machine.clone();
        end.run(&Limits::default());
        (machine, end.outputs().gas_used)
    }

    #[test]
    fn the_honest_player_wins_on_either_side_wherever_the_fault_is() {
        let (start, end) = loop_machine();
        for fault in [1, 2, 500, 9_000, end / 2, end - 10, end] {
            for degree in [2, 7, 400] {
                for faulty in [Turn::Asserter, Turn::Challenger] {
                    let game = dispute(&start, fault, faulty, end, degree, 0, &L1Inbox::default());
                    assert_eq!(
                        game.winner,
                        faulty.other(),
                        "fault {fault}, degree {degree}: {game:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_final_step_is_the_first_after_the_fault_and_the_rounds_are_the_degrees() {
        let (start, end) = loop_machine();
        // The last step of the honest execution before the corrupted boundary (the first
        // boundary where gas used reaches the fault) is the one the game must end on.
        let fault = 5_000;
        let mut reference = Player::new(start.clone(), None);
        let corrupted_at = reference.state_at(fault).gas_used;
        let last_agreed = (0..corrupted_at)
            .rev()
            .map(|g| reference.state_at(g).gas_used)
            .find(|&g| g < corrupted_at)
            .expect("a boundary before");
        for faulty in [Turn::Asserter, Turn::Challenger] {
            let game = dispute(&start, fault, faulty, end, 4, 0, &L1Inbox::default());
            assert_eq!(
                game.final_step_gas(),
                Some(U256::from(last_agreed)),
                "{game:?}"
            );
            // Each bisection cuts a segment into 4 (the first chunk taking the remainder):
            // about log4(end) of them bring `end` gas down to one.
            let expected = (end as f64).log(4.0).ceil() as usize;
            let bisections = game.bisections();
            assert!(
                bisections.abs_diff(expected) <= 1,
                "{bisections} bisections for {end} gas at degree 4"
            );
        }
    }

    #[test]
    fn a_dispute_over_an_inbox_step_is_proven_against_the_inbox() {
        // Gas: push 1, push 1, add 3 (5 in all), inbox 40 (45), then more, ending blocked.
        let program =
            Arc::new(assemble("push 0\npush 1\nadd\ninbox\npop\npush 5\npop\ninbox\n").unwrap());
        let json = br#"[{"kind": "3", "l1_block_number": "1", "l1_timestamp": "2", "sender": "0x5",
            "inbox_sequence_number": "0", "l1_gas_price": "0", "data": "0x0102"}]"#;
        let message = avm_runtime::parse_inbox_json(json).unwrap()[0].to_value();
        let mut start = Machine::new(program);
        start.push_inbox(message.clone());
        let mut end = start.clone();
        end.run(&Limits::default());
        let end = end.outputs().gas_used;
        let inbox = L1Inbox::from_messages(vec![message]);
        for faulty in [Turn::Asserter, Turn::Challenger] {
            let game = dispute(&start, 45, faulty, end, 2, 1, &inbox);
            assert_eq!(game.winner, faulty.other(), "{game:?}");
            assert_eq!(
                game.final_step_gas(),
                Some(U256::from(5)),
                "the inbox step: {game:?}"
            );
        }
    }

    #[test]
    fn a_dispute_over_a_delayed_message_is_proven_in_the_l1_inbox() {
        // One batch: a sequencer message, then delayed message 0. The fault lands right after
        // the second inbox step, which reads the delayed message.
        let json = br#"{"delayed": [{"kind": "7", "l1_block_number": "1", "l1_timestamp": "2",
            "sender": "0x77", "inbox_sequence_number": "0", "l1_gas_price": "9", "data": "0x05"}],
            "batches": [[{"kind": "3", "l1_block_number": "1", "l1_timestamp": "2", "sender": "0x5",
            "inbox_sequence_number": "0", "l1_gas_price": "0", "data": "0x0102"},
            {"delayed_messages_read": 1}]]}"#;
        let file = avm_runtime::parse_inbox_file(json).unwrap();
        let inbox = L1Inbox::from_file(&file).unwrap();
        let program = assemble("push 1\ninbox\npop\ninbox\npop\npush 5\npop\ninbox\n").unwrap();
        let mut start = Machine::new(Arc::new(program));
        for message in inbox.messages() {
            start.push_inbox(message.clone());
        }
        let mut run = start.clone();
        run.step(&Limits::default());
        run.step(&Limits::default());
        run.step(&Limits::default());
        let before_delayed = run.outputs().gas_used;
        run.step(&Limits::default());
        assert_eq!(run.outputs().inbox_consumed, 2);
        let fault = run.outputs().gas_used;
        run.run(&Limits::default());
        let end = run.outputs().gas_used;
        let mut proven = 0;
        for faulty in [Turn::Asserter, Turn::Challenger] {
            let game = dispute(&start, fault, faulty, end, 2, 2, &inbox);
            assert_eq!(game.winner, faulty.other(), "{game:?}");
            assert_eq!(
                game.final_step_gas(),
                Some(U256::from(before_delayed)),
                "the delayed inbox step: {game:?}"
            );
            match game.rounds.last() {
                Some(Round::Proved { mover, .. }) => {
                    assert_eq!(*mover, faulty.other());
                    proven += 1;
                }
                Some(Round::TimedOut { mover, .. }) => assert_eq!(*mover, faulty),
                other => panic!("{other:?}"),
            }
        }
        assert!(
            proven > 0,
            "the honest player proves the delayed step in one game"
        );
    }

    #[test]
    fn two_honest_players_agree_and_the_challenger_cannot_move() {
        let (start, end) = loop_machine();
        let mut a = Player::new(start.clone(), None);
        let mut b = Player::new(start, None);
        let game = play(&mut a, &mut b, end, 400, 0, &L1Inbox::default());
        assert_eq!(game.winner, Turn::Asserter);
        assert!(!game.disputed());
        assert_eq!(
            game.rounds,
            [Round::TimedOut {
                mover: Turn::Challenger,
                refusal: None,
                gas: None,
            }]
        );
    }
}
