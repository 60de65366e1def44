//! The image cache of one node (Glance's image cache, API 2.14): images whose chunks are all
//! held on this node, pinned so neither the reaper nor the replicator's handoff drops them,
//! and so served without a peer hop. The records are this node's own state (a file beside
//! the chunk store, not Raft), as Glance's cache is per node.
//!
//! Images enter by the queue and the prefetch worker ([`prefetch`]) or on a first full
//! download ([`ImageCache::tee`], as Glance's cache middleware caches on read); each download
//! served from the cache counts a hit and its time; past `max_size` bytes the least recently
//! accessed images leave first (Glance's pruner).

pub mod index;
pub mod prefetch;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::data::Data;
use crate::error::{DataError, StoreError};
use crate::id::ChunkId;
use crate::manifest::Manifest;
use crate::store::Pins;
use index::{unix_now, CacheFile, CachedImage, QueuedImage};

/// File of the cache records, in the chunk store's directory.
pub const CACHE_FILE: &str = "image-cache.json";

/// Glance's default `image_cache_max_size`: 10 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 30;

/// The records of the cache, with the pins that hold each cached image's chunks.
struct State {
    file: CacheFile,
    pins: HashMap<String, Pins>,
    /// Images being written into the cache right now (by a download or the prefetcher).
    filling: HashSet<String>,
}

struct Inner {
    data: Data,
    path: PathBuf,
    max_size: AtomicU64,
    state: Mutex<State>,
}

/// Handle over this node's image cache; cheap to clone.
#[derive(Clone)]
pub struct ImageCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ImageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageCache")
            .field("path", &self.inner.path)
            .field("max_size", &self.max_size())
            .finish_non_exhaustive()
    }
}

/// What `clear` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Cached images removed.
    pub cached: usize,
    /// Queued images removed.
    pub queued: usize,
}

/// What one prune removed (Glance's `total_files_pruned`, `total_bytes_pruned`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Images removed.
    pub images: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl ImageCache {
    /// Opens the cache of `data`'s store, whose records live in `dir` ([`CACHE_FILE`]): every
    /// cached image whose chunks are all still here is pinned again; any other is dropped.
    pub fn open(data: Data, dir: &Path, max_size: u64) -> Result<ImageCache, DataError> {
        let path = dir.join(CACHE_FILE);
        let mut file = CacheFile::load(&path)?;
        let mut pins = HashMap::new();
        let mut kept = Vec::new();
        for rec in std::mem::take(&mut file.cached) {
            match pin_local(&data, rec.manifest) {
                Ok(p) => {
                    pins.insert(rec.image_id.clone(), p);
                    kept.push(rec);
                }
                Err(e) => {
                    tracing::warn!(image_id = %rec.image_id, error = %e,
                        "cached image no longer whole on this node; dropped from the cache");
                }
            }
        }
        file.cached = kept;
        file.save(&path)?;
        Ok(ImageCache {
            inner: Arc::new(Inner {
                data,
                path,
                max_size: AtomicU64::new(max_size),
                state: Mutex::new(State {
                    file,
                    pins,
                    filling: HashSet::new(),
                }),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is made whole before the file is saved; a panic leaves the last save.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, state: &State) -> Result<(), StoreError> {
        state.file.save(&self.inner.path)
    }

    /// The size limit (bytes) pruning keeps the cache under.
    pub fn max_size(&self) -> u64 {
        self.inner.max_size.load(Ordering::Relaxed)
    }

    /// Changes the size limit; the next admission or prune applies it.
    pub fn set_max_size(&self, bytes: u64) {
        self.inner.max_size.store(bytes, Ordering::Relaxed);
    }

    /// Cached images (oldest record first) and queued image ids (first queued first).
    pub fn listing(&self) -> (Vec<CachedImage>, Vec<String>) {
        let s = self.lock();
        (
            s.file.cached.clone(),
            s.file.queued.iter().map(|q| q.image_id.clone()).collect(),
        )
    }

    /// Bytes of all cached images.
    pub fn size(&self) -> u64 {
        self.lock().file.cached.iter().map(|c| c.size).sum()
    }

    /// Whether `image_id` is cached here.
    pub fn is_cached(&self, image_id: &str) -> bool {
        self.lock().pins.contains_key(image_id)
    }

    /// Whether `image_id` is cached or queued here.
    pub fn contains(&self, image_id: &str) -> bool {
        let s = self.lock();
        s.pins.contains_key(image_id) || s.file.queued.iter().any(|q| q.image_id == image_id)
    }

    /// Queues `image_id` for the prefetcher; false if it is cached or queued already.
    pub fn queue(&self, image_id: &str) -> Result<bool, DataError> {
        let mut s = self.lock();
        if s.pins.contains_key(image_id) || s.file.queued.iter().any(|q| q.image_id == image_id) {
            return Ok(false);
        }
        s.file.queued.push(QueuedImage {
            image_id: image_id.to_string(),
            queued_at: unix_now(),
        });
        self.save(&s)?;
        tracing::info!(image_id, "image queued for caching");
        Ok(true)
    }

    /// The next queued image, if any (it stays queued until cached or dropped).
    pub(crate) fn next_queued(&self) -> Option<String> {
        self.lock().file.queued.first().map(|q| q.image_id.clone())
    }

    /// Takes `image_id` off the queue only.
    pub(crate) fn remove_queued(&self, image_id: &str) -> Result<(), DataError> {
        let mut s = self.lock();
        s.file.queued.retain(|q| q.image_id != image_id);
        self.save(&s)?;
        Ok(())
    }

    /// Removes `image_id` from the cache and the queue; whether it was in either.
    pub fn remove(&self, image_id: &str) -> Result<bool, DataError> {
        let mut s = self.lock();
        let before = s.file.cached.len() + s.file.queued.len();
        s.file.cached.retain(|c| c.image_id != image_id);
        s.file.queued.retain(|q| q.image_id != image_id);
        s.pins.remove(image_id);
        let removed = s.file.cached.len() + s.file.queued.len() < before;
        if removed {
            self.save(&s)?;
            tracing::info!(image_id, "image removed from the cache");
        }
        Ok(removed)
    }

    /// Empties the cache (`cached`) and/or the queue (`queued`); how many of each went.
    pub fn clear(&self, cached: bool, queued: bool) -> Result<Cleared, DataError> {
        let mut s = self.lock();
        let mut out = Cleared::default();
        if cached {
            out.cached = s.file.cached.len();
            s.file.cached.clear();
            s.pins.clear();
        }
        if queued {
            out.queued = s.file.queued.len();
            s.file.queued.clear();
        }
        self.save(&s)?;
        tracing::info!(?out, "image cache cleared");
        Ok(out)
    }

    /// Counts a download of `image_id` served from the cache; false if it is not cached.
    pub fn hit(&self, image_id: &str) -> Result<bool, DataError> {
        let mut s = self.lock();
        let Some(rec) = s.file.cached.iter_mut().find(|c| c.image_id == image_id) else {
            return Ok(false);
        };
        rec.hits += 1;
        rec.last_accessed = unix_now();
        self.save(&s)?;
        Ok(true)
    }

    /// Marks `image_id` as being filled; false if it is cached or being filled already.
    fn start_fill(&self, image_id: &str) -> bool {
        let mut s = self.lock();
        !s.pins.contains_key(image_id) && s.filling.insert(image_id.to_string())
    }

    fn end_fill(&self, image_id: &str) {
        self.lock().filling.remove(image_id);
    }

    /// Brings every chunk of `manifest_id` onto this node (from peers where missing, each
    /// verified), pins them and records `image_id` as cached, then prunes. `Ok(None)` when
    /// it is cached or being cached already.
    pub async fn fill(
        &self,
        image_id: &str,
        manifest_id: ChunkId,
        checksum: Option<String>,
    ) -> Result<Option<CachedImage>, DataError> {
        if !self.start_fill(image_id) {
            return Ok(None);
        }
        let result = self.fetch_all(manifest_id).await;
        self.end_fill(image_id);
        let (manifest, pins) = result?;
        self.admit(image_id, manifest_id, manifest.size(), checksum, pins)
            .map(Some)
    }

    async fn fetch_all(&self, manifest_id: ChunkId) -> Result<(Manifest, Pins), DataError> {
        let data = &self.inner.data;
        let store = data.store().clone();
        let mut pins = Pins::new(store.clone());
        // Pinned before it is written, so no reap or handoff slips in between.
        pins.add(manifest_id);
        let manifest = data.manifest(&manifest_id).await?;
        keep_local(data, manifest_id).await?;
        for e in manifest.entries() {
            pins.add(e.id);
            keep_local(data, e.id).await?;
        }
        Ok((manifest, pins))
    }

    /// Records `image_id` (all of whose chunks `pins` holds here) as cached, then prunes.
    fn admit(
        &self,
        image_id: &str,
        manifest: ChunkId,
        size: u64,
        checksum: Option<String>,
        pins: Pins,
    ) -> Result<CachedImage, DataError> {
        let now = unix_now();
        let rec = {
            let mut s = self.lock();
            let rec = CachedImage {
                id: s.file.next_id,
                image_id: image_id.to_string(),
                manifest,
                size,
                hits: 0,
                last_accessed: now,
                last_modified: now,
                checksum,
            };
            s.file.next_id += 1;
            s.file.queued.retain(|q| q.image_id != image_id);
            s.file.cached.retain(|c| c.image_id != image_id);
            s.file.cached.push(rec.clone());
            s.pins.insert(image_id.to_string(), pins);
            self.save(&s)?;
            rec
        };
        tracing::info!(image_id, size, "image cached on this node");
        self.prune()?;
        Ok(rec)
    }

    /// Removes the least recently accessed images until the cache is within its size limit.
    pub fn prune(&self) -> Result<Pruned, DataError> {
        let max = self.max_size();
        let mut s = self.lock();
        let mut total: u64 = s.file.cached.iter().map(|c| c.size).sum();
        let mut out = Pruned::default();
        while total > max {
            let Some((pos, _)) = s
                .file
                .cached
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.last_accessed.total_cmp(&b.1.last_accessed))
            else {
                break;
            };
            let rec = s.file.cached.remove(pos);
            s.pins.remove(&rec.image_id);
            total -= rec.size;
            out.images += 1;
            out.bytes += rec.size;
            tracing::info!(image_id = %rec.image_id, size = rec.size, "pruned from the image cache");
        }
        if out.images > 0 {
            self.save(&s)?;
        }
        Ok(out)
    }

    /// Caches `image_id` on the way while `stream` (a whole-image read of `manifest`, one
    /// item per chunk in order) is served, as Glance's cache middleware does on a first full
    /// download; recorded, before the last bytes go out, only if every chunk went through.
    /// Passes `stream` on untouched when the image is empty, cached or being cached already.
    pub fn tee<S>(
        &self,
        image_id: &str,
        manifest_id: ChunkId,
        manifest: &Manifest,
        checksum: Option<String>,
        stream: S,
    ) -> impl Stream<Item = Result<Bytes, DataError>> + Send + 'static
    where
        S: Stream<Item = Result<Bytes, DataError>> + Send + 'static,
    {
        // One item per chunk, as the read leaves out empty chunks.
        let ids: Vec<(ChunkId, usize)> = manifest
            .entries()
            .iter()
            .filter(|e| e.len > 0)
            .map(|e| (e.id, e.len as usize))
            .collect();
        if ids.is_empty() || !self.start_fill(image_id) {
            return stream.left_stream();
        }
        let mut pins = Pins::new(self.inner.data.store().clone());
        pins.add(manifest_id);
        for (id, _) in &ids {
            pins.add(*id);
        }
        let fill = Arc::new(Fill {
            cache: self.clone(),
            image_id: image_id.to_string(),
            manifest: manifest_id,
            size: manifest.size(),
            checksum,
            chunks: ids.len(),
            pins: Mutex::new(Some(pins)),
            stored: AtomicU64::new(0),
        });
        let data = self.inner.data.clone();
        let mut next = 0usize;
        stream
            .then(move |item| {
                let pos = next;
                next += 1;
                let (fill, data, id) = (fill.clone(), data.clone(), ids.get(pos).copied());
                async move {
                    // A whole chunk, under the id the read verified it against.
                    let whole = match (&item, id) {
                        (Ok(bytes), Some((id, len))) if bytes.len() == len => Some((id, bytes)),
                        _ => None,
                    };
                    if let Some((id, bytes)) = whole {
                        if store_copy(&data, id, bytes.clone()).await.is_ok() {
                            fill.stored.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if pos + 1 == fill.chunks {
                        fill.finish(&data).await;
                    }
                    item
                }
            })
            .right_stream()
    }
}

/// A cache-on-read in progress: admitted at the end of the stream if every chunk was stored;
/// dropping it unfinished (the client went away) just forgets it.
struct Fill {
    cache: ImageCache,
    image_id: String,
    manifest: ChunkId,
    size: u64,
    checksum: Option<String>,
    chunks: usize,
    pins: Mutex<Option<Pins>>,
    stored: AtomicU64,
}

impl Fill {
    async fn finish(&self, data: &Data) {
        let pins = self.pins.lock().unwrap_or_else(|p| p.into_inner()).take();
        let whole = self.stored.load(Ordering::Relaxed) == self.chunks as u64;
        let manifest_ok = whole && keep_local(data, self.manifest).await.is_ok();
        match pins {
            Some(pins) if manifest_ok => {
                if let Err(e) = self.cache.admit(
                    &self.image_id,
                    self.manifest,
                    self.size,
                    self.checksum.clone(),
                    pins,
                ) {
                    tracing::warn!(image_id = %self.image_id, error = %e, "caching on read failed");
                }
            }
            _ => {
                tracing::warn!(image_id = %self.image_id, "caching on read incomplete; not cached")
            }
        }
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        self.cache.end_fill(&self.image_id);
    }
}

/// Makes sure chunk `id` is in the local store: fetched (verified) from a peer if missing.
async fn keep_local(data: &Data, id: ChunkId) -> Result<(), DataError> {
    let store = data.store().clone();
    if tokio::task::spawn_blocking(move || store.has(&id)).await?? {
        return Ok(());
    }
    let bytes = data.fetch_chunk(&id).await?;
    store_copy(data, id, bytes).await
}

/// Writes verified chunk bytes into the local store (fsynced; a no-op if already there).
async fn store_copy(data: &Data, id: ChunkId, bytes: Bytes) -> Result<(), DataError> {
    let store = data.store().clone();
    tokio::task::spawn_blocking(move || store.put_verified(&id, &bytes)).await??;
    Ok(())
}

/// Pins the manifest `id` and all its chunks, which must all be in the local store.
fn pin_local(data: &Data, id: ChunkId) -> Result<Pins, DataError> {
    let store = data.store();
    let manifest = Manifest::decode(&id, &store.get(&id)?)?;
    let mut pins = Pins::new(store.clone());
    pins.add(id);
    for e in manifest.entries() {
        if !store.has(&e.id)? {
            return Err(StoreError::NotFound(e.id).into());
        }
        pins.add(e.id);
    }
    Ok(pins)
}

#[cfg(test)]
mod tests;
