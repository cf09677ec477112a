//! Embedding the engine in a node: machines fed inbox batches, checkpointed to an embedded
//! store, restored exactly, and run many at a time on worker threads.
//!
//! A [`NodeMachine`] is a program, the state of one run of it and (optionally) a JIT for it.
//! The host pushes a batch of inbox messages, runs until the machine blocks on the inbox,
//! halts or reaches a bound, reads what it produced, and now and then saves a checkpoint to a
//! [`Store`]. A machine restored from a checkpoint has the same hash and the same future as the
//! one saved, on either engine. Machines are `Send` and clone cheaply (values are shared), so
//! independent machines run in parallel, e.g. with [`run_parallel`].
//!
//! ```
//! use avm_engine::node::{Engine, NodeMachine, RunBound, Store};
//! use avm_runtime::Value;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Logs every inbox message it reads, forever.
//! let source = b"loop:\n inbox\n log\n jump @loop".to_vec();
//! let mut machine = NodeMachine::from_source(source, Engine::Interp)?;
//! machine.push_inbox([Value::int(7u64), Value::int(8u64)]);
//! let stop = machine.run(RunBound::default());
//! assert!(stop.is_blocked_on_inbox());
//! assert_eq!(machine.logs().len(), 2);
//!
//! let dir = std::env::temp_dir().join(format!("avm-node-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let store = Store::open(dir.join("checkpoints.redb"))?;
//! let saved = machine.checkpoint(&store)?;
//! let mut resumed = NodeMachine::from_checkpoint(&store, saved.id, Engine::Interp)?;
//! assert_eq!(resumed.hash(), machine.hash());
//! resumed.push_inbox([Value::int(9u64)]);
//! resumed.run(RunBound::default());
//! assert_eq!(resumed.logs().len(), 3);
//! # drop(store);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

pub mod store;

use std::path::Path;
use std::sync::Arc;

use avm_interp::{BlockReason, Detached, GasBound, Limits, Machine, Outputs, Stop};
use avm_runtime::{Error, Program, U256, Value};

use crate::JitError;

use crate::jit::{DEFAULT_CACHE_BLOCKS, Jit, JitOptions, JitStats, SharedCode};
pub use store::{CheckpointId, CheckpointInfo, SaveReport, Store, StoreError, StoreStats};

/// Which engine runs a [`NodeMachine`]. Both give the same results; only speed differs.
#[derive(Clone, Copy, Debug, Default)]
pub enum Engine {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT tiered over the interpreter, with these options.
    Jit(JitOptions),
    /// The JIT with its default options.
    #[default]
    DefaultJit,
}

/// How far one [`NodeMachine::run`] may go besides blocking or halting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunBound {
    /// At most this many steps in this run.
    pub max_steps: Option<u64>,
    /// Stop before an instruction would take total gas used past this.
    pub max_gas: Option<u128>,
}

/// Why a [`NodeMachine::run`] returned: the interpreter's [`Stop`], with helpers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStop(pub Stop);

impl RunStop {
    /// The machine waits for inbox messages: push a batch and run again.
    pub fn is_blocked_on_inbox(&self) -> bool {
        self.0 == Stop::Blocked(BlockReason::Inbox)
    }

    /// The machine halted or error-stopped and will not run again.
    pub fn is_final(&self) -> bool {
        matches!(self.0, Stop::Halted | Stop::ErrorStop)
    }
}

/// Why a machine could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The program did not load.
    #[error("program: {0}")]
    Program(#[source] Error),
    /// The JIT could not start.
    #[error("jit: {0}")]
    Jit(#[from] JitError),
    /// The checkpoint store failed or holds bad data.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The worker threads could not start.
    #[error("worker threads: {0}")]
    Threads(String),
}

/// A program loaded once for many machines. Cheap to clone: its machines share the parsed
/// program, its source (saved with their checkpoints) and the blocks the JIT compiled from it,
/// so K machines of one program compile each hot block about once.
///
/// ```
/// use avm_engine::node::{Engine, NodeProgram, RunBound, run_parallel};
/// use avm_runtime::{U256, Value};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Sums the Ints of its inbox until it reads a 0, then logs the sum and halts.
/// let source = b"push 0\nloop:\n inbox\n dup0\n iszero\n cjump @done\n add\n jump @loop\n\
///                done:\n pop\n log\n halt".to_vec();
/// let program = NodeProgram::from_source(source)?;
/// let mut machines = Vec::new();
/// for k in 1..=4u64 {
///     let mut m = program.machine(Engine::DefaultJit)?;
///     m.push_inbox((1..=1000).map(|i| Value::int(i * k)).chain([Value::int(0u64)]));
///     machines.push(m);
/// }
/// let logs = run_parallel(2, &mut machines, |m| {
///     assert!(m.run(RunBound::default()).is_final());
///     m.logs().iter().map(Value::as_int).collect::<Vec<_>>()
/// })?;
/// for (k, log) in (1..=4u64).zip(logs) {
///     assert_eq!(log, [Some(U256::from(500_500 * k))]);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct NodeProgram {
    program: Arc<Program>,
    /// Saved with checkpoints, so that they restore on their own.
    source: Arc<[u8]>,
    code: Arc<SharedCode>,
}

impl NodeProgram {
    /// The program in `source` (`.mexe` JSON or assembler text).
    pub fn from_source(source: impl Into<Arc<[u8]>>) -> Result<Self, NodeError> {
        let source = source.into();
        let program = Arc::new(Program::from_source(&source).map_err(NodeError::Program)?);
        let code = SharedCode::new(Arc::clone(&program), DEFAULT_CACHE_BLOCKS);
        Ok(NodeProgram {
            program,
            source,
            code,
        })
    }

    /// The program in the file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, NodeError> {
        NodeProgram::from_source(std::fs::read(path).map_err(NodeError::Io)?)
    }

    /// The program saved with checkpoint `id`.
    pub fn from_checkpoint(store: &Store, id: CheckpointId) -> Result<Self, NodeError> {
        let (_, source) = store.program_source(id)?;
        NodeProgram::from_source(source)
    }

    /// A fresh machine running this program.
    pub fn machine(&self, engine: Engine) -> Result<NodeMachine, NodeError> {
        self.with_state(Machine::new(Arc::clone(&self.program)), engine)
    }

    /// The machine saved as checkpoint `id`; fails if it is a checkpoint of another program.
    pub fn restore(
        &self,
        store: &Store,
        id: CheckpointId,
        engine: Engine,
    ) -> Result<NodeMachine, NodeError> {
        self.with_state(store.load(id, Arc::clone(&self.program))?, engine)
    }

    /// The parsed program.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// Blocks compiled so far by this program's JIT machines, shared by all of them.
    pub fn compiled_blocks(&self) -> usize {
        self.code.len()
    }

    fn with_state(&self, machine: Machine, engine: Engine) -> Result<NodeMachine, NodeError> {
        let options = match engine {
            Engine::Interp => None,
            Engine::Jit(options) => Some(options),
            Engine::DefaultJit => Some(JitOptions::default()),
        };
        let jit = options
            .map(|options| Jit::with_shared_code(Arc::clone(&self.code), options))
            .transpose()
            .map_err(NodeError::Jit)?;
        Ok(NodeMachine {
            program: self.clone(),
            machine,
            engine,
            jit,
        })
    }
}

/// One machine as a node runs it (see the module doc).
#[derive(Debug)]
pub struct NodeMachine {
    program: NodeProgram,
    machine: Machine,
    engine: Engine,
    jit: Option<Jit>,
}

impl NodeMachine {
    /// A fresh machine for the program in `source` (`.mexe` JSON or assembler text). To run
    /// many machines of one program, load it once as a [`NodeProgram`].
    pub fn from_source(source: impl Into<Arc<[u8]>>, engine: Engine) -> Result<Self, NodeError> {
        NodeProgram::from_source(source)?.machine(engine)
    }

    /// A fresh machine for the program in the file at `path`.
    pub fn from_file(path: impl AsRef<Path>, engine: Engine) -> Result<Self, NodeError> {
        NodeProgram::from_file(path)?.machine(engine)
    }

    /// The machine saved as checkpoint `id`, with the program saved along with it.
    pub fn from_checkpoint(
        store: &Store,
        id: CheckpointId,
        engine: Engine,
    ) -> Result<Self, NodeError> {
        NodeProgram::from_checkpoint(store, id)?.restore(store, id, engine)
    }

    /// Queues a batch of inbox messages (normally 8-tuples, AVM.md §9), oldest first.
    pub fn push_inbox(&mut self, messages: impl IntoIterator<Item = Value>) {
        for message in messages {
            self.machine.push_inbox(message);
        }
    }

    /// Runs until the machine blocks (on the inbox, or a sideload with no value), halts,
    /// error-stops or reaches `bound`. Running in pieces ends where one long run would.
    pub fn run(&mut self, bound: RunBound) -> RunStop {
        let limits = Limits {
            max_steps: bound.max_steps,
            gas: bound.max_gas.map(|max_gas| GasBound {
                max_gas,
                go_over: false,
            }),
            ..Limits::default()
        };
        RunStop(match &mut self.jit {
            Some(jit) => jit.run(&mut self.machine, &limits),
            None => self.machine.run(&limits),
        })
    }

    /// Logs produced and not yet taken.
    pub fn logs(&self) -> &[Value] {
        &self.machine.outputs().logs
    }

    /// Sends produced and not yet taken.
    pub fn sends(&self) -> &[Vec<u8>] {
        &self.machine.outputs().sends
    }

    /// Takes the logs and sends produced so far (counts and accumulators stay), so that a
    /// long-running machine's checkpoints do not carry its whole history.
    pub fn take_outputs(&mut self) -> (Vec<Value>, Vec<Vec<u8>>) {
        let (logs, sends, _) = self.machine.take_outputs();
        (logs, sends)
    }

    /// Steps since the program started (across checkpoints).
    pub fn steps(&self) -> u64 {
        self.machine.outputs().steps
    }

    /// Gas used since the program started (across checkpoints).
    pub fn gas_used(&self) -> u128 {
        self.machine.outputs().gas_used
    }

    /// Remaining AVM gas.
    pub fn gas_remaining(&self) -> U256 {
        self.machine.gas_remaining()
    }

    /// All outputs and counters.
    pub fn outputs(&self) -> &Outputs {
        self.machine.outputs()
    }

    /// The machine hash (AVM.md §5.2).
    pub fn hash(&mut self) -> U256 {
        self.machine.hash()
    }

    /// The program, shared with this machine's clones.
    pub fn program(&self) -> &NodeProgram {
        &self.program
    }

    /// What the JIT did for this machine (`None` on the interpreter).
    pub fn jit_stats(&self) -> Option<JitStats> {
        self.jit.as_ref().map(Jit::stats)
    }

    /// The interpreter machine underneath.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The interpreter machine underneath, mutable (the JIT keeps no copy of its state).
    pub fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// Saves the machine as a new checkpoint in `store` (one atomic transaction).
    pub fn checkpoint(&mut self, store: &Store) -> Result<SaveReport, StoreError> {
        store.save(
            &self.program.program,
            &self.program.source,
            &mut self.machine,
        )
    }

    /// An independent copy of this machine, on this thread. Cheap: the program, every value
    /// and the compiled code are shared (a JIT copy starts with every block compiled so far).
    /// To move a machine to another thread, [`NodeMachine::detach`] it.
    pub fn try_clone(&self) -> Result<Self, NodeError> {
        self.program.with_state(self.machine.clone(), self.engine)
    }

    /// A copy of this machine that can move to another thread: its values are deep-copied
    /// (values count their handles with plain integers and stay on their thread, see
    /// [`avm_runtime::heap`]); the program and the compiled code are shared.
    pub fn detach(&self) -> DetachedNode {
        DetachedNode {
            program: self.program.clone(),
            machine: self.machine.detach(),
            engine: self.engine,
            jit_stats: self.jit_stats(),
        }
    }
}

/// A [`NodeMachine`] on its way to another thread ([`NodeMachine::detach`]).
#[derive(Debug)]
pub struct DetachedNode {
    program: NodeProgram,
    machine: Detached,
    engine: Engine,
    jit_stats: Option<JitStats>,
}

impl DetachedNode {
    /// The machine, on this thread: a JIT machine takes every block compiled so far and keeps
    /// its statistics.
    pub fn attach(self) -> Result<NodeMachine, NodeError> {
        let mut node = self
            .program
            .with_state(self.machine.attach(), self.engine)?;
        if let (Some(jit), Some(stats)) = (node.jit.as_mut(), self.jit_stats) {
            jit.resume_stats(stats);
        }
        Ok(node)
    }
}

/// Applies `work` to every machine on a rayon pool of `threads` threads (0: one per core) and
/// returns the results in order. Machines are independent, so the results are those of running
/// them one after another.
///
/// Each machine crosses to its worker and back detached ([`NodeMachine::detach`]): its values
/// are copied twice, which costs about what hashing them would.
pub fn run_parallel<R: Send>(
    threads: usize,
    machines: &mut [NodeMachine],
    work: impl Fn(&mut NodeMachine) -> R + Sync + Send,
) -> Result<Vec<R>, NodeError> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| NodeError::Threads(e.to_string()))?;
    let outbound: Vec<DetachedNode> = machines.iter().map(NodeMachine::detach).collect();
    let returned: Vec<Result<(DetachedNode, R), NodeError>> = pool.install(|| {
        outbound
            .into_par_iter()
            .map(|detached| {
                let mut machine = detached.attach()?;
                let result = work(&mut machine);
                Ok((machine.detach(), result))
            })
            .collect()
    });
    machines
        .iter_mut()
        .zip(returned)
        .map(|(slot, returned)| {
            let (detached, result) = returned?;
            *slot = detached.attach()?;
            Ok(result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_machines_move_between_threads_detached() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<DetachedNode>();
        assert_send::<NodeProgram>();
        assert_send::<Store>();
    }

    #[test]
    fn errors_keep_their_causes() {
        use std::error::Error as _;
        let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "read-only");
        let node = NodeError::from(StoreError::NeedsRepair(io()));
        // A store error is passed on as it is: its cause is the node error's.
        assert_eq!(
            node.source().expect("the io error").to_string(),
            "read-only"
        );
        assert!(
            node.to_string()
                .starts_with("the checkpoint store needs repair")
        );
        let jit = NodeError::from(JitError::Thread {
            name: "avm-regions",
            source: io(),
        });
        assert_eq!(jit.to_string(), "jit: the avm-regions thread did not start");
        let cause = jit.source().and_then(|e| e.source()).expect("the io error");
        assert_eq!(cause.to_string(), "read-only");
    }
}
