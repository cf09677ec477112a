//! The AVM execution engine: the interpreter, and a Cranelift JIT tiered over it.
//!
//! `avm` (the command-line tool) lives in this crate too and picks the engine to run.
#![warn(missing_docs)]

pub mod analysis;
pub mod jit;
pub mod node;
pub mod workloads;

pub use jit::{
    CompileMode, DEFAULT_CACHE_BLOCKS, DEFAULT_THRESHOLD, ExitCounts, Jit, JitOptions, JitStats,
    SharedCode,
};
