//! Regions: the code compiled as one native function, found by following static control flow
//! from a hot entry.
//!
//! From the entry, straight-line code is followed through immediate `jump` targets and into both
//! arms of `cjump`s with an immediate target, up to a size bound. The region is a tree: a pc
//! reached along two paths is compiled twice (so every path has its own view of the stacks),
//! and a pc already on the path to it (a loop) ends the path, as does an instruction the native
//! code leaves to the interpreter. Where a path ends, control leaves the region at a loaded pc,
//! where another region (or the interpreter) takes over.

use avm_runtime::opcode::{self, Flags, OpInfo};
use avm_runtime::{Frozen, Program, Value};

/// The most instructions in one region (over all its paths). Compile time grows faster than
/// the region (Cranelift's register allocation over values live across every exit): at 256,
/// 3,000 instructions of `push; add; pop` took 105 ms a region against 15 ms at 128, and
/// ArbOS at threshold 0 compiles 11-13% faster at 128 with warm runs as fast; at 64 warm runs
/// lose up to 18% to the extra region entries (evm_test_create, evm_xcontract_call_using_batch).
pub const MAX_REGION: usize = 128;

/// An instruction the native code runs, decoded from its opcode and immediate.
#[derive(Clone, Debug)]
pub enum Inst {
    /// `nop`: nothing (with an immediate, the immediate is pushed first).
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
    /// `spush`: the static value.
    SPush,
    /// `stackempty` (`false`) or `auxstackempty` (`true`).
    StackEmpty(bool),
    /// `errpush`: the error handler.
    ErrPush,
    /// `rpush`: the register.
    RPush,
    /// An opcode on one Int (`iszero`).
    Unary(u8),
    /// An opcode on two Ints, or `eq` on any two values.
    Binary(u8),
    /// `tget` with this immediate index.
    TgetAt(u8),
    /// `tset` with this immediate index.
    TsetAt(u8),
    /// `xget` with this immediate index.
    XgetAt(u8),
    /// `xset` with this immediate index.
    XsetAt(u8),
    /// `tget` with the index on the stack.
    Tget,
    /// `tset` with the index on the stack.
    Tset,
    /// `xget` with the index on the stack.
    Xget,
    /// `xset` with the index on the stack.
    Xset,
    /// `tlen`.
    Tlen,
    /// `type`.
    Type,
    /// `jump` to this loaded instruction (an immediate target).
    Jump(u32),
    /// `cjump` to this loaded instruction (an immediate target).
    Cjump(u32),
    /// `jump` to the codepoint on the stack.
    JumpDynamic,
    /// `cjump` to the codepoint on the stack.
    CjumpDynamic,
    /// Any other plain instruction (it never jumps, blocks or reads the pc or the gas): the
    /// interpreter runs it on the machine written back (pushing its immediate, if it has one),
    /// and native code goes on after it.
    Interpret,
}

impl Inst {
    /// Whether it ends a block: control may go elsewhere after it.
    pub fn transfers(&self) -> bool {
        matches!(
            self,
            Inst::Jump(_) | Inst::Cjump(_) | Inst::JumpDynamic | Inst::CjumpDynamic
        )
    }
}

/// One instruction of a region: what it does and where it is.
#[derive(Clone, Debug)]
pub struct Step {
    /// Its loaded pc.
    pub pc: u32,
    /// What it does.
    pub inst: Inst,
    /// Its opcode's entry in the opcode table: operands, results and gas.
    pub info: &'static OpInfo,
    /// Whether it has an immediate, which goes on the stack before its operands are taken
    /// (AVM.md §7.1) whether native code pushes it (`push`) or takes it as `inst`'s operand.
    pub immediate: bool,
    /// An immediate pushed before `inst` runs (AVM.md §7.1); `None` when there is none or
    /// `inst` takes it as its operand.
    pub push: Option<Frozen>,
}

/// Where a path of the region goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Into block `n` of the region.
    Block(usize),
    /// Out of the region, to loaded instruction `pc` (which has not run).
    Exit(u32),
    /// Out of the region, to where the codepoint operand of the block's last step (a `jump` or
    /// `cjump` from the stack) leads.
    Dynamic,
}

/// A straight sequence of steps and where control goes after it.
#[derive(Clone, Debug)]
pub struct Block {
    /// The instructions, in order.
    pub steps: Vec<Step>,
    /// Where control goes after them.
    pub end: End,
}

/// How a [`Block`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Control goes on to `target` (after the last step, which is not a `cjump`).
    Goto(Target),
    /// The last step is a `cjump`: to `taken` when its condition is non-zero, else to `fall`.
    Branch {
        /// Where a non-zero condition goes.
        taken: Target,
        /// Where zero goes.
        fall: Target,
    },
}

/// A tree of blocks rooted at `blocks[0]`, which starts at `entry`.
#[derive(Clone, Debug)]
pub struct Region {
    /// The loaded pc it starts at.
    pub entry: u32,
    /// Its blocks, `blocks[0]` first.
    pub blocks: Vec<Block>,
}

impl Region {
    /// Instructions in the region, counting each copy.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.steps.len()).sum()
    }

    /// Whether the region holds no instruction (its entry is left to the interpreter).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The instruction at `pc` as native code runs it, or `None` when the interpreter runs it.
pub fn decode(program: &Program, pc: u32) -> Option<Step> {
    let cp = program.codepoints().get(pc as usize)?;
    let info = opcode::info(cp.opcode())?;
    if cp.opcode() == opcode::PCPUSH && cp.immediate().is_none() {
        // Pushes its own codepoint, one of the program's: a constant.
        let here =
            Frozen::of(&Value::CodePoint(cp.clone())).expect("program codepoints are immortal");
        return Some(Step {
            pc,
            inst: Inst::Nop,
            info,
            immediate: false,
            push: Some(here),
        });
    }
    if info.flags != Flags::NONE && info.flags != Flags::JUMP {
        return None;
    }
    let immediate = cp.immediate();
    let index = match immediate {
        Some(Value::SmallInt(i)) if *i < 8 => Some(*i as u8),
        _ => None,
    };
    let target = match immediate {
        Some(Value::CodePoint(target)) => program.index_of(target).map(|pc| pc as u32),
        _ => None,
    };
    let fused = match (cp.opcode(), index, target) {
        (opcode::TGET, Some(i), _) => Some(Inst::TgetAt(i)),
        (opcode::TSET, Some(i), _) => Some(Inst::TsetAt(i)),
        (opcode::XGET, Some(i), _) => Some(Inst::XgetAt(i)),
        (opcode::XSET, Some(i), _) => Some(Inst::XsetAt(i)),
        (opcode::JUMP, _, Some(pc)) => Some(Inst::Jump(pc)),
        (opcode::CJUMP, _, Some(pc)) => Some(Inst::Cjump(pc)),
        _ => None,
    };
    let (inst, push) = match fused {
        Some(inst) => (inst, None),
        None => {
            let inst = match cp.opcode() {
                opcode::NOP => Inst::Nop,
                opcode::POP => Inst::Pop,
                opcode::DUP0 => Inst::Dup(0),
                opcode::DUP1 => Inst::Dup(1),
                opcode::DUP2 => Inst::Dup(2),
                opcode::SWAP1 => Inst::Swap(1),
                opcode::SWAP2 => Inst::Swap(2),
                opcode::AUXPUSH => Inst::AuxPush,
                opcode::AUXPOP => Inst::AuxPop,
                opcode::SPUSH => Inst::SPush,
                opcode::STACKEMPTY => Inst::StackEmpty(false),
                opcode::AUXSTACKEMPTY => Inst::StackEmpty(true),
                opcode::ERRPUSH => Inst::ErrPush,
                opcode::RPUSH => Inst::RPush,
                opcode::TGET => Inst::Tget,
                opcode::TSET => Inst::Tset,
                opcode::XGET => Inst::Xget,
                opcode::XSET => Inst::Xset,
                opcode::TLEN => Inst::Tlen,
                opcode::TYPE => Inst::Type,
                opcode::JUMP => Inst::JumpDynamic,
                opcode::CJUMP => Inst::CjumpDynamic,
                op @ (opcode::ISZERO | opcode::NOT) => Inst::Unary(op),
                op @ (opcode::ADD
                | opcode::SUB
                | opcode::MUL
                | opcode::DIV
                | opcode::SDIV
                | opcode::MOD
                | opcode::SMOD
                | opcode::SLT
                | opcode::SGT
                | opcode::BYTE
                | opcode::SIGNEXTEND
                | opcode::LT
                | opcode::GT
                | opcode::EQ
                | opcode::AND
                | opcode::OR
                | opcode::XOR
                | opcode::SHL
                | opcode::SHR) => Inst::Binary(op),
                _ if info.flags == Flags::NONE => {
                    return Some(Step {
                        pc,
                        inst: Inst::Interpret,
                        info,
                        immediate: immediate.is_some(),
                        push: None,
                    });
                }
                _ => return None,
            };
            let push = immediate.map(|v| Frozen::of(v).expect("a program's values are immortal"));
            (inst, push)
        }
    };
    Some(Step {
        pc,
        inst,
        info,
        immediate: immediate.is_some(),
        push,
    })
}

/// The region that starts at loaded instruction `entry`. A jump target or `cjump` arm that
/// control never reached (`reached(pc)` false) is left out: control leaves the region there.
pub fn form(program: &Program, entry: u32, reached: &dyn Fn(u32) -> bool) -> Region {
    let mut region = Region {
        entry,
        blocks: Vec::new(),
    };
    let mut former = Former {
        program,
        reached,
        budget: MAX_REGION,
        path: Vec::new(),
    };
    former.block_at(entry, &mut region);
    region
}

/// The state of [`form`].
struct Former<'a> {
    program: &'a Program,
    reached: &'a dyn Fn(u32) -> bool,
    /// The instructions the region may still take.
    budget: usize,
    /// The pcs of the blocks on the way from the entry to the one being formed.
    path: Vec<u32>,
}

impl Former<'_> {
    /// Where control goes to reach `pc` after a transfer: a new block, or out of the region.
    fn target(&mut self, pc: u32, region: &mut Region) -> Target {
        match (self.reached)(pc) {
            true => self.block_at(pc, region),
            false => Target::Exit(pc),
        }
    }

    /// Adds the block that starts at `pc` (and, depth first, the blocks after it) to `region`,
    /// returning where control goes to reach it.
    fn block_at(&mut self, pc: u32, region: &mut Region) -> Target {
        let looped = self.path.contains(&pc) || (!region.blocks.is_empty() && pc == region.entry);
        if looped || self.budget == 0 {
            return Target::Exit(pc);
        }
        let mut steps = Vec::new();
        let mut next = pc;
        let mut last = None;
        while self.budget > 0 {
            let Some(step) = decode(self.program, next) else {
                break;
            };
            self.budget -= 1;
            next += 1;
            let control = step.inst.transfers();
            last = Some(step.inst.clone());
            steps.push(step);
            if control {
                break;
            }
        }
        if steps.is_empty() {
            return Target::Exit(pc);
        }
        let index = region.blocks.len();
        region.blocks.push(Block {
            steps,
            end: End::Goto(Target::Exit(next)),
        });
        self.path.push(pc);
        let end = match last {
            Some(Inst::Jump(target)) => End::Goto(self.target(target, region)),
            Some(Inst::Cjump(target)) => {
                let taken = self.target(target, region);
                let fall = self.target(next, region);
                End::Branch { taken, fall }
            }
            Some(Inst::JumpDynamic) => End::Goto(Target::Dynamic),
            Some(Inst::CjumpDynamic) => End::Branch {
                taken: Target::Dynamic,
                fall: self.target(next, region),
            },
            // The next instruction is left to the interpreter, or the bound was reached.
            _ => End::Goto(Target::Exit(next)),
        };
        self.path.pop();
        region.blocks[index].end = end;
        Target::Block(index)
    }
}

#[cfg(test)]
mod tests {
    use avm_runtime::asm::assemble;

    use super::*;

    fn region(source: &str) -> Region {
        form(&assemble(source).unwrap(), 0, &|_| true)
    }

    #[test]
    fn follows_static_jumps_and_both_arms() {
        let r = region("push 1\ncjump @a\npush 2\njump @b\na:\npush 3\nb:\npop\nhalt");
        // Entry block: push 1; cjump. Taken arm: push 3; pop (falls into halt: exit).
        // Fall arm: push 2; jump @b; then pop again (a second copy).
        assert_eq!(r.blocks[0].steps.len(), 2);
        let End::Branch { taken, fall } = r.blocks[0].end else {
            panic!("{:?}", r.blocks[0].end);
        };
        let (Target::Block(t), Target::Block(f)) = (taken, fall) else {
            panic!("both arms compile");
        };
        assert_eq!(r.blocks[t].steps.len(), 2, "push 3, pop");
        assert_eq!(r.blocks[t].end, End::Goto(Target::Exit(6)), "halt is left");
        assert_eq!(r.blocks[f].steps.len(), 2, "push 2, jump");
        let End::Goto(Target::Block(b)) = r.blocks[f].end else {
            panic!("the jump target compiles");
        };
        assert_eq!(r.blocks[b].steps[0].pc, 5);
        assert_eq!(r.len(), 7);
    }

    #[test]
    fn a_back_edge_leaves_through_its_codepoint() {
        // Immediate targets always lie ahead (a codepoint hashes the ones after it), so the
        // assembler reads a back edge's target from the static value: `spush; tget 0; cjump`.
        let r = region("push 0\nb:\npush 1\ncjump @b\nhalt");
        let pcs: Vec<u32> = r.blocks[0].steps.iter().map(|s| s.pc).collect();
        assert_eq!(pcs, [0, 1, 2, 3, 4]);
        assert!(matches!(r.blocks[0].steps[3].inst, Inst::TgetAt(0)));
        assert!(matches!(r.blocks[0].steps[4].inst, Inst::CjumpDynamic));
        assert_eq!(
            r.blocks[0].end,
            End::Branch {
                taken: Target::Dynamic,
                fall: Target::Exit(5)
            }
        );
    }

    #[test]
    fn unsupported_instructions_end_a_block() {
        let r = region("push 1\npush 2\ninbox\nhalt");
        assert_eq!(r.blocks[0].steps.len(), 2);
        assert_eq!(r.blocks[0].end, End::Goto(Target::Exit(2)));
        assert!(region("halt").is_empty());
    }

    #[test]
    fn arms_never_reached_are_left() {
        let program = assemble("push 1\ncjump @a\npush 2\na:\npush 3\nhalt").unwrap();
        let r = form(&program, 0, &|pc| pc != 2);
        assert_eq!(
            r.blocks[0].end,
            End::Branch {
                taken: Target::Block(1),
                fall: Target::Exit(2)
            }
        );
    }

    #[test]
    fn regions_are_bounded() {
        let source = "push 1\npop\n".repeat(400) + "halt";
        assert_eq!(region(&source).len(), MAX_REGION);
    }
}
