//! Background compilation for the region JIT: a worker thread owns the JIT's module, forms and
//! compiles the regions whose entries the JIT sends it while the machine keeps interpreting,
//! and answers with their entries, which the JIT installs in its table between runs of the
//! interpreter. Forming a region reads the arrival counts the machine's thread keeps writing:
//! they only decide which arms control has reached (and so which are left out), never what
//! the code does, so a count read early or late changes the region's size, not its results.
//!
//! The worker only writes code into its own module; the table the code reads (to go on into
//! other regions) belongs to the JIT, which alone writes it. Dropping the worker closes its
//! queue and joins the thread, which then frees the module: the JIT drops the worker only
//! when no region code runs or will run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use avm_runtime::Program;

use super::module::{Entry, Extras, RegionModule, RegionText};
use super::{Arrivals, build};
use crate::JitError;

/// The entry of a region to form and compile.
struct Request {
    pc: u32,
}

/// What became of a request.
pub(super) enum Outcome {
    /// Compiled: the region's entry address, its instructions, its bytes of machine code and
    /// its text if kept.
    Compiled {
        entry: usize,
        instructions: u64,
        code_bytes: usize,
        text: Option<RegionText>,
    },
    /// No instruction there native code runs: the entry stays interpreted.
    Empty,
    /// Cranelift refused the region.
    Refused,
}

/// The answer to a request, and the time it took.
pub(super) struct Reply {
    pub pc: u32,
    pub outcome: Outcome,
    pub time: Duration,
}

/// The JIT's end of its compile thread.
pub(super) struct Worker {
    requests: Option<Sender<Request>>,
    replies: Receiver<Reply>,
    /// Set by the worker after each reply: the interpreter hands control back at its next
    /// jump so that the JIT installs what arrived.
    ready: Arc<AtomicBool>,
    entry: Entry,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts the thread, which forms regions of `program` from the counts of `arrivals` and
    /// compiles them into code that goes on through `table` (the JIT's table, one slot per
    /// loaded pc, which outlives the worker).
    pub fn spawn(
        program: Arc<Program>,
        arrivals: Arrivals,
        table: *const u64,
        extras: Extras,
    ) -> Result<Worker, JitError> {
        let table = table as usize;
        let (requests, inbox) = mpsc::channel::<Request>();
        let (reply_to, replies) = mpsc::channel();
        let (started_to, started) = mpsc::channel();
        let ready = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("avm-regions".into())
            .spawn({
                let ready = Arc::clone(&ready);
                move || {
                    let mut module = match RegionModule::new(extras) {
                        Ok(module) => module,
                        Err(message) => {
                            let _ = started_to.send(Err(JitError::Host(message)));
                            return;
                        }
                    };
                    let _ = started_to.send(Ok(module.entry() as usize));
                    let forming = Forming { program, arrivals };
                    let table = table as *const u64;
                    work(&forming, &mut module, table, &inbox, &reply_to, &ready);
                }
            })
            .map_err(|source| JitError::Thread {
                name: "avm-regions",
                source,
            })?;
        let entry = started.recv().map_err(|_| {
            JitError::Host(
                "the region compile thread ended before its code generator was ready".into(),
            )
        })??;
        // SAFETY: `entry` is the address of the module's trampoline, of `Entry`'s type
        // (`RegionModule::entry`), in a module that lives until the thread ends, which is when
        // this worker drops.
        let entry = unsafe { std::mem::transmute::<usize, Entry>(entry) };
        Ok(Worker {
            requests: Some(requests),
            replies,
            ready,
            entry,
            thread: Some(thread),
        })
    }

    /// The function through which Rust enters a region of this worker's module.
    pub fn entry(&self) -> Entry {
        self.entry
    }

    /// Queues the region entered at `pc`; `false` if the thread is gone.
    pub fn request(&self, pc: u32) -> bool {
        self.requests
            .as_ref()
            .is_some_and(|requests| requests.send(Request { pc }).is_ok())
    }

    /// Whether a reply may be waiting (cheap: one relaxed load).
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The flag [`Worker::ready`] reads, for the interpreter's arrival test.
    pub fn ready_flag(&self) -> &AtomicBool {
        &self.ready
    }

    /// The replies that arrived.
    pub fn take_replies(&self) -> Vec<Reply> {
        // Cleared first: a reply sent after this sets it again.
        self.ready.store(false, Ordering::Relaxed);
        let mut replies = Vec::new();
        loop {
            match self.replies.try_recv() {
                Ok(reply) => replies.push(reply),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return replies,
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Close the queue and wait: the thread finishes at most the region it is compiling,
        // then frees the module.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            // A thread that panicked has nothing left to clean up; its panic was reported.
            let _ = thread.join();
        }
    }
}

/// What the thread forms regions from.
struct Forming {
    program: Arc<Program>,
    arrivals: Arrivals,
}

/// The thread: forms and compiles requests in order until the queue closes.
fn work(
    forming: &Forming,
    module: &mut RegionModule,
    table: *const u64,
    requests: &Receiver<Request>,
    replies: &Sender<Reply>,
    ready: &AtomicBool,
) {
    while let Ok(Request { pc }) = requests.recv() {
        let start = Instant::now();
        // Background compiles only happen above threshold 0: arms are in once reached.
        let outcome = build(
            module,
            &forming.program,
            &forming.arrivals,
            false,
            pc,
            table,
        );
        let reply = Reply {
            pc,
            outcome,
            time: start.elapsed(),
        };
        if replies.send(reply).is_err() {
            return;
        }
        ready.store(true, Ordering::Release);
    }
}
