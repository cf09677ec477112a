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
use avm_runtime::{Frozen, Program, U256, Value, jit_abi};

/// A value on a stack after the block, in terms of the machine before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The data-stack value `depth` places below the top at entry.
    Input(usize),
    /// The aux-stack value `depth` places below the top at entry.
    AuxInput(usize),
    /// Integer result `index` of the native code.
    Int(usize),
    /// A constant (a non-Int immediate, or a `pcpush` codepoint): the program's, immortal,
    /// so compiled blocks holding it are shared by machines on any thread.
    Const(Frozen),
    /// The static value.
    Static,
    /// The register (no compiled block writes it).
    Register,
    /// The error handler (no compiled block changes it).
    ErrorHandler,
    /// Slot `index` of the tuple in the inner slot (`tget`/`xget` with a constant index).
    Field(Box<Slot>, u8),
    /// The tuple in the first slot with slot `index` replaced by the second (`tset`/`xset`).
    Updated(Box<Slot>, u8, Box<Slot>),
}

impl Slot {
    /// This slot with every `Int` index mapped through `f`.
    fn map_ints(self, f: &mut impl FnMut(usize) -> usize) -> Slot {
        match self {
            Slot::Int(id) => Slot::Int(f(id)),
            Slot::Field(tuple, index) => Slot::Field(Box::new(tuple.map_ints(f)), index),
            Slot::Updated(tuple, index, value) => {
                let tuple = tuple.map_ints(f);
                Slot::Updated(Box::new(tuple), index, Box::new(value.map_ints(f)))
            }
            other => other,
        }
    }
}

/// An integer operation of the native program; operands are earlier entries' indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntOp {
    /// Native input `index` (an Int the engine reads before the block; see [`Block::inputs`]).
    Input(usize),
    /// A constant.
    Const(U256),
    /// A one-operand opcode (`iszero`, `not`).
    Unary(u8, usize),
    /// A two-operand opcode with operands `(A, B)` in pop order.
    Binary(u8, usize, usize),
    /// An opcode computed by a runtime builtin (`avm_runtime::jit_abi`), operands in pop
    /// order; it may raise an AVM error, which makes the whole block run in the interpreter.
    Builtin(u8, Vec<usize>),
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
    /// Data-stack values the block reads below its own pushes (the depth it needs).
    pub reads: usize,
    /// Aux-stack values the block reads below its own pushes.
    pub aux_reads: usize,
    /// Data-stack values the block removes (the deepest values it reads and leaves in place
    /// are not removed).
    pub consumes: usize,
    /// Aux-stack values the block removes.
    pub aux_consumes: usize,
    /// Slots (of values that exist before the block) that must hold Ints; native input `i`
    /// is `inputs[i]`.
    pub inputs: Vec<Slot>,
    /// The native integer program.
    pub ops: Vec<IntOp>,
    /// `ops` indexes whose values the native code writes out, in result order.
    pub results: Vec<usize>,
    /// Tuples the block reads or updates slot `index` of: each must be a tuple that long.
    pub checks: Vec<(Slot, u8)>,
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

/// The slot of an opaque symbol.
fn sym_slot(sym: Sym) -> Option<Slot> {
    match sym {
        Sym::Opaque(slot) => Some(slot),
        Sym::Int(_) => None,
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
    inputs: Vec<Slot>,
    checks: Vec<(Slot, u8)>,
}

impl Analysis {
    /// The value of `sym` as an Int operand, or `None` if it is known not to be an Int (the
    /// instruction would raise an error: leave it to the interpreter).
    fn int(&mut self, sym: &Sym) -> Option<usize> {
        let slot = match sym {
            Sym::Int(id) => return Some(*id),
            Sym::Opaque(Slot::Const(_) | Slot::Updated(..) | Slot::ErrorHandler) => return None,
            Sym::Opaque(slot) => slot,
        };
        let index = match self.inputs.iter().position(|s| s == slot) {
            Some(index) => index,
            None => {
                self.inputs.push(slot.clone());
                self.inputs.len() - 1
            }
        };
        Some(self.push_op(IntOp::Input(index)))
    }

    /// The constant tuple index in `sym`, if it is one (indexes of 8 and more always fail).
    fn index(&self, sym: &Sym) -> Option<u8> {
        match sym {
            Sym::Int(id) => match &self.ops[*id] {
                IntOp::Const(x) if *x < U256::from(8) => Some(x.low_u64() as u8),
                _ => None,
            },
            Sym::Opaque(_) => None,
        }
    }

    /// The slot of a value used as a tuple (an Int or a constant never is one here).
    fn tuple_slot(sym: Sym) -> Option<Slot> {
        match sym {
            Sym::Opaque(Slot::Const(ref c)) if matches!(c.get(), Value::Tuple(_)) => sym_slot(sym),
            Sym::Opaque(Slot::Const(_)) | Sym::Int(_) => None,
            Sym::Opaque(slot) => Some(slot),
        }
    }

    /// Slot `index` of the tuple in `tuple`, recording the check that it exists. A slot of a
    /// tuple this block updated resolves to the value it put there (or to the slot of the
    /// tuple before), so projections only ever read values that exist before the block.
    fn project(&mut self, tuple: Slot, index: u8) -> Sym {
        self.checks.push((tuple.clone(), index));
        let mut tuple = tuple;
        loop {
            match tuple {
                Slot::Updated(inner, at, value) => {
                    if at == index {
                        return match *value {
                            Slot::Int(id) => Sym::Int(id),
                            other => Sym::Opaque(other),
                        };
                    }
                    tuple = *inner;
                }
                other => return Sym::Opaque(Slot::Field(Box::new(other), index)),
            }
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
            (self.data.values.clone(), self.data.consumed),
            (self.aux.values.clone(), self.aux.consumed),
            self.ops.len(),
            self.inputs.len(),
            self.checks.len(),
        );
        if let Some(imm) = immediate {
            let sym = match imm.as_int() {
                Some(x) => Sym::Int(self.push_op(IntOp::Const(x))),
                None => Sym::Opaque(Slot::Const(Frozen::of(imm)?)),
            };
            self.data.values.push(sym);
        }
        let result = self.apply(program, pc, info.byte);
        if result.is_none() {
            // Undo the immediate and anything read: the block ends before this instruction.
            (self.data.values, self.data.consumed) = snapshot.0;
            (self.aux.values, self.aux.consumed) = snapshot.1;
            self.ops.truncate(snapshot.2);
            self.inputs.truncate(snapshot.3);
            self.checks.truncate(snapshot.4);
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
                let here = Value::CodePoint(program.codepoint(pc as usize).clone());
                let here = Frozen::of(&here)?;
                self.data.values.push(Sym::Opaque(Slot::Const(here)));
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
            TGET => {
                let top = self.data.peek(0);
                let index = self.index(&top)?;
                let tuple = Self::tuple_slot(self.data.peek(1))?;
                self.data.pop();
                self.data.pop();
                let field = self.project(tuple, index);
                self.data.values.push(field);
            }
            TSET => {
                let top = self.data.peek(0);
                let index = self.index(&top)?;
                let tuple = Self::tuple_slot(self.data.peek(1))?;
                let value = self.data.peek(2);
                let value = self.slot(value);
                for _ in 0..3 {
                    self.data.pop();
                }
                self.checks.push((tuple.clone(), index));
                let updated = Slot::Updated(Box::new(tuple), index, Box::new(value));
                self.data.values.push(Sym::Opaque(updated));
            }
            XGET => {
                let top = self.data.peek(0);
                let index = self.index(&top)?;
                let tuple = Self::tuple_slot(self.aux.peek(0))?;
                self.data.pop();
                let field = self.project(tuple, index);
                self.data.values.push(field);
            }
            XSET => {
                let top = self.data.peek(0);
                let index = self.index(&top)?;
                let tuple = Self::tuple_slot(self.aux.peek(0))?;
                let value = self.data.peek(1);
                let value = self.slot(value);
                self.data.pop();
                self.data.pop();
                self.aux.pop();
                self.checks.push((tuple.clone(), index));
                let updated = Slot::Updated(Box::new(tuple), index, Box::new(value));
                self.aux.values.push(Sym::Opaque(updated));
            }
            op if jit_abi::builtin(op).is_some() => {
                let arity = jit_abi::builtin(op).expect("checked").arity;
                let mut operands = Vec::with_capacity(arity);
                for depth in 0..arity {
                    let sym = self.data.peek(depth);
                    operands.push(self.int(&sym)?);
                }
                for _ in 0..arity {
                    self.data.pop();
                }
                let id = self.push_op(IntOp::Builtin(op, operands));
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
        checks: Vec::new(),
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

/// Leaves in place the deepest values a block reads and puts back where they were, so they are
/// neither removed nor pushed again; returns how many entry values the block still replaces.
fn keep_in_place(outputs: &mut Vec<Slot>, mut consumed: usize, input: fn(usize) -> Slot) -> usize {
    let kept = outputs
        .iter()
        .zip((0..consumed).rev())
        .take_while(|(slot, depth)| **slot == input(*depth))
        .count();
    outputs.drain(..kept);
    consumed -= kept;
    consumed
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
    let mut result_of = |id: usize| -> usize {
        results.iter().position(|&r| r == id).unwrap_or_else(|| {
            results.push(id);
            results.len() - 1
        })
    };
    let mut to_slot = |sym: &Sym| match sym {
        Sym::Int(id) => Slot::Int(result_of(*id)),
        Sym::Opaque(slot) => slot.clone().map_ints(&mut result_of),
    };
    let mut outputs: Vec<Slot> = analysis.data.values.iter().map(&mut to_slot).collect();
    let mut aux_outputs: Vec<Slot> = analysis.aux.values.iter().map(&mut to_slot).collect();
    let consumes = keep_in_place(&mut outputs, analysis.data.consumed, Slot::Input);
    let aux_consumes = keep_in_place(&mut aux_outputs, analysis.aux.consumed, Slot::AuxInput);
    let checks = analysis
        .checks
        .into_iter()
        .map(|(slot, index)| (slot.map_ints(&mut result_of), index))
        .collect();
    let exit = match exit {
        Exit::Jump(target) => Exit::Jump(target.map_ints(&mut result_of)),
        Exit::CondJump {
            target,
            condition,
            fallthrough,
        } => Exit::CondJump {
            target: target.map_ints(&mut result_of),
            condition: condition.map_ints(&mut result_of),
            fallthrough,
        },
        other => other,
    };
    Block {
        entry,
        steps,
        gas,
        gas_before_last,
        reads: analysis.data.consumed,
        aux_reads: analysis.aux.consumed,
        consumes,
        aux_consumes,
        inputs: analysis.inputs,
        ops: analysis.ops,
        results,
        checks,
        outputs,
        aux_outputs,
        exit,
    }
}
