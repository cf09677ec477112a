//! The host-level error type: bad input, never AVM semantics.
//!
//! AVM errors (a wrong operand kind, division by zero, …) are part of the machine's semantics and
//! never surface here; [`Error`] is for input the library refuses: a malformed `.mexe`, bytes that
//! do not unmarshal, assembler text that does not parse, a file that cannot be read.

use std::fmt;
use std::path::PathBuf;

/// Where in a `.mexe` file a problem was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// The top-level object.
    File,
    /// Instruction `n` of `code`.
    Instruction(usize),
    /// The static value.
    Static,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("top level"),
            Location::Instruction(n) => write!(f, "instruction {n}"),
            Location::Static => f.write_str("static value"),
        }
    }
}

/// Why a `.mexe` file was rejected (MEXE.md §6).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MexeError {
    /// The top level is not a JSON object.
    #[error("the file is not a JSON object")]
    NotAnObject,
    /// A required key is absent.
    #[error("missing key `{0}`")]
    MissingKey(&'static str),
    /// `code` is not an array, or an instruction is not an object.
    #[error("expected {0}")]
    Expected(&'static str),
    /// The opcode is not an integer in 0–255.
    #[error("opcode {0} is not an integer from 0 to 255")]
    BadOpcode(String),
    /// A value object has an unknown or missing tag.
    #[error("unknown value tag `{0}`")]
    UnknownTag(String),
    /// A tuple has more than 8 slots.
    #[error("a tuple has {0} slots (at most 8)")]
    TupleTooLong(usize),
    /// A hex string is empty, odd-length where bytes are expected, or has a non-hex digit.
    #[error("malformed hex `{0}`")]
    BadHex(String),
    /// An Int has more than 64 significant hex digits.
    #[error("integer wider than 256 bits")]
    IntTooWide,
    /// A key appears twice in one object (JSON leaves the meaning open; we refuse to guess).
    #[error("key `{0}` appears twice")]
    DuplicateKey(String),
    /// Text follows the top-level object.
    #[error("text follows the top-level object")]
    TrailingText,
    /// `Internal` is not an unsigned 64-bit integer.
    #[error("codepoint reference `{0}` is not an unsigned 64-bit integer")]
    BadInternal(String),
    /// `Internal` names an instruction the reference may not point to (MEXE.md §4).
    #[error(
        "codepoint reference to instruction {target} is not allowed here (must be in {min}..={max})"
    )]
    ReferenceOutOfRange {
        /// The referenced instruction.
        target: u64,
        /// The smallest allowed index.
        min: u64,
        /// The largest allowed index (the program length: `ERR`).
        max: u64,
    },
}

/// Why bytes did not unmarshal (AVM.md §3.1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnmarshalError {
    /// A type byte no value starts with.
    #[error("unknown type byte {0:#04x}")]
    UnknownType(u8),
    /// A codepoint's immediate flag is neither 0 nor 1.
    #[error("codepoint immediate flag {0:#04x} is neither 0 nor 1")]
    BadImmediateFlag(u8),
    /// The input ends inside a value.
    #[error("input ends inside a value")]
    Truncated,
    /// Bytes remain after the value.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
}

/// An error of the host-facing API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The input is not well-formed JSON.
    #[error("invalid JSON (line {line}, column {column}): {message}")]
    Json {
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// The parser's message.
        message: String,
    },
    /// A well-formed JSON `.mexe` that is not a valid program.
    #[error("{at}: {reason}")]
    Mexe {
        /// Where the problem is.
        at: Location,
        /// What is wrong.
        reason: MexeError,
    },
    /// Bytes that are not a marshaled value.
    #[error("at byte {offset}: {reason}")]
    Unmarshal {
        /// Offset of the problem in the input.
        offset: usize,
        /// What is wrong.
        reason: UnmarshalError,
    },
    /// A value that cannot be marshaled (a buffer whose data is too long to write out).
    #[error("a buffer of {0} bytes is too large to marshal")]
    BufferTooLarge(u128),
    /// An inbox file that does not read: an entry that is not a valid message, or an L1 inbox
    /// whose structure is wrong.
    #[error("inbox {place}: {message}")]
    Inbox {
        /// Where in the file: `message 3`, `batch 1 item 0`, `delayed message 2`, `file`.
        place: String,
        /// What is wrong.
        message: String,
    },
    /// An execution engine could not start (for example, no JIT for this host).
    #[error("{0}")]
    Engine(String),
    /// Text that should be hex digits and is not.
    #[error("malformed hex `{0}`")]
    Hex(String),
    /// A program source with nothing in it (an empty or blank file, `/dev/null`).
    #[error("the file is empty: neither a .mexe nor assembler text")]
    EmptySource,
    /// An input file larger than the most the tools read.
    #[error("{}: larger than {limit} bytes, the most an input may be", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound, [`crate::MAX_INPUT_BYTES`].
        limit: u64,
    },
    /// Assembler text that does not assemble.
    #[error("line {line}: {message}")]
    Asm {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn mexe(at: Location, reason: MexeError) -> Error {
        Error::Mexe { at, reason }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
