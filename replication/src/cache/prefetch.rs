//! The prefetch worker (`cache-prefetch`): takes queued images one at a time and brings all
//! their chunks onto this node ([`ImageCache::fill`]); now and then drops cached images whose
//! record is gone or no longer active. Image records are the metadata layer's, reached through
//! [`CacheImages`].

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

use super::ImageCache;
use crate::id::ChunkId;
use crate::setting::{format_bytes, ByteRateRange};
use crate::worker::{named, Step, Worker, WorkerError, WorkerReport};

/// What the cache needs of an image record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTarget {
    /// The image's manifest chunk.
    pub manifest: ChunkId,
    /// The image's MD5 (Glance `checksum`).
    pub checksum: Option<String>,
}

/// The image records the cache reads (implemented by the node over the metadata layer).
pub trait CacheImages: Send + Sync {
    /// Error of the metadata layer.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The data of `image_id` if the image exists and is `active`; `None` otherwise.
    fn active_image(
        &self,
        image_id: &str,
    ) -> impl Future<Output = Result<Option<CacheTarget>, Self::Error>> + Send;
}

/// Time between checks of the cached images against their records.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Longest idle wait, so a newly queued image is fetched soon.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// The prefetch worker. Setting `max_size` (bytes, binary units accepted: Glance's
/// `image_cache_max_size`).
#[derive(Debug)]
pub struct Prefetcher<S> {
    cache: ImageCache,
    images: S,
    next_sweep: tokio::time::Instant,
    cached: u64,
    bytes: u64,
    dropped: u64,
    failed: u64,
    swept: u64,
    pruned: u64,
}

impl<S: CacheImages + 'static> Prefetcher<S> {
    /// A prefetcher filling `cache` from the records of `images`.
    pub fn new(cache: ImageCache, images: S) -> Self {
        Prefetcher {
            cache,
            images,
            next_sweep: tokio::time::Instant::now() + SWEEP_EVERY,
            cached: 0,
            bytes: 0,
            dropped: 0,
            failed: 0,
            swept: 0,
            pruned: 0,
        }
    }

    async fn pass(&mut self) -> Result<Step, WorkerError> {
        let failed = |e: &dyn std::fmt::Display| WorkerError::Failed(e.to_string());
        if let Some(image_id) = self.cache.next_queued() {
            let target = self.images.active_image(&image_id).await;
            let target = target.map_err(|e| failed(&e))?;
            let Some(target) = target else {
                tracing::warn!(%image_id, "queued image is gone or not active; dropped from the queue");
                self.cache.remove(&image_id).map_err(|e| failed(&e))?;
                self.dropped += 1;
                return Ok(Step::Busy);
            };
            match self
                .cache
                .fill(&image_id, target.manifest, target.checksum)
                .await
            {
                Ok(Some(rec)) => {
                    self.cached += 1;
                    self.bytes += rec.size;
                }
                // Cached on read meanwhile.
                Ok(None) => {
                    self.cache
                        .remove_queued(&image_id)
                        .map_err(|e| failed(&e))?;
                }
                Err(e) => {
                    // Glance's prefetcher gives up on an image it cannot fetch; so does this
                    // one, rather than retry it ahead of the rest of the queue for ever.
                    tracing::warn!(%image_id, error = %e, "prefetch failed; dropped from the queue");
                    self.cache
                        .remove_queued(&image_id)
                        .map_err(|e| failed(&e))?;
                    self.failed += 1;
                }
            }
            return Ok(Step::Busy);
        }
        let now = tokio::time::Instant::now();
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_EVERY;
            self.sweep().await?;
        }
        self.pruned += self.cache.prune().map_err(|e| failed(&e))?.images as u64;
        Ok(Step::Idle(MAX_IDLE))
    }

    /// Drops cached images whose record is gone or no longer active (deleted, deactivated).
    async fn sweep(&mut self) -> Result<(), WorkerError> {
        let (cached, _) = self.cache.listing();
        for rec in cached {
            let active = self.images.active_image(&rec.image_id).await;
            let active = active.map_err(|e| WorkerError::Failed(e.to_string()))?;
            if active.is_none_or(|t| t.manifest != rec.manifest) {
                self.cache
                    .remove(&rec.image_id)
                    .map_err(|e| WorkerError::Failed(e.to_string()))?;
                self.swept += 1;
            }
        }
        Ok(())
    }
}

impl<S: CacheImages + 'static> Worker for Prefetcher<S> {
    fn name(&self) -> &str {
        "cache-prefetch"
    }

    fn step(&mut self) -> BoxFuture<'_, Result<Step, WorkerError>> {
        Box::pin(self.pass())
    }

    fn report(&self) -> WorkerReport {
        let (cached, queued) = self.cache.listing();
        WorkerReport {
            queue_len: queued.len() as u64,
            progress: None,
            items: self.cached,
            bytes: self.bytes,
            passes: 0,
            counters: named([
                ("cached_images", cached.len() as u64),
                ("cached_bytes", cached.iter().map(|c| c.size).sum()),
                ("dropped", self.dropped),
                ("failed", self.failed),
                ("swept", self.swept),
                ("pruned", self.pruned),
            ]),
            settings: named([("max_size", format_bytes(self.cache.max_size()))]),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), WorkerError> {
        match key {
            "max_size" => {
                let bytes = ByteRateRange::POSITIVE.parse(value).map_err(|reason| {
                    WorkerError::BadValue {
                        key: key.into(),
                        value: value.into(),
                        reason,
                    }
                })?;
                self.cache.set_max_size(bytes);
                Ok(())
            }
            _ => Err(WorkerError::UnknownKey {
                worker: "cache-prefetch".into(),
                key: key.into(),
                known: "max_size".into(),
            }),
        }
    }
}
