//! Pre-decoded code: what the interpreter reads at each pc.

use std::sync::Arc;

use avm_runtime::opcode::{self, Flags};
use avm_runtime::{CodePoint, Frozen, Next, Program, Value};

/// Where the machine is in its code.
#[derive(Clone, Debug)]
pub enum Pc {
    /// Instruction `n` of the loaded program (`n == len` is `ERR`).
    Loaded(u32),
    /// A codepoint built at run time (or handed in by the host).
    Dynamic(CodePoint),
}

/// One pre-decoded instruction.
#[derive(Clone, Debug)]
pub(crate) struct Instr {
    pub(crate) opcode: u8,
    /// How a straight-line run executes it.
    pub(crate) form: Form,
    /// The program's immediate: immortal, so the code is shared by machines on any thread.
    pub(crate) immediate: Option<Frozen>,
}

/// How a straight-line run executes an instruction: as its opcode after pushing its immediate
/// (AVM.md §7.1), or, for the commonest shapes in ArbOS, as one operation that takes the
/// immediate as its operand. A fused form that meets an operand it cannot handle pushes the
/// immediate and runs the opcode, whose operation raises the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// The opcode, with no immediate.
    Op,
    /// Push the immediate, then the opcode.
    PushThenOp,
    /// `nop` with an immediate: push it.
    Push,
    /// `tget` with a small-Int immediate index.
    TgetAt(u8),
    /// `tset` with a small-Int immediate index.
    TsetAt(u8),
    /// `xget` with a small-Int immediate index.
    XgetAt(u8),
    /// `xset` with a small-Int immediate index.
    XsetAt(u8),
}

impl Form {
    fn of(opcode: u8, immediate: Option<&Value>) -> Form {
        let index = match immediate {
            None => return Form::Op,
            Some(Value::SmallInt(i)) => u8::try_from(*i).ok(),
            Some(_) => None,
        };
        match (opcode, index) {
            (opcode::NOP, _) => Form::Push,
            (opcode::TGET, Some(i)) => Form::TgetAt(i),
            (opcode::TSET, Some(i)) => Form::TsetAt(i),
            (opcode::XGET, Some(i)) => Form::XgetAt(i),
            (opcode::XSET, Some(i)) => Form::XsetAt(i),
            _ => Form::PushThenOp,
        }
    }
}

/// The straight-line run of plain instructions that starts at a loaded pc, possibly ended by
/// a `jump` or `cjump`: the interpreter checks the step budget, gas and stack depths once for
/// all of them.
///
/// An instruction is plain when its table flags are [`Flags::NONE`]: it never jumps, halts,
/// blocks, reads or sets the gas, reads its own pc, or has a variable cost, so nothing it does
/// depends on the pc, the steps or the gas being up to date while the run executes. A jump
/// (flags exactly [`Flags::JUMP`]) only sets the pc, so it may end a run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Run {
    /// Instructions from this pc on (0 when the instruction here is neither plain nor a jump).
    pub(crate) len: u32,
    /// Whether the last of them is a jump, so that the run may leave the pc anywhere.
    pub(crate) jumps: bool,
    /// Their total table gas.
    pub(crate) gas: u64,
    /// The data-stack depth that lets each of them find its operands.
    pub(crate) need: u32,
    /// The aux-stack depth that lets each of them find its operands.
    pub(crate) aux_need: u32,
}

/// The most instructions in one [`Run`], so that a small step budget still admits runs.
const MAX_RUN: usize = 64;

/// A loaded program with its instructions laid out by pc; shared by clones of a machine.
#[derive(Debug)]
pub(crate) struct Code {
    pub(crate) program: Arc<Program>,
    pub(crate) instrs: Box<[Instr]>,
    /// `runs[pc]`: the run that starts at loaded instruction `pc`.
    pub(crate) runs: Box<[Run]>,
}

impl Code {
    pub(crate) fn new(program: Arc<Program>) -> Code {
        let instrs: Box<[Instr]> = program
            .codepoints()
            .iter()
            .map(|cp| Instr {
                opcode: cp.opcode(),
                form: Form::of(cp.opcode(), cp.immediate()),
                immediate: cp
                    .immediate()
                    .map(|v| Frozen::of(v).expect("a program's values are immortal")),
            })
            .collect();
        let runs = straight_runs(&instrs);
        Code {
            program,
            instrs,
            runs,
        }
    }

    /// The pc that executing `cp` means: its index if it is one of ours, else the node itself.
    pub(crate) fn resolve(&self, cp: &CodePoint) -> Pc {
        match self.program.index_of(cp) {
            Some(index) => Pc::Loaded(index as u32),
            None => Pc::Dynamic(cp.clone()),
        }
    }

    /// The pc after a run-time codepoint that did not transfer control. A codepoint whose next
    /// instruction is known only by hash continues at `ERR`, which raises an error.
    pub(crate) fn after(&self, cp: &CodePoint) -> Pc {
        match cp.next() {
            Next::Dynamic(next) => self.resolve(next),
            Next::Loaded { pc } if self.program.index_of(cp) == Some(*pc as usize) => {
                Pc::Loaded(pc + 1)
            }
            _ => Pc::Loaded(self.program.len() as u32),
        }
    }

    /// The codepoint value at `pc`.
    pub(crate) fn codepoint(&self, pc: &Pc) -> CodePoint {
        match pc {
            Pc::Loaded(index) => self.program.codepoint(*index as usize).clone(),
            Pc::Dynamic(cp) => cp.clone(),
        }
    }
}

/// The run starting at every pc, computed backwards: a plain instruction extends the run after
/// it (up to [`MAX_RUN`], runs restarting at fixed multiples of it), a jump is a run of its own.
fn straight_runs(instrs: &[Instr]) -> Box<[Run]> {
    let mut runs = vec![Run::default(); instrs.len() + 1];
    for pc in (0..instrs.len()).rev() {
        let instr = &instrs[pc];
        let Some(info) = opcode::info(instr.opcode) else {
            continue;
        };
        let jumps = info.flags == Flags::JUMP;
        if info.flags != Flags::NONE && !jumps {
            continue;
        }
        let rest = match ((pc + 1) % MAX_RUN, jumps) {
            (0, _) | (_, true) => Run::default(),
            _ => runs[pc + 1],
        };
        let immediate = u32::from(instr.immediate.is_some());
        let (pops, pushes) = (u32::from(info.pops), u32::from(info.pushes));
        let (aux_pops, aux_pushes) = (u32::from(info.aux_pops), u32::from(info.aux_pushes));
        // The depth after this instruction, relative to before it, decides what the rest needs.
        let need_after = |need: u32, gained: u32, lost: u32| (need + lost).saturating_sub(gained);
        runs[pc] = Run {
            len: rest.len + 1,
            jumps: jumps || rest.jumps,
            gas: rest.gas + info.gas,
            need: pops.saturating_sub(immediate).max(need_after(
                rest.need,
                immediate + pushes,
                pops,
            )),
            aux_need: aux_pops.max(need_after(rest.aux_need, aux_pushes, aux_pops)),
        };
    }
    runs.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(source: &str) -> Vec<(u32, u64, u32, u32)> {
        let code = Code::new(Arc::new(avm_runtime::asm::assemble(source).unwrap()));
        code.runs
            .iter()
            .map(|r| (r.len, r.gas, r.need, r.aux_need))
            .collect()
    }

    #[test]
    fn runs_end_at_instructions_that_are_not_plain() {
        // add 1 (needs 1), swap1 (needs 2 after add's result: 1 more), auxpush, xget 0 (leaves
        // one value more), jump (pops it).
        let found = runs("add 1\nswap1\nauxpush\nxget 0\njump\nhalt");
        assert_eq!(found[0], (5, 3 + 1 + 1 + 3 + 4, 2, 0));
        assert_eq!(found[1], (4, 1 + 1 + 3 + 4, 2, 0));
        assert_eq!(found[2], (3, 1 + 3 + 4, 1, 0));
        assert_eq!(found[3], (2, 3 + 4, 0, 1), "a jump ends the run");
        assert_eq!(found[4], (1, 4, 1, 0), "a jump is a run of its own");
        assert_eq!(found[5], (0, 0, 0, 0), "halt is not plain");
        // An immediate on an instruction that pops nothing stays on the stack for the next.
        assert_eq!(runs("nop 5\npop\npop\nhalt")[0], (3, 3, 1, 0));
    }

    #[test]
    fn runs_are_bounded() {
        let source = "nop\n".repeat(200) + "halt";
        let found = runs(&source);
        assert_eq!(found[0].0 as usize, MAX_RUN);
        assert_eq!(found[MAX_RUN - 1].0, 1);
        assert_eq!(found[190].0, 2);
        assert_eq!(found[192].0, 8);
    }
}
