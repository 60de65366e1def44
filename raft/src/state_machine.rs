//! The replicated state machine: deterministic apply of commands into sled trees.
//!
//! Each log entry is applied as one sled transaction over all state machine trees, carrying
//! the image record, its index keys, the dedup record and `last_applied`/membership together,
//! so a crash never leaves data and applied position out of step.

use crate::command::{Command, Outcome, Request};
use crate::db::{Db, SmTrees};
use crate::docs::{self, Change, Doc, DocConflict, DocOp};
use crate::error::StoreError;
use crate::index::{index_keys, ord_i64};
use crate::model::{DataRef, Image};
use crate::snapshot::{self, SnapshotBuilder};
use crate::types::{
    sto, Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::usage::{self, LimitCheck, OverLimit, Usage};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, StorageIOError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Cursor;

/// Request ids older than this (relative to the newest applied `stamped_at`) are forgotten.
pub const DEDUP_TTL_SECS: i64 = 3600;
/// At most this many expired request ids are dropped per applied entry, bounding apply cost.
const EXPIRE_PER_APPLY: usize = 64;

pub(crate) const LAST_APPLIED: &[u8] = b"last_applied";
pub(crate) const LAST_MEMBERSHIP: &[u8] = b"last_membership";
const NEWEST_STAMP: &[u8] = b"newest_stamp";

const IMAGES: usize = 0;
const DEDUP: usize = 1;
const DEDUP_AGE: usize = 2;
const META: usize = 3;
const DOCS: usize = 11;
const USAGE: usize = 12;
/// Set once the usage tree has been computed from the images (older data had none).
const USAGE_BUILT: &[u8] = b"usage_built";

/// Writes computed for one entry: (tree position, key, Some(value) to insert / None to
/// remove), committed in order inside one transaction.
#[derive(Default)]
pub(crate) struct Ops(Vec<(usize, Vec<u8>, Option<Vec<u8>>)>);

impl Ops {
    fn put(&mut self, tree: usize, k: impl Into<Vec<u8>>, v: Vec<u8>) {
        self.0.push((tree, k.into(), Some(v)));
    }
    fn del(&mut self, tree: usize, k: impl Into<Vec<u8>>) {
        self.0.push((tree, k.into(), None));
    }
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    Ok(rmp_serde::to_vec_named(v)?)
}

fn dec<T: DeserializeOwned>(v: &[u8]) -> Result<T, StoreError> {
    Ok(rmp_serde::from_slice(v)?)
}

/// Reads one record of the state machine meta tree.
pub(crate) fn read_meta<T: DeserializeOwned>(
    t: &SmTrees,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    t.meta.get(key)?.map(|v| dec(&v)).transpose()
}

/// The applied log id and membership recorded in `t`.
pub(crate) fn applied_state(t: &SmTrees) -> Result<(Option<LogId>, StoredMembership), StoreError> {
    Ok((
        read_meta(t, LAST_APPLIED)?,
        read_meta(t, LAST_MEMBERSHIP)?.unwrap_or_default(),
    ))
}

/// Reads one image record.
pub fn get_image(t: &SmTrees, id: &str) -> Result<Option<Image>, StoreError> {
    t.images.get(id.as_bytes())?.map(|v| dec(&v)).transpose()
}

/// The chunk store's data of every stored image (the manifest and the stores holding it).
pub(crate) fn live_manifests(t: &SmTrees) -> Result<Vec<DataRef>, StoreError> {
    let mut out = Vec::new();
    for kv in t.images.iter() {
        let (_, v) = kv?;
        let img: Image = dec(&v)?;
        if let Some(d) = img.data {
            out.push(d);
        }
    }
    Ok(out)
}

/// The state machine of one node.
pub struct StateMachine {
    db: Db,
}

impl StateMachine {
    /// A state machine over `db`'s state machine trees.
    pub fn new(db: Db) -> Self {
        StateMachine { db }
    }

    /// Applies one log entry atomically and returns its outcome.
    pub(crate) fn apply_entry(&self, entry: &Entry) -> Result<Outcome, StoreError> {
        let mut ops = Ops::default();
        let outcome = match &entry.payload {
            EntryPayload::Blank => Outcome::Applied(None),
            EntryPayload::Normal(req) => self.apply_request(req, &mut ops)?,
            EntryPayload::Membership(m) => {
                let sm = StoredMembership::new(Some(entry.log_id), m.clone());
                ops.put(META, LAST_MEMBERSHIP, enc(&sm)?);
                Outcome::Applied(None)
            }
        };
        ops.put(META, LAST_APPLIED, enc(&entry.log_id)?);
        self.commit(ops)?;
        Ok(outcome)
    }

    /// Computes the writes of one request (reading current state, which only this
    /// single-threaded apply path modifies) and returns its outcome.
    pub(crate) fn apply_request(
        &self,
        req: &Request,
        ops: &mut Ops,
    ) -> Result<Outcome, StoreError> {
        let t = &self.db.sm;
        if let Some(v) = t.dedup.get(req.request_id.as_bytes())? {
            let (_, outcome): (i64, Outcome) = dec(&v)?;
            return Ok(outcome);
        }
        let outcome = match &req.command {
            Command::CreateImage { image, limits } => match get_image(t, &image.id)? {
                Some(_) => Outcome::Exists,
                None => {
                    let mut stored = image.clone();
                    stored.revision = 1;
                    match account(t, ops, None, Some(&stored), limits)? {
                        Some(over) => Outcome::OverLimit(over),
                        None => {
                            write_image(ops, None, &stored)?;
                            Outcome::Applied(Some(stored))
                        }
                    }
                }
            },
            Command::PutImage {
                image,
                expect,
                limits,
            } => match get_image(t, &image.id)? {
                None => Outcome::NotFound,
                Some(cur) if cur.revision != *expect => Outcome::Conflict(cur),
                Some(cur) => {
                    let mut stored = image.clone();
                    stored.revision = cur.revision + 1;
                    match account(t, ops, Some(&cur), Some(&stored), limits)? {
                        Some(over) => Outcome::OverLimit(over),
                        None => {
                            write_image(ops, Some(&cur), &stored)?;
                            Outcome::Applied(Some(stored))
                        }
                    }
                }
            },
            Command::DeleteImage { id, expect } => match get_image(t, id)? {
                None => Outcome::NotFound,
                Some(cur) if cur.revision != *expect => Outcome::Conflict(cur),
                Some(cur) => {
                    account(t, ops, Some(&cur), None, &[])?;
                    for (idx, k) in index_keys(&cur) {
                        ops.del(idx.tree_pos(), k);
                    }
                    ops.del(IMAGES, cur.id.as_bytes());
                    Outcome::Applied(None)
                }
            },
            Command::Docs { ops: batch } => apply_docs(t, batch, ops)?,
        };
        self.record_request(req, &outcome, ops)?;
        Ok(outcome)
    }

    /// Remembers the outcome under the request id and expires ids older than the TTL
    /// relative to the newest stamp seen (log-driven, so every replica expires the same ids).
    fn record_request(
        &self,
        req: &Request,
        outcome: &Outcome,
        ops: &mut Ops,
    ) -> Result<(), StoreError> {
        let t = &self.db.sm;
        let mut age_key = ord_i64(req.stamped_at).to_vec();
        age_key.extend_from_slice(req.request_id.as_bytes());
        ops.put(
            DEDUP,
            req.request_id.as_bytes(),
            enc(&(req.stamped_at, outcome))?,
        );
        ops.put(DEDUP_AGE, age_key, Vec::new());

        let newest =
            read_meta::<i64>(t, NEWEST_STAMP)?.map_or(req.stamped_at, |n| n.max(req.stamped_at));
        ops.put(META, NEWEST_STAMP, enc(&newest)?);
        let cutoff = ord_i64(newest.saturating_sub(DEDUP_TTL_SECS));
        for kv in t.dedup_age.range(..cutoff).take(EXPIRE_PER_APPLY) {
            let (k, _) = kv?;
            if let Some(id) = k.get(8..) {
                ops.del(DEDUP, id);
            }
            ops.del(DEDUP_AGE, k.as_ref());
        }
        Ok(())
    }

    fn commit(&self, ops: Ops) -> Result<(), StoreError> {
        use sled::transaction::{TransactionError, Transactional};
        let trees = self.db.sm.all();
        let res: Result<(), TransactionError<()>> = trees[..].transaction(|tx| {
            for (pos, k, v) in &ops.0 {
                match v {
                    Some(v) => tx[*pos].insert(k.as_slice(), v.as_slice())?,
                    None => tx[*pos].remove(k.as_slice())?,
                };
            }
            Ok(())
        });
        match res {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(e.into()),
            Err(TransactionError::Abort(())) => Err(StoreError::Aborted),
        }
    }
}

/// The unified-limit usage of `project`.
pub fn get_usage(t: &SmTrees, project: &str) -> Result<Usage, StoreError> {
    Ok(t.usage
        .get(project.as_bytes())?
        .map(|v| dec(&v))
        .transpose()?
        .unwrap_or_default())
}

/// Moves the usage of the owners of `old` and `new` (one image before and after a change)
/// and checks `limits` against the new owner's usage; on a failed check writes nothing.
fn account(
    t: &SmTrees,
    ops: &mut Ops,
    old: Option<&Image>,
    new: Option<&Image>,
    limits: &[LimitCheck],
) -> Result<Option<OverLimit>, StoreError> {
    let old_owner = old.and_then(|i| i.owner.as_deref());
    let new_owner = new.and_then(|i| i.owner.as_deref());
    let mut writes = Vec::new();
    if old_owner != new_owner {
        if let Some(p) = old_owner {
            writes.push((p, get_usage(t, p)?.replaced(old, None)));
        }
        if let Some(p) = new_owner {
            let before = get_usage(t, p)?;
            let after = before.replaced(None, new);
            if let Some(over) = usage::check(p, limits, &before, &after) {
                return Ok(Some(over));
            }
            writes.push((p, after));
        }
    } else if let Some(p) = new_owner.or(old_owner) {
        let before = get_usage(t, p)?;
        let after = before.replaced(old, new);
        if let Some(over) = usage::check(p, limits, &before, &after) {
            return Ok(Some(over));
        }
        writes.push((p, after));
    }
    for (p, u) in writes {
        if u == Usage::default() {
            ops.del(USAGE, p.as_bytes());
        } else {
            ops.put(USAGE, p.as_bytes(), enc(&u)?);
        }
    }
    Ok(None)
}

/// Computes every project's usage from the images if this state machine has never done so
/// (data written before usage was tracked). Deterministic, so every replica gets the same.
pub fn build_usage_if_missing(t: &SmTrees) -> Result<(), StoreError> {
    if t.meta.get(USAGE_BUILT)?.is_some() {
        return Ok(());
    }
    let mut all: std::collections::BTreeMap<String, Usage> = Default::default();
    for kv in t.images.iter() {
        let (_, v) = kv?;
        let img: Image = dec(&v)?;
        if let Some(owner) = &img.owner {
            let u = all.entry(owner.clone()).or_default();
            *u = u.replaced(None, Some(&img));
        }
    }
    t.usage.clear()?;
    let mut batch = sled::Batch::default();
    for (p, u) in all {
        batch.insert(p.as_bytes(), enc(&u)?);
    }
    t.usage.apply_batch(batch)?;
    t.meta.insert(USAGE_BUILT, enc(&true)?)?;
    Ok(())
}

/// Reads one document.
pub fn get_doc(t: &SmTrees, kind: &str, id: &str) -> Result<Option<Doc>, StoreError> {
    t.docs
        .get(docs::key(kind, id))?
        .map(|v| to_doc(kind, id, &v))
        .transpose()
}

/// Every document of `kind` whose id starts with `prefix`, in id order.
pub fn list_docs(t: &SmTrees, kind: &str, prefix: &str) -> Result<Vec<Doc>, StoreError> {
    let head = docs::key(kind, "").len();
    let mut out = Vec::new();
    for kv in t.docs.scan_prefix(docs::key(kind, prefix)) {
        let (k, v) = kv?;
        let id = String::from_utf8_lossy(k.get(head..).unwrap_or_default());
        out.push(to_doc(kind, &id, &v)?);
    }
    Ok(out)
}

fn to_doc(kind: &str, id: &str, v: &[u8]) -> Result<Doc, StoreError> {
    let stored: docs::Stored = dec(v)?;
    Ok(Doc {
        kind: kind.into(),
        id: id.into(),
        revision: stored.revision,
        body: stored.body,
    })
}

/// Checks every precondition of `batch` (each against the state the operations before it
/// leave), then writes all of it, or nothing.
fn apply_docs(t: &SmTrees, batch: &[DocOp], ops: &mut Ops) -> Result<Outcome, StoreError> {
    use std::collections::BTreeMap;
    // Keys this batch already changed: later operations see their new state.
    let mut pending: BTreeMap<Vec<u8>, Option<Doc>> = BTreeMap::new();
    let mut results = Vec::with_capacity(batch.len());
    for (index, op) in batch.iter().enumerate() {
        let k = docs::key(&op.kind, &op.id);
        let current = match pending.get(&k) {
            Some(c) => c.clone(),
            None => get_doc(t, &op.kind, &op.id)?,
        };
        if !docs::holds(op.expect, current.as_ref()) {
            return Ok(Outcome::DocConflict(DocConflict { index, current }));
        }
        let after = match &op.change {
            Change::Keep => current,
            Change::Delete => None,
            Change::Put(body) => Some(Doc {
                kind: op.kind.clone(),
                id: op.id.clone(),
                revision: current.map_or(1, |c| c.revision + 1),
                body: body.clone(),
            }),
        };
        if op.change != Change::Keep {
            pending.insert(k, after.clone());
        }
        results.push(after);
    }
    for (k, doc) in pending {
        match doc {
            Some(d) => ops.put(
                DOCS,
                k,
                enc(&docs::Stored {
                    revision: d.revision,
                    body: d.body,
                })?,
            ),
            None => ops.del(DOCS, k),
        }
    }
    Ok(Outcome::Docs(results))
}

/// Stores `new` (replacing `old`, if any) and moves its index keys.
fn write_image(ops: &mut Ops, old: Option<&Image>, new: &Image) -> Result<(), StoreError> {
    if let Some(old) = old {
        for (idx, k) in index_keys(old) {
            ops.del(idx.tree_pos(), k);
        }
    }
    ops.put(IMAGES, new.id.as_bytes(), enc(new)?);
    for (idx, k) in index_keys(new) {
        ops.put(idx.tree_pos(), k, Vec::new());
    }
    Ok(())
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        applied_state(&self.db.sm).map_err(|e| sto(StorageIOError::read_state_machine, e))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        for entry in entries {
            let r = self
                .apply_entry(&entry)
                .map_err(|e| sto(|a| StorageIOError::apply(entry.log_id, a), e))?;
            out.push(r);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Copy the trees now: apply is paused while we run, but the build itself is spawned.
        SnapshotBuilder::capture(&self.db)
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let db = self.db.clone();
        let meta = meta.clone();
        let bytes = snapshot.into_inner();
        tokio::task::spawn_blocking(move || snapshot::install(&db, &meta, bytes))
            .await
            .map_err(|e| sto(StorageIOError::write_state_machine, e))?
            .map_err(|e| sto(StorageIOError::write_state_machine, e))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        snapshot::current(&self.db).map_err(|e| sto(StorageIOError::read_state_machine, e))
    }
}
