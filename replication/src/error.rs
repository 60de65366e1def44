//! Typed errors of the data layer. They stay in the process (peers get [`crate::PeerError`]
//! and [`crate::ServeError`] text), so each keeps its source where it has one.

use std::path::PathBuf;

use crate::id::ChunkId;
use crate::peer::PeerError;

/// Errors from the local chunk store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The chunk is not present in this store.
    #[error("chunk {0} not found")]
    NotFound(ChunkId),
    /// The chunk's bytes did not hash to its id; the file was moved to quarantine.
    #[error("chunk {id} is corrupt (hashes to {actual}); quarantined")]
    Corrupt {
        /// The id the chunk was stored under.
        id: ChunkId,
        /// What the bytes actually hash to.
        actual: ChunkId,
    },
    /// Writing the chunk would take the store's volume below its reserve; nothing written.
    #[error("chunk of {len} bytes refused: {free} bytes free, below the {reserve}-byte reserve after it")]
    Full {
        /// The chunk's length.
        len: usize,
        /// Bytes free on the volume.
        free: u64,
        /// Bytes that must stay free.
        reserve: u64,
    },
    /// A chunk is larger than a manifest entry can describe.
    #[error("chunk of {0} bytes exceeds the u32 length limit")]
    TooLarge(usize),
}

impl StoreError {
    /// Builds an [`StoreError::Io`] for `op` on `path`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }
}

/// Errors from the data layer (ingest, read, reaper).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The chunk store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A manifest chunk decoded but describes no valid manifest.
    #[error("manifest {id} is malformed: {reason}")]
    BadManifest {
        /// The manifest's chunk id.
        id: ChunkId,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest chunk could not be decoded at all.
    #[error("manifest {id} is malformed: {source}")]
    ManifestDecode {
        /// The manifest's chunk id.
        id: ChunkId,
        /// The decoder's error.
        #[source]
        source: rmp_serde::decode::Error,
    },
    /// A requested byte range is not within the image.
    #[error("range {start}..{end} is invalid for an image of {size} bytes")]
    BadRange {
        /// First byte requested.
        start: u64,
        /// One past the last byte requested.
        end: u64,
        /// The image size.
        size: u64,
    },
    /// A chunk's stored length differs from its manifest entry.
    #[error("chunk {id} has {actual} bytes but the manifest says {expected}")]
    LengthMismatch {
        /// The chunk's id.
        id: ChunkId,
        /// Length in the manifest.
        expected: u32,
        /// Length of the stored chunk.
        actual: usize,
    },
    /// A worker thread of the ingest pipeline stopped unexpectedly.
    #[error("ingest pipeline failed: {0}")]
    Pipeline(&'static str),
    /// A worker thread of the ingest pipeline could not be started.
    #[error("ingest pipeline failed: cannot spawn worker thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The live-manifest source failed.
    #[error("live manifest source failed: {0}")]
    Live(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A live manifest is neither stored locally nor obtainable; the reaper deleted nothing.
    #[error("live manifest {0} is unavailable; reap aborted")]
    ManifestUnavailable(ChunkId),
    /// A chunk of an upload was not stored on enough nodes (W = majority of R); the upload
    /// failed and must not become active.
    #[error("chunk {id} stored on {acked} of the {needed} nodes required (targets {targets:?})")]
    InsufficientReplicas {
        /// The chunk's id.
        id: ChunkId,
        /// Targets that confirmed (fsynced) the chunk.
        acked: usize,
        /// Confirmations required (W).
        needed: usize,
        /// The placement targets tried.
        targets: Vec<u64>,
    },
    /// A chunk could not be stored on W nodes because too many of its would-be targets are
    /// below their free-space reserve (Glance's `StorageFull`); the upload failed.
    #[error("chunk {id}: {writable} nodes with free space above their reserve, {needed} required (full: {full:?})")]
    StorageFull {
        /// The chunk's id.
        id: ChunkId,
        /// Nodes that could take it (acked, or still writable).
        writable: usize,
        /// Confirmations required (W).
        needed: usize,
        /// The nodes found below their reserve.
        full: Vec<u64>,
    },
    /// No verified copy of a chunk could be read, locally or from any live node.
    #[error("chunk {id} unavailable: {tried} sources tried, {corrupt} corrupt")]
    Unavailable {
        /// The chunk's id.
        id: ChunkId,
        /// Sources asked (the local store counts as one).
        tried: usize,
        /// Sources that returned bytes not matching the id.
        corrupt: usize,
    },
}

/// Why one repair (making sure a node holds a verified copy of a chunk) failed. Logged, then
/// retried with backoff by the replicator.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// No verified copy of the chunk could be read.
    #[error(transparent)]
    Fetch(#[from] DataError),
    /// The target node could not be asked, or did not store the copy.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// Checking the local copy panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}
