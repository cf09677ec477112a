//! AVM runtime: values, hashing, marshaling, the opcode table and the `.mexe` loader.
//!
//! Everything here is shared by the interpreter, the JIT and the prover. Values are immutable
//! and `Send + Sync`; tuples, codepoints and buffers are shared by reference. Structures of
//! unbounded depth (tuple nests, run-time codepoint chains) are hashed, dropped, compared,
//! formatted and (un)marshaled without recursion on the native stack.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod asm;
pub mod buffer;
pub mod codepoint;
pub mod error;
pub mod hash;
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

pub use buffer::Buffer;
pub use codepoint::{CodePoint, Next};
pub use error::{Error, Result};
pub use inbox::{InboxMessage, parse_inbox_json};
pub use primitive_types::U256;
pub use program::Program;
pub use tuple::Tuple;
pub use value::{Kind, Value};
