//! Snapshots: every state machine tree serialized with rmp-serde, kept (with its meta) in the
//! `snapshot` tree so the current snapshot survives a restart.

use crate::db::{Db, SM_TREE_NAMES};
use crate::error::StoreError;
use crate::state_machine::{applied_state, LAST_APPLIED, LAST_MEMBERSHIP};
use crate::types::{
    sto, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use openraft::{RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::convert::Infallible;
use std::io::Cursor;
use std::sync::Arc;

const META_KEY: &[u8] = b"meta";
const DATA_KEY: &[u8] = b"data";
const SEQ_KEY: &[u8] = b"seq";
/// Present while an install is replacing the state machine trees.
const INSTALLING_KEY: &[u8] = b"installing";

/// A tree's key/value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The serialized state machine: each tree's name and its key/value pairs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SnapshotData {
    /// (tree name, pairs in key order).
    pub trees: Vec<(String, Pairs)>,
}

/// A consistent copy of the state machine taken between two applies, serialized on build.
pub struct SnapshotBuilder {
    db: Db,
    captured: Result<(Option<LogId>, StoredMembership, SnapshotData), Arc<StoreError>>,
}

impl SnapshotBuilder {
    /// Copies the state machine trees of `db` (call while no apply runs).
    pub fn capture(db: &Db) -> Self {
        let captured = (|| -> Result<_, StoreError> {
            let (last, membership) = applied_state(&db.sm)?;
            let mut data = SnapshotData::default();
            for (name, tree) in SM_TREE_NAMES.iter().zip(db.sm.all()) {
                let mut pairs = Vec::new();
                for kv in tree.iter() {
                    let (k, v) = kv?;
                    pairs.push((k.to_vec(), v.to_vec()));
                }
                data.trees.push((name.to_string(), pairs));
            }
            Ok((last, membership, data))
        })()
        .map_err(Arc::new);
        SnapshotBuilder {
            db: db.clone(),
            captured,
        }
    }

    fn build(&self) -> Result<Snapshot, StoreError> {
        let (last, membership, data) = self
            .captured
            .as_ref()
            .map_err(|e| StoreError::Capture(e.clone()))?;
        let bytes = rmp_serde::to_vec(data)?;
        let seq = self
            .db
            .snapshot
            .update_and_fetch(SEQ_KEY, |old| {
                let n = old
                    .and_then(|o| <[u8; 8]>::try_from(o).ok())
                    .map_or(0, u64::from_be_bytes);
                Some((n + 1).to_be_bytes().to_vec())
            })?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, seq),
            None => format!("--{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: *last,
            last_membership: membership.clone(),
            snapshot_id,
        };
        save_current(&self.db, &meta, &bytes)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        self.build()
            .map_err(|e| sto(|a| StorageIOError::write_snapshot(None, a), e))
    }
}

/// Keeps a built snapshot as the current one, unless the current one is newer or an install
/// is under way: a build captured before an install may finish after it, and must neither
/// replace the installed snapshot (the redo of a cut-short install reads it) nor make
/// `current` older than the state machine (followers would be sent a snapshot that does not
/// cover the purged log). Returns whether it was kept.
fn save_current(db: &Db, meta: &SnapshotMeta, bytes: &[u8]) -> Result<bool, StoreError> {
    let encoded = rmp_serde::to_vec(meta)?;
    let kept = db
        .snapshot
        .transaction(|t| {
            if t.get(INSTALLING_KEY)?.is_some() {
                return Ok(false);
            }
            if let Some(current) = t.get(META_KEY)? {
                let newer = rmp_serde::from_slice::<SnapshotMeta>(&current)
                    .map(|current| current.last_log_id > meta.last_log_id)
                    // An unreadable current snapshot is worth replacing.
                    .unwrap_or(false);
                if newer {
                    return Ok(false);
                }
            }
            t.insert(META_KEY, encoded.as_slice())?;
            t.insert(DATA_KEY, bytes)?;
            Ok::<_, ConflictableTransactionError<Infallible>>(true)
        })
        .map_err(|e| match e {
            TransactionError::Abort(never) => match never {},
            TransactionError::Storage(e) => StoreError::from(e),
        })?;
    if !kept {
        tracing::info!(snapshot = %meta.snapshot_id, "a newer snapshot is current; the built one is not kept");
    }
    Ok(kept)
}

/// The current snapshot, if one was built or installed.
pub fn current(db: &Db) -> Result<Option<Snapshot>, StoreError> {
    let (Some(meta), Some(data)) = (db.snapshot.get(META_KEY)?, db.snapshot.get(DATA_KEY)?) else {
        return Ok(None);
    };
    Ok(Some(Snapshot {
        meta: rmp_serde::from_slice(&meta)?,
        snapshot: Box::new(Cursor::new(data.to_vec())),
    }))
}

/// Replaces the state machine with the snapshot `bytes` described by `meta`, keeps it as
/// the current snapshot and makes it durable.
///
/// Crash-atomic by redo: sled cannot clear a tree transactionally, so the snapshot is first
/// saved as the current one together with an `installing` marker (one batch, fsynced), then
/// the trees are replaced and the marker removed. A crash in between leaves the marker, and
/// [`finish_install`] (run by `Db::open`) replaces the trees again from the kept bytes.
pub fn install(db: &Db, meta: &SnapshotMeta, bytes: Vec<u8>) -> Result<(), StoreError> {
    install_steps(db, meta, bytes, &mut |_| true).map(|_| ())
}

/// [`install`] that stops (as a crash would) before step `stop_at` (0 = before anything is
/// written); returns whether it ran to the end. For crash tests only.
#[cfg(any(test, feature = "testing"))]
pub fn install_until(
    db: &Db,
    meta: &SnapshotMeta,
    bytes: Vec<u8>,
    stop_at: usize,
) -> Result<bool, StoreError> {
    install_steps(db, meta, bytes, &mut |step| step < stop_at)
}

/// Runs the install, asking `go(step)` before each durable step whether to carry on.
fn install_steps(
    db: &Db,
    meta: &SnapshotMeta,
    bytes: Vec<u8>,
    go: &mut dyn FnMut(usize) -> bool,
) -> Result<bool, StoreError> {
    // Decode and check first: a snapshot that cannot be installed must never be marked.
    let data = decode(&bytes)?;
    if !go(0) {
        return Ok(false);
    }
    let mut batch = sled::Batch::default();
    batch.insert(META_KEY, rmp_serde::to_vec(meta)?);
    batch.insert(DATA_KEY, bytes);
    batch.insert(INSTALLING_KEY, &[]);
    db.snapshot.apply_batch(batch)?;
    db.durable.sync()?;
    replace_trees(db, meta, data, &mut |step| go(step + 1))
}

/// Finishes an install that a crash interrupted: if the marker is there, replaces the state
/// machine from the current snapshot again (idempotent, so a crash during this is fine too).
pub fn finish_install(db: &Db) -> Result<(), StoreError> {
    if db.snapshot.get(INSTALLING_KEY)?.is_none() {
        return Ok(());
    }
    let (Some(meta), Some(bytes)) = (db.snapshot.get(META_KEY)?, db.snapshot.get(DATA_KEY)?) else {
        return Err(StoreError::NoSnapshotToFinish);
    };
    let meta: SnapshotMeta = rmp_serde::from_slice(&meta)?;
    tracing::warn!(snapshot = %meta.snapshot_id, "finishing a snapshot install cut short");
    replace_trees(db, &meta, decode(&bytes)?, &mut |_| true)?;
    Ok(())
}

/// Decodes snapshot bytes, refusing a tree this version does not know.
fn decode(bytes: &[u8]) -> Result<SnapshotData, StoreError> {
    let data: SnapshotData = rmp_serde::from_slice(bytes)?;
    if let Some((name, _)) = data
        .trees
        .iter()
        .find(|(name, _)| !SM_TREE_NAMES.contains(&name.as_str()))
    {
        return Err(StoreError::UnknownTree(name.clone()));
    }
    Ok(data)
}

/// Clears and refills every state machine tree, writes the applied state, then removes the
/// marker and fsyncs. Steps are numbered from 0 for `go`.
fn replace_trees(
    db: &Db,
    meta: &SnapshotMeta,
    data: SnapshotData,
    go: &mut dyn FnMut(usize) -> bool,
) -> Result<bool, StoreError> {
    let mut step = 0;
    let mut next = |go: &mut dyn FnMut(usize) -> bool| {
        step += 1;
        go(step - 1)
    };
    let trees = db.sm.all();
    for tree in &trees {
        if !next(go) {
            return Ok(false);
        }
        tree.clear()?;
    }
    for (name, pairs) in data.trees {
        let pos = SM_TREE_NAMES
            .iter()
            .position(|n| *n == name)
            .ok_or(StoreError::UnknownTree(name))?;
        if !next(go) {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        trees[pos].apply_batch(batch)?;
    }
    if !next(go) {
        return Ok(false);
    }
    let mut batch = sled::Batch::default();
    batch.insert(
        LAST_MEMBERSHIP,
        rmp_serde::to_vec_named(&meta.last_membership)?,
    );
    match &meta.last_log_id {
        Some(l) => batch.insert(LAST_APPLIED, rmp_serde::to_vec_named(l)?),
        None => batch.remove(LAST_APPLIED),
    }
    db.sm.meta.apply_batch(batch)?;
    if !next(go) {
        return Ok(false);
    }
    // A snapshot taken before usage was tracked carries none.
    crate::state_machine::build_usage_if_missing(&db.sm)?;
    if !next(go) {
        return Ok(false);
    }
    db.snapshot.remove(INSTALLING_KEY)?;
    db.durable.sync()?;
    Ok(true)
}
