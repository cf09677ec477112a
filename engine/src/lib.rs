//! The AVM execution engine: a Cranelift JIT tiered over the reference interpreter, the node
//! API (machines, checkpoints, parallel runs) and the built-in macro workloads.
//!
//! A JIT runs the machines of the program it was made for, with the interpreter's results to
//! the step and the unit of gas:
//!
//! ```
//! use std::sync::Arc;
//!
//! use avm_engine::native::RegionJit;
//! use avm_interp::{Limits, Machine, Observed};
//! use avm_runtime::asm::assemble;
//!
//! let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/loop.avm"))?;
//! let program = Arc::new(assemble(&source)?);
//! // Threshold 0: every region compiles before it first runs.
//! let mut jit = RegionJit::new(Arc::clone(&program), 0)?;
//! let mut compiled = Machine::new(Arc::clone(&program));
//! let stop = jit.run(&mut compiled, &Limits::default());
//! let mut interpreted = Machine::new(Arc::clone(&program));
//! let reference = interpreted.run(&Limits::default());
//! assert_eq!(Observed::of(&mut compiled, stop), Observed::of(&mut interpreted, reference));
//! assert!(jit.stats().native_steps > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod analysis;
pub mod challenge;
mod error;
pub mod jit;
pub mod native;
pub mod node;
pub mod workloads;

pub use error::JitError;
pub use jit::{
    CompileMode, DEFAULT_CACHE_BLOCKS, DEFAULT_HOT_STEPS, DEFAULT_THRESHOLD, ExitCounts, Jit,
    JitOptions, JitStats, SharedCode,
};
