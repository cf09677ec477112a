//! Turns arbitrary bytes into interesting AVM programs, written as assembler text.
//!
//! A program is a few loops (so blocks get hot and compile at any threshold) whose bodies are
//! drawn from weighted instruction families: mostly well-typed integer and stack code, with
//! tuples of every size, buffers, error handlers, small gas budgets (so out-of-gas strikes
//! inside blocks), underflows, wrong operand kinds, division by zero, dynamic codepoints and
//! inbox reads. Every opcode of the table can appear. Text (rather than a `Program`) is the
//! output so that a finding prints as something a human can read and the shrinker can cut.

use arbitrary::{Result, Unstructured};
use avm_interp::{GasBound, Limits};
use avm_runtime::U256;
use avm_runtime::inbox::{BatchItem, InboxMessage};
use avm_runtime::opcode::{self, OPCODES};

/// A generated test case: a program, inbox messages for it, and the bounds to run it under.
#[derive(Clone, Debug)]
pub struct Case {
    /// The program, as assembler text.
    pub text: String,
    /// Messages queued in the inbox before the run.
    pub inbox: Vec<InboxMessage>,
    /// The bounds of the run.
    pub limits: Limits,
}

/// Ints that sit on the edges of 256-bit arithmetic and of the JIT's two `i128` halves.
const EDGE_INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "8",
    "31",
    "32",
    "255",
    "256",
    "-1",
    "-2",
    "0xffffffffffffffffffffffffffffffff",
    "0x100000000000000000000000000000000",
    "0x8000000000000000000000000000000000000000000000000000000000000000",
    "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "0xffffffffffffffff",
    "0x10000000000000000",
];

/// Opcodes that mostly see well-typed Int operands in generated code.
const INT_OPS: &[&str] = &[
    "add",
    "mul",
    "sub",
    "div",
    "sdiv",
    "mod",
    "smod",
    "addmod",
    "mulmod",
    "exp",
    "signextend",
    "lt",
    "gt",
    "slt",
    "sgt",
    "eq",
    "iszero",
    "and",
    "or",
    "xor",
    "not",
    "byte",
    "shl",
    "shr",
    "sar",
    "ethhash2",
];

const STACK_OPS: &[&str] = &[
    "pop", "dup0", "dup1", "dup2", "swap1", "swap2", "auxpush", "auxpop", "rpush", "rset", "spush",
    "nop",
];

const TUPLE_OPS: &[&str] = &[
    "tget", "tset", "tlen", "xget", "xset", "hash", "type", "tlen",
];

const BUFFER_OPS: &[&str] = &[
    "newbuffer",
    "getbuffer8",
    "getbuffer64",
    "getbuffer256",
    "setbuffer8",
    "setbuffer64",
    "setbuffer256",
];

/// Generates one case from `u`.
pub fn case(u: &mut Unstructured) -> Result<Case> {
    let mut g = Generator {
        u,
        lines: Vec::new(),
        labels: 0,
    };
    g.program()?;
    let inbox = g.inbox()?;
    let limits = g.limits()?;
    Ok(Case {
        text: g.lines.join("\n") + "\n",
        inbox,
        limits,
    })
}

struct Generator<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    lines: Vec<String>,
    labels: u32,
}

impl Generator<'_, '_> {
    fn emit(&mut self, line: impl Into<String>) {
        self.lines.push(format!("    {}", line.into()));
    }

    fn label(&mut self) -> String {
        self.labels += 1;
        format!("L{}", self.labels)
    }

    fn program(&mut self) -> Result<()> {
        let handler = self.label();
        if self.u.ratio(1, 3)? {
            self.emit(format!("errset @{handler}"));
        }
        if self.u.ratio(1, 4)? {
            let gas = self.u.int_in_range(0..=5000u32)?;
            self.emit(format!("setgas {gas}"));
        }
        let prologue = self.u.int_in_range(0..=6)?;
        for _ in 0..prologue {
            self.push_value()?;
        }
        let loops = self.u.int_in_range(1..=3)?;
        for _ in 0..loops {
            self.counted_loop()?;
        }
        self.ending()?;
        // The error handler: records that it ran, then halts or loops back through errors.
        self.lines.push(format!("{handler}:"));
        self.emit("push 0xe");
        self.emit("log");
        self.ending()
    }

    /// A loop that runs its body a number of times counted in the register.
    fn counted_loop(&mut self) -> Result<()> {
        let head = self.label();
        let iterations = self.u.int_in_range(1..=300u32)?;
        self.emit(format!("rset {iterations}"));
        self.lines.push(format!("{head}:"));
        let body = self.u.int_in_range(1..=24)?;
        // Half the loops are pure integer and stack code, the JIT's home ground, so whole
        // blocks compile and run natively; the rest mix in everything else.
        let integer_only = self.u.ratio(1, 2)?;
        if integer_only {
            // Operands enough that most bodies do not underflow in their first iterations.
            for _ in 0..8 {
                self.push_int()?;
            }
        }
        for _ in 0..body {
            if integer_only {
                self.integer_instruction()?;
            } else {
                self.instruction()?;
            }
        }
        self.emit("rpush");
        self.emit("add -1");
        self.emit("dup0");
        self.emit("rset");
        self.emit(format!("cjump @{head}"));
        Ok(())
    }

    fn ending(&mut self) -> Result<()> {
        match self.u.int_in_range(0..=3)? {
            0 => self.emit("error"),
            1 => {
                self.emit("log");
                self.emit("halt");
            }
            _ => self.emit("halt"),
        }
        Ok(())
    }

    fn int(&mut self) -> Result<String> {
        Ok(match self.u.int_in_range(0..=3)? {
            0 | 1 => (*self.u.choose(EDGE_INTS)?).to_string(),
            2 => self.u.int_in_range(0..=40u32)?.to_string(),
            _ => {
                let limbs: [u64; 4] = self.u.arbitrary()?;
                format!("{:#x}", U256(limbs))
            }
        })
    }

    fn value(&mut self, depth: u32) -> Result<String> {
        let choice = if depth > 2 {
            0
        } else {
            self.u.int_in_range(0..=9)?
        };
        Ok(match choice {
            0..=5 => self.int()?,
            6..=8 => {
                let len = self.u.int_in_range(0..=8)?;
                let slots = (0..len)
                    .map(|_| self.value(depth + 1))
                    .collect::<Result<Vec<_>>>()?;
                match len {
                    1 => format!("({})", slots[0]),
                    _ => format!("({})", slots.join(", ")),
                }
            }
            _ => {
                let bytes: Vec<u8> = (0..self.u.int_in_range(0..=40)?)
                    .map(|_| self.u.arbitrary())
                    .collect::<Result<_>>()?;
                format!("buffer({})", avm_runtime::hash::hex_bytes(&bytes))
            }
        })
    }

    fn push_value(&mut self) -> Result<()> {
        let value = self.value(0)?;
        self.emit(format!("push {value}"));
        Ok(())
    }

    /// An integer opcode, with an Int immediate half the time.
    fn int_op(&mut self) -> Result<()> {
        let op = *self.u.choose(INT_OPS)?;
        if self.u.ratio(1, 2)? {
            let imm = self.int()?;
            self.emit(format!("{op} {imm}"));
        } else {
            self.emit(op);
        }
        Ok(())
    }

    fn push_int(&mut self) -> Result<()> {
        let imm = self.int()?;
        self.emit(format!("push {imm}"));
        Ok(())
    }

    /// One instruction of integer and stack code.
    fn integer_instruction(&mut self) -> Result<()> {
        match self.u.int_in_range(0..=9)? {
            0..=5 => self.int_op()?,
            6..=7 => self.push_int()?,
            _ => {
                let op = *self
                    .u
                    .choose(&["dup0", "dup1", "dup2", "swap1", "swap2", "pop"])?;
                self.emit(op);
            }
        }
        Ok(())
    }

    /// One instruction (or a short idiom) of the loop body.
    fn instruction(&mut self) -> Result<()> {
        match self.u.int_in_range(0..=99)? {
            0..=24 => self.int_op()?,
            25..=39 => self.push_int()?,
            40..=54 => {
                let op = *self.u.choose(STACK_OPS)?;
                self.emit(op);
            }
            55..=66 => self.tuple_op()?,
            67..=72 => self.buffer_op()?,
            73..=76 => self.push_value()?,
            77..=80 => self.forward_jump()?,
            81..=82 => self.dynamic_codepoint()?,
            83..=84 => {
                let gas = self.u.int_in_range(0..=400u32)?;
                self.emit(format!("setgas {gas}"));
            }
            85 => self.emit("pushgas"),
            86 => self.emit("inbox"),
            87 => self.emit("log"),
            88 => self.emit("errpush"),
            89 => self.emit("errcodepoint"),
            90 => self.emit("pcpush"),
            91 => self.emit("error"),
            92 => self.emit("stackempty"),
            93 => self.emit("auxstackempty"),
            94..=97 => {
                // Any opcode of the table, with or without an immediate.
                let op = self.any_opcode()?;
                if self.u.ratio(1, 2)? {
                    let imm = self.value(1)?;
                    self.emit(format!("{op} {imm}"));
                } else {
                    self.emit(op);
                }
            }
            _ => {
                let byte: u8 = self.u.arbitrary()?;
                self.emit(format!("op_{byte:02x}"));
            }
        }
        Ok(())
    }

    fn any_opcode(&mut self) -> Result<String> {
        let defined: Vec<u8> = (0..=255u8)
            .filter(|&b| OPCODES[b as usize].is_some())
            .collect();
        let byte = *self.u.choose(&defined)?;
        Ok(opcode::mnemonic(byte))
    }

    fn tuple_op(&mut self) -> Result<()> {
        let op = *self.u.choose(TUPLE_OPS)?;
        match self.u.int_in_range(0..=2)? {
            0 => {
                let index = self.u.int_in_range(0..=8u32)?;
                self.emit(format!("{op} {index}"));
            }
            1 => {
                // A tuple of a random size to work on, then the operation.
                let len = self.u.int_in_range(0..=8)?;
                self.emit(format!("push {}", zeros(len)));
                if op == "xget" || op == "xset" {
                    self.emit("auxpush");
                }
                let index = self.u.int_in_range(0..=8u32)?;
                self.emit(format!("{op} {index}"));
            }
            _ => self.emit(op),
        }
        Ok(())
    }

    fn buffer_op(&mut self) -> Result<()> {
        let op = *self.u.choose(BUFFER_OPS)?;
        if op == "newbuffer" {
            self.emit(op);
            return Ok(());
        }
        let offset = match self.u.int_in_range(0..=3)? {
            0 => "0".to_string(),
            1 => self.u.int_in_range(0..=100u32)?.to_string(),
            2 => self.u.int_in_range(0..=2_000_000u32)?.to_string(),
            _ => self.int()?,
        };
        if op.starts_with("set") {
            // Offset (the immediate), value, buffer: built so the operation is well-typed.
            let value = self.int()?;
            self.emit("newbuffer");
            self.emit(format!("push {value}"));
            self.emit(format!("{op} {offset}"));
        } else {
            self.emit("newbuffer");
            self.emit(format!("{op} {offset}"));
        }
        Ok(())
    }

    fn forward_jump(&mut self) -> Result<()> {
        let target = self.label();
        let skipped = self.u.int_in_range(0..=3)?;
        if self.u.ratio(1, 2)? {
            self.emit(format!("jump @{target}"));
        } else {
            let condition = self.int()?;
            self.emit(format!("push {condition}"));
            self.emit(format!("cjump @{target}"));
        }
        for _ in 0..skipped {
            let op = *self.u.choose(STACK_OPS)?;
            self.emit(op);
        }
        self.lines.push(format!("{target}:"));
        Ok(())
    }

    /// `pushinsn`/`pushinsnimm` build a codepoint at run time; jumping to it runs code that
    /// exists only dynamically (AVM.md §4.3).
    fn dynamic_codepoint(&mut self) -> Result<()> {
        let after = self.label();
        let op = *self
            .u
            .choose(&["add", "pop", "dup0", "iszero", "halt", "error", "nop"])?;
        let byte = opcode::by_name(op).expect("a table opcode").byte;
        self.emit(format!("push @{after}"));
        if self.u.ratio(1, 2)? {
            let imm = self.int()?;
            self.emit(format!("push {imm}"));
            self.emit(format!("pushinsnimm {byte}"));
        } else {
            self.emit(format!("pushinsn {byte}"));
        }
        if self.u.ratio(3, 4)? {
            self.emit("jump");
        }
        self.lines.push(format!("{after}:"));
        Ok(())
    }

    fn inbox(&mut self) -> Result<Vec<InboxMessage>> {
        let count = self.u.int_in_range(0..=3)?;
        (0..count)
            .map(|i| {
                let len = self.u.int_in_range(0..=64)?;
                let data = (0..len)
                    .map(|_| self.u.arbitrary())
                    .collect::<Result<Vec<u8>>>()?;
                Ok(InboxMessage {
                    kind: U256::from(self.u.int_in_range(0..=10u8)?),
                    l1_block_number: U256::from(100 + i),
                    l1_timestamp: U256::from(1_000_000 + i),
                    sender: U256::from(self.u.arbitrary::<u64>()?),
                    inbox_sequence_number: U256::from(i),
                    l1_gas_price: U256::from(1_000_000_000u64),
                    data,
                })
            })
            .collect()
    }

    fn limits(&mut self) -> Result<Limits> {
        let max_steps = match self.u.int_in_range(0..=4)? {
            0 => None,
            1 => Some(self.u.int_in_range(1..=50u64)?),
            _ => Some(self.u.int_in_range(1..=20_000u64)?),
        };
        let gas = match self.u.int_in_range(0..=3)? {
            0 => Some(GasBound {
                max_gas: self.u.int_in_range(0..=200_000u128)?,
                go_over: self.u.arbitrary()?,
            }),
            _ => None,
        };
        Ok(Limits {
            max_steps: max_steps.or(Some(200_000)),
            gas,
            stop_on_sideload: self.u.arbitrary()?,
            stop_on_breakpoint: self.u.arbitrary()?,
            continues: false,
        })
    }
}

/// The text of a tuple of `len` Int zeros.
fn zeros(len: usize) -> String {
    match len {
        1 => "(0)".to_string(),
        _ => format!("({})", vec!["0"; len].join(", ")),
    }
}

/// A generated L1 inbox (PROOFS.md §6) that follows the contracts' rules: a delayed inbox of
/// up to 4 messages, and up to 4 sequencer batches, each of 1 to 4 items, every item a
/// sequencer message or a range that includes the next 1 or 2 delayed messages (while any are
/// left). Kinds, gas prices and data vary, so some messages are committed to by their hashes
/// and some (any kind but an L2 or end-of-block message with gas price 0) are not.
pub fn l1_inbox(u: &mut Unstructured) -> Result<(Vec<InboxMessage>, Vec<Vec<BatchItem>>)> {
    let delayed_count = u.int_in_range(0..=4u64)?;
    let delayed = (0..delayed_count)
        .map(|index| l1_message(u, index))
        .collect::<Result<Vec<_>>>()?;
    let mut batches = Vec::new();
    let (mut sequence, mut delayed_read) = (0u64, 0u64);
    for _ in 0..u.int_in_range(1..=4)? {
        let mut items = Vec::new();
        for _ in 0..u.int_in_range(1..=4)? {
            if delayed_read < delayed_count && u.ratio(1, 3)? {
                let end = (delayed_read + u.int_in_range(1..=2)?).min(delayed_count);
                sequence += end - delayed_read;
                delayed_read = end;
                items.push(BatchItem::Delayed { total_read: end });
            } else {
                items.push(BatchItem::Message(Box::new(l1_message(u, sequence)?)));
                sequence += 1;
            }
        }
        batches.push(items);
    }
    Ok((delayed, batches))
}

/// A message with sequence number `sequence`: mostly L2 and end-of-block messages with gas
/// price 0 (the sequencer's), sometimes any kind and price.
fn l1_message(u: &mut Unstructured, sequence: u64) -> Result<InboxMessage> {
    let plain = u.ratio(1, 4)?;
    let len = u.int_in_range(0..=80)?;
    let data = (0..len)
        .map(|_| u.arbitrary())
        .collect::<Result<Vec<u8>>>()?;
    let kind = match (plain, data.is_empty()) {
        (true, _) => u.int_in_range(0..=255u8)?,
        (false, true) => 6,
        (false, false) => 3,
    };
    let sender = U256::from_big_endian(&u.arbitrary::<[u8; 20]>()?);
    Ok(InboxMessage {
        kind: U256::from(kind),
        l1_block_number: U256::from(u.arbitrary::<u32>()?),
        l1_timestamp: U256::from(u.arbitrary::<u32>()?),
        sender,
        inbox_sequence_number: U256::from(sequence),
        l1_gas_price: U256::from(if plain { u.arbitrary::<u32>()? } else { 0 }),
        data,
    })
}
