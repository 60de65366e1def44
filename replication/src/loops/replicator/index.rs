//! A pass's snapshot of the local store: every held chunk with its age and its placement
//! targets in the shared view, computed once per pass.

use std::time::SystemTime;

use crate::error::DataError;
use crate::id::ChunkId;
use crate::loops::replicator::digest::{by_bucket, Digest};
use crate::quorum::Quorum;

/// One held chunk.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) id: ChunkId,
    pub(crate) mtime: SystemTime,
    /// Placement targets in the shared membership view.
    pub(crate) targets: Vec<u64>,
}

/// What this node held when the pass started.
#[derive(Debug, Default)]
pub(crate) struct LocalIndex {
    pub(crate) held: Vec<Held>,
}

impl LocalIndex {
    /// Lists the store (but the reaper's orphans) and places every chunk (blocking: runs on a
    /// blocking thread).
    pub(crate) fn build(quorum: &Quorum) -> Result<LocalIndex, DataError> {
        let held = quorum
            .store
            .list()?
            .into_iter()
            .filter(|e| !quorum.is_orphan(&e.id))
            .map(|e| Held {
                targets: quorum.view_targets(&e.id),
                id: e.id,
                mtime: e.mtime,
            })
            .collect();
        Ok(LocalIndex { held })
    }

    /// Held ids that this node (`me`) and `with` should both hold, by bucket, sorted.
    pub(crate) fn shared_with(&self, me: u64, with: u64) -> Vec<Vec<ChunkId>> {
        by_bucket(
            self.held
                .iter()
                .filter(|h| h.targets.contains(&me) && h.targets.contains(&with))
                .map(|h| h.id),
        )
    }
}

/// The buckets whose digests differ.
pub(crate) fn differing(mine: &[Digest], theirs: &[Digest]) -> Vec<u8> {
    (0..mine.len().min(theirs.len()))
        .filter(|&b| mine[b] != theirs[b])
        .map(|b| b as u8)
        .collect()
}
