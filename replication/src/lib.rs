//! Tessera data layer: chunker, hash pipeline, content-addressed chunk store, manifests, reaper.
//!
//! Knows nothing of HTTP, QUIC or Raft: the node wires [`Data`] to the API and the metadata
//! layer (through [`LiveChunks`]).

pub mod chunker;
pub mod data;
pub mod error;
pub mod id;
pub mod ingest;
pub mod manifest;
pub mod reaper;
pub mod store;

pub use chunker::Chunker;
pub use data::Data;
pub use error::{DataError, StoreError};
pub use id::ChunkId;
pub use ingest::{Ingest, Ingested};
pub use manifest::{Manifest, ManifestEntry, Span};
pub use reaper::{LiveChunks, ReapReport};
pub use store::{ChunkEntry, ChunkStore};

#[cfg(test)]
mod tests;
