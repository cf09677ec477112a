//! Background compilation: one worker thread per program compiles the blocks its JITs queue
//! while they keep interpreting.
//!
//! The worker belongs to the program's [`super::SharedCode`], so K machines of one program
//! share one compile thread, and a block several of them find hot at once compiles once: the
//! worker publishes what it compiles in the shared table and answers a request for a block
//! already there with that block. Each JIT gets its replies on a channel of its own.
//!
//! Requests and replies carry the requesting JIT's *generation*, which changes when that JIT
//! evicts its code; it installs only replies of its current generation, so its cache bound
//! holds. Memory safety needs none of this: each compiled block keeps its module mapped (see
//! `shared.rs`), and the worker starts a new module every [`MODULE_BLOCKS`] blocks so that
//! evicted code can be unmapped once nobody holds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::shared::{Compiled, Table, new_module};
use crate::analysis::Block;

/// Blocks compiled into one module before the worker starts the next.
const MODULE_BLOCKS: u32 = 1024;

/// How often a JIT waiting for a reply checks that the worker is still alive.
const LIVENESS_POLL: Duration = Duration::from_millis(10);

/// A request: compile `block` (which starts at `pc`) for a JIT in `generation`, and answer on
/// `reply`.
struct Request {
    generation: u64,
    pc: u32,
    block: Box<Block>,
    reply: Sender<Reply>,
}

/// A compiled block, or `None` if it failed to compile (it stays interpreted).
pub(super) struct Reply {
    pub generation: u64,
    pub pc: u32,
    pub compiled: Option<Arc<Compiled>>,
    /// Whether it was compiled for this request (rather than found compiled in the table).
    pub fresh: bool,
}

/// The result of waiting for or polling for a reply.
pub(super) enum Received {
    Reply(Reply),
    /// Nothing yet.
    Empty,
    /// The worker is gone (it panicked): nothing queued will arrive.
    Gone,
}

/// The handle on a program's worker thread, held by its shared table. Dropping it (when the
/// program's last JIT and table go) stops the worker and waits for it.
#[derive(Debug)]
pub(super) struct Worker {
    requests: Option<Sender<Request>>,
    /// Nanoseconds the worker spent compiling, for every JIT of the program.
    compile_nanos: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// One JIT's end of the worker: where its replies arrive.
#[derive(Debug)]
pub(super) struct Mailbox {
    reply_to: Sender<Reply>,
    replies: Receiver<Reply>,
}

impl Default for Mailbox {
    fn default() -> Mailbox {
        let (reply_to, replies) = mpsc::channel();
        Mailbox { reply_to, replies }
    }
}

impl Worker {
    /// Starts the worker, which publishes what it compiles in `table`.
    pub fn spawn(table: Arc<Table>) -> Result<Worker, String> {
        let (requests, inbox) = mpsc::channel();
        let compile_nanos = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("avm-jit".into())
            .spawn({
                let compile_nanos = Arc::clone(&compile_nanos);
                move || work(&inbox, &table, &compile_nanos)
            })
            .map_err(|e| format!("jit worker thread: {e}"))?;
        Ok(Worker {
            requests: Some(requests),
            compile_nanos,
            thread: Some(thread),
        })
    }

    /// Queues `block` (starting at `pc`) for the JIT whose replies go to `mailbox`, in its
    /// `generation`; `false` if the worker is gone.
    pub fn request(&self, mailbox: &Mailbox, generation: u64, pc: u32, block: Box<Block>) -> bool {
        let request = Request {
            generation,
            pc,
            block,
            reply: mailbox.reply_to.clone(),
        };
        self.requests
            .as_ref()
            .is_some_and(|requests| requests.send(request).is_ok())
    }

    /// A reply for `mailbox` if one is ready.
    pub fn poll(&self, mailbox: &Mailbox) -> Received {
        match mailbox.replies.try_recv() {
            Ok(reply) => Received::Reply(reply),
            Err(TryRecvError::Empty) if self.alive() => Received::Empty,
            Err(_) => Received::Gone,
        }
    }

    /// The next reply for `mailbox`, waiting for it.
    pub fn wait(&self, mailbox: &Mailbox) -> Received {
        loop {
            match mailbox.replies.recv_timeout(LIVENESS_POLL) {
                Ok(reply) => return Received::Reply(reply),
                Err(RecvTimeoutError::Timeout) if self.alive() => continue,
                Err(_) => return Received::Gone,
            }
        }
    }

    /// Whether the thread still runs (it stops only by panicking, or when dropped).
    fn alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Time the worker spent compiling so far.
    pub fn compile_time(&self) -> Duration {
        Duration::from_nanos(self.compile_nanos.load(Ordering::Relaxed))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Close the queue and wait: the worker finishes at most the block it is compiling.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            // A worker that panicked has nothing left to clean up; its panic was reported.
            let _ = thread.join();
        }
    }
}

/// The worker thread: answers requests in order until the queue closes.
fn work(requests: &Receiver<Request>, table: &Table, compile_nanos: &AtomicU64) {
    let mut module = new_module();
    let mut in_module = 0;
    while let Ok(Request {
        generation,
        pc,
        block,
        reply,
    }) = requests.recv()
    {
        let (compiled, fresh) = match table.get(pc) {
            Some(compiled) => (Some(compiled), false),
            None => {
                if in_module == MODULE_BLOCKS {
                    // The old module is unmapped once the blocks compiled into it are dropped.
                    module = new_module();
                    in_module = 0;
                }
                in_module += 1;
                let start = Instant::now();
                let compiled = match &module {
                    Ok(module) => Compiled::new(module, *block).ok().map(Arc::new),
                    Err(_) => None,
                };
                let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                compile_nanos.fetch_add(nanos, Ordering::Relaxed);
                if let Some(compiled) = &compiled {
                    table.publish(pc, compiled);
                }
                (compiled, true)
            }
        };
        // A JIT that is gone no longer needs its reply.
        let _ = reply.send(Reply {
            generation,
            pc,
            compiled,
            fresh,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyze;
    use crate::jit::SharedCode;

    /// Two JITs asking for one block: the queue is first in, first out, so the first request
    /// compiles it and the second finds it in the table, whatever the timing.
    #[test]
    fn a_block_asked_for_twice_compiles_once() {
        let program =
            Arc::new(avm_runtime::asm::assemble("push 1\n add 2\n add 3\n add 4\n halt").unwrap());
        let shared = SharedCode::new(Arc::clone(&program), 16);
        let worker = shared.worker().expect("the compile thread starts");
        let block = || Box::new(analyze(&program, 0).expect("a block at 0"));
        let mailboxes = [Mailbox::default(), Mailbox::default()];
        for mailbox in &mailboxes {
            assert!(worker.request(mailbox, 0, 0, block()));
        }
        let fresh: Vec<bool> = mailboxes
            .iter()
            .map(|mailbox| match worker.wait(mailbox) {
                Received::Reply(reply) => {
                    assert!(reply.compiled.is_some());
                    reply.fresh
                }
                _ => panic!("the worker answers"),
            })
            .collect();
        assert_eq!(fresh, [true, false]);
        assert_eq!(shared.len(), 1);
    }
}
