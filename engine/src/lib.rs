//! The AVM execution engine: a Cranelift JIT tiered over the reference interpreter, the node
//! API (machines, checkpoints, parallel runs) and the built-in macro workloads.
#![warn(missing_docs)]

pub mod analysis;
pub mod jit;
pub mod native;
pub mod node;
pub mod workloads;

pub use jit::{
    CompileMode, DEFAULT_CACHE_BLOCKS, DEFAULT_HOT_STEPS, DEFAULT_THRESHOLD, ExitCounts, Jit,
    JitOptions, JitStats, SharedCode,
};
