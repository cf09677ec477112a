//! `avm checkpoints`: list (and prune) a checkpoint directory; the store a directory holds.

use std::path::{Path, PathBuf};

use avm_engine::node::{CheckpointInfo, Store, StoreError};
use avm_interp::Status;
use avm_runtime::hash::hex_hash;
use serde_json::json;

use crate::out::{Failure, Out};

/// The options of `avm checkpoints`.
#[derive(Debug, clap::Args)]
pub struct CheckpointsArgs {
    /// A checkpoint directory written by `avm run --checkpoint-dir`.
    dir: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// First delete all but the newest N checkpoints (freeing what only they use) and shrink
    /// the store file.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    keep: Option<u64>,
}

/// `avm checkpoints`: a directory's checkpoints, oldest first (after pruning them, with
/// `--keep`).
pub fn list(args: CheckpointsArgs, out: &mut Out) -> Result<(), Failure> {
    // Listing reads only, so it works while a run writes the store, and on a read-only copy.
    let store = match args.keep {
        None => open_store_read_only(&args.dir)?,
        Some(keep) => {
            let mut store = open_store(&args.dir, false)?;
            prune(&mut store, keep).map_err(store_failure)?;
            store
        }
    };
    let list = store.checkpoints().map_err(store_failure)?;
    let stats = store.stats().map_err(store_failure)?;
    let path = store_path(&args.dir);
    let file_bytes = std::fs::metadata(&path)
        .map_err(|e| Failure::io(&path, e))?
        .len();
    let status = |c: &CheckpointInfo| match c.status {
        Status::Running if c.blocked_on_inbox => "blocked",
        Status::Running => "running",
        Status::Halted => "halted",
        Status::ErrorStop => "errorstop",
    };
    if args.json {
        let entries: Vec<serde_json::Value> = list
            .iter()
            .map(|c| {
                let mut entry = json!({
                    "id": c.id,
                    "status": status(c),
                    "steps": c.steps,
                    "gas": crate::run::big_number(c.gas_used),
                    "inbox_consumed": c.inbox_consumed,
                    "pending_inbox": c.pending_inbox,
                    "machine_hash": hex_hash(&c.machine_hash),
                    "program": hex_hash(&c.program),
                });
                if c.blocked_on_inbox {
                    entry["block_reason"] = json!("inbox");
                }
                entry
            })
            .collect();
        let object = json!({
            "checkpoints": entries,
            "nodes": stats.nodes,
            "node_bytes": stats.node_bytes,
            "file_bytes": file_bytes,
        });
        return writeln!(out, "{object}");
    }
    writeln!(
        out,
        "id  status  steps  gas used  inbox consumed  pending inbox  machine hash"
    )?;
    for c in &list {
        writeln!(
            out,
            "{}  {}  {}  {}  {}  {}  {}",
            c.id,
            match c.blocked_on_inbox {
                true => "blocked (inbox)",
                false => status(c),
            },
            c.steps,
            c.gas_used,
            c.inbox_consumed,
            c.pending_inbox,
            hex_hash(&c.machine_hash)
        )?;
    }
    writeln!(
        out,
        "{} checkpoints, {} values in {} bytes, file {} bytes",
        stats.checkpoints, stats.nodes, stats.node_bytes, file_bytes
    )
}

/// Deletes all but the newest `keep` checkpoints, then compacts the file.
fn prune(store: &mut Store, keep: u64) -> Result<(), StoreError> {
    let list = store.checkpoints()?;
    let old = list.len().saturating_sub(keep as usize);
    for info in &list[..old] {
        store.delete(info.id)?;
    }
    store.compact()
}

/// The store file of a checkpoint directory.
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints.redb")
}

/// The store of a checkpoint directory, to write (created with the directory when `create`).
pub fn open_store(dir: &Path, create: bool) -> Result<Store, Failure> {
    let path = store_path(dir);
    if create {
        std::fs::create_dir_all(dir).map_err(|e| Failure::io(dir, e))?;
    } else {
        existing(&path)?;
    }
    Store::open(&path).map_err(store_failure)
}

/// The store of a checkpoint directory, to read only.
pub fn open_store_read_only(dir: &Path) -> Result<Store, Failure> {
    let path = store_path(dir);
    existing(&path)?;
    Store::open_read_only(&path).map_err(store_failure)
}

/// The store of a checkpoint directory for `avm resume`, and whether it is writable: a store
/// on a read-only file system (a backup, say) opens read-only instead.
pub fn open_store_to_resume(dir: &Path) -> Result<(Store, bool), Failure> {
    let path = store_path(dir);
    existing(&path)?;
    match Store::open(&path) {
        Ok(store) => Ok((store, true)),
        Err(e) if e.is_unwritable() => Store::open_read_only(&path)
            .map(|store| (store, false))
            .map_err(store_failure),
        Err(e) => Err(store_failure(e)),
    }
}

/// Fails unless a store file is at `path`.
fn existing(path: &Path) -> Result<(), Failure> {
    match path.is_file() {
        true => Ok(()),
        false => Err(Failure::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no checkpoint store"),
        )),
    }
}

/// A store error as a one-line failure.
pub fn store_failure(e: StoreError) -> Failure {
    Failure::engine("checkpoints", e)
}
