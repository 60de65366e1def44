//! Streaming ingest: MD5, SHA-512 and (chunking + BLAKE3 + store writes) in parallel.
//!
//! Threads, linked by bounded channels so memory stays bounded and backpressure reaches the
//! writer of [`Ingest::write`]:
//! - `md5`: MD5 of the image;
//! - `sha512`: SHA-512 of the image;
//! - `chunk`: whole-image BLAKE3, FastCDC cutting, per-chunk BLAKE3 (the chunk id);
//! - `store`: writes each chunk (fsync, rename) and pins it against the reaper.
//!
//! Each channel holds at most [`QUEUE`] pieces of at most [`PIECE`] bytes (pieces are zero-copy
//! slices of the caller's buffers), plus [`STORE_QUEUE`] chunks between `chunk` and `store`.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::Sha512;
use tokio::sync::{mpsc, oneshot};

use crate::chunker::Chunker;
use crate::error::{DataError, StoreError};
use crate::id::ChunkId;
use crate::manifest::{Manifest, ManifestEntry};
use crate::store::{ChunkStore, Pins};

/// Largest piece sent to a hashing thread at once.
pub const PIECE: usize = 1024 * 1024;
/// Pieces each hashing channel may hold.
pub const QUEUE: usize = 8;
/// Chunks queued between the chunking thread and the store writer.
pub const STORE_QUEUE: usize = 4;
/// Chunks written longer ago than this get their mtime refreshed at finish, so the reaper's
/// grace period counts from the end of the upload.
const TOUCH_AFTER: Duration = Duration::from_secs(10);

/// What a finished ingest produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// Id of the manifest chunk.
    pub manifest: ChunkId,
    /// Image size in bytes.
    pub size: u64,
    /// MD5 of the image, lower-case hex (Glance `checksum`).
    pub md5: String,
    /// SHA-512 of the image, lower-case hex (Glance `os_hash_value`).
    pub sha512: String,
    /// BLAKE3 of the whole image, lower-case hex.
    pub blake3: String,
    /// Number of chunks in the manifest.
    pub chunks: usize,
}

enum Msg {
    Data(Bytes),
    End,
}

struct ChunkResult {
    entries: Vec<ManifestEntry>,
    size: u64,
    blake3: String,
    pins: Pins,
}

struct Workers {
    md5_tx: mpsc::Sender<Msg>,
    sha_tx: mpsc::Sender<Msg>,
    chunk_tx: mpsc::Sender<Msg>,
    md5_rx: oneshot::Receiver<String>,
    sha_rx: oneshot::Receiver<String>,
    chunk_rx: oneshot::Receiver<Result<ChunkResult, DataError>>,
}

/// An upload in progress; dropping it without [`Ingest::finish`] abandons it (its chunks
/// become orphans for the reaper).
pub struct Ingest {
    store: Arc<ChunkStore>,
    workers: Result<Workers, DataError>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("failed", &self.workers.is_err())
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the worker threads of a new ingest into `store`.
    pub(crate) fn start(store: Arc<ChunkStore>) -> Ingest {
        let workers = spawn_workers(&store);
        Ingest { store, workers }
    }

    /// Feeds the next bytes of the image; waits while the pipeline is full.
    pub async fn write(&mut self, buf: Bytes) -> Result<(), DataError> {
        let w = match &mut self.workers {
            Ok(w) => w,
            Err(_) => return Err(DataError::Pipeline("ingest already failed")),
        };
        let mut off = 0;
        while off < buf.len() {
            let piece = buf.slice(off..buf.len().min(off + PIECE));
            off += piece.len();
            let sent = w.chunk_tx.send(Msg::Data(piece.clone())).await.is_ok()
                && w.md5_tx.send(Msg::Data(piece.clone())).await.is_ok()
                && w.sha_tx.send(Msg::Data(piece)).await.is_ok();
            if !sent {
                return Err(self.fail().await);
            }
        }
        Ok(())
    }

    /// Ends the image: flushes the last chunk, stores the manifest, returns the hashes.
    pub async fn finish(mut self) -> Result<Ingested, DataError> {
        let w = match std::mem::replace(
            &mut self.workers,
            Err(DataError::Pipeline("ingest already finished")),
        ) {
            Ok(w) => w,
            Err(e) => return Err(e),
        };
        let sent = w.chunk_tx.send(Msg::End).await.is_ok()
            && w.md5_tx.send(Msg::End).await.is_ok()
            && w.sha_tx.send(Msg::End).await.is_ok();
        let chunked = w
            .chunk_rx
            .await
            .map_err(|_| DataError::Pipeline("chunk worker died"))??;
        if !sent {
            return Err(DataError::Pipeline("hash worker died"));
        }
        let md5 = w
            .md5_rx
            .await
            .map_err(|_| DataError::Pipeline("md5 worker died"))?;
        let sha512 = w
            .sha_rx
            .await
            .map_err(|_| DataError::Pipeline("sha512 worker died"))?;
        let ChunkResult {
            entries,
            size,
            blake3,
            pins,
        } = chunked;
        let chunks = entries.len();
        let manifest = Manifest::new(entries);
        let store = self.store.clone();
        let manifest = tokio::task::spawn_blocking(move || {
            let res = store.put(&manifest.encode()).map(|(id, _)| id);
            // The manifest chunk is fresh; from here the grace period protects everything.
            drop(pins);
            res
        })
        .await??;
        Ok(Ingested {
            manifest,
            size,
            md5,
            sha512,
            blake3,
            chunks,
        })
    }

    /// Tears the pipeline down after a send failed and returns the underlying error.
    async fn fail(&mut self) -> DataError {
        let w = match std::mem::replace(
            &mut self.workers,
            Err(DataError::Pipeline("ingest already failed")),
        ) {
            Ok(w) => w,
            Err(e) => return e,
        };
        drop((w.md5_tx, w.sha_tx, w.chunk_tx));
        match w.chunk_rx.await {
            Ok(Err(e)) => e,
            _ => DataError::Pipeline("worker thread died"),
        }
    }
}

fn spawn_workers(store: &Arc<ChunkStore>) -> Result<Workers, DataError> {
    let spawn_err = |_| DataError::Pipeline("cannot spawn worker thread");
    let (md5_tx, md5_in) = mpsc::channel(QUEUE);
    let (md5_out, md5_rx) = oneshot::channel();
    thread::Builder::new()
        .name("ingest-md5".into())
        .spawn(move || hash_worker::<Md5>(md5_in, md5_out))
        .map_err(spawn_err)?;
    let (sha_tx, sha_in) = mpsc::channel(QUEUE);
    let (sha_out, sha_rx) = oneshot::channel();
    thread::Builder::new()
        .name("ingest-sha512".into())
        .spawn(move || hash_worker::<Sha512>(sha_in, sha_out))
        .map_err(spawn_err)?;
    let (chunk_tx, chunk_in) = mpsc::channel(QUEUE);
    let (chunk_out, chunk_rx) = oneshot::channel();
    let store = store.clone();
    thread::Builder::new()
        .name("ingest-chunk".into())
        .spawn(move || {
            if let Some(res) = chunk_worker(store, chunk_in) {
                let _ = chunk_out.send(res);
            }
        })
        .map_err(spawn_err)?;
    Ok(Workers {
        md5_tx,
        sha_tx,
        chunk_tx,
        md5_rx,
        sha_rx,
        chunk_rx,
    })
}

/// Hashes pieces until `End` (then reports the hex digest) or until the channel closes (abort).
fn hash_worker<D: Digest>(mut rx: mpsc::Receiver<Msg>, out: oneshot::Sender<String>) {
    let mut h = D::new();
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Data(b) => h.update(&b),
            Msg::End => {
                let _ = out.send(hex::encode(h.finalize()));
                return;
            }
        }
    }
}

/// Cuts and hashes; returns `None` when the ingest was abandoned.
fn chunk_worker(
    store: Arc<ChunkStore>,
    mut rx: mpsc::Receiver<Msg>,
) -> Option<Result<ChunkResult, DataError>> {
    let (to_store, store_in) = std_mpsc::sync_channel::<(ChunkId, Bytes)>(STORE_QUEUE);
    let writer = match thread::Builder::new()
        .name("ingest-store".into())
        .spawn(move || store_worker(store, store_in))
    {
        Ok(h) => h,
        Err(_) => {
            return Some(Err(DataError::Pipeline("cannot spawn worker thread")));
        }
    };
    let mut whole = blake3::Hasher::new();
    let mut chunker = Chunker::new();
    let mut entries = Vec::new();
    let mut size = 0u64;
    let mut emit = |chunk: Bytes| -> Result<(), ()> {
        let id = ChunkId::of(&chunk);
        let len = chunk.len() as u32; // at most MAX_SIZE
        to_store.send((id, chunk)).map_err(|_| ())?;
        entries.push(ManifestEntry { id, len });
        Ok(())
    };
    let finished = loop {
        match rx.blocking_recv() {
            Some(Msg::Data(b)) => {
                whole.update(&b);
                size += b.len() as u64;
                if chunker.push(&b, &mut emit).is_err() {
                    break Some(false);
                }
            }
            Some(Msg::End) => break Some(chunker.finish(&mut emit).is_ok()),
            None => break None,
        }
    };
    drop(to_store);
    drop(rx);
    let written = writer
        .join()
        .unwrap_or(Err(DataError::Pipeline("store worker panicked")));
    match (finished, written) {
        (None, _) => None,
        (Some(_), Err(e)) => Some(Err(e)),
        (Some(false), Ok(_)) => Some(Err(DataError::Pipeline("store worker stopped"))),
        (Some(true), Ok(pins)) => Some(Ok(ChunkResult {
            entries,
            size,
            blake3: whole.finalize().to_hex().to_string(),
            pins,
        })),
    }
}

/// Writes chunks until the channel closes; refreshes the mtime of chunks written long ago.
fn store_worker(
    store: Arc<ChunkStore>,
    rx: std_mpsc::Receiver<(ChunkId, Bytes)>,
) -> Result<Pins, DataError> {
    let mut pins = Pins::new(store.clone());
    let mut written: Vec<(ChunkId, Instant)> = Vec::new();
    for (id, chunk) in rx {
        if chunk.len() > u32::MAX as usize {
            return Err(StoreError::TooLarge(chunk.len()).into());
        }
        pins.add(id);
        store.put_verified(&id, &chunk)?;
        written.push((id, Instant::now()));
    }
    for (id, at) in written {
        if at.elapsed() >= TOUCH_AFTER {
            store.touch(&id)?;
        }
    }
    Ok(pins)
}
