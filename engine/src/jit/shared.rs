//! Compiled blocks, and the code every JIT of one program shares.
//!
//! A compiled block holds the module its code lives in, so its entry point stays mapped for as
//! long as anyone holds the block: a JIT's own table, another JIT of the same program, or a
//! reply on its way from the worker. Modules are unmapped only when their last block and their
//! compiler are gone; no ordering between owners is needed.
//!
//! [`SharedCode`] is where the JITs of one program (clones of a machine, machines restored
//! from checkpoints, a pool of validators) publish what they compiled, and it owns the
//! program's one background compile thread. A JIT looks there before compiling a block that
//! became hot, and a new JIT starts with everything already there, so K machines of one
//! program compile each block about once, not K times. Since native code is exact, where a
//! block's code came from never changes a run's results.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use avm_runtime::Program;

use super::module::{BlockFn, CodeModule};
use super::worker::Worker;
use crate::analysis::Block;

/// A module that blocks compile into, kept alive by every block compiled into it.
pub(super) type SharedModule = Arc<Mutex<CodeModule>>;

/// A block's native code and the plan that applies its effect.
pub(super) struct Compiled {
    pub block: Block,
    pub code: BlockFn,
    /// The module `code` lives in, held only to keep `code` mapped.
    _module: SharedModule,
}

impl Compiled {
    /// Compiles `block` into `module`; `Err` if Cranelift fails (or a compile into this module
    /// panicked before), in which case the block stays interpreted.
    pub fn new(module: &SharedModule, block: Block) -> Result<Compiled, String> {
        let code = module
            .lock()
            .map_err(|_| "an earlier compile into this module panicked".to_string())?
            .compile(&block)?;
        Ok(Compiled {
            block,
            code,
            _module: Arc::clone(module),
        })
    }
}

/// A fresh module, ready to be shared by the blocks compiled into it.
pub(super) fn new_module() -> Result<SharedModule, String> {
    Ok(Arc::new(Mutex::new(CodeModule::new()?)))
}

/// The compiled blocks of one program, shared by all its JITs (see the module doc), and the
/// program's background compile thread. Get it from a JIT with [`super::Jit::shared_code`]
/// and give it to the next with [`super::Jit::with_shared_code`].
pub struct SharedCode {
    program: Arc<Program>,
    table: Arc<Table>,
    /// Started by the first background compile request; `None` if it could not start.
    worker: OnceLock<Option<Worker>>,
}

/// Compiled blocks by entry pc.
pub(super) struct Table {
    /// The most blocks held; past it the table is emptied and refills (the code itself stays
    /// mapped while JITs still hold it).
    capacity: usize,
    blocks: Mutex<HashMap<u32, Arc<Compiled>>>,
}

impl std::fmt::Debug for SharedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCode")
            .field("blocks", &self.len())
            .field("capacity", &self.table.capacity)
            .finish()
    }
}

impl SharedCode {
    /// An empty table for `program`'s blocks, holding at most `capacity`.
    pub fn new(program: Arc<Program>, capacity: u32) -> Arc<SharedCode> {
        Arc::new(SharedCode {
            program,
            table: Arc::new(Table {
                capacity: capacity.max(1) as usize,
                blocks: Mutex::new(HashMap::new()),
            }),
            worker: OnceLock::new(),
        })
    }

    /// The program these blocks were compiled from.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// Blocks held now.
    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table of compiled blocks.
    pub(super) fn table(&self) -> &Table {
        &self.table
    }

    /// The program's compile thread, started on first use; `None` if it cannot start.
    pub(super) fn worker(&self) -> Option<&Worker> {
        self.worker
            .get_or_init(|| Worker::spawn(Arc::clone(&self.table)).ok())
            .as_ref()
    }

    /// The time the compile thread spent compiling, if it started.
    pub(super) fn background_compile_time(&self) -> Option<Duration> {
        self.worker.get()?.as_ref().map(Worker::compile_time)
    }
}

impl Table {
    /// The block compiled for `pc`, if some JIT of this program compiled it.
    pub(super) fn get(&self, pc: u32) -> Option<Arc<Compiled>> {
        self.lock().get(&pc).cloned()
    }

    /// Offers `block` (compiled for `pc`) to the other JITs of this program.
    pub(super) fn publish(&self, pc: u32, block: &Arc<Compiled>) {
        let mut blocks = self.lock();
        if blocks.len() >= self.capacity && !blocks.contains_key(&pc) {
            blocks.clear();
        }
        blocks.insert(pc, Arc::clone(block));
    }

    /// Every block held, for a JIT starting warm.
    pub(super) fn snapshot(&self) -> Vec<(u32, Arc<Compiled>)> {
        self.lock()
            .iter()
            .map(|(&pc, block)| (pc, Arc::clone(block)))
            .collect()
    }

    /// The blocks. A thread that panicked while holding the lock left them consistent (every
    /// update is one map operation), so a poisoned lock is simply taken.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<Compiled>>> {
        self.blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
