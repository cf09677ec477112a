//! Pre-decoded code: what the interpreter reads at each pc.

use std::sync::Arc;

use avm_runtime::opcode::{self, Flags, OpInfo};
use avm_runtime::{CodePoint, Frozen, Next, Program, Value};

/// Where the machine is in its code.
///
/// `#[repr(u32)]` (RFC 2195): a `u32` kind word (0 loaded, 1 run-time), then the loaded index
/// at offset 4 or the codepoint at offset 8 ([`crate::machine::layout`]).
#[derive(Clone, Debug)]
#[repr(u32)]
pub enum Pc {
    /// Instruction `n` of the loaded program (`n == len` is `ERR`).
    Loaded(u32),
    /// A codepoint built at run time (or handed in by the host).
    Dynamic(CodePoint),
}

/// One pre-decoded instruction: what a straight-line run executes at a loaded pc.
#[derive(Clone, Debug)]
pub(crate) struct Instr {
    /// The program's immediate: immortal, so the code is shared by machines on any thread.
    pub(crate) immediate: Option<Frozen>,
    /// The operation, decoded once from the opcode and the immediate.
    pub(crate) op: Op,
    /// The straight-line run that starts here.
    pub(crate) run: Run,
    pub(crate) opcode: u8,
    /// Whether the immediate is pushed before `op` runs (AVM.md §7.1); `false` when `op` takes
    /// it as its operand, or there is none.
    pub(crate) push_first: bool,
}

/// How a straight-line run executes an instruction, so that a step costs one dispatch.
///
/// Nine ArbOS steps in ten are one of the opcodes with a variant of their own; any other runs
/// through [`Op::Opcode`] and the opcode table's dispatch. Each variant runs the opcode's own
/// operation in `ops`. The variants that take the immediate as their operand (`*At`, `JumpTo`,
/// `CjumpTo`) stand for pushing it and running the opcode: when one meets an operand it cannot
/// handle, it does exactly that, and the opcode's operation raises the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Any opcode, dispatched by the opcode byte.
    Opcode,
    /// `nop`.
    Nop,
    /// `pop`.
    Pop,
    /// `dup0`, `dup1`, `dup2`.
    Dup(u8),
    /// `swap1`, `swap2`.
    Swap(u8),
    /// `auxpush`.
    AuxPush,
    /// `auxpop`.
    AuxPop,
    /// `iszero`.
    IsZero,
    /// `eq`.
    Eq,
    /// `gt`.
    Gt,
    /// `lt`.
    Lt,
    /// `add`.
    Add,
    /// `sub`.
    Sub,
    /// `and`.
    And,
    /// `tget` with a small-Int immediate index.
    TgetAt(u8),
    /// `tset` with a small-Int immediate index.
    TsetAt(u8),
    /// `xget` with a small-Int immediate index.
    XgetAt(u8),
    /// `xset` with a small-Int immediate index.
    XsetAt(u8),
    /// `jump` to the codepoint on the stack.
    Jump,
    /// `jump` with an immediate target: loaded instruction `n`.
    JumpTo(u32),
    /// `cjump` with an immediate target: loaded instruction `n`.
    CjumpTo(u32),
}

impl Op {
    /// The operation for `opcode` with `immediate` in `program`, and whether the immediate is
    /// pushed first.
    fn decode(program: &Program, opcode: u8, immediate: Option<&Value>) -> (Op, bool) {
        let index = match immediate {
            Some(Value::SmallInt(i)) => u8::try_from(*i).ok(),
            _ => None,
        };
        let target = match immediate {
            Some(Value::CodePoint(cp)) => program.index_of(cp).map(|pc| pc as u32),
            _ => None,
        };
        let fused = match (opcode, index, target) {
            (opcode::TGET, Some(i), _) => Some(Op::TgetAt(i)),
            (opcode::TSET, Some(i), _) => Some(Op::TsetAt(i)),
            (opcode::XGET, Some(i), _) => Some(Op::XgetAt(i)),
            (opcode::XSET, Some(i), _) => Some(Op::XsetAt(i)),
            (opcode::JUMP, _, Some(pc)) => Some(Op::JumpTo(pc)),
            (opcode::CJUMP, _, Some(pc)) => Some(Op::CjumpTo(pc)),
            _ => None,
        };
        if let Some(op) = fused {
            return (op, false);
        }
        let op = match opcode {
            opcode::NOP => Op::Nop,
            opcode::POP => Op::Pop,
            opcode::DUP0 => Op::Dup(0),
            opcode::DUP1 => Op::Dup(1),
            opcode::DUP2 => Op::Dup(2),
            opcode::SWAP1 => Op::Swap(1),
            opcode::SWAP2 => Op::Swap(2),
            opcode::AUXPUSH => Op::AuxPush,
            opcode::AUXPOP => Op::AuxPop,
            opcode::ISZERO => Op::IsZero,
            opcode::EQ => Op::Eq,
            opcode::GT => Op::Gt,
            opcode::LT => Op::Lt,
            opcode::ADD => Op::Add,
            opcode::SUB => Op::Sub,
            opcode::AND => Op::And,
            opcode::JUMP => Op::Jump,
            _ => Op::Opcode,
        };
        (op, immediate.is_some())
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
    /// Their total table gas (at most [`MAX_RUN`] × 82,000).
    pub(crate) gas: u32,
    /// The data-stack depth that lets each of them find its operands.
    pub(crate) need: u16,
    /// The aux-stack depth that lets each of them find its operands.
    pub(crate) aux_need: u16,
    /// Instructions from this pc on (0 when the instruction here is neither plain nor a jump).
    pub(crate) len: u8,
    /// Whether the last of them is a jump, so that the run may leave the pc anywhere.
    pub(crate) jumps: bool,
}

/// The most instructions in one [`Run`], so that a small step budget still admits runs.
const MAX_RUN: usize = 64;

/// A loaded program with its instructions laid out by pc; shared by clones of a machine.
#[derive(Debug)]
pub(crate) struct Code {
    pub(crate) program: Arc<Program>,
    /// `instrs[pc]`: loaded instruction `pc`, decoded.
    pub(crate) instrs: Box<[Instr]>,
}

impl Code {
    pub(crate) fn new(program: Arc<Program>) -> Code {
        let mut instrs: Box<[Instr]> = program
            .codepoints()
            .iter()
            .map(|cp| {
                let (op, push_first) = Op::decode(&program, cp.opcode(), cp.immediate());
                Instr {
                    immediate: cp
                        .immediate()
                        .map(|v| Frozen::of(v).expect("a program's values are immortal")),
                    op,
                    run: Run::default(),
                    opcode: cp.opcode(),
                    push_first,
                }
            })
            .collect();
        straight_runs(&mut instrs);
        Code { program, instrs }
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
fn straight_runs(instrs: &mut [Instr]) {
    let mut next = Run::default();
    for pc in (0..instrs.len()).rev() {
        let instr = &instrs[pc];
        let run = match opcode::info(instr.opcode) {
            Some(info) if info.flags == Flags::NONE || info.flags == Flags::JUMP => {
                let rest = match ((pc + 1) % MAX_RUN, info.flags == Flags::JUMP) {
                    (0, _) | (_, true) => Run::default(),
                    _ => next,
                };
                extend(rest, info, instr.immediate.is_some())
            }
            _ => Run::default(),
        };
        instrs[pc].run = run;
        next = run;
    }
}

/// The run of an instruction described by `info` followed by `rest`.
fn extend(rest: Run, info: &OpInfo, immediate: bool) -> Run {
    let immediate = u16::from(immediate);
    let (pops, pushes) = (u16::from(info.pops), u16::from(info.pushes));
    let (aux_pops, aux_pushes) = (u16::from(info.aux_pops), u16::from(info.aux_pushes));
    // The depth after this instruction, relative to before it, decides what the rest needs.
    let need_after = |need: u16, gained: u16, lost: u16| (need + lost).saturating_sub(gained);
    Run {
        gas: rest.gas + u32::try_from(info.gas).expect("plain instructions cost below 2^32 / 64"),
        need: pops
            .saturating_sub(immediate)
            .max(need_after(rest.need, immediate + pushes, pops)),
        aux_need: aux_pops.max(need_after(rest.aux_need, aux_pushes, aux_pops)),
        len: rest.len + 1,
        jumps: info.flags == Flags::JUMP || rest.jumps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(source: &str) -> Vec<(u8, u32, u16, u16)> {
        let code = Code::new(Arc::new(avm_runtime::asm::assemble(source).unwrap()));
        code.instrs
            .iter()
            .map(|i| i.run)
            .chain([Run::default()])
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
