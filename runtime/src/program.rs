//! A linked program: codepoints hashed from the end backwards (AVM.md §4.1, MEXE.md §4).

use primitive_types::U256;

use crate::buffer::Buffer;
use crate::codepoint::{CodePoint, Next};
use crate::error::{Error, Location, MexeError, Result};
use crate::hash::{EMPTY_TUPLE_HASH, ERR_CODEPOINT_HASH, MachineHashParts};
use crate::heap::Frozen;
use crate::tuple::{MAX_TUPLE_SIZE, Tuple};
use crate::value::Value;

/// The `Internal` index that denotes `ERR` in files written by the old compiler.
pub const ERR_MARKER: u64 = u64::MAX;

/// A value as written in a program source, before linking: codepoints are instruction indexes.
///
/// Stored flat, in postfix order, so that building, dropping and linking a nest of any depth
/// never recurses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawValue(Vec<Token>);

/// One piece of a [`RawValue`] in postfix order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// An Int.
    Int(U256),
    /// A buffer holding these bytes from offset 0.
    Buffer(Vec<u8>),
    /// The codepoint of instruction `n` (`n` = program length or [`ERR_MARKER`]: `ERR`).
    Code(u64),
    /// A tuple of the last `n` values completed before it.
    Tuple(usize),
}

impl RawValue {
    /// An empty value under construction.
    pub fn new() -> RawValue {
        RawValue::default()
    }

    /// Appends a token; a value is complete when its tokens form exactly one postfix tree.
    pub fn push(&mut self, token: Token) {
        self.0.push(token);
    }

    /// The tokens in postfix order.
    pub fn tokens(&self) -> &[Token] {
        &self.0
    }

    /// Builds the value, resolving `Code(n)` with `resolve`.
    fn build(
        &self,
        mut resolve: impl FnMut(u64) -> Result<CodePoint, MexeError>,
    ) -> Result<Value, MexeError> {
        let mut stack: Vec<Value> = Vec::new();
        for token in &self.0 {
            let value = match token {
                Token::Int(x) => Value::int(*x),
                Token::Buffer(bytes) => Value::Buffer(Buffer::from_bytes(bytes)),
                Token::Code(n) => Value::CodePoint(resolve(*n)?),
                &Token::Tuple(n) => {
                    if n > MAX_TUPLE_SIZE {
                        return Err(MexeError::TupleTooLong(n));
                    }
                    let slots = stack.split_off(stack.len() - n);
                    Value::Tuple(Tuple::new(slots))
                }
            };
            stack.push(value);
        }
        debug_assert_eq!(stack.len(), 1, "a raw value is one postfix tree");
        Ok(stack.pop().expect("a raw value is never empty"))
    }
}

/// One instruction of a program source: an opcode byte and an optional immediate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawInstruction {
    /// The opcode byte (any of 0–255).
    pub opcode: u8,
    /// The immediate, if any.
    pub immediate: Option<RawValue>,
}

/// A loaded, linked program: the initial pc is instruction 0. Its values are immortal, so one
/// program serves machines on any number of threads; they are never freed, even when the
/// program drops (see [`crate::heap`]): load a program once and share it.
#[derive(Clone, Debug)]
pub struct Program {
    /// Instructions `0..n`, then `ERR` at index `n`.
    code: Vec<Frozen<CodePoint>>,
    static_value: Frozen<Value>,
}

impl Program {
    /// A program from its source: a `.mexe` (JSON) or assembler text, told apart by the first
    /// non-blank character (`{` for JSON), after an optional UTF-8 byte order mark. An empty or
    /// blank source is an error, not an empty program.
    pub fn from_source(source: &[u8]) -> Result<Program> {
        let source = source.strip_prefix(crate::BOM).unwrap_or(source);
        if source.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::EmptySource);
        }
        let is_json = source.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if is_json {
            return crate::mexe::load(source);
        }
        match std::str::from_utf8(source) {
            Ok(text) => crate::asm::assemble(text),
            Err(e) => Err(Error::Asm {
                line: 1 + source[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
                message: "not UTF-8 text".into(),
            }),
        }
    }

    /// Links `instructions` backwards from `ERR` and then the static value (MEXE.md §4).
    pub fn link(instructions: &[RawInstruction], static_value: &RawValue) -> Result<Program> {
        let n = instructions.len();
        let mut code: Vec<Option<CodePoint>> = vec![None; n + 1];
        code[n] = Some(CodePoint::err());
        let lookup = |code: &[Option<CodePoint>], target: u64, min: u64| {
            let index = if target == ERR_MARKER {
                n as u64
            } else {
                target
            };
            if index < min || index > n as u64 {
                return Err(MexeError::ReferenceOutOfRange {
                    target,
                    min,
                    max: n as u64,
                });
            }
            Ok(code[index as usize]
                .clone()
                .expect("later instructions are linked first"))
        };
        for (i, instruction) in instructions.iter().enumerate().rev() {
            let immediate = match &instruction.immediate {
                None => None,
                Some(raw) => Some(
                    raw.build(|target| lookup(&code, target, i as u64 + 1))
                        .map_err(|reason| Error::Mexe {
                            at: Location::Instruction(i),
                            reason,
                        })?,
                ),
            };
            let next_hash = code[i + 1].as_ref().expect("linked").hash();
            code[i] = Some(CodePoint::loaded(
                instruction.opcode,
                immediate,
                next_hash,
                i as u32,
            ));
        }
        let static_value = static_value
            .build(|target| lookup(&code, target, 0))
            .map_err(|reason| Error::Mexe {
                at: Location::Static,
                reason,
            })?;
        Ok(Program {
            code: code
                .into_iter()
                .map(|cp| Frozen::new(cp.expect("linked")))
                .collect(),
            static_value: Frozen::new(static_value),
        })
    }

    /// The number of instructions (`ERR` not counted).
    pub fn len(&self) -> usize {
        self.code.len() - 1
    }

    /// Whether the program has no instructions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Codepoint `pc`, for `pc` in `0..=len()` (`len()` is `ERR`).
    pub fn codepoint(&self, pc: usize) -> &CodePoint {
        &self.code[pc]
    }

    /// Instructions `0..len()`, then `ERR`.
    pub fn codepoints(&self) -> &[CodePoint] {
        Frozen::slice(&self.code)
    }

    /// Where execution starts.
    pub fn entry(&self) -> &CodePoint {
        &self.code[0]
    }

    /// The static value.
    pub fn static_value(&self) -> &Value {
        &self.static_value
    }

    /// The hash of a fresh machine running this program (AVM.md §5.1–§5.2): pc at instruction
    /// 0, empty stacks, register `()`, gas `MAX`, no error handler.
    pub fn initial_machine_hash(&self) -> U256 {
        self.initial_machine_hash_parts().hash()
    }

    /// The components of [`Program::initial_machine_hash`].
    pub fn initial_machine_hash_parts(&self) -> MachineHashParts {
        let empty = *EMPTY_TUPLE_HASH;
        MachineHashParts {
            pc: self.entry().hash(),
            data_stack: empty,
            aux_stack: empty,
            register: empty,
            static_value: self.static_value.hash(),
            gas_remaining: U256::MAX,
            error_handler: *ERR_CODEPOINT_HASH,
        }
    }

    /// The index of `cp` in this program, if it is one of its instructions (or its `ERR`).
    pub fn index_of(&self, cp: &CodePoint) -> Option<usize> {
        match cp.next() {
            Next::Loaded { pc } => {
                let pc = *pc as usize;
                (pc < self.code.len() && self.code[pc].ptr_eq(cp)).then_some(pc)
            }
            _ if cp.ptr_eq(&self.code[self.len()]) => Some(self.len()),
            _ => None,
        }
    }
}
