//! Why a JIT could not start.

/// Why a JIT could not be made. Nothing about the program is at fault, only the host: a JIT's
/// caller can always fall back to the interpreter.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// Cranelift cannot generate code for this host: it has no backend for its ISA, refused a
    /// setting, or its compile thread stopped before its code generator was ready.
    #[error("code generation for this host: {0}")]
    Host(String),
    /// The JIT's compile thread could not be started.
    #[error("the {name} thread did not start")]
    Thread {
        /// The thread's name.
        name: &'static str,
        /// Why the OS refused it.
        #[source]
        source: std::io::Error,
    },
}
