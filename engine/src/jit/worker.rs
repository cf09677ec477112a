//! Background compilation: a worker thread with its own module compiles blocks the driver
//! queues while the driver keeps interpreting.
//!
//! Every request and reply carries the driver's *generation*, which changes when the driver
//! evicts all code ([`Worker::reset`]). The worker compiles the blocks of one generation into
//! one module and starts a new module at each reset, and the driver installs only replies of
//! its current generation, so the cache bound holds. Memory safety needs none of this: each
//! compiled block keeps its module mapped (see `shared.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::shared::{Compiled, new_module};
use crate::analysis::Block;

/// What the driver asks of the worker.
enum Message {
    /// Compile `block` (which starts at `pc`) for `generation`.
    Compile {
        generation: u64,
        pc: u32,
        block: Box<Block>,
    },
    /// The driver forgot every entry point into the current module: drop it and start a new
    /// one for the next generation.
    Reset,
}

/// A compiled block, or `None` if it failed to compile (it stays interpreted).
pub(super) struct Reply {
    pub generation: u64,
    pub pc: u32,
    pub compiled: Option<Arc<Compiled>>,
}

/// The result of waiting for or polling the worker.
pub(super) enum Received {
    Reply(Reply),
    /// Nothing yet.
    Empty,
    /// The worker is gone (it panicked): nothing queued will arrive.
    Gone,
}

/// The driver's handle on the worker thread. Dropping it stops the worker and waits for it.
#[derive(Debug)]
pub(super) struct Worker {
    requests: Option<Sender<Message>>,
    replies: Receiver<Reply>,
    /// The driver's current generation; the worker skips requests of older ones (only to save
    /// work: the driver discards their replies anyway, so relaxed ordering is enough).
    current: Arc<AtomicU64>,
    /// Nanoseconds the worker spent compiling, discarded blocks included.
    compile_nanos: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker; its module is created on the worker thread, while the driver runs.
    pub fn spawn() -> Result<Worker, String> {
        let (requests, inbox) = mpsc::channel();
        let (outbox, replies) = mpsc::channel();
        let current = Arc::new(AtomicU64::new(0));
        let compile_nanos = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("avm-jit".into())
            .spawn({
                let current = Arc::clone(&current);
                let compile_nanos = Arc::clone(&compile_nanos);
                move || work(&inbox, &outbox, &current, &compile_nanos)
            })
            .map_err(|e| format!("jit worker thread: {e}"))?;
        Ok(Worker {
            requests: Some(requests),
            replies,
            current,
            compile_nanos,
            thread: Some(thread),
        })
    }

    /// Queues `block` (starting at `pc`) for `generation`; `false` if the worker is gone.
    pub fn request(&self, generation: u64, pc: u32, block: Box<Block>) -> bool {
        self.send(Message::Compile {
            generation,
            pc,
            block,
        })
    }

    /// Ends the current generation: `generation` is the next, compiled into a new module.
    pub fn reset(&self, generation: u64) {
        self.current.store(generation, Ordering::Relaxed);
        self.send(Message::Reset);
    }

    fn send(&self, message: Message) -> bool {
        self.requests
            .as_ref()
            .is_some_and(|requests| requests.send(message).is_ok())
    }

    /// A reply if one is ready.
    pub fn poll(&self) -> Received {
        match self.replies.try_recv() {
            Ok(reply) => Received::Reply(reply),
            Err(TryRecvError::Empty) => Received::Empty,
            Err(TryRecvError::Disconnected) => Received::Gone,
        }
    }

    /// The next reply, waiting for it.
    pub fn wait(&self) -> Received {
        match self.replies.recv() {
            Ok(reply) => Received::Reply(reply),
            Err(_) => Received::Gone,
        }
    }

    /// Time the worker spent compiling so far.
    pub fn compile_time(&self) -> Duration {
        Duration::from_nanos(self.compile_nanos.load(Ordering::Relaxed))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Skip whatever is still queued, close the queue, and wait: the worker finishes at most
        // the block it is compiling.
        self.current.store(u64::MAX, Ordering::Relaxed);
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            // A worker that panicked has nothing left to clean up; its panic was reported.
            let _ = thread.join();
        }
    }
}

/// The worker thread: compiles requests of the current generation in order until the driver
/// closes the queue.
fn work(
    requests: &Receiver<Message>,
    replies: &Sender<Reply>,
    current: &AtomicU64,
    compile_nanos: &AtomicU64,
) {
    let mut module = new_module();
    while let Ok(message) = requests.recv() {
        match message {
            Message::Reset => {
                // The old module is unmapped once the blocks compiled into it are dropped.
                module = new_module();
            }
            Message::Compile {
                generation,
                pc,
                block,
            } => {
                if generation != current.load(Ordering::Relaxed) {
                    continue;
                }
                let start = Instant::now();
                let compiled = match &module {
                    Ok(module) => Compiled::new(module, *block).ok().map(Arc::new),
                    Err(_) => None,
                };
                let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                compile_nanos.fetch_add(nanos, Ordering::Relaxed);
                let reply = Reply {
                    generation,
                    pc,
                    compiled,
                };
                if replies.send(reply).is_err() {
                    return;
                }
            }
        }
    }
}
