//! The checkpoint store: machine states in one embedded `redb` file, values content-addressed.
//!
//! # Layout
//!
//! Every tuple, buffer and run-time codepoint is stored once, as a *node* keyed by its kind tag
//! and its AVM hash (33 bytes), whichever checkpoints reach it. A node's bytes name its children
//! by *reference*: an Int inline, a codepoint of the program by its hash (resolved to the
//! program's own codepoint on load, so node bytes never depend on the program), any other
//! value by its key. So a checkpoint of a machine that changed a little writes only the nodes on the
//! paths that changed plus a small header; saving stops descending at the first node already
//! stored, which makes a save cost what changed, not what the machine holds.
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `values` | tag ‖ hash | node bytes (see [`encode_node`]) |
//! | `refcounts` | tag ‖ hash | references from other nodes and from checkpoint headers |
//! | `checkpoints` | id (`u64`, increasing) | header: roots, numbers, pending outputs, checksum |
//! | `programs` | program id (its initial machine hash) | the program's source bytes |
//!
//! # Guarantees
//!
//! * A save or a delete is one redb write transaction: a crash leaves the store as it was
//!   before it (redb's commit is atomic and its file is checksummed).
//! * A load rebuilds every node with explicit stacks (no native recursion, however deep),
//!   re-hashes it and compares with its key, checks each header's checksum and finally the
//!   machine hash recorded at save time. Any mismatch, missing node or malformed byte is a
//!   [`StoreError::Corrupt`], never a wrong machine.
//! * Deleting a checkpoint drops its references; a node whose count reaches zero is removed
//!   and drops its own children in turn (a worklist, not recursion).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use avm_interp::{Machine, Outputs, Pc, Snapshot, Status};
use avm_runtime::buffer::LEAF_BYTES;
use avm_runtime::hash::{be32, keccak};
use avm_runtime::{Buffer, CodePoint, Next, Program, Tuple, U256, Value, opcode};
use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition,
};

const VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("values");
const REFCOUNTS: TableDefinition<&[u8], u64> = TableDefinition::new("refcounts");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
const PROGRAMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("programs");

/// The first bytes of every checkpoint header (format version 1).
const MAGIC: &[u8; 8] = b"AVMCKPT1";

/// Identifies a checkpoint within its store; later saves get larger ids.
pub type CheckpointId = u64;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened, read or written (including redb's own
    /// corruption checks on open).
    #[error("checkpoint store: {0}")]
    Db(#[source] redb::Error),
    /// Stored bytes do not describe what they claim: a hash, checksum or format mismatch.
    #[error("checkpoint store is corrupt: {0}")]
    Corrupt(String),
    /// No checkpoint has this id.
    #[error("no checkpoint {0}")]
    NoSuchCheckpoint(CheckpointId),
    /// The checkpoint belongs to another program than the one offered.
    #[error("checkpoint is of program {expected:#066x}, not {found:#066x}")]
    WrongProgram {
        /// The program id the checkpoint records.
        expected: U256,
        /// The id of the program offered.
        found: U256,
    },
    /// The store has no source for the checkpoint's program.
    #[error("the store has no program {0:#066x}")]
    MissingProgram(U256),
    /// Another process (a run) has the store open for writing; it can still be listed.
    #[error(
        "another process (a run) holds this checkpoint store; `avm checkpoints DIR` lists it \
         meanwhile"
    )]
    Busy,
    /// The store was opened read-only ([`Store::open_read_only`]) and this writes.
    #[error("the checkpoint store is open read-only")]
    ReadOnly,
    /// A read-only open found the store needing repair (its writer was killed) and may not
    /// write the file to repair it (permissions, a read-only file system): why not.
    #[error(
        "the checkpoint store needs repair (its writer was killed), which needs write access: \
         {0}"
    )]
    NeedsRepair(#[source] std::io::Error),
}

impl StoreError {
    /// Whether the store could not be written because its file system is read-only or the
    /// file's permissions forbid it (it can still be opened with [`Store::open_read_only`]).
    pub fn is_unwritable(&self) -> bool {
        let io = match self {
            StoreError::Db(redb::Error::Io(e)) | StoreError::NeedsRepair(e) => e,
            _ => return false,
        };
        matches!(
            io.kind(),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
        )
    }
}

impl<E: Into<redb::Error>> From<E> for StoreError {
    fn from(e: E) -> StoreError {
        match e.into() {
            redb::Error::DatabaseAlreadyOpen => StoreError::Busy,
            e => StoreError::Db(e),
        }
    }
}

fn corrupt(why: impl Into<String>) -> StoreError {
    StoreError::Corrupt(why.into())
}

/// The id a store files a program under: its initial machine hash, which covers every
/// instruction (through the codepoint hash chain) and the static value.
pub fn program_id(program: &Program) -> U256 {
    program.initial_machine_hash()
}

/// What a save wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveReport {
    /// The new checkpoint.
    pub id: CheckpointId,
    /// Nodes written because no earlier checkpoint had them.
    pub new_nodes: u64,
    /// Bytes of those nodes (keys included).
    pub new_bytes: u64,
    /// Bytes of the checkpoint header.
    pub header_bytes: u64,
}

/// A checkpoint as [`Store::checkpoints`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Its id.
    pub id: CheckpointId,
    /// The program it runs.
    pub program: U256,
    /// The machine hash at the save.
    pub machine_hash: U256,
    /// Steps since the program started.
    pub steps: u64,
    /// Gas used since the program started.
    pub gas_used: u128,
    /// Inbox messages consumed since the program started.
    pub inbox_consumed: u64,
    /// Inbox messages queued and not yet read.
    pub pending_inbox: u64,
    /// Running, halted or error-stopped.
    pub status: Status,
    /// Running, and its next instruction is `inbox` with no message queued: the machine waits
    /// for input (what a run reports as blocked on the inbox).
    pub blocked_on_inbox: bool,
    /// Header size in bytes.
    pub header_bytes: u64,
}

/// How big the store is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// Checkpoints held.
    pub checkpoints: u64,
    /// Distinct nodes held.
    pub nodes: u64,
    /// Bytes of node keys and values.
    pub node_bytes: u64,
    /// Bytes of checkpoint headers.
    pub header_bytes: u64,
}

/// A checkpoint store in one file (see the module doc). Shareable between threads (`&Store`
/// is enough to save and load); redb serialises write transactions. One process at a time
/// writes a store; any number of others may read it meanwhile ([`Store::open_read_only`]).
#[derive(Debug)]
pub struct Store {
    db: Db,
    /// Per program id: codepoint hash → index, built by the first load of that program (loads
    /// resolve program codepoints, stored by hash, through it).
    indices: Mutex<HashMap<U256, Arc<CodeIndex>>>,
}

/// The database a store reads, and writes unless opened read-only.
enum Db {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
    /// Dropped (only while the store itself drops).
    Closed,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Writable(_) => "Db::Writable",
            Db::ReadOnly(_) => "Db::ReadOnly",
            Db::Closed => "Db::Closed",
        })
    }
}

impl Db {
    fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(match self {
            Db::Writable(db) => db.begin_read()?,
            Db::ReadOnly(db) => db.begin_read()?,
            Db::Closed => return Err(corrupt("the store is closed")),
        })
    }

    fn writable(&self) -> Result<&Database, StoreError> {
        match self {
            Db::Writable(db) => Ok(db),
            Db::ReadOnly(_) => Err(StoreError::ReadOnly),
            Db::Closed => Err(corrupt("the store is closed")),
        }
    }
}

impl Drop for Store {
    /// Closing the database runs redb's own clean-up, which can panic on a damaged file too.
    fn drop(&mut self) {
        let db = std::mem::replace(&mut self.db, Db::Closed);
        let _ = guarded(|| {
            drop(db);
            Ok(())
        });
    }
}

/// The pages redb keeps in memory. Its default (1 GiB) would hold a large store's whole file
/// beside the machine being restored from it; the OS caches the file anyway.
const CACHE_BYTES: usize = 64 << 20;

/// How processes share a store file: one writes, others may read and follow its commits.
/// (redb's default, `ExclusiveWriter`, locks the whole file, so that not even a listing could
/// open a store while a run saves into it.) The price is a second fsync per commit: in this
/// mode redb commits in two phases, so that a reader never follows a commit whose pages are not
/// on disk yet.
const SHARING: ConcurrencyMode = ConcurrencyMode::SingleWriter;

/// How long [`Store::open_read_only`] waits for a writer that opened a store needing repair to
/// finish repairing it.
const REPAIR_WAIT: Duration = Duration::from_secs(5);

/// A program's codepoint hashes and their indices (unique: a loaded codepoint's hash covers
/// every instruction after it).
type CodeIndex = HashMap<U256, usize>;

// ---------------------------------------------------------------------------------------------
// References and nodes.

const TAG_INT: u8 = 0;
const TAG_TUPLE: u8 = 1;
const TAG_BUFFER: u8 = 2;
const TAG_LOADED: u8 = 3;
const TAG_DYNAMIC: u8 = 4;
const TAG_DETACHED: u8 = 5;
/// A slice of a large buffer's leaves, keyed by the keccak of its bytes (not an AVM value).
const TAG_CHUNK: u8 = 6;

/// Buffers with more non-zero leaves than this are stored as chunks of leaves
/// `[k·CHUNK_LEAVES, (k+1)·CHUNK_LEAVES)` (4 KiB), so a changed buffer stores the chunks that
/// changed and a list of chunk keys rather than all its bytes again.
const CHUNK_LEAVES: usize = 128;

/// Something a save stores: a value's node, or a chunk of a buffer's leaves.
enum Item {
    Value(Value),
    Chunk(Key, Vec<u8>),
}

/// Non-zero buffer leaves: index and bytes.
type Leaves = Vec<(u64, [u8; LEAF_BYTES])>;

fn put_leaves(out: &mut Vec<u8>, leaves: &[(u64, [u8; LEAF_BYTES])]) {
    out.extend_from_slice(&(leaves.len() as u64).to_le_bytes());
    for (index, bytes) in leaves {
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(bytes);
    }
}

/// A node key: kind tag ‖ AVM hash.
type Key = [u8; 33];

/// What a save does to one node: its new reference count, and its bytes if it is new.
type Update = (u64, Option<Vec<u8>>);

/// How a parent (or a header) names a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ref {
    Int(U256),
    /// A codepoint of the program, by hash: node bytes must not depend on which program a
    /// value came from (the same tuple may sit in machines of different programs, where the
    /// same codepoint has different indices). Codepoints with equal hashes behave the same.
    Loaded(U256),
    /// A stored node.
    Node(Key),
}

fn key(tag: u8, hash: &U256) -> Key {
    let mut k = [0u8; 33];
    k[0] = tag;
    k[1..].copy_from_slice(&be32(hash));
    k
}

/// How `value` is referred to. Codepoints of `program` go by index; other codepoints are
/// nodes whose tag records how execution continues after them.
fn reference(value: &Value, program: &Program) -> Ref {
    match value {
        Value::SmallInt(_) | Value::BigInt(_) => Ref::Int(value.as_int().expect("an Int")),
        Value::Tuple(t) => Ref::Node(key(TAG_TUPLE, &t.hash())),
        Value::Buffer(b) => Ref::Node(key(TAG_BUFFER, &b.hash())),
        Value::CodePoint(cp) => match program.index_of(cp) {
            Some(_) => Ref::Loaded(cp.hash()),
            None => match cp.next() {
                Next::Dynamic(_) => Ref::Node(key(TAG_DYNAMIC, &cp.hash())),
                // A codepoint of another program, or one known only by parts: either way
                // what follows it is known only by hash, and it is rebuilt detached.
                _ => Ref::Node(key(TAG_DETACHED, &cp.hash())),
            },
        },
    }
}

fn put_ref(out: &mut Vec<u8>, r: &Ref) {
    match r {
        Ref::Int(x) => {
            out.push(TAG_INT);
            out.extend_from_slice(&be32(x));
        }
        Ref::Loaded(hash) => {
            out.push(TAG_LOADED);
            out.extend_from_slice(&be32(hash));
        }
        Ref::Node(k) => out.extend_from_slice(k),
    }
}

/// Node bytes for `value` (which is not an Int or a program codepoint), and its children in
/// the order their references appear.
///
/// * tuple: `n`, then `n` references;
/// * buffer: 0, the leaf count (`u64` LE), then per non-zero leaf its index (`u64` LE) and 32
///   bytes; or, past [`CHUNK_LEAVES`] leaves, 1, the chunk count, then each chunk's key (a
///   chunk node holds its leaves as the inline form does);
/// * run-time codepoint: opcode, 0/1 for an immediate, the immediate's reference, then the
///   next codepoint's reference;
/// * detached codepoint: opcode, 0/1, the immediate's reference, then the next hash.
fn encode_node(value: &Value, program: &Program) -> (Vec<u8>, Vec<Item>) {
    let mut out = Vec::new();
    let mut children = Vec::new();
    match value {
        Value::Tuple(t) => {
            out.push(t.len() as u8);
            for slot in t.slots() {
                put_ref(&mut out, &reference(slot, program));
                children.push(Item::Value(slot.clone()));
            }
        }
        Value::Buffer(b) => {
            let leaves = b.nonzero_leaves();
            if leaves.len() <= CHUNK_LEAVES {
                out.push(0);
                put_leaves(&mut out, &leaves);
            } else {
                out.push(1);
                let chunks =
                    leaves.chunk_by(|a, b| a.0 / CHUNK_LEAVES as u64 == b.0 / CHUNK_LEAVES as u64);
                let chunks: Vec<&[(u64, [u8; LEAF_BYTES])]> = chunks.collect();
                out.extend_from_slice(&(chunks.len() as u64).to_le_bytes());
                for chunk in chunks {
                    let mut bytes = Vec::new();
                    put_leaves(&mut bytes, chunk);
                    let k = key(TAG_CHUNK, &keccak(&[&bytes]));
                    out.extend_from_slice(&k);
                    children.push(Item::Chunk(k, bytes));
                }
            }
        }
        Value::CodePoint(cp) => {
            out.push(cp.opcode());
            match cp.immediate() {
                Some(imm) => {
                    out.push(1);
                    put_ref(&mut out, &reference(imm, program));
                    children.push(Item::Value(imm.clone()));
                }
                None => out.push(0),
            }
            match cp.next() {
                Next::Dynamic(next) => {
                    let next = Value::CodePoint(next.clone());
                    put_ref(&mut out, &reference(&next, program));
                    children.push(Item::Value(next));
                }
                _ => out.extend_from_slice(&be32(&cp.next_hash())),
            }
        }
        Value::SmallInt(_) | Value::BigInt(_) => unreachable!("Ints are stored inline"),
    }
    (out, children)
}

/// Reads node and header bytes, failing as corruption on any short or malformed read.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| corrupt("record is truncated"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn u128(&mut self) -> Result<u128, StoreError> {
        Ok(u128::from_le_bytes(self.take(16)?.try_into().expect("16")))
    }

    fn u256(&mut self) -> Result<U256, StoreError> {
        Ok(U256::from_big_endian(self.take(32)?))
    }

    /// A count of items each at least `min_item` bytes long, checked against what is left so
    /// that a corrupt count cannot make us allocate wildly.
    fn count(&mut self, min_item: usize) -> Result<usize, StoreError> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(min_item as u64) > left {
            return Err(corrupt("count exceeds the record"));
        }
        Ok(n as usize)
    }

    fn reference(&mut self) -> Result<Ref, StoreError> {
        match self.u8()? {
            TAG_INT => Ok(Ref::Int(self.u256()?)),
            TAG_LOADED => Ok(Ref::Loaded(self.u256()?)),
            tag @ (TAG_TUPLE | TAG_BUFFER | TAG_DYNAMIC | TAG_DETACHED) => {
                let mut k = [0u8; 33];
                k[0] = tag;
                k[1..].copy_from_slice(self.take(32)?);
                Ok(Ref::Node(k))
            }
            tag => Err(corrupt(format!("unknown reference tag {tag}"))),
        }
    }

    fn leaves(&mut self) -> Result<Leaves, StoreError> {
        let n = self.count(8 + LEAF_BYTES)?;
        let mut leaves = Vec::with_capacity(n);
        for _ in 0..n {
            let index = self.u64()?;
            let bytes: [u8; LEAF_BYTES] = self.take(LEAF_BYTES)?.try_into().expect("32");
            leaves.push((index, bytes));
        }
        Ok(leaves)
    }

    fn refs(&mut self) -> Result<Vec<Ref>, StoreError> {
        let n = self.count(5)?;
        (0..n).map(|_| self.reference()).collect()
    }

    fn done(&self) -> Result<(), StoreError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(corrupt("record has trailing bytes"))
        }
    }
}

/// A node's bytes parsed: what it needs built first, and how to build it.
enum Decoded {
    Tuple(Vec<Ref>),
    /// A buffer's leaves, inline.
    Buffer(Leaves),
    /// A buffer as the keys of its chunks, in order.
    ChunkedBuffer(Vec<Key>),
    /// One chunk of a buffer's leaves.
    Chunk(Leaves),
    Dynamic {
        opcode: u8,
        immediate: Option<Ref>,
        next: Ref,
    },
    Detached {
        opcode: u8,
        immediate: Option<Ref>,
        next_hash: U256,
    },
}

impl Decoded {
    fn parse(tag: u8, bytes: &[u8]) -> Result<Decoded, StoreError> {
        let mut r = Reader::new(bytes);
        let decoded = match tag {
            TAG_TUPLE => {
                let n = r.u8()?;
                if n > 8 {
                    return Err(corrupt("tuple of more than 8 slots"));
                }
                Decoded::Tuple((0..n).map(|_| r.reference()).collect::<Result<_, _>>()?)
            }
            TAG_BUFFER => match r.u8()? {
                0 => Decoded::Buffer(r.leaves()?),
                1 => {
                    let n = r.count(33)?;
                    let mut keys = Vec::with_capacity(n);
                    for _ in 0..n {
                        let k: Key = r.take(33)?.try_into().expect("33 bytes");
                        if k[0] != TAG_CHUNK {
                            return Err(corrupt("a buffer chunk key has the wrong tag"));
                        }
                        keys.push(k);
                    }
                    Decoded::ChunkedBuffer(keys)
                }
                _ => return Err(corrupt("bad buffer layout flag")),
            },
            TAG_CHUNK => Decoded::Chunk(r.leaves()?),
            TAG_DYNAMIC | TAG_DETACHED => {
                let opcode = r.u8()?;
                let immediate = match r.u8()? {
                    0 => None,
                    1 => Some(r.reference()?),
                    _ => return Err(corrupt("bad immediate flag")),
                };
                if tag == TAG_DYNAMIC {
                    Decoded::Dynamic {
                        opcode,
                        immediate,
                        next: r.reference()?,
                    }
                } else {
                    Decoded::Detached {
                        opcode,
                        immediate,
                        next_hash: r.u256()?,
                    }
                }
            }
            _ => return Err(corrupt(format!("unknown node tag {tag}"))),
        };
        r.done()?;
        Ok(decoded)
    }

    /// The node references this node holds, in order (each counted once per occurrence).
    fn children(&self) -> Vec<Key> {
        let refs: Vec<&Ref> = match self {
            Decoded::Tuple(slots) => slots.iter().collect(),
            Decoded::ChunkedBuffer(keys) => return keys.clone(),
            Decoded::Buffer(_) | Decoded::Chunk(_) => Vec::new(),
            Decoded::Dynamic {
                immediate, next, ..
            } => immediate.iter().chain(std::iter::once(next)).collect(),
            Decoded::Detached { immediate, .. } => immediate.iter().collect(),
        };
        refs.into_iter()
            .filter_map(|r| match r {
                Ref::Node(k) => Some(*k),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Headers.

/// A checkpoint header parsed: the machine's numbers and references to its values.
struct Header {
    program: U256,
    machine_hash: U256,
    status: Status,
    /// See [`CheckpointInfo::blocked_on_inbox`].
    blocked_on_inbox: bool,
    pc: Ref,
    gas: U256,
    err_handler: Ref,
    register: Ref,
    static_value: Ref,
    stack: Vec<Ref>,
    aux: Vec<Ref>,
    inbox: Vec<Ref>,
    sideloads: Vec<Ref>,
    logs: Vec<Ref>,
    debug_prints: Vec<Ref>,
    sends: Vec<Vec<u8>>,
    steps: u64,
    gas_used: u128,
    log_acc: U256,
    log_count: u64,
    send_acc: U256,
    send_count: u64,
    inbox_consumed: u64,
    inbox_acc: U256,
}

/// The header's state byte: 0 running, 1 halted, 2 error-stopped, 3 running and waiting for an
/// inbox message (stores written before that value existed never hold it, so they read as
/// they always did).
fn state_byte(status: Status, blocked_on_inbox: bool) -> u8 {
    match status {
        Status::Running if blocked_on_inbox => 3,
        Status::Running => 0,
        Status::Halted => 1,
        Status::ErrorStop => 2,
    }
}

impl Header {
    /// Every node reference, once per occurrence (what the header holds counts for).
    fn roots(&self) -> impl Iterator<Item = Key> + '_ {
        [
            &self.pc,
            &self.err_handler,
            &self.register,
            &self.static_value,
        ]
        .into_iter()
        .chain(self.stack.iter())
        .chain(self.aux.iter())
        .chain(self.inbox.iter())
        .chain(self.sideloads.iter())
        .chain(self.logs.iter())
        .chain(self.debug_prints.iter())
        .filter_map(|r| match r {
            Ref::Node(k) => Some(*k),
            _ => None,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&be32(&self.program));
        out.extend_from_slice(&be32(&self.machine_hash));
        out.push(state_byte(self.status, self.blocked_on_inbox));
        out.extend_from_slice(&self.steps.to_le_bytes());
        out.extend_from_slice(&self.gas_used.to_le_bytes());
        out.extend_from_slice(&self.inbox_consumed.to_le_bytes());
        out.extend_from_slice(&(self.inbox.len() as u64).to_le_bytes());
        out.extend_from_slice(&be32(&self.inbox_acc));
        out.extend_from_slice(&be32(&self.log_acc));
        out.extend_from_slice(&self.log_count.to_le_bytes());
        out.extend_from_slice(&be32(&self.send_acc));
        out.extend_from_slice(&self.send_count.to_le_bytes());
        out.extend_from_slice(&be32(&self.gas));
        for r in [
            &self.pc,
            &self.err_handler,
            &self.register,
            &self.static_value,
        ] {
            put_ref(&mut out, r);
        }
        for list in [
            &self.stack,
            &self.aux,
            &self.inbox,
            &self.sideloads,
            &self.logs,
            &self.debug_prints,
        ] {
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for r in list {
                put_ref(&mut out, r);
            }
        }
        out.extend_from_slice(&(self.sends.len() as u64).to_le_bytes());
        for send in &self.sends {
            out.extend_from_slice(&(send.len() as u64).to_le_bytes());
            out.extend_from_slice(send);
        }
        let checksum = keccak(&[&out]);
        out.extend_from_slice(&be32(&checksum));
        out
    }

    fn decode(bytes: &[u8]) -> Result<Header, StoreError> {
        if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("checkpoint header has a bad magic or length"));
        }
        let (body, checksum) = bytes.split_at(bytes.len() - 32);
        if be32(&keccak(&[body])) != checksum {
            return Err(corrupt("checkpoint header checksum mismatch"));
        }
        let mut r = Reader::new(body);
        r.take(MAGIC.len())?;
        let program = r.u256()?;
        let machine_hash = r.u256()?;
        let (status, blocked_on_inbox) = match r.u8()? {
            0 => (Status::Running, false),
            1 => (Status::Halted, false),
            2 => (Status::ErrorStop, false),
            3 => (Status::Running, true),
            _ => return Err(corrupt("bad status")),
        };
        let steps = r.u64()?;
        let gas_used = r.u128()?;
        let inbox_consumed = r.u64()?;
        let _pending = r.u64()?;
        let inbox_acc = r.u256()?;
        let log_acc = r.u256()?;
        let log_count = r.u64()?;
        let send_acc = r.u256()?;
        let send_count = r.u64()?;
        let gas = r.u256()?;
        let pc = r.reference()?;
        let err_handler = r.reference()?;
        let register = r.reference()?;
        let static_value = r.reference()?;
        let stack = r.refs()?;
        let aux = r.refs()?;
        let inbox = r.refs()?;
        let sideloads = r.refs()?;
        let logs = r.refs()?;
        let debug_prints = r.refs()?;
        let n = r.count(8)?;
        let mut sends = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.count(1)?;
            sends.push(r.take(len)?.to_vec());
        }
        r.done()?;
        Ok(Header {
            program,
            machine_hash,
            status,
            blocked_on_inbox,
            pc,
            gas,
            err_handler,
            register,
            static_value,
            stack,
            aux,
            inbox,
            sideloads,
            logs,
            debug_prints,
            sends,
            steps,
            gas_used,
            log_acc,
            log_count,
            send_acc,
            send_count,
            inbox_consumed,
            inbox_acc,
        })
    }

    fn info(&self, id: CheckpointId, header_bytes: u64) -> CheckpointInfo {
        CheckpointInfo {
            id,
            program: self.program,
            machine_hash: self.machine_hash,
            steps: self.steps,
            gas_used: self.gas_used,
            inbox_consumed: self.inbox_consumed,
            pending_inbox: self.inbox.len() as u64,
            status: self.status,
            blocked_on_inbox: self.blocked_on_inbox,
            header_bytes,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The store.

impl Store {
    /// Opens the store at `path` to read and write, creating an empty one if the file does not
    /// exist. A file that is not a redb database, or whose redb checksums fail, is an error;
    /// so is a store another process writes ([`StoreError::Busy`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        guarded(|| Store::open_unguarded(path))
    }

    /// See the public method of the same name (which guards it).
    fn open_unguarded(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            create(path)?;
        }
        let db = Database::builder()
            .set_concurrency_mode(SHARING)
            .set_cache_size(CACHE_BYTES)
            .open(path)?;
        Ok(Store::on(Db::Writable(db)))
    }

    /// Opens the store at `path` to read only, also while another process writes it (it sees
    /// that process's commits) and on a read-only file system. Every read works on it; saving,
    /// deleting and compacting fail with [`StoreError::ReadOnly`].
    ///
    /// A writer that was killed leaves the file needing repair, which redb does only in a
    /// writable open: when no one holds the store, it is opened for writing once (which
    /// repairs it) and then read-only. When a writer opened it meanwhile, that writer repairs
    /// it as it opens, so this waits for it (up to five seconds). Without write access a
    /// store needing repair is [`StoreError::NeedsRepair`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        guarded(|| Store::open_read_only_unguarded(path))
    }

    /// See the public method of the same name (which guards it).
    fn open_read_only_unguarded(path: &Path) -> Result<Store, StoreError> {
        let read_only = || {
            Database::builder()
                .set_concurrency_mode(SHARING)
                .set_cache_size(CACHE_BYTES)
                .open_read_only(path)
        };
        let deadline = Instant::now() + REPAIR_WAIT;
        let mut repaired = false;
        loop {
            match read_only() {
                Ok(db) => return Ok(Store::on(Db::ReadOnly(db))),
                Err(DatabaseError::RepairAborted) if !repaired => {
                    match Store::open_unguarded(path) {
                        Ok(store) => {
                            drop(store);
                            repaired = true;
                        }
                        Err(StoreError::Busy) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(StoreError::Db(redb::Error::Io(e)))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::PermissionDenied
                                    | std::io::ErrorKind::ReadOnlyFilesystem
                            ) =>
                        {
                            return Err(StoreError::NeedsRepair(e));
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A store in memory only: everything a file store does but survive the process (tests,
    /// fuzzing, and validators whose checkpoints need not outlive them).
    pub fn in_memory() -> Result<Store, StoreError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        create_tables(&db)?;
        Ok(Store::on(Db::Writable(db)))
    }

    /// A store on `db`, whose tables exist.
    fn on(db: Db) -> Store {
        Store {
            db,
            indices: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the space that deleted checkpoints freed to the file system. Deleting frees
    /// space inside the file, which later saves reuse, but never shrinks it; a node pruning old
    /// checkpoints compacts now and then. redb moves pages in its own durable transactions, so
    /// a crash midway leaves a store that opens (after redb's repair) with every checkpoint.
    /// Needs the store to itself (`&mut`): no transaction may be open.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        guarded(|| self.compact_unguarded())
    }

    /// See the public method of the same name (which guards it).
    fn compact_unguarded(&mut self) -> Result<(), StoreError> {
        match &mut self.db {
            Db::Writable(db) => db.compact()?,
            Db::ReadOnly(_) | Db::Closed => return Err(StoreError::ReadOnly),
        };
        Ok(())
    }

    /// Saves `machine` (running `program`, whose source bytes are `source`) as a new checkpoint
    /// in one atomic transaction, and returns what it wrote. Nodes already stored are only
    /// referenced again, and their subtrees are not visited.
    pub fn save(
        &self,
        program: &Program,
        source: &[u8],
        machine: &mut Machine,
    ) -> Result<SaveReport, StoreError> {
        let report = guarded(|| self.save_unguarded(program, source, machine))?;
        tracing::info!(
            id = report.id,
            steps = machine.outputs().steps,
            "checkpoint saved"
        );
        Ok(report)
    }

    /// See the public method of the same name (which guards it).
    fn save_unguarded(
        &self,
        program: &Program,
        source: &[u8],
        machine: &mut Machine,
    ) -> Result<SaveReport, StoreError> {
        let machine_hash = machine.hash();
        let snapshot = machine.snapshot();
        let program_id = program_id(program);
        let refs = |values: &[Value]| -> Vec<Ref> {
            values.iter().map(|v| reference(v, program)).collect()
        };
        let pc_value = match &snapshot.pc {
            Pc::Loaded(index) => Value::CodePoint(program.codepoint(*index as usize).clone()),
            Pc::Dynamic(cp) => Value::CodePoint(cp.clone()),
        };
        let out = &snapshot.outputs;
        let header = Header {
            program: program_id,
            machine_hash,
            status: snapshot.status,
            blocked_on_inbox: snapshot.status == Status::Running
                && snapshot.inbox.is_empty()
                && matches!(&pc_value, Value::CodePoint(cp) if cp.opcode() == opcode::INBOX),
            pc: reference(&pc_value, program),
            gas: snapshot.gas,
            err_handler: reference(&Value::CodePoint(snapshot.err_handler.clone()), program),
            register: reference(&snapshot.register, program),
            static_value: reference(&snapshot.static_value, program),
            stack: refs(&snapshot.stack),
            aux: refs(&snapshot.aux),
            inbox: refs(&snapshot.inbox),
            sideloads: refs(&snapshot.sideloads),
            logs: refs(&out.logs),
            debug_prints: refs(&out.debug_prints),
            sends: out.sends.clone(),
            steps: out.steps,
            gas_used: out.gas_used,
            log_acc: out.log_acc,
            log_count: out.log_count,
            send_acc: out.send_acc,
            send_count: out.send_count,
            inbox_consumed: out.inbox_consumed,
            inbox_acc: out.inbox_acc,
        };
        // Every root value, in the order `Header::roots` lists their references.
        let root_values: Vec<Value> = [
            pc_value,
            Value::CodePoint(snapshot.err_handler.clone()),
            snapshot.register.clone(),
            snapshot.static_value.clone(),
        ]
        .into_iter()
        .chain(snapshot.stack.iter().cloned())
        .chain(snapshot.aux.iter().cloned())
        .chain(snapshot.inbox.iter().cloned())
        .chain(snapshot.sideloads.iter().cloned())
        .chain(out.logs.iter().cloned())
        .chain(out.debug_prints.iter().cloned())
        .collect();
        let header_bytes = header.encode();

        let txn = self.db.writable()?.begin_write()?;
        let (mut new_nodes, mut new_bytes) = (0u64, 0u64);
        let id;
        {
            let mut values = txn.open_table(VALUES)?;
            let mut counts = txn.open_table(REFCOUNTS)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS)?;
            let mut programs = txn.open_table(PROGRAMS)?;
            let pid = be32(&program_id);
            if programs.get(pid.as_slice())?.is_none() {
                programs.insert(pid.as_slice(), source)?;
            }
            // Walk first, then write in key order: what each node's count becomes, and the
            // bytes of nodes not stored yet. Sorted writes touch each B-tree page once, and a
            // node reached many times in this save is counted with one write.
            // Kept sorted as it grows (a B-tree map), so the writes below need no second copy.
            let mut delta: BTreeMap<Key, Update> = BTreeMap::new();
            let mut pending: Vec<Item> = root_values.into_iter().map(Item::Value).collect();
            while let Some(item) = pending.pop() {
                let (k, value) = match item {
                    Item::Value(value) => match reference(&value, program) {
                        Ref::Node(k) => (k, Ok(value)),
                        _ => continue,
                    },
                    Item::Chunk(k, bytes) => (k, Err(bytes)),
                };
                if let Some((count, _)) = delta.get_mut(&k) {
                    *count += 1;
                    continue;
                }
                match counts.get(k.as_slice())?.map(|c| c.value()) {
                    Some(count) => {
                        delta.insert(k, (count + 1, None));
                    }
                    None => match value {
                        Ok(value) => {
                            let (bytes, children) = encode_node(&value, program);
                            delta.insert(k, (1, Some(bytes)));
                            pending.extend(children);
                        }
                        Err(chunk) => {
                            delta.insert(k, (1, Some(chunk)));
                        }
                    },
                }
            }
            for (k, (count, bytes)) in delta {
                counts.insert(k.as_slice(), count)?;
                if let Some(bytes) = bytes {
                    values.insert(k.as_slice(), bytes.as_slice())?;
                    new_nodes += 1;
                    new_bytes += (bytes.len() + k.len()) as u64;
                }
            }
            id = checkpoints.last()?.map_or(1, |(k, _)| k.value() + 1);
            checkpoints.insert(id, header_bytes.as_slice())?;
        }
        txn.commit()?;
        Ok(SaveReport {
            id,
            new_nodes,
            new_bytes,
            header_bytes: header_bytes.len() as u64,
        })
    }

    /// The checkpoints held, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<CheckpointInfo>, StoreError> {
        guarded(|| self.checkpoints_unguarded())
    }

    /// See the public method of the same name (which guards it).
    fn checkpoints_unguarded(&self) -> Result<Vec<CheckpointInfo>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CHECKPOINTS)?;
        let mut list = Vec::new();
        for entry in table.iter()? {
            let (id, bytes) = entry?;
            let bytes = bytes.value();
            list.push(Header::decode(bytes)?.info(id.value(), bytes.len() as u64));
        }
        Ok(list)
    }

    /// The newest checkpoint's id, if any.
    pub fn latest(&self) -> Result<Option<CheckpointId>, StoreError> {
        guarded(|| self.latest_unguarded())
    }

    /// See the public method of the same name (which guards it).
    fn latest_unguarded(&self) -> Result<Option<CheckpointId>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CHECKPOINTS)?;
        Ok(table.last()?.map(|(k, _)| k.value()))
    }

    /// The program checkpoint `id` runs and its source bytes, as saved.
    pub fn program_source(&self, id: CheckpointId) -> Result<(U256, Vec<u8>), StoreError> {
        guarded(|| self.program_source_unguarded(id))
    }

    /// See the public method of the same name (which guards it).
    fn program_source_unguarded(&self, id: CheckpointId) -> Result<(U256, Vec<u8>), StoreError> {
        let txn = self.db.begin_read()?;
        let header = read_header(&txn.open_table(CHECKPOINTS)?, id)?;
        let programs = txn.open_table(PROGRAMS)?;
        let source = programs
            .get(be32(&header.program).as_slice())?
            .ok_or(StoreError::MissingProgram(header.program))?
            .value()
            .to_vec();
        Ok((header.program, source))
    }

    /// Rebuilds checkpoint `id` as a machine running `program` (which must be the program it
    /// was saved with). Every node is re-hashed against its key and the machine hash against
    /// the one saved; any difference is [`StoreError::Corrupt`].
    pub fn load(&self, id: CheckpointId, program: Arc<Program>) -> Result<Machine, StoreError> {
        guarded(|| self.load_unguarded(id, program))
    }

    /// See the public method of the same name (which guards it).
    fn load_unguarded(
        &self,
        id: CheckpointId,
        program: Arc<Program>,
    ) -> Result<Machine, StoreError> {
        let txn = self.db.begin_read()?;
        let header = read_header(&txn.open_table(CHECKPOINTS)?, id)?;
        let found = program_id(&program);
        if header.program != found {
            return Err(StoreError::WrongProgram {
                expected: header.program,
                found,
            });
        }
        let values = txn.open_table(VALUES)?;
        let counts = txn.open_table(REFCOUNTS)?;
        let index = self.code_index(&program, found);
        let mut builder = Builder {
            program: &program,
            memo: HashMap::new(),
            by_hash: &index,
            chunks: HashMap::new(),
            nodes: usize::try_from(values.len()?).unwrap_or(usize::MAX),
        };
        let mut get = |r: &Ref| builder.value(r, &values, &counts);
        let pc = match get(&header.pc)? {
            Value::CodePoint(cp) => match program.index_of(&cp) {
                Some(index) => Pc::Loaded(index as u32),
                None => Pc::Dynamic(cp),
            },
            _ => return Err(corrupt("pc is not a codepoint")),
        };
        let err_handler = match get(&header.err_handler)? {
            Value::CodePoint(cp) => cp,
            _ => return Err(corrupt("error handler is not a codepoint")),
        };
        let register = get(&header.register)?;
        let static_value = get(&header.static_value)?;
        let mut list = |refs: &[Ref]| refs.iter().map(&mut get).collect::<Result<Vec<_>, _>>();
        let stack = list(&header.stack)?;
        let aux = list(&header.aux)?;
        let inbox = list(&header.inbox)?;
        let sideloads = list(&header.sideloads)?;
        let logs = list(&header.logs)?;
        let debug_prints = list(&header.debug_prints)?;
        let snapshot = Snapshot {
            pc,
            stack,
            aux,
            register,
            static_value,
            gas: header.gas,
            err_handler,
            status: header.status,
            outputs: Outputs {
                steps: header.steps,
                gas_used: header.gas_used,
                logs,
                log_acc: header.log_acc,
                log_count: header.log_count,
                sends: header.sends,
                send_acc: header.send_acc,
                send_count: header.send_count,
                debug_prints,
                inbox_consumed: header.inbox_consumed,
                inbox_acc: header.inbox_acc,
            },
            inbox,
            sideloads,
        };
        let mut machine = Machine::restore(program, snapshot)
            .map_err(|e| corrupt(format!("checkpoint {id}: {e}")))?;
        if machine.hash() != header.machine_hash {
            return Err(corrupt(format!("checkpoint {id}: machine hash mismatch")));
        }
        Ok(machine)
    }

    /// The codepoint index of `program` (whose id is `id`), built once per store.
    fn code_index(&self, program: &Program, id: U256) -> Arc<CodeIndex> {
        let mut indices = self.indices.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(indices.entry(id).or_insert_with(|| {
            Arc::new(
                program
                    .codepoints()
                    .iter()
                    .enumerate()
                    .map(|(i, cp)| (cp.hash(), i))
                    .collect(),
            )
        }))
    }

    /// Deletes checkpoint `id` and every node no other checkpoint reaches, in one atomic
    /// transaction.
    pub fn delete(&self, id: CheckpointId) -> Result<(), StoreError> {
        guarded(|| self.delete_unguarded(id))
    }

    /// See the public method of the same name (which guards it).
    fn delete_unguarded(&self, id: CheckpointId) -> Result<(), StoreError> {
        let txn = self.db.writable()?.begin_write()?;
        {
            let mut checkpoints = txn.open_table(CHECKPOINTS)?;
            let header = read_header(&checkpoints, id)?;
            checkpoints.remove(id)?;
            let mut values = txn.open_table(VALUES)?;
            let mut counts = txn.open_table(REFCOUNTS)?;
            let mut pending: Vec<Key> = header.roots().collect();
            while let Some(k) = pending.pop() {
                let count = counts
                    .get(k.as_slice())?
                    .map(|c| c.value())
                    .ok_or_else(|| corrupt("reference to a node with no count"))?;
                if count > 1 {
                    counts.insert(k.as_slice(), count - 1)?;
                    continue;
                }
                counts.remove(k.as_slice())?;
                let bytes = values
                    .remove(k.as_slice())?
                    .ok_or_else(|| corrupt("counted node is missing"))?;
                pending.extend(Decoded::parse(k[0], bytes.value())?.children());
            }
            // The program's source goes with its last checkpoint.
            let mut still_used = false;
            for entry in checkpoints.iter()? {
                let (_, bytes) = entry?;
                let other = bytes.value();
                if other.len() >= MAGIC.len() + 32
                    && other[MAGIC.len()..MAGIC.len() + 32] == be32(&header.program)
                {
                    still_used = true;
                    break;
                }
            }
            if !still_used {
                txn.open_table(PROGRAMS)?
                    .remove(be32(&header.program).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Counts checkpoints, nodes and bytes.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        guarded(|| self.stats_unguarded())
    }

    /// See the public method of the same name (which guards it).
    fn stats_unguarded(&self) -> Result<StoreStats, StoreError> {
        let txn = self.db.begin_read()?;
        let values = txn.open_table(VALUES)?;
        let checkpoints = txn.open_table(CHECKPOINTS)?;
        let mut node_bytes = 0u64;
        for entry in values.iter()? {
            let (k, v) = entry?;
            node_bytes += (k.value().len() + v.value().len()) as u64;
        }
        let mut header_bytes = 0u64;
        for entry in checkpoints.iter()? {
            header_bytes += entry?.1.value().len() as u64;
        }
        Ok(StoreStats {
            checkpoints: checkpoints.len()?,
            nodes: values.len()?,
            node_bytes,
            header_bytes,
        })
    }
}

/// Runs a store operation, turning a panic inside the storage engine into
/// [`StoreError::Corrupt`]. redb 4.6 panics (`unreachable!`, slice bounds) on some damaged
/// pages instead of returning its `Corrupted` error; a damaged store must be an error, never a
/// crash. While a guarded operation runs, a panic on its thread is not printed (the error says
/// what happened); panics anywhere else go to the hook that was there before.
fn guarded<T>(operation: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    use std::cell::{Cell, RefCell};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    thread_local! {
        static GUARDED: Cell<bool> = const { Cell::new(false) };
        static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info
                    .location()
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                CAUGHT.with(|c| *c.borrow_mut() = Some(format!("{message}{at}")));
            } else {
                previous(info);
            }
        }));
    });
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(operation));
    GUARDED.with(|g| g.set(outer));
    result.unwrap_or_else(|_| {
        let why = CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_default();
        Err(corrupt(format!(
            "the storage engine failed on damaged data ({why})"
        )))
    })
}

/// Creates an empty store at `path` unless one is there, atomically and exclusively. It is
/// built in a file of this process's own beside `path` and linked into place only if `path`
/// does not exist yet (a hard link never replaces a file): a crash leaves either no store or a
/// complete one (redb writes a new file's header in several steps, and a file cut short among
/// them never opens), and of two processes creating one store at once, one store is made and
/// the other process opens it (and finds it busy while the first runs), never replacing it.
fn create(path: &Path) -> Result<(), StoreError> {
    remove_stale_builds(path);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_nanos());
    let mut building = path.as_os_str().to_owned();
    building.push(format!("{BUILDING}{}.{stamp}", std::process::id()));
    let building = PathBuf::from(building);
    std::fs::File::create_new(&building)?;
    let made = Database::builder()
        .create(&building)
        .map_err(StoreError::from)
        .and_then(|db| create_tables(&db))
        .and_then(|()| match std::fs::hard_link(&building, path) {
            Ok(()) => Ok(()),
            // Another process made the store first: it is the one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // A file system without hard links: moved into place, not exclusive.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported && !path.exists() => {
                std::fs::rename(&building, path).map_err(StoreError::from)
            }
            Err(e) => Err(e.into()),
        });
    let _ = std::fs::remove_file(&building);
    made
}

/// What a store being built beside `path` is named after: `path` + this + pid + time.
const BUILDING: &str = ".creating.";

/// Removes files left beside `path` by creations that were killed (older than ten minutes;
/// a creation takes milliseconds). Best effort: whatever cannot be removed stays, unused.
fn remove_stale_builds(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(
        "{}{}",
        name.to_string_lossy(),
        BUILDING.trim_end_matches('.')
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(&prefix)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 600));
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates the store's tables in a new database.
fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(VALUES)?;
        txn.open_table(REFCOUNTS)?;
        txn.open_table(CHECKPOINTS)?;
        txn.open_table(PROGRAMS)?;
    }
    txn.commit()?;
    Ok(())
}

fn read_header(
    table: &impl ReadableTable<u64, &'static [u8]>,
    id: CheckpointId,
) -> Result<Header, StoreError> {
    let bytes = table.get(id)?.ok_or(StoreError::NoSuchCheckpoint(id))?;
    Header::decode(bytes.value())
}

/// Reads and parses the node `k` (checking a buffer chunk against its key).
fn read_node(
    values: &impl ReadableTable<&'static [u8], &'static [u8]>,
    k: &Key,
) -> Result<Decoded, StoreError> {
    let bytes = values
        .get(k.as_slice())?
        .ok_or_else(|| corrupt("a referenced node is missing"))?;
    if k[0] == TAG_CHUNK && be32(&keccak(&[bytes.value()])) != k[1..] {
        return Err(corrupt("a buffer chunk does not hash to its key"));
    }
    Decoded::parse(k[0], bytes.value())
}

/// Rebuilds values from nodes, sharing each node among all its parents (so a DAG stays a DAG).
///
/// Memory follows the machine being built, not twice the table: a node with one reference in
/// the store (its refcount) is handed to its one parent and forgotten; only nodes with several
/// references stay in the memo, so each is built once and shared. The work list holds one frame
/// per node on the path being built, and a path longer than the table has nodes can only be a
/// cycle of damaged references.
struct Builder<'p> {
    program: &'p Program,
    /// Built nodes not yet taken by all their parents: the value and whether several refer to it.
    memo: HashMap<Key, (Value, bool)>,
    /// Codepoint hash → index in the program.
    by_hash: &'p CodeIndex,
    /// Buffer chunks read so far.
    chunks: HashMap<Key, Leaves>,
    /// How many nodes the table holds: the longest a path of distinct nodes can be.
    nodes: usize,
}

impl Builder<'_> {
    /// The value `r` names, building any nodes it needs bottom-up with an explicit stack.
    fn value(
        &mut self,
        r: &Ref,
        values: &impl ReadableTable<&'static [u8], &'static [u8]>,
        counts: &impl ReadableTable<&'static [u8], u64>,
    ) -> Result<Value, StoreError> {
        let root = match r {
            Ref::Int(x) => return Ok(Value::int(*x)),
            Ref::Loaded(hash) => return self.loaded(hash),
            Ref::Node(k) => *k,
        };
        if self.memo.contains_key(&root) {
            return self.child(r);
        }
        // Frames: a key, and whether its children were pushed above it (then they are built,
        // and the node is read again and built). Only keys wait here, never parsed nodes, so a
        // path of any depth costs a few dozen bytes a node.
        let mut frames: Vec<(Key, bool)> = vec![(root, false)];
        // Expanded frames: the nodes on the path from the root to the one being read.
        let mut path = 0usize;
        while let Some(&(k, expanded)) = frames.last() {
            if self.memo.contains_key(&k) || self.chunks.contains_key(&k) {
                frames.pop();
                path -= usize::from(expanded);
                continue;
            }
            if path > self.nodes {
                return Err(corrupt("nodes refer to each other in a cycle"));
            }
            let decoded = read_node(values, &k)?;
            if let Decoded::Chunk(leaves) = decoded {
                self.chunks.insert(k, leaves);
                frames.pop();
                continue;
            }
            if !expanded {
                let depth = frames.len();
                for child in decoded.children() {
                    if !self.memo.contains_key(&child) && !self.chunks.contains_key(&child) {
                        frames.push((child, false));
                    }
                }
                if frames.len() > depth {
                    frames[depth - 1].1 = true;
                    path += 1;
                    continue;
                }
            }
            let value = self.build(decoded)?;
            let hash = value.hash();
            if be32(&hash) != k[1..] {
                return Err(corrupt(format!(
                    "node {hash:#066x} does not hash to its key"
                )));
            }
            let shared = counts.get(k.as_slice())?.is_none_or(|c| c.value() > 1);
            self.memo.insert(k, (value, shared));
            frames.pop();
            path -= usize::from(expanded);
        }
        self.child(r)
    }

    /// The program's codepoint with this hash.
    fn loaded(&self, hash: &U256) -> Result<Value, StoreError> {
        let i = *self
            .by_hash
            .get(hash)
            .ok_or_else(|| corrupt("a codepoint that is not in the program"))?;
        Ok(Value::CodePoint(self.program.codepoint(i).clone()))
    }

    /// A built child (Ints and program codepoints directly, nodes from the memo, which keeps
    /// only those that other parents still refer to).
    fn child(&mut self, r: &Ref) -> Result<Value, StoreError> {
        match r {
            Ref::Int(x) => Ok(Value::int(*x)),
            Ref::Loaded(hash) => self.loaded(hash),
            Ref::Node(k) => match self.memo.get(k) {
                Some((value, true)) => Ok(value.clone()),
                Some((_, false)) => Ok(self.memo.remove(k).expect("just found").0),
                None => Err(corrupt("child built out of order")),
            },
        }
    }

    fn build(&mut self, decoded: Decoded) -> Result<Value, StoreError> {
        Ok(match decoded {
            Decoded::Tuple(slots) => Value::Tuple(Tuple::new(
                slots
                    .iter()
                    .map(|r| self.child(r))
                    .collect::<Result<_, _>>()?,
            )),
            Decoded::Chunk(_) => return Err(corrupt("a buffer chunk where a value belongs")),
            Decoded::Buffer(_) | Decoded::ChunkedBuffer(_) => {
                let leaves: Vec<&(u64, [u8; LEAF_BYTES])> = match &decoded {
                    Decoded::Buffer(leaves) => leaves.iter().collect(),
                    Decoded::ChunkedBuffer(keys) => {
                        let mut all = Vec::new();
                        for k in keys {
                            let chunk = self
                                .chunks
                                .get(k)
                                .ok_or_else(|| corrupt("chunk read out of order"))?;
                            all.extend(chunk.iter());
                        }
                        all
                    }
                    _ => unreachable!("matched above"),
                };
                let mut buffer = Buffer::new();
                let mut last = None;
                for &(index, bytes) in leaves {
                    if last.is_some_and(|l| l >= index) || bytes == [0; LEAF_BYTES] {
                        return Err(corrupt("buffer leaves out of order or zero"));
                    }
                    last = Some(index);
                    buffer = buffer.with_leaf(index, bytes);
                }
                Value::Buffer(buffer)
            }
            Decoded::Dynamic {
                opcode,
                immediate,
                next,
            } => {
                let immediate = immediate.map(|r| self.child(&r)).transpose()?;
                let Value::CodePoint(next) = self.child(&next)? else {
                    return Err(corrupt("a codepoint's next is not a codepoint"));
                };
                Value::CodePoint(CodePoint::dynamic(opcode, immediate, next))
            }
            Decoded::Detached {
                opcode,
                immediate,
                next_hash,
            } => {
                let immediate = immediate.map(|r| self.child(&r)).transpose()?;
                Value::CodePoint(CodePoint::detached(opcode, immediate, next_hash))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use avm_interp::engine_hooks::EngineHooks;

    use super::*;

    /// A store holding one checkpoint of a machine whose stack holds `value`.
    fn saved(value: &Value) -> (Store, Arc<Program>, CheckpointId) {
        let program = Arc::new(Program::from_source(b"halt\n").unwrap());
        let mut machine = Machine::new(Arc::clone(&program));
        machine.stack_mut().push(value.clone());
        let store = Store::in_memory().unwrap();
        let id = store.save(&program, b"halt\n", &mut machine).unwrap().id;
        (store, program, id)
    }

    /// Builds the one stack value of `store`'s checkpoint; returns it and how many nodes the memo
    /// kept besides `()` (which the register and the static value share with the nest).
    fn rebuilt(store: &Store, program: &Program, id: CheckpointId) -> (Value, usize) {
        let txn = store.db.begin_read().unwrap();
        let header = read_header(&txn.open_table(CHECKPOINTS).unwrap(), id).unwrap();
        let values = txn.open_table(VALUES).unwrap();
        let counts = txn.open_table(REFCOUNTS).unwrap();
        let index = store.code_index(program, program_id(program));
        let mut builder = Builder {
            program,
            memo: HashMap::new(),
            by_hash: &index,
            chunks: HashMap::new(),
            nodes: values.len().unwrap() as usize,
        };
        let value = builder.value(&header.stack[0], &values, &counts).unwrap();
        let kept = builder
            .memo
            .keys()
            .filter(|k| k[0] == TAG_TUPLE && k[1..] != be32(&Value::none().hash()))
            .count();
        (value, kept)
    }

    /// `(n - 1, (n - 2, … (0, ())))`: a nest whose every node is distinct.
    fn counted_nest(n: u64) -> Value {
        (0..n).fold(Value::none(), |nest, i| {
            Value::tuple(vec![Value::int(i), nest])
        })
    }

    #[test]
    fn a_restore_keeps_only_shared_nodes_on_the_side() {
        let nest = counted_nest(100_000);
        let (store, program, id) = saved(&nest);
        let (value, kept) = rebuilt(&store, &program, id);
        assert_eq!(value.hash(), nest.hash());
        assert_eq!(kept, 0, "a node with one parent is handed over, not kept");

        let shared = Value::tuple(vec![nest.clone(), nest.clone(), Value::int(7)]);
        let (store, program, id) = saved(&shared);
        let (value, kept) = rebuilt(&store, &program, id);
        assert_eq!(value.hash(), shared.hash());
        assert_eq!(
            kept, 1,
            "the nest both slots share is built once and kept for both"
        );
        let Value::Tuple(t) = value else { panic!() };
        let (Some(Value::Tuple(a)), Some(Value::Tuple(b))) = (t.get(0), t.get(1)) else {
            panic!()
        };
        assert!(a.ptr_eq(b), "both slots hold the one rebuilt nest");
    }

    #[test]
    fn a_cycle_of_damaged_references_is_an_error_not_a_hang() {
        let nest = counted_nest(50);
        let (store, program, id) = saved(&nest);
        // The innermost pair now names the outermost as its tail: a loop through 50 nodes.
        let Ref::Node(root) = reference(&nest, &program) else {
            panic!()
        };
        let mut innermost = nest.clone();
        while let Value::Tuple(t) = &innermost
            && t.get(1)
                .is_some_and(|tail| tail.hash() != Value::none().hash())
        {
            innermost = t.get(1).unwrap().clone();
        }
        let Ref::Node(inner) = reference(&innermost, &program) else {
            panic!()
        };
        let mut bytes = vec![2u8];
        put_ref(&mut bytes, &Ref::Int(U256::zero()));
        put_ref(&mut bytes, &Ref::Node(root));
        let txn = store.db.writable().unwrap().begin_write().unwrap();
        txn.open_table(VALUES)
            .unwrap()
            .insert(inner.as_slice(), bytes.as_slice())
            .unwrap();
        txn.commit().unwrap();
        match store.load(id, program) {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("cycle"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
