//! The project's macro benchmark workloads: assembler programs that run for tens of millions
//! of steps and check their own result.
//!
//! Each program halts only when the result it computed is right; otherwise it executes `error`
//! and (having no handler at that point) ends in ErrorStop. Each `.avm` file starts with a
//! comment describing its algorithm, its stack layout and where its expected constant comes
//! from; that constant sits on the one line that ends in `; expected`. They are deterministic:
//! the same program and inbox give the same steps, gas, logs and hashes on every engine.
//!
//! | workload | what it exercises |
//! |---|---|
//! | `keccak_chain` | `ethhash2`, `hash` of tuples, `keccakf` |
//! | `kv_store` | tuple trees: `tget`/`tset` path copying, the aux stack |
//! | `sort` | shell sort over a tuple-tree array: comparisons, register variables |
//! | `buffer_scan` | `setbuffer8/64/256` and `getbuffer8/64/256` over megabytes |
//! | `error_loop` | `errset` and the error path, eight kinds of error |
//! | `node_batch` | `inbox`, byte loops with `getbuffer8`, buffer hashing, `log` |

use std::sync::Arc;

use avm_interp::Machine;
use avm_runtime::{InboxMessage, Program, U256, asm};

/// A benchmark program shipped with the project.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Its name (the `.avm` file's stem).
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// The assembler text.
    pub source: &'static str,
    inbox: fn() -> Vec<InboxMessage>,
}

impl Workload {
    /// Assembles the source. Panics, naming the workload, if it does not assemble (a test
    /// guarantees that every shipped workload does).
    pub fn program(&self) -> Program {
        asm::assemble(self.source)
            .unwrap_or_else(|e| panic!("workload `{}` does not assemble: {e}", self.name))
    }

    /// The inbox messages it consumes (empty for most workloads).
    pub fn inbox(&self) -> Vec<InboxMessage> {
        (self.inbox)()
    }

    /// A fresh machine running `program` (normally [`Workload::program`]) with the workload's
    /// inbox queued.
    pub fn machine(&self, program: Arc<Program>) -> Machine {
        let mut machine = Machine::new(program);
        for message in self.inbox() {
            machine.push_inbox(message.to_value());
        }
        machine
    }
}

/// Every workload, in a fixed order.
pub const ALL: &[Workload] = &[
    Workload {
        name: "keccak_chain",
        description: "a hash chain of 1.2M ethhash2 steps, with tuple hashes and keccakf mixed in",
        source: include_str!("keccak_chain.avm"),
        inbox: no_inbox,
    },
    Workload {
        name: "kv_store",
        description: "100k inserts then 100k verified lookups (and misses) in an 8-ary tuple trie",
        source: include_str!("kv_store.avm"),
        inbox: no_inbox,
    },
    Workload {
        name: "sort",
        description: "shell sort of 10k LCG Ints in a tuple-tree array, verified sorted with a checksum",
        source: include_str!("sort.avm"),
        inbox: no_inbox,
    },
    Workload {
        name: "buffer_scan",
        description: "fills a buffer with setbuffer8/64/256 over 3 x 196k entries and scans it back",
        source: include_str!("buffer_scan.avm"),
        inbox: no_inbox,
    },
    Workload {
        name: "error_loop",
        description: "1.5M iterations that each set a handler, raise one of 8 errors and recover",
        source: include_str!("error_loop.avm"),
        inbox: no_inbox,
    },
    Workload {
        name: "node_batch",
        description: "consumes 10k inbox messages, sums and hashes each payload, logs one result each",
        source: include_str!("node_batch.avm"),
        inbox: node_batch_inbox,
    },
];

/// The workload called `name`.
pub fn by_name(name: &str) -> Option<&'static Workload> {
    ALL.iter().find(|w| w.name == name)
}

fn no_inbox() -> Vec<InboxMessage> {
    Vec::new()
}

/// The number of messages `node_batch` consumes.
const NODE_BATCH_MESSAGES: u64 = 10_000;

/// `node_batch`'s inbox: message `m` has kind 3, sequence number `m`, an L1 block and timestamp
/// that advance every 20 messages, and a pseudo-random sender, gas price and payload of 0 to 320
/// bytes, all drawn from one 64-bit LCG (the high 32 bits of each state).
fn node_batch_inbox() -> Vec<InboxMessage> {
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 32
    };
    (0..NODE_BATCH_MESSAGES)
        .map(|m| {
            let mut sender = U256::zero();
            for _ in 0..5 {
                sender = (sender << 32) | U256::from(next());
            }
            let l1_gas_price = U256::from(20_000_000_000u64 + next() % 1_000_000_000);
            let len = next() % 321;
            let data = (0..len).map(|_| (next() >> 24) as u8).collect();
            InboxMessage {
                kind: U256::from(3),
                l1_block_number: U256::from(15_000_000 + m / 20),
                l1_timestamp: U256::from(1_650_000_000 + 12 * (m / 20)),
                sender,
                inbox_sequence_number: U256::from(m),
                l1_gas_price,
                data,
            }
        })
        .collect()
}
