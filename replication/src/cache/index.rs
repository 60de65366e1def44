//! The image cache's records and their file: which images this node holds whole, their hits
//! and times, and the queue of images to fetch (Glance's `cached_images` rows and queue).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::id::ChunkId;
use crate::store::write_file_atomic;

/// One cached image on this node, as Glance's centralized cache records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedImage {
    /// The record's number on this node (Glance's row id).
    pub id: u64,
    /// The image.
    pub image_id: String,
    /// The image's manifest chunk (its chunks are all held here).
    pub manifest: ChunkId,
    /// Image size in bytes.
    pub size: u64,
    /// Downloads served from the cache.
    pub hits: u64,
    /// Unix time (seconds, fractional) of the last download served from the cache, or of
    /// caching if none yet.
    pub last_accessed: f64,
    /// Unix time the image was cached.
    pub last_modified: f64,
    /// The image's MD5 (Glance `checksum`), when it has one.
    pub checksum: Option<String>,
}

/// An image waiting for the prefetcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedImage {
    /// The image.
    pub image_id: String,
    /// Unix time it was queued (the queue's order).
    pub queued_at: f64,
}

/// What the cache file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CacheFile {
    /// Number of the next record.
    pub(crate) next_id: u64,
    /// Cached images, oldest record first.
    pub(crate) cached: Vec<CachedImage>,
    /// Queued images, first queued first.
    pub(crate) queued: Vec<QueuedImage>,
}

impl CacheFile {
    /// Reads `path`; an absent file is an empty cache.
    pub(crate) fn load(path: &Path) -> Result<CacheFile, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::io("parse", path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e,
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CacheFile::default()),
            Err(e) => Err(StoreError::io("read", path)(e)),
        }
    }

    /// Writes the file atomically (temp file, fsync, rename).
    pub(crate) fn save(&self, path: &Path) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(self).map_err(|e| {
            StoreError::io("encode", path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;
        write_file_atomic(path, &bytes)
    }
}

/// Now as Unix seconds with a fraction, as Glance shows cache times.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
