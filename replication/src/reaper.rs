//! Reaper: deletes chunks no live manifest references, after a grace period.
//!
//! Safety: a chunk is deleted only if it is outside the live set, not pinned by an in-flight
//! ingest, and its mtime (write time, refreshed on dedup and at the end of a long ingest) is
//! older than `grace`. `grace` must exceed the time from [`crate::Ingest::finish`] to the
//! image's manifest appearing in [`LiveChunks::live_manifests`] (minutes are plenty). If a
//! live manifest cannot be read, nothing is deleted.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::data::Data;
use crate::error::{DataError, StoreError};
use crate::id::ChunkId;
use crate::manifest::Manifest;

/// Source of the manifests that must be kept (implemented by the node over the metadata layer).
pub trait LiveChunks: Send + Sync {
    /// Error of the metadata layer.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Ids of the manifest chunks of every image whose data must be kept.
    fn live_manifests(&self) -> impl Future<Output = Result<Vec<ChunkId>, Self::Error>> + Send;

    /// Bytes of a live manifest this node does not hold locally (e.g. from a peer); `None` if
    /// unavailable, which aborts the reap.
    fn fetch_manifest(
        &self,
        id: &ChunkId,
    ) -> impl Future<Output = Result<Option<Bytes>, Self::Error>> + Send {
        let _ = id;
        async { Ok(None) }
    }
}

/// What one reaper pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Live manifests considered.
    pub manifests: usize,
    /// Distinct live chunk ids (manifests and their chunks).
    pub live_chunks: usize,
    /// Chunk files examined.
    pub scanned: usize,
    /// Unreferenced chunks kept because they are younger than the grace period or pinned.
    pub kept_young: usize,
    /// Chunks deleted.
    pub deleted: usize,
    /// Bytes freed by deleted chunks.
    pub deleted_bytes: u64,
    /// Stale temp files deleted.
    pub tmp_deleted: usize,
    /// Bytes freed by deleted temp files.
    pub tmp_bytes: u64,
}

impl Data {
    /// Runs one reaper pass: deletes unreferenced chunks and temp files older than `grace`.
    pub async fn reap_once(
        &self,
        live: &impl LiveChunks,
        grace: Duration,
    ) -> Result<ReapReport, DataError> {
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
        let manifests = live
            .live_manifests()
            .await
            .map_err(|e| DataError::Live(Box::new(e)))?;
        let mut report = ReapReport {
            manifests: manifests.len(),
            ..ReapReport::default()
        };
        let mut keep: HashSet<ChunkId> = HashSet::new();
        for id in manifests {
            if !keep.insert(id) {
                continue;
            }
            let manifest = match self.manifest(&id).await {
                Ok(m) => m,
                Err(
                    DataError::Unavailable { .. }
                    | DataError::Store(StoreError::NotFound(_) | StoreError::Corrupt { .. }),
                ) => {
                    match live
                        .fetch_manifest(&id)
                        .await
                        .map_err(|e| DataError::Live(Box::new(e)))?
                    {
                        Some(bytes) if ChunkId::of(&bytes) == id => Manifest::decode(&id, &bytes)?,
                        _ => return Err(DataError::ManifestUnavailable(id)),
                    }
                }
                Err(e) => return Err(e),
            };
            keep.extend(manifest.entries().iter().map(|e| e.id));
        }
        report.live_chunks = keep.len();
        let store = self.store().clone();
        tokio::task::spawn_blocking(move || {
            for entry in store.list()? {
                report.scanned += 1;
                if keep.contains(&entry.id) {
                    continue;
                }
                match store.delete_if_reapable(&entry.id, cutoff)? {
                    Some(bytes) => {
                        report.deleted += 1;
                        report.deleted_bytes += bytes;
                    }
                    None => report.kept_young += 1,
                }
            }
            let tmp = store.clean_tmp(grace)?;
            report.tmp_deleted = tmp.files;
            report.tmp_bytes = tmp.bytes;
            if report.deleted > 0 || report.tmp_deleted > 0 {
                tracing::info!(?report, "reaper pass");
            }
            Ok(report)
        })
        .await?
    }
}
