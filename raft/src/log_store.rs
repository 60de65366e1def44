//! openraft log storage (v2) on sled: entries in `raft_log`, vote/committed/purged in
//! `raft_meta`.

// openraft fixes the (large) `StorageError` type of these functions.
#![allow(clippy::result_large_err)]

use crate::db::Db;
use crate::types::{sto, Entry, LogId, NodeId, StorageError, TypeConfig};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The raft log and vote of one node.
#[derive(Clone)]
pub struct LogStore {
    db: Db,
}

impl LogStore {
    /// Log storage over `db`'s log and raft meta trees.
    pub fn new(db: Db) -> Self {
        LogStore { db }
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let Some(v) = self
            .db
            .raft_meta
            .get(key)
            .map_err(|e| sto(StorageIOError::read, e))?
        else {
            return Ok(None);
        };
        rmp_serde::from_slice(&v)
            .map(Some)
            .map_err(|e| sto(StorageIOError::read, e))
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], v: &T) -> Result<(), StorageError> {
        let bytes = rmp_serde::to_vec(v).map_err(|e| sto(StorageIOError::write, e))?;
        self.db
            .raft_meta
            .insert(key, bytes)
            .map_err(|e| sto(StorageIOError::write, e))?;
        Ok(())
    }

    async fn sync(&self) -> Result<(), StorageError> {
        self.db
            .durable
            .sync_async()
            .await
            .map_err(|e| sto(StorageIOError::write, e))
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let Some((_, v)) = self
            .db
            .log
            .last()
            .map_err(|e| sto(StorageIOError::read_logs, e))?
        else {
            return Ok(None);
        };
        let e: Entry = rmp_serde::from_slice(&v).map_err(|e| sto(StorageIOError::read_logs, e))?;
        Ok(Some(e.log_id))
    }

    /// Removes log entries with index in `[from, to)` (`to = None`: to the end).
    fn remove_range(&self, from: u64, to: Option<u64>) -> Result<(), StorageError> {
        let start = from.to_be_bytes();
        let mut batch = sled::Batch::default();
        let iter = match to {
            Some(to) => self.db.log.range(start..to.to_be_bytes()),
            None => self.db.log.range(start..),
        };
        for kv in iter {
            let (k, _) = kv.map_err(|e| sto(StorageIOError::write_logs, e))?;
            batch.remove(k);
        }
        self.db
            .log
            .apply_batch(batch)
            .map_err(|e| sto(StorageIOError::write_logs, e))
    }
}

fn bound_u64(b: Bound<&u64>) -> Bound<[u8; 8]> {
    match b {
        Bound::Included(i) => Bound::Included(i.to_be_bytes()),
        Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let r = (bound_u64(range.start_bound()), bound_u64(range.end_bound()));
        let mut out = Vec::new();
        for kv in self.db.log.range(r) {
            let (_, v) = kv.map_err(|e| sto(StorageIOError::read_logs, e))?;
            out.push(rmp_serde::from_slice(&v).map_err(|e| sto(StorageIOError::read_logs, e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_meta(LAST_PURGED)?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote)?;
        // The vote must be on stable storage before we answer anyone.
        self.sync().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: losing it only means re-applying from the state machine's last applied.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for e in entries {
            let bytes =
                rmp_serde::to_vec(&e).map_err(|err| sto(StorageIOError::write_logs, err))?;
            batch.insert(&e.log_id.index.to_be_bytes(), bytes);
        }
        self.db
            .log
            .apply_batch(batch)
            .map_err(|e| sto(StorageIOError::write_logs, e))?;
        // Acknowledge only once the entries are fsynced (see `durable`). Awaiting here keeps
        // IO serialized: a later vote or append cannot complete before this one.
        let res = self.db.durable.sync_async().await;
        callback.log_io_completed(res);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_range(log_id.index, None)?;
        self.sync().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between leaves extra entries, never a hole.
        self.put_meta(LAST_PURGED, &log_id)?;
        self.remove_range(0, Some(log_id.index + 1))?;
        self.sync().await
    }
}
