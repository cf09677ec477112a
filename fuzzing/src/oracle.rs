//! The differential oracle: the interpreter defines the answer, and every JIT configuration must
//! give exactly it.

use std::fmt;
use std::sync::Arc;

use avm_engine::native::RegionJit;
use avm_engine::{CompileMode, ExitCounts, Jit, JitOptions};
pub use avm_interp::Observed;
use avm_interp::{Limits, Machine};
use avm_runtime::inbox::InboxMessage;
use avm_runtime::{Program, asm};

use crate::generate::Case;

/// An engine configuration the oracle runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The reference interpreter.
    Interp,
    /// The JIT at this threshold, compiling inline (so which blocks run natively is
    /// deterministic and a finding reproduces).
    Jit(u32),
    /// The region JIT (`avm_engine::native`, being built to replace the JIT) at this
    /// threshold.
    Regions(u32),
}

/// The JIT configurations every case runs under: everything compiled before it runs, and a
/// small threshold (code first interpreted, then native).
pub const JIT_THRESHOLDS: [u32; 2] = [0, 2];

/// What checking one case found out when the engines agreed.
#[derive(Clone, Debug, Default)]
pub struct Agreement {
    /// Steps the interpreter ran.
    pub steps: u64,
    /// Steps run in native code, over all JIT runs.
    pub native_steps: u64,
    /// How compiled blocks handed work back to the interpreter, over all JIT runs.
    pub exits: ExitCounts,
}

/// A difference between the interpreter and a JIT configuration.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The program, as assembler text.
    pub text: String,
    /// The inbox it ran with.
    pub inbox: Vec<InboxMessage>,
    /// The bounds it ran under.
    pub limits: Limits,
    /// The disagreeing configuration.
    pub engine: Engine,
    /// The interpreter's result.
    pub expected: Observed,
    /// The JIT's result.
    pub actual: Observed,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the engines disagree under {:?}", self.engine)?;
        writeln!(f, "limits: {:?}", self.limits)?;
        writeln!(f, "inbox: {} messages", self.inbox.len())?;
        writeln!(f, "program:\n{}", self.text)?;
        let (e, a) = (&self.expected, &self.actual);
        let fields: [(&str, String, String); 7] = [
            ("stop", format!("{:?}", e.stop), format!("{:?}", a.stop)),
            ("steps", e.steps.to_string(), a.steps.to_string()),
            ("gas used", e.gas_used.to_string(), a.gas_used.to_string()),
            ("hash", format!("{:#x}", e.hash), format!("{:#x}", a.hash)),
            ("logs", format!("{:?}", e.logs), format!("{:?}", a.logs)),
            ("stack", format!("{:?}", e.stack), format!("{:?}", a.stack)),
            ("aux", format!("{:?}", e.aux), format!("{:?}", a.aux)),
        ];
        for (name, expected, actual) in fields {
            if expected != actual {
                writeln!(
                    f,
                    "{name}: interpreter {expected}\n{name}: jit         {actual}"
                )?;
            }
        }
        Ok(())
    }
}

/// Why a case could not be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The generated text does not assemble (e.g. a label the generator could not place).
    Assemble(String),
}

/// Runs `program` under `engine` and observes the result.
pub fn run(
    program: &Arc<Program>,
    inbox: &[InboxMessage],
    limits: &Limits,
    engine: Engine,
) -> (Observed, Option<avm_engine::JitStats>) {
    let mut machine = Machine::new(Arc::clone(program));
    for message in inbox {
        machine.push_inbox(message.to_value());
    }
    run_with_stats(machine, limits, engine)
}

/// Runs `machine` (in any state) under `engine` and observes the result.
pub fn run_machine(machine: Machine, limits: &Limits, engine: Engine) -> Observed {
    run_with_stats(machine, limits, engine).0
}

fn run_with_stats(
    mut machine: Machine,
    limits: &Limits,
    engine: Engine,
) -> (Observed, Option<avm_engine::JitStats>) {
    let program = Arc::clone(machine.program());
    let (stop, stats) = match engine {
        Engine::Interp => (machine.run(limits), None),
        Engine::Regions(threshold) => {
            let mut jit = RegionJit::new(program, threshold).expect("the host supports cranelift");
            (jit.run(&mut machine, limits), None)
        }
        Engine::Jit(threshold) => {
            let options = JitOptions {
                threshold,
                compile: CompileMode::Inline,
                ..JitOptions::default()
            };
            let mut jit = Jit::with_options(program, options).expect("the host supports cranelift");
            let stop = jit.run(&mut machine, limits);
            (stop, Some(jit.stats()))
        }
    };
    (Observed::of(&mut machine, stop), stats)
}

/// Checks one case: the interpreter and every JIT configuration must agree on everything.
/// On a difference the finding carries the shrunk program.
pub fn check(case: &Case) -> Result<Result<Agreement, Box<Finding>>, Skip> {
    let program = Arc::new(asm::assemble(&case.text).map_err(|e| Skip::Assemble(e.to_string()))?);
    Ok(compare(&program, case).map_err(shrink))
}

fn compare(program: &Arc<Program>, case: &Case) -> Result<Agreement, Box<Finding>> {
    let (expected, _) = run(program, &case.inbox, &case.limits, Engine::Interp);
    let mut agreement = Agreement {
        steps: expected.steps,
        ..Agreement::default()
    };
    let engines = JIT_THRESHOLDS
        .into_iter()
        .flat_map(|threshold| [Engine::Jit(threshold), Engine::Regions(threshold)]);
    for engine in engines {
        let (actual, stats) = run(program, &case.inbox, &case.limits, engine);
        if actual != expected {
            return Err(Box::new(Finding {
                text: case.text.clone(),
                inbox: case.inbox.clone(),
                limits: case.limits,
                engine,
                expected,
                actual,
            }));
        }
        if let Some(stats) = stats {
            agreement.native_steps += stats.native_steps;
            agreement.exits += stats.exits;
        }
    }
    Ok(agreement)
}

/// Removes instruction lines one at a time while the engines still disagree, so a human reads
/// the smallest program that shows the difference.
fn shrink(mut finding: Box<Finding>) -> Box<Finding> {
    let mut line = 0;
    loop {
        let lines: Vec<&str> = finding.text.lines().collect();
        if line >= lines.len() {
            return finding;
        }
        let shorter: String = lines
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != line)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let case = Case {
            text: shorter,
            inbox: finding.inbox.clone(),
            limits: finding.limits,
        };
        let smaller = asm::assemble(&case.text)
            .ok()
            .and_then(|program| compare(&Arc::new(program), &case).err());
        match smaller {
            Some(smaller) => finding = smaller,
            None => line += 1,
        }
    }
}
