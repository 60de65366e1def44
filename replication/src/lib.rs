//! Tessera data layer: the chunker and hash pipeline, the content-addressed chunk store,
//! manifests, placement, quorum put/get across peers ([`quorum`]), the background loops
//! (replicator, auditor, reaper, under [`loops`]) on the worker runtime ([`worker`], with its
//! rate limiter) with their validated runtime settings ([`setting`]), and checking every copy
//! of an image's chunks ([`verify`]). The in-memory peers and the peer transport test suite
//! both implementations run are in `testing` (feature `testing`).
//!
//! Knows nothing of HTTP, QUIC or Raft: the node wires [`Data`] to the API, the metadata
//! layer (through [`LiveChunks`]), gossip (a membership watch of [`NodeInfo`]) and the other
//! nodes' stores (by implementing [`PeerChunks`] and serving requests with [`ChunkService`]).

pub mod cache;
pub mod chunker;
pub mod data;
pub mod error;
pub mod hashes;
pub mod id;
pub mod ingest;
mod lease;
pub mod loops;
pub mod manifest;
pub mod peer;
pub mod placement;
pub mod policy;
pub mod quorum;
pub mod replicas;
pub mod setting;
pub mod space;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod upload_hold;
pub mod verify;
pub mod worker;

pub use cache::index::CachedImage;
pub use cache::prefetch::{CacheImages, CacheTarget, Prefetcher};
pub use cache::{Cleared, ImageCache, Pruned};
pub use chunker::Chunker;
pub use data::{Data, LOCAL_NODE};
pub use error::{DataError, RepairError, StoreError};
pub use hashes::{Digests, Hashes};
pub use id::ChunkId;
pub use ingest::{Ingest, Ingested};
pub use loops::auditor::{AuditSummary, Auditor, AuditorConfig, ChunkHealth, LocalCheck};
pub use loops::reaper::{
    ImageRecords, Lingering, LingeringImage, LiveChunks, ReapReport, Reaper, ReaperConfig,
};
pub use loops::replicator::queue::{QueuedRepair, RepairQueue, REPAIR_QUEUE_CAP};
pub use loops::replicator::{DrainReport, RepairReport, Replicator, ReplicatorConfig};
pub use manifest::{Manifest, ManifestEntry, Span};
pub use peer::{ChunkService, NoPeers, PeerChunks, PeerError, ServeError};
pub use placement::{placement, placement_under, write_placement, NodeInfo};
pub use policy::{Needs, Policy};
pub use quorum::{majority, QuorumConfig, RepairHint, RepairReason};
pub use replicas::LiveManifest;
pub use space::{FixedSpace, FreeSpace, Reserve};
pub use store::{write_file_atomic, ChunkEntry, ChunkStore, StoreTotals};
pub use upload_hold::{Confirmed, UploadHold};
pub use verify::{CopiesCheck, CopyProblem};
pub use worker::{Step, Worker, WorkerError, WorkerReport, WorkerState, WorkerStatus, Workers};

#[cfg(test)]
mod quorum_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upload_hold_tests;
