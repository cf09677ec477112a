//! AVM runtime: values, hashing, marshaling, the opcode table and the `.mexe` loader.
//!
//! Everything here is shared by the interpreter, the JIT and the prover. Values are immutable;
//! tuples, codepoints and buffers are shared by reference, with plain counts, so a value stays
//! on its thread: a program's values are immortal ([`Frozen`]) and shared by every thread, and
//! a machine's cross threads deep-copied ([`Isolated`]); [`heap`] gives the rule. Structures of
//! unbounded depth (tuple nests, run-time codepoint chains) are hashed, dropped, compared,
//! formatted and (un)marshaled without recursion on the native stack.
//!
//! ```
//! use avm_runtime::{Value, asm, marshal};
//!
//! // A program from assembler text (or a `.mexe` with `Program::from_source`).
//! let program = asm::assemble("push 2\nadd 3\nhalt\n")?;
//! assert_eq!(program.len(), 3);
//!
//! // Values, their hashes (AVM.md §2) and their canonical marshaling.
//! let pair = Value::tuple(vec![Value::int(7u64), Value::int(8u64)]);
//! let bytes = marshal::marshal(&pair)?;
//! let back = marshal::unmarshal(&bytes)?;
//! assert_eq!(back.hash(), pair.hash());
//! # Ok::<(), avm_runtime::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod asm;
pub mod buffer;
pub mod codepoint;
pub mod error;
pub mod hash;
pub mod heap;
pub mod hex;
pub mod inbox;
pub mod jit_abi;
mod json;
pub mod marshal;
pub mod math;
pub mod mexe;
pub mod opcode;
pub mod precompile;
pub mod program;
pub mod tuple;
pub mod value;
pub mod value_vec;

pub use buffer::Buffer;
pub use codepoint::{CodePoint, Next};
pub use error::{Error, Result};
pub use heap::{Frozen, Isolated};
pub use inbox::{BatchItem, InboxFile, InboxMessage, parse_inbox_file, parse_inbox_json};
pub use primitive_types::U256;
pub use program::Program;
pub use tuple::Tuple;
pub use value::{Kind, Value};
pub use value_vec::ValueVec;

/// The most bytes the loaders read from one input file (a program, an inbox, a proof): 256 MiB,
/// over 30 times ArbOS's 7.8 MB, so a mistaken `/dev/zero` fails fast instead of filling memory.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

/// The UTF-8 byte order mark some editors put at the start of text files.
pub(crate) const BOM: &[u8] = b"\xef\xbb\xbf";

/// Reads a whole input file of at most [`MAX_INPUT_BYTES`].
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // Sized from the file's length when it is known, so reading never copies the bytes read.
    let expected = file
        .metadata()
        .map_or(0, |m| m.len().min(MAX_INPUT_BYTES + 1));
    let mut bytes = Vec::with_capacity(expected as usize);
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(bytes)
}
