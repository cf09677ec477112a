//! `avm challenge`: a dispute game between an honest player and one whose execution is
//! corrupted at a gas point, refereed as arbitrum-classic's challenge contract would.

use std::path::PathBuf;
use std::sync::Arc;

use avm_engine::challenge::{FAULT_VALUE, Round, dispute};
use avm_interp::challenge::Turn;
use avm_interp::l1_inbox::L1Inbox;
use avm_interp::{Limits, Machine};
use avm_runtime::hash::hex_bytes;
use serde_json::json;

use crate::numbers::{gas_bound, u64_count};
use crate::out::{Exit, Failure, Out};
use crate::{load_program, read_inbox};

/// The options of `avm challenge`.
#[derive(Debug, clap::Args)]
pub struct ChallengeArgs {
    /// A `.mexe` file or assembler text.
    file: PathBuf,
    /// Inbox messages: a JSON list in the format of the corpus `*.inbox.json` files, or an L1
    /// inbox (sequencer batches, delayed messages) whose structure `inbox` steps are proven in.
    #[arg(long)]
    inbox: Option<PathBuf>,
    /// The gas at which the faulty player's execution is corrupted: at the first step boundary
    /// where gas used reaches it, it pushes the Int 0xFA017 on its aux stack.
    #[arg(long, value_name = "GAS", value_parser = gas_bound)]
    fault_at_gas: u128,
    /// The most chunks a bisection may cut a segment into (the rollup's
    /// `challengeExecutionBisectionDegree`; 400 on Arbitrum One).
    #[arg(long, value_name = "D", default_value_t = 400, value_parser = degree)]
    degree: u64,
    /// Which side the faulty player takes.
    #[arg(long, value_enum, default_value_t = Side::Asserter)]
    faulty: Side,
    /// Write the transcript as JSON lines, one per round, the last one the verdict.
    #[arg(long)]
    json: bool,
}

/// A side of the game.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Side {
    /// The player who asserts the execution.
    Asserter,
    /// The player who disputes it.
    Challenger,
}

/// `--degree`: at least 2 (a bisection into one chunk would never end).
fn degree(text: &str) -> Result<u64, String> {
    match u64_count(text)? {
        0 | 1 => Err("must be at least 2".into()),
        n => Ok(n),
    }
}

/// `avm challenge`.
pub fn challenge(args: ChallengeArgs, out: &mut Out) -> Result<Exit, Failure> {
    let program = Arc::new(load_program(&args.file)?);
    let mut start = Machine::new(program);
    let inbox = match &args.inbox {
        Some(path) => read_inbox(path)?,
        None => L1Inbox::default(),
    };
    for message in inbox.messages() {
        start.push_inbox(message.clone());
    }
    let messages = inbox.messages().len() as u64;
    // The assertion covers the asserter's run until its machine stops (blocks or halts); one
    // plain run of the program finds that end, and is what a game's cost compares with.
    let replay = std::time::Instant::now();
    let end = {
        let mut run = start.clone();
        run.run(&Limits::default());
        run.outputs().gas_used
    };
    let replay_ms = replay.elapsed().as_secs_f64() * 1e3;
    let faulty_turn = match args.faulty {
        Side::Asserter => Turn::Asserter,
        Side::Challenger => Turn::Challenger,
    };
    let game = dispute(
        &start,
        args.fault_at_gas,
        faulty_turn,
        end,
        args.degree,
        messages,
        &inbox,
    );
    // A fault the end state does not show (a halted machine's hash is 0 whatever its state)
    // leaves both players asserting the same thing: there is nothing to dispute.
    let disputed = game.disputed();
    let name = |turn: Turn| match turn == faulty_turn {
        true => "faulty",
        false => "honest",
    };
    let bisections = game.bisections();
    let proven = game.final_step_gas();
    let proof_bytes = game.rounds.iter().find_map(|round| match round {
        Round::Proved {
            proof: (proof, buffer),
            ..
        } => Some(proof.len() + buffer.len()),
        _ => None,
    });
    let ms = |side: usize| game.time[side].as_secs_f64() * 1e3;
    let (honest_ms, faulty_ms) = match faulty_turn {
        Turn::Asserter => (ms(1), ms(0)),
        Turn::Challenger => (ms(0), ms(1)),
    };
    if !args.json {
        writeln!(
            out,
            "assertion: gas 0 to {end}; fault at gas {} (Int {FAULT_VALUE:#x} on the aux stack), \
             faulty player: {}",
            args.fault_at_gas,
            side_name(faulty_turn)
        )?;
        if !disputed {
            writeln!(
                out,
                "note: the faulty execution ends in the same assertion state as the honest one \
                 (the fault does not show at gas {end}): the challenger has nothing to dispute"
            )?;
        }
    }
    for (i, round) in game.rounds.iter().enumerate() {
        let line = round_json(round, &name);
        match args.json {
            true => writeln!(out, "{line}")?,
            false => writeln!(out, "round {}: {}", i + 1, round_text(round, &name))?,
        }
    }
    let verdict = json!({
        "winner": name(game.winner),
        "winner_side": side_name(game.winner),
        "rounds": game.rounds.len(),
        "bisections": bisections,
        "proven_step_gas": proven.map(|g| g.to_string()),
        "fault_at_gas": args.fault_at_gas.to_string(),
        "assertion_gas": end.to_string(),
        "degree": args.degree,
        "disputed": disputed,
        "proof_bytes": proof_bytes,
        "honest_ms": honest_ms,
        "faulty_ms": faulty_ms,
        "replay_ms": replay_ms,
    });
    match args.json {
        true => writeln!(out, "{verdict}")?,
        false => writeln!(
            out,
            "verdict: the {} player ({}) wins after {} rounds ({bisections} bisections); \
             honest player {honest_ms:.1} ms, faulty {faulty_ms:.1} ms, one plain run \
             {replay_ms:.1} ms",
            name(game.winner),
            side_name(game.winner),
            game.rounds.len()
        )?,
    }
    Ok(Exit::Success)
}

fn side_name(turn: Turn) -> &'static str {
    match turn {
        Turn::Asserter => "asserter",
        Turn::Challenger => "challenger",
    }
}

/// One round as a line of text.
fn round_text(round: &Round, name: &dyn Fn(Turn) -> &'static str) -> String {
    match round {
        Round::Bisected {
            mover,
            start,
            length,
            chunks,
            chosen,
        } => format!(
            "{} {} bisects chunk {chosen} of the last bisection: gas {start} + {length}, \
             {chunks} chunks",
            name(*mover),
            side_name(*mover)
        ),
        Round::Proved {
            mover,
            gas,
            continued: true,
            ..
        } => format!(
            "{} {} proves continued execution at gas {gas} and wins",
            name(*mover),
            side_name(*mover)
        ),
        Round::Proved {
            mover,
            gas,
            proof: (proof, buffer),
            ..
        } => format!(
            "{} {} proves the step at gas {gas} and wins: proof {} ({} bytes), buffer proof {} \
             bytes",
            name(*mover),
            side_name(*mover),
            hex_bytes(proof),
            proof.len(),
            buffer.len()
        ),
        Round::TimedOut {
            mover,
            refusal,
            gas,
        } => {
            let why = refusal.as_ref().map_or("it has no move".to_string(), |r| {
                format!("its move is refused: {r}")
            });
            let at = gas.map_or(String::new(), |g| format!(" (the step at gas {g})"));
            format!(
                "{} {} times out{at}: {why}",
                name(*mover),
                side_name(*mover)
            )
        }
    }
}

/// One round as a JSON object.
fn round_json(round: &Round, name: &dyn Fn(Turn) -> &'static str) -> serde_json::Value {
    match round {
        Round::Bisected {
            mover,
            start,
            length,
            chunks,
            chosen,
        } => json!({
            "move": "bisect", "player": name(*mover), "side": side_name(*mover),
            "start": start.to_string(), "length": length.to_string(),
            "chunks": chunks, "chosen": chosen,
        }),
        Round::Proved {
            mover,
            gas,
            continued,
            proof: (proof, buffer),
        } => json!({
            "move": if *continued { "prove_continued" } else { "prove_step" },
            "player": name(*mover), "side": side_name(*mover), "gas": gas.to_string(),
            "proof": hex_bytes(proof), "buffer_proof": hex_bytes(buffer),
        }),
        Round::TimedOut {
            mover,
            refusal,
            gas,
        } => json!({
            "move": "timeout", "player": name(*mover), "side": side_name(*mover),
            "refused": refusal.as_ref().map(ToString::to_string),
            "gas": gas.map(|g| g.to_string()),
        }),
    }
}
