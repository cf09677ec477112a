//! Block analysis: what a straight run of loaded code does, worked out symbolically once so
//! that compiled code only computes integers.
//!
//! A block starts at a loaded pc and runs forward until an instruction that transfers control
//! (`jump`, `cjump`, `halt`, included) or one this JIT leaves to the interpreter (excluded).
//! Every stack value the block touches is tracked symbolically: an input of the entry stack, a
//! constant, the static value, or an integer the native code computes. The result is a
//! [`Block`]: the integer program for native code, and a static plan for the stacks, gas, steps
//! and pc that the engine applies afterwards. Native code never touches the machine, so a
//! block either runs whole or not at all, and exactness reduces to the entry guard.

use avm_runtime::opcode::{self, *};
use avm_runtime::{Program, U256, Value};

/// A value on a stack after the block, in terms of the machine before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The data-stack value `depth` places below the top at entry.
    Input(usize),
    /// The aux-stack value `depth` places below the top at entry.
    AuxInput(usize),
    /// Integer result `index` of the native code.
    Int(usize),
    /// A constant (a non-Int immediate, or a `pcpush` codepoint).
    Const(Value),
    /// The static value.
    Static,
    /// The register (no compiled block writes it).
    Register,
    /// The error handler (no compiled block changes it).
    ErrorHandler,
}

/// An integer operation of the native program; operands are earlier entries' indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntOp {
    /// Native input `index` (an Int of the entry stack).
    Input(usize),
    /// A constant.
    Const(U256),
    /// A one-operand opcode (`iszero`, `not`).
    Unary(u8, usize),
    /// A two-operand opcode with operands `(A, B)` in pop order.
    Binary(u8, usize, usize),
}

/// How control leaves the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Continue at the loaded instruction `pc`.
    Fallthrough(u32),
    /// `jump` to the codepoint in this slot.
    Jump(Slot),
    /// `cjump`: to `target` if the Int in `condition` is non-zero, else to `fallthrough`.
    CondJump {
        /// The codepoint operand.
        target: Slot,
        /// The condition operand.
        condition: Slot,
        /// The pc after the `cjump`.
        fallthrough: u32,
    },
    /// `halt`.
    Halt,
}

/// A compiled-to-be block and the plan to apply its effect.
#[derive(Clone, Debug)]
pub struct Block {
    /// The pc of its first instruction.
    pub entry: u32,
    /// Instructions (= steps) in the block.
    pub steps: u64,
    /// Gas of all its instructions.
    pub gas: u64,
    /// Gas of all but the last (for the go-over gas bound).
    pub gas_before_last: u64,
    /// Data-stack values the block reads below its own pushes.
    pub consumes: usize,
    /// Aux-stack values the block reads below its own pushes.
    pub aux_consumes: usize,
    /// Entry data-stack depths that must hold Ints; native input `i` is `inputs[i]`.
    pub inputs: Vec<usize>,
    /// The native integer program.
    pub ops: Vec<IntOp>,
    /// `ops` indexes whose values the native code writes out, in result order.
    pub results: Vec<usize>,
    /// The data stack after the block, above the `consumes` values it removed, bottom first.
    pub outputs: Vec<Slot>,
    /// The aux stack after the block, above `aux_consumes`, bottom first.
    pub aux_outputs: Vec<Slot>,
    /// Where control goes.
    pub exit: Exit,
}

/// A symbolic stack value during analysis.
#[derive(Clone, Debug)]
enum Sym {
    /// An Int: `ops` index.
    Int(usize),
    /// A value the block does not compute on.
    Opaque(Slot),
}

/// A stack whose unseen part is read lazily from the entry stack.
struct SymStack {
    values: Vec<Sym>,
    /// Entry values taken so far.
    consumed: usize,
    aux: bool,
}

impl SymStack {
    fn new(aux: bool) -> SymStack {
        SymStack {
            values: Vec::new(),
            consumed: 0,
            aux,
        }
    }

    /// Makes sure `n` values are visible.
    fn reach(&mut self, n: usize) {
        while self.values.len() < n {
            let depth = self.consumed;
            self.consumed += 1;
            let slot = if self.aux {
                Slot::AuxInput(depth)
            } else {
                Slot::Input(depth)
            };
            self.values.insert(0, Sym::Opaque(slot));
        }
    }

    fn pop(&mut self) -> Sym {
        self.reach(1);
        self.values.pop().expect("reached")
    }

    fn peek(&mut self, depth: usize) -> Sym {
        self.reach(depth + 1);
        self.values[self.values.len() - 1 - depth].clone()
    }

    fn swap(&mut self, depth: usize) {
        self.reach(depth + 1);
        let len = self.values.len();
        self.values.swap(len - 1, len - 1 - depth);
    }
}

/// Whether `opcode` is computed inline by native code on two Int operands.
fn is_inline_binary(opcode: u8) -> bool {
    matches!(
        opcode,
        ADD | SUB | LT | GT | SLT | SGT | EQ | AND | OR | XOR
    )
}

/// The analysis state of one block.
struct Analysis {
    data: SymStack,
    aux: SymStack,
    ops: Vec<IntOp>,
    inputs: Vec<usize>,
}

impl Analysis {
    /// The value of `sym` as an Int operand, or `None` if it is known not to be an Int (the
    /// instruction would raise an error: leave it to the interpreter).
    fn int(&mut self, sym: &Sym) -> Option<usize> {
        match sym {
            Sym::Int(id) => Some(*id),
            Sym::Opaque(Slot::Input(depth)) => {
                let index = self
                    .inputs
                    .iter()
                    .position(|d| d == depth)
                    .unwrap_or_else(|| {
                        self.inputs.push(*depth);
                        self.inputs.len() - 1
                    });
                Some(self.push_op(IntOp::Input(index)))
            }
            _ => None,
        }
    }

    fn push_op(&mut self, op: IntOp) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// Applies one instruction; `false` if the block must end before it.
    fn step(&mut self, program: &Program, pc: u32) -> Option<Option<Exit>> {
        let cp = program.codepoint(pc as usize);
        let (op, immediate) = (cp.opcode(), cp.immediate());
        let info = opcode::info(op)?;
        let snapshot = (
            self.data.values.clone(),
            self.data.consumed,
            self.ops.len(),
            self.inputs.len(),
        );
        if let Some(imm) = immediate {
            let sym = match imm {
                Value::Int(x) => Sym::Int(self.push_op(IntOp::Const(*x))),
                other => Sym::Opaque(Slot::Const(other.clone())),
            };
            self.data.values.push(sym);
        }
        let result = self.apply(program, pc, info.byte);
        if result.is_none() {
            // Undo the immediate and anything read: the block ends before this instruction.
            self.data.values = snapshot.0;
            self.data.consumed = snapshot.1;
            self.ops.truncate(snapshot.2);
            self.inputs.truncate(snapshot.3);
        }
        result
    }

    fn apply(&mut self, program: &Program, pc: u32, op: u8) -> Option<Option<Exit>> {
        match op {
            NOP => {}
            POP => {
                self.data.pop();
            }
            DUP0 | DUP1 | DUP2 => {
                let sym = self.data.peek((op - DUP0) as usize);
                self.data.values.push(sym);
            }
            SWAP1 | SWAP2 => self.data.swap((op - SWAP1 + 1) as usize),
            AUXPUSH => {
                let sym = self.data.pop();
                self.aux.values.push(sym);
            }
            AUXPOP => {
                let sym = self.aux.pop();
                self.data.values.push(sym);
            }
            SPUSH => self.data.values.push(Sym::Opaque(Slot::Static)),
            RPUSH => self.data.values.push(Sym::Opaque(Slot::Register)),
            ERRPUSH => self.data.values.push(Sym::Opaque(Slot::ErrorHandler)),
            PCPUSH => {
                let here = program.codepoint(pc as usize).clone();
                self.data
                    .values
                    .push(Sym::Opaque(Slot::Const(Value::CodePoint(here))));
            }
            ISZERO | NOT => {
                let a = self.data.peek(0);
                let a = self.int(&a)?;
                self.data.pop();
                let id = self.push_op(IntOp::Unary(op, a));
                self.data.values.push(Sym::Int(id));
            }
            op if is_inline_binary(op) => {
                let (a, b) = (self.data.peek(0), self.data.peek(1));
                let (a, b) = (self.int(&a)?, self.int(&b)?);
                self.data.pop();
                self.data.pop();
                let id = self.push_op(IntOp::Binary(op, a, b));
                self.data.values.push(Sym::Int(id));
            }
            JUMP => {
                let target = self.data.pop();
                return Some(Some(Exit::Jump(self.slot(target))));
            }
            CJUMP => {
                let target = self.data.pop();
                let condition = self.data.peek(0);
                let condition = self.int(&condition)?;
                self.data.pop();
                return Some(Some(Exit::CondJump {
                    target: self.slot(target),
                    condition: Slot::Int(condition),
                    fallthrough: pc + 1,
                }));
            }
            HALT => return Some(Some(Exit::Halt)),
            _ => return None,
        }
        Some(None)
    }

    /// The slot that holds `sym` after the block (Int slots index `ops` until results are
    /// numbered).
    fn slot(&self, sym: Sym) -> Slot {
        match sym {
            Sym::Int(id) => Slot::Int(id),
            Sym::Opaque(slot) => slot,
        }
    }
}

/// The longest block starting at `entry`, or `None` if its first instruction is not one this
/// JIT compiles.
pub fn analyze(program: &Program, entry: u32) -> Option<Block> {
    let mut analysis = Analysis {
        data: SymStack::new(false),
        aux: SymStack::new(true),
        ops: Vec::new(),
        inputs: Vec::new(),
    };
    let (mut steps, mut gas, mut gas_before_last) = (0u64, 0u64, 0u64);
    let mut pc = entry;
    let exit = loop {
        if pc as usize >= program.len() {
            break Exit::Fallthrough(pc);
        }
        let Some(exit) = analysis.step(program, pc) else {
            break Exit::Fallthrough(pc);
        };
        let cost = opcode::info(program.codepoint(pc as usize).opcode()).map_or(0, |i| i.gas);
        gas_before_last = gas;
        gas += cost;
        steps += 1;
        pc += 1;
        if let Some(exit) = exit {
            break exit;
        }
    };
    if steps == 0 {
        return None;
    }
    Some(finish(analysis, entry, steps, gas, gas_before_last, exit))
}

/// Numbers the Int results and writes the plan.
fn finish(
    analysis: Analysis,
    entry: u32,
    steps: u64,
    gas: u64,
    gas_before_last: u64,
    exit: Exit,
) -> Block {
    let mut results: Vec<usize> = Vec::new();
    let mut result_of = |id: usize| -> Slot {
        let index = results.iter().position(|&r| r == id).unwrap_or_else(|| {
            results.push(id);
            results.len() - 1
        });
        Slot::Int(index)
    };
    let mut to_slot = |sym: &Sym| match sym {
        Sym::Int(id) => result_of(*id),
        Sym::Opaque(slot) => slot.clone(),
    };
    let outputs: Vec<Slot> = analysis.data.values.iter().map(&mut to_slot).collect();
    let aux_outputs: Vec<Slot> = analysis.aux.values.iter().map(&mut to_slot).collect();
    let mut renumber = |slot: Slot| match slot {
        Slot::Int(id) => to_slot(&Sym::Int(id)),
        other => other,
    };
    let exit = match exit {
        Exit::Jump(target) => Exit::Jump(renumber(target)),
        Exit::CondJump {
            target,
            condition,
            fallthrough,
        } => Exit::CondJump {
            target: renumber(target),
            condition: renumber(condition),
            fallthrough,
        },
        other => other,
    };
    Block {
        entry,
        steps,
        gas,
        gas_before_last,
        consumes: analysis.data.consumed,
        aux_consumes: analysis.aux.consumed,
        inputs: analysis.inputs,
        ops: analysis.ops,
        results,
        outputs,
        aux_outputs,
        exit,
    }
}
