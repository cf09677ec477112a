//! `avm profile`: runs a program on the reference interpreter one step at a time and reports
//! where its steps and gas go: per opcode, per block (by entry pc), and, when the `.mexe`
//! carries source locations, per source file and line.
//!
//! The run is the one `avm run` makes on the interpreter (same inbox, same stopping rules: it
//! ends halted, error-stopped, blocked, at `--max-steps`, or on SIGINT/SIGTERM with the report
//! written), taken through [`Machine::step`] so that every step is seen with its own gas.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use avm_interp::{Limits, Machine, Pc, Stop};
use avm_runtime::Program;
use avm_runtime::mexe::{self, SourceMap};
use avm_runtime::opcode::{self, Flags};

use crate::numbers::u64_count;
use crate::out::{Exit, Failure, Out};
use crate::signals::{Signal, StopRequests};
use crate::{load_source, read_inbox};

mod regions;
mod report;

/// The options of `avm profile`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// A `.mexe` file or assembler text.
    file: PathBuf,
    /// Inbox messages: a JSON list in the format of the corpus `*.inbox.json` files, or an L1
    /// inbox (README, "Inbox files").
    #[arg(long)]
    inbox: Option<PathBuf>,
    /// Stop after this many steps (`1e6`, `1_000_000` and `0x10` are understood).
    #[arg(long, value_name = "STEPS", value_parser = u64_count)]
    max_steps: Option<u64>,
    /// Print one JSON object with every row (not only the top K) instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write folded stacks for flamegraph.pl or inferno to FILE: one line per source line,
    /// `FILE;FILE:LINE GAS`, weighted by gas (not steps). A program without source locations
    /// gets one line per opcode, `OPCODE GAS`, instead.
    #[arg(long, value_name = "FILE")]
    folded: Option<PathBuf>,
    /// Rows shown in each table.
    #[arg(long, value_name = "K", default_value_t = 20)]
    top: usize,
    /// What to profile. `interp`: every step on the interpreter, by opcode, block and source
    /// line. `regions`: the region JIT runs the program (each region compiled before it runs
    /// again, with no warm-up unless --jit-warmup says so) and the report gives, per compiled region, the
    /// calls entering it from the interpreter, the steps run natively from there and how the
    /// calls ended, and the pcs where side exits handed instructions back to the interpreter.
    #[arg(long, value_enum, default_value_t = ProfileEngine::Interp)]
    engine: ProfileEngine,
    /// Regions: a region compiles once control has arrived at its entry more than N times.
    #[arg(long, value_name = "N", default_value_t = avm_engine::DEFAULT_THRESHOLD)]
    jit_threshold: u32,
    /// Regions: steps left to the interpreter alone before the JIT counts arrivals.
    #[arg(long, value_name = "STEPS", value_parser = u64_count, default_value_t = 0)]
    jit_warmup: u64,
}

/// What `avm profile` profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ProfileEngine {
    /// Every step on the interpreter.
    Interp,
    /// The region JIT's regions and exits.
    Regions,
}

/// `avm profile`.
pub fn profile(args: ProfileArgs, out: &mut Out) -> Result<Exit, Failure> {
    let stop_requests = StopRequests::install()?;
    let (program, source) = load_source(&args.file)?;
    let sources = read_source_map(&args.file, &source)?;
    drop(source);
    let program = Arc::new(program);
    let mut machine = Machine::new(Arc::clone(&program));
    if let Some(path) = &args.inbox {
        for message in read_inbox(path)?.messages() {
            machine.push_inbox(message.clone());
        }
    }
    if args.engine == ProfileEngine::Regions {
        if args.folded.is_some() {
            return Err(Failure::engine(
                "profile",
                "--folded is a source-line profile: use it with --engine interp",
            ));
        }
        let setup = regions::Setup {
            threshold: args.jit_threshold,
            warmup: args.jit_warmup,
            max_steps: args.max_steps,
        };
        return regions::profile(
            machine,
            setup,
            &stop_requests,
            &sources,
            args.top,
            args.json,
            out,
        );
    }
    let mut tally = Tally::new(&program);
    let start = Instant::now();
    let ended = tally.collect(&mut machine, args.max_steps, || stop_requests.pending());
    let profile = report::Profile {
        program: &program,
        tally: &tally,
        sources: &sources,
        ended: ended.clone(),
        wall: start.elapsed(),
    };
    let report = profile.report();
    if let Some(path) = &args.folded {
        std::fs::write(path, report.folded()).map_err(|source| Failure::io(path, source))?;
    }
    match args.json {
        true => report.write_json(out)?,
        false => report.write_text(args.top, out)?,
    }
    Ok(ended.exit())
}

/// Where a program's source locations come from, for the report.
#[derive(Debug)]
enum Sources {
    /// The `.mexe` gives at least one instruction a location.
    Located(SourceMap),
    /// A `.mexe` whose instructions have no locations.
    NoLocations,
    /// Assembler text.
    Assembler,
}

/// Reads the source locations of a `.mexe` (after the program loaded, so only the debug
/// information can be malformed); assembler text has none.
fn read_source_map(path: &Path, source: &[u8]) -> Result<Sources, Failure> {
    if !is_mexe(source) {
        return Ok(Sources::Assembler);
    }
    let map = mexe::source_map(source).map_err(|error| Failure::about(path.display(), error))?;
    Ok(match map.has_locations() {
        true => Sources::Located(map),
        false => Sources::NoLocations,
    })
}

/// Whether a program source is a `.mexe` (JSON): its first non-blank character, after an
/// optional byte order mark, is `{` — the rule [`Program::from_source`] uses.
fn is_mexe(source: &[u8]) -> bool {
    let source = source.strip_prefix(b"\xef\xbb\xbf").unwrap_or(source);
    source.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Why the profiled run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ended {
    /// The machine stopped (halted, error-stopped, blocked) or reached `--max-steps`.
    Machine(Stop),
    /// A signal asked the run to stop; it did between two steps.
    Signal(Signal),
}

impl Ended {
    /// The status word and, for a block or a bound, why (the words of `avm run --json`).
    fn words(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Ended::Machine(stop) => crate::run::stop_words(stop),
            Ended::Signal(signal) => ("stopped", Some(signal.name())),
        }
    }

    /// How the command exits, as `avm run` would after the same end.
    fn exit(&self) -> Exit {
        match self {
            Ended::Machine(Stop::ErrorStop) => Exit::ErrorStop,
            Ended::Machine(_) => Exit::Success,
            Ended::Signal(signal) => signal.exit(),
        }
    }
}

/// Steps and gas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cost {
    steps: u64,
    gas: u128,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.steps += other.steps;
        self.gas += other.gas;
    }
}

/// A block's arrivals and the cost of the steps run in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Block {
    arrivals: u64,
    cost: Cost,
}

/// Where a step ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Loaded instruction `pc` (`program.len()` is `ERR`).
    Loaded(u32),
    /// A codepoint built at run time.
    RunTime,
}

/// Signals are looked for every this many steps (an atomic load each time would be cheap too,
/// but this keeps the step loop to the step).
const SIGNAL_EVERY: u64 = 1 << 12;

/// What every step cost, by opcode, by loaded pc and by block, gathered as the machine runs.
#[derive(Debug)]
struct Tally {
    /// The opcode byte of each loaded pc, `ERR` included.
    opcodes_at: Vec<u8>,
    /// Per opcode byte.
    opcodes: Vec<Cost>,
    /// Per loaded pc, `ERR` included.
    pcs: Vec<Cost>,
    /// Per block entry pc, `ERR` included.
    blocks: Vec<Block>,
    /// Steps at run-time codepoints: one bucket, for pcs and blocks alike.
    run_time: Block,
    /// Where the previous step ran, and whether its opcode ends a block.
    previous: Option<(At, bool)>,
    /// The block the previous step counted toward.
    block: At,
    /// The whole run.
    total: Cost,
}

impl Tally {
    fn new(program: &Program) -> Tally {
        let opcodes_at: Vec<u8> = program.codepoints().iter().map(|cp| cp.opcode()).collect();
        let n = opcodes_at.len();
        Tally {
            opcodes_at,
            opcodes: vec![Cost::default(); 256],
            pcs: vec![Cost::default(); n],
            blocks: vec![Block::default(); n],
            run_time: Block::default(),
            previous: None,
            block: At::RunTime,
            total: Cost::default(),
        }
    }

    /// Runs `machine` one step at a time until it stops, `max_steps` steps have run, or
    /// `signal` reports one (it is asked every [`SIGNAL_EVERY`] steps), tallying each step.
    /// Each step continues the previous one ([`Limits::continues`]), so blocking happens
    /// exactly where one `avm run` blocks.
    fn collect(
        &mut self,
        machine: &mut Machine,
        max_steps: Option<u64>,
        signal: impl Fn() -> Option<Signal>,
    ) -> Ended {
        let start_steps = machine.outputs().steps;
        loop {
            let ran = machine.outputs().steps - start_steps;
            if max_steps.is_some_and(|max| ran >= max) {
                return Ended::Machine(Stop::StepLimit);
            }
            if ran.is_multiple_of(SIGNAL_EVERY)
                && let Some(signal) = signal()
            {
                return Ended::Signal(signal);
            }
            let (at, opcode) = self.locate(machine);
            let before = Cost {
                steps: machine.outputs().steps,
                gas: machine.outputs().gas_used,
            };
            let limits = Limits {
                max_steps: Some(1),
                continues: ran > 0,
                ..Limits::default()
            };
            let stop = machine.step(&limits);
            let cost = Cost {
                steps: machine.outputs().steps - before.steps,
                gas: machine.outputs().gas_used - before.gas,
            };
            if cost.steps > 0 {
                self.record(at, opcode, cost);
            }
            if let Some(stop) = stop {
                return Ended::Machine(stop);
            }
        }
    }

    /// Where the machine is and the opcode it is about to run.
    fn locate(&self, machine: &Machine) -> (At, u8) {
        match machine.pc() {
            Pc::Loaded(pc) => (At::Loaded(*pc), self.opcodes_at[*pc as usize]),
            Pc::Dynamic(cp) => (At::RunTime, cp.opcode()),
        }
    }

    /// Counts one step that ran at `at` (opcode `opcode`) and cost `cost`.
    fn record(&mut self, at: At, opcode: u8, cost: Cost) {
        if self.starts_block(at) {
            self.block = at;
            self.block_mut().arrivals += 1;
        }
        self.block_mut().cost.add(cost);
        self.opcodes[usize::from(opcode)].add(cost);
        if let At::Loaded(pc) = at {
            self.pcs[pc as usize].add(cost);
        }
        self.total.add(cost);
        let ends_block = opcode::info(opcode).is_some_and(|i| i.flags.contains(Flags::JUMP));
        self.previous = Some((at, ends_block));
    }

    /// Whether a step at `at` starts a block: it is the first step, or control did not fall
    /// through to it from the instruction before (the previous step was a `jump` or `cjump`,
    /// taken or not, or ran elsewhere: an error jump, a return from run-time code). Run-time
    /// code is one block, entered whenever a step there follows a step at a loaded pc.
    fn starts_block(&self, at: At) -> bool {
        match (self.previous, at) {
            (Some((At::Loaded(before), ends)), At::Loaded(pc)) => {
                ends || before.checked_add(1) != Some(pc)
            }
            (Some((At::RunTime, _)), At::RunTime) => false,
            _ => true,
        }
    }

    fn block_mut(&mut self) -> &mut Block {
        match self.block {
            At::Loaded(pc) => &mut self.blocks[pc as usize],
            At::RunTime => &mut self.run_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use avm_runtime::asm::assemble;

    /// A machine of `text`, tallied to its end.
    fn tallied(text: &str) -> (Tally, Ended, Machine) {
        let program = Arc::new(assemble(text).unwrap());
        let mut machine = Machine::new(Arc::clone(&program));
        let mut tally = Tally::new(&program);
        let ended = tally.collect(&mut machine, None, || None);
        (tally, ended, machine)
    }

    #[test]
    fn every_step_and_its_gas_is_counted_once() {
        let (tally, ended, machine) = tallied(include_str!("../../examples/loop.avm"));
        assert_eq!(ended, Ended::Machine(Stop::Halted));
        let steps = machine.outputs().steps;
        assert_eq!(tally.total.steps, steps);
        assert_eq!(tally.total.gas, machine.outputs().gas_used);
        let by_opcode: u64 = tally.opcodes.iter().map(|c| c.steps).sum();
        let by_pc: u64 = tally.pcs.iter().map(|c| c.steps).sum();
        let by_block: u64 = tally.blocks.iter().map(|b| b.cost.steps).sum();
        assert_eq!((by_opcode, by_pc, by_block), (steps, steps, steps));
        let add = &tally.opcodes[usize::from(opcode::ADD)];
        assert_eq!(add.gas, 3 * u128::from(add.steps));
    }

    #[test]
    fn blocks_start_after_jumps_even_when_control_falls_through() {
        // 0: push 1; 1: dup0; 2: cjump @next (taken: falls to 3 anyway); 3: pop; 4: halt.
        let (tally, _, _) = tallied("push 1\ndup0\ncjump @next\nnext: pop\nhalt\n");
        assert_eq!(tally.blocks[0].arrivals, 1);
        assert_eq!(tally.blocks[0].cost.steps, 3);
        assert_eq!(
            tally.blocks[3].arrivals, 1,
            "the instruction after a cjump starts one"
        );
        assert_eq!(tally.blocks[3].cost.steps, 2);
        assert_eq!(tally.blocks.iter().map(|b| b.arrivals).sum::<u64>(), 2);
    }

    #[test]
    fn a_run_stops_where_avm_run_stops() {
        let (_, ended, machine) = tallied("push 1\ninbox\nhalt\n");
        assert_eq!(
            ended,
            Ended::Machine(Stop::Blocked(avm_interp::BlockReason::Inbox))
        );
        assert_eq!(machine.outputs().steps, 1);
        let program = Arc::new(assemble("loop: jump @loop_end\nloop_end: halt\n").unwrap());
        let mut machine = Machine::new(Arc::clone(&program));
        let mut tally = Tally::new(&program);
        let ended = tally.collect(&mut machine, Some(1), || None);
        assert_eq!(ended, Ended::Machine(Stop::StepLimit));
        assert_eq!(tally.total.steps, 1);
    }

    #[test]
    fn assembler_text_is_not_a_mexe() {
        assert!(is_mexe(b"\xef\xbb\xbf \n{\"code\": []}"));
        assert!(!is_mexe(b"push 1\n"));
    }
}
