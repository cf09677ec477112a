//! `avm profile --engine regions`: the region JIT runs the program, keeping per-region counts
//! ([`RegionOptions::profile`]), and the report says which regions ran natively, how often
//! they were entered from the interpreter, how their calls ended, and where side exits handed
//! instructions back to the interpreter.

use std::sync::Arc;
use std::time::Instant;

use avm_engine::jit::CompileMode;
use avm_engine::native::{RegionJit, RegionOptions, RegionProfile, RegionStats};
use avm_interp::{Limits, Machine, Stop};
use avm_runtime::opcode;
use serde_json::json;

use super::report::{share, write_columns};
use super::{Ended, Sources};
use crate::out::{Exit, Failure, Out};
use crate::run::big_number;
use crate::signals::StopRequests;

/// Steps per slice of the run: how late a signal is noticed, at most.
const SLICE: u64 = 1 << 22;

/// How the region JIT is set up for a profile.
#[derive(Clone, Copy, Debug)]
pub(super) struct Setup {
    pub(super) threshold: u32,
    pub(super) warmup: u64,
    pub(super) max_steps: Option<u64>,
}

/// A region run, ready to report.
struct RegionRun {
    ended: Ended,
    steps: u64,
    gas: u128,
    stats: RegionStats,
    profile: RegionProfile,
    wall_ms: f64,
}

/// Runs `machine` on a profiling region JIT and writes the report.
pub(super) fn profile(
    mut machine: Machine,
    setup: Setup,
    stop_requests: &StopRequests,
    sources: &Sources,
    top: usize,
    as_json: bool,
    out: &mut Out,
) -> Result<Exit, Failure> {
    let run = run(&mut machine, setup, stop_requests)?;
    let program = Arc::clone(machine.program());
    let labels = super::report::source_labels(sources, program.len() + 1);
    let source = |pc: u32| labels.as_ref().map(|l| l[pc as usize].clone());
    let opcode_at = |pc: u32| {
        program
            .codepoints()
            .get(pc as usize)
            .map_or("ERR".to_string(), |cp| opcode::mnemonic(cp.opcode()))
    };
    let mut regions: Vec<_> = run.profile.compiled.clone();
    let entered = |pc: u32| run.profile.entries.get(&pc).copied().unwrap_or_default();
    regions.sort_by_key(|r| (std::cmp::Reverse(entered(r.entry).native_steps), r.entry));
    let mut exits: Vec<(u32, u64)> = run
        .profile
        .side_exits
        .iter()
        .map(|(&p, &n)| (p, n))
        .collect();
    exits.sort_by_key(|&(pc, n)| (std::cmp::Reverse(n), pc));
    if as_json {
        let (status, why) = run.ended.words();
        let mut object = json!({
            "engine": "regions",
            "status": status,
            "steps": run.steps,
            "gas": big_number(run.gas),
            "native_steps": run.stats.native_steps,
            "compile_ms": run.stats.compile_time.as_secs_f64() * 1e3,
            "regions": regions.iter().map(|r| {
                let e = entered(r.entry);
                json!({
                    "entry": r.entry, "source": source(r.entry),
                    "instructions": r.instructions, "code_bytes": r.code_bytes,
                    "calls": e.calls, "native_steps": e.native_steps,
                    "guard_exits": e.guard_exits, "side_exits": e.side_exits,
                })
            }).collect::<Vec<_>>(),
            "side_exits": exits.iter().map(|&(pc, n)| json!({
                "pc": pc, "opcode": opcode_at(pc), "source": source(pc), "exits": n,
            })).collect::<Vec<_>>(),
            "wall_ms": run.wall_ms,
        });
        if let Some(why) = why {
            let key = match run.ended {
                Ended::Machine(Stop::Blocked(_)) => "block_reason",
                _ => "stopped_by",
            };
            object[key] = json!(why);
        }
        writeln!(out, "{object}")?;
        return Ok(run.ended.exit());
    }
    let (status, why) = run.ended.words();
    let status = why.map_or(status.to_string(), |why| format!("{status} ({why})"));
    writeln!(out, "status: {status}")?;
    let share = |part: u64| share(u128::from(part), u128::from(run.steps));
    writeln!(
        out,
        "steps: {}  gas used: {}  native: {} of steps  run: {:.1} ms",
        run.steps,
        run.gas,
        share(run.stats.native_steps),
        run.wall_ms
    )?;
    let instructions: u64 = regions.iter().map(|r| r.instructions).sum();
    writeln!(
        out,
        "regions: {} compiled ({instructions} instructions) in {:.1} ms; {} calls from the \
         interpreter, {} guard exits, {} side exits",
        regions.len(),
        run.stats.compile_time.as_secs_f64() * 1e3,
        run.stats.calls,
        run.stats.guard_exits,
        run.stats.side_exits
    )?;
    let header = [
        "entry pc",
        "source",
        "instructions",
        "calls",
        "native steps",
        "steps%",
        "guard exits",
        "side exits",
    ];
    let rows = regions.iter().take(top).map(|r| {
        let e = entered(r.entry);
        vec![
            r.entry.to_string(),
            source(r.entry).unwrap_or_default(),
            r.instructions.to_string(),
            e.calls.to_string(),
            e.native_steps.to_string(),
            share(e.native_steps),
            e.guard_exits.to_string(),
            e.side_exits.to_string(),
        ]
    });
    let title = format!(
        "regions: top {} of {}, by native steps of the calls entering them",
        top.min(regions.len()),
        regions.len()
    );
    write_columns(out, &title, header.into_iter(), rows)?;
    let rows = exits.iter().take(top).map(|&(pc, n)| {
        vec![
            pc.to_string(),
            opcode_at(pc),
            source(pc).unwrap_or_default(),
            n.to_string(),
        ]
    });
    let title = format!(
        "side exits: top {} of {} pcs, where native code handed the instruction back",
        top.min(exits.len()),
        exits.len()
    );
    write_columns(
        out,
        &title,
        ["pc", "opcode", "source", "exits"].into_iter(),
        rows,
    )?;
    Ok(run.ended.exit())
}

/// Runs to the end in slices, noticing SIGINT and SIGTERM between them.
fn run(
    machine: &mut Machine,
    setup: Setup,
    stop_requests: &StopRequests,
) -> Result<RegionRun, Failure> {
    let options = RegionOptions {
        threshold: setup.threshold,
        // Inline: the run waits for each region, so that what the profile shows does not
        // depend on how fast the compile thread was.
        compile: CompileMode::Inline,
        warmup: setup.warmup,
        profile: true,
        ..RegionOptions::default()
    };
    let mut jit = RegionJit::with_options(Arc::clone(machine.program()), options)
        .map_err(|e| Failure::engine("regions", e))?;
    let start = Instant::now();
    let mut left = setup.max_steps;
    let mut first = true;
    let ended = loop {
        if let Some(signal) = stop_requests.pending() {
            break Ended::Signal(signal);
        }
        let before = machine.outputs().steps;
        let slice = left.map_or(SLICE, |left| left.min(SLICE));
        let limits = Limits {
            max_steps: Some(slice),
            continues: !first,
            ..Limits::default()
        };
        let stop = jit.run(machine, &limits);
        first &= machine.outputs().steps == before;
        left = left.map(|left| left - (machine.outputs().steps - before));
        if stop != Stop::StepLimit || left == Some(0) {
            break Ended::Machine(stop);
        }
    };
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(RegionRun {
        ended,
        steps: machine.outputs().steps,
        gas: machine.outputs().gas_used,
        stats: jit.stats(),
        profile: jit.profile().cloned().unwrap_or_default(),
        wall_ms,
    })
}
