//! Streaming ingest: MD5, SHA-512 and (chunking + BLAKE3 + store writes) in parallel.
//!
//! Threads and a task, linked by bounded channels so memory stays bounded and backpressure
//! reaches the writer of [`Ingest::write`]:
//! - `md5`: MD5 of the image;
//! - `sha512`: SHA-512 of the image;
//! - `chunk`: FastCDC cutting and per-chunk BLAKE3 (the chunk id);
//! - the distributor (a tokio task): pins each chunk against the local reaper and replicates
//!   it to its placement targets, leased there ([`crate::upload_hold`]; local store writes
//!   fsync and rename), at most
//!   [`QuorumConfig::in_flight`](crate::QuorumConfig::in_flight) chunks at once; a
//!   chunk that cannot reach W targets fails the ingest.
//!
//! Each channel holds at most [`QUEUE`] pieces of at most [`PIECE`] bytes (pieces are zero-copy
//! slices of the caller's buffers, or small reads gathered into one), plus [`STORE_QUEUE`] chunks between `chunk` and the
//! distributor.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::chunker::Chunker;
use crate::error::{DataError, StoreError};
use crate::hashes::{Hashes, Msg};
use crate::id::ChunkId;
use crate::manifest::{Manifest, ManifestEntry};
use crate::policy::{Needs, Policy};
use crate::quorum::Quorum;
use crate::store::Pins;
use crate::upload_hold::{confirm, LeaseSet, Renewer, UploadHold};

/// Largest piece sent to a hashing thread at once.
pub const PIECE: usize = 1024 * 1024;
/// Network reads smaller than this are gathered (one copy) into pieces of at least this size,
/// so the workers wake once per piece rather than once per read.
pub const MIN_PIECE: usize = 256 * 1024;
pub use crate::hashes::QUEUE;
/// Chunks queued between the chunking thread and the distributor.
pub const STORE_QUEUE: usize = 4;
/// Chunks written longer ago than this get their mtime refreshed at finish, so the reaper's
/// grace period counts from the end of the upload.
const TOUCH_AFTER: Duration = Duration::from_secs(10);

/// Gathers small network reads (one copy) into pieces of at least [`MIN_PIECE`] bytes, so
/// workers wake once per piece rather than once per read: the piece ready to send, if any
/// (`buf` itself, uncopied, when it is large enough and nothing waits).
pub fn gather(gathered: &mut BytesMut, buf: Bytes) -> Option<Bytes> {
    if gathered.is_empty() && buf.len() >= MIN_PIECE {
        return Some(buf);
    }
    gathered.extend_from_slice(&buf);
    (gathered.len() >= MIN_PIECE).then(|| gathered.split().freeze())
}

/// What a finished ingest produced.
#[derive(Debug)]
pub struct Ingested {
    /// Id of the manifest chunk.
    pub manifest: ChunkId,
    /// Image size in bytes.
    pub size: u64,
    /// MD5 of the image, lower-case hex (Glance `checksum`).
    pub md5: String,
    /// SHA-512 of the image, lower-case hex (Glance `os_hash_value`).
    pub sha512: String,
    /// Number of chunks in the manifest.
    pub chunks: usize,
    /// Keeps the chunks from every node's reaper until dropped: hold it until the image
    /// record names the manifest.
    pub hold: UploadHold,
}

struct ChunkResult {
    entries: Vec<ManifestEntry>,
    size: u64,
    pins: Pins,
}

/// Ends of the chunk channel and result slot of the distributor, until it is spawned (on the
/// first `write` or `finish`, where a tokio runtime is guaranteed).
type Unspawned = (
    Arc<Quorum>,
    Policy,
    mpsc::Receiver<(ChunkId, Bytes)>,
    oneshot::Sender<Result<Pins, DataError>>,
);

struct Workers {
    distributor: Option<Unspawned>,
    /// The upload's chunks and the nodes leasing them, shared with the distributor.
    leases: LeaseSet,
    /// Renews the leases from the first write on; dropped (stopped) with an abandoned ingest.
    renewer: Option<Renewer>,
    /// Small reads waiting to make up a piece of [`MIN_PIECE`] bytes.
    gathered: BytesMut,
    hashes: Hashes,
    chunk_tx: mpsc::Sender<Msg>,
    chunk_rx: oneshot::Receiver<Result<ChunkResult, DataError>>,
}

/// An upload in progress; dropping it without [`Ingest::finish`] abandons it (its chunks
/// become orphans for the reaper).
pub struct Ingest {
    quorum: Arc<Quorum>,
    /// Where each chunk goes.
    policy: Policy,
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
    /// Starts the worker threads of a new ingest into `cluster`, chunks placed under
    /// `policy`.
    pub(crate) fn start(quorum: Arc<Quorum>, policy: Policy) -> Ingest {
        let workers = spawn_workers(&quorum, &policy);
        Ingest {
            quorum,
            policy,
            workers,
        }
    }

    /// Feeds the next bytes of the image; waits while the pipeline is full.
    pub async fn write(&mut self, buf: Bytes) -> Result<(), DataError> {
        let w = match &mut self.workers {
            Ok(w) => w,
            Err(_) => return Err(DataError::Pipeline("ingest already failed")),
        };
        let Some(piece) = gather(&mut w.gathered, buf) else {
            return Ok(());
        };
        if !w.dispatch(piece).await {
            return Err(self.fail().await);
        }
        Ok(())
    }

    /// Ends the image: flushes the last chunk, stores the manifest (on W of its targets),
    /// returns the hashes. Fails if any chunk did not reach W targets.
    pub async fn finish(mut self) -> Result<Ingested, DataError> {
        let w = match std::mem::replace(
            &mut self.workers,
            Err(DataError::Pipeline("ingest already finished")),
        ) {
            Ok(w) => w,
            Err(e) => return Err(e),
        };
        let mut w = w;
        let rest = w.gathered.split().freeze();
        let sent = w.dispatch(rest).await && w.chunk_tx.send(Msg::End).await.is_ok();
        let chunked = w
            .chunk_rx
            .await
            .map_err(|_| DataError::Pipeline("chunk worker died"))??;
        if !sent {
            return Err(DataError::Pipeline("hash worker died"));
        }
        let digests = w.hashes.finish().await?;
        let (md5, sha512) = (digests.md5, digests.sha512);
        let ChunkResult {
            entries,
            size,
            pins,
        } = chunked;
        let chunks = entries.len();
        let manifest = Manifest::new(entries);
        let (id, encoded) = tokio::task::spawn_blocking(move || {
            let encoded = Bytes::from(manifest.encode());
            (ChunkId::of(&encoded), encoded)
        })
        .await?;
        let mut pins = pins;
        pins.add(id);
        let (targets, _) = self.quorum.targets_and_quorum(&id, &self.policy);
        w.leases.add(id, &targets);
        let lease = self.quorum.config.upload_lease;
        let needs = Needs::of(self.policy.clone());
        self.quorum
            .replicate(id, encoded, Some(lease), needs)
            .await?;
        // The deliberately unsafe write-behind mode acknowledges what it has not written; a
        // confirmation would write it at once and hide the loss the chaos harness must see.
        if self.quorum.config.unsafe_write_behind.is_none() {
            let started = Instant::now();
            let confirmed = confirm(&self.quorum, &w.leases, &self.policy).await?;
            let ms = started.elapsed().as_millis();
            tracing::debug!(?confirmed, ms, "upload copies confirmed");
        }
        let renewer = w
            .renewer
            .take()
            .ok_or(DataError::Pipeline("lease renewer not started"))?;
        Ok(Ingested {
            manifest: id,
            size,
            md5,
            sha512,
            chunks,
            hold: renewer.into_hold(pins),
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
        drop((w.hashes, w.chunk_tx));
        match w.chunk_rx.await {
            Ok(Err(e)) => e,
            _ => DataError::Pipeline("worker thread died"),
        }
    }
}

impl Workers {
    /// Sends `buf` to every worker in pieces of at most [`PIECE`] bytes; false if one is gone.
    async fn dispatch(&mut self, buf: Bytes) -> bool {
        self.spawn_distributor();
        let mut off = 0;
        while off < buf.len() {
            let piece = buf.slice(off..buf.len().min(off + PIECE));
            off += piece.len();
            let sent = self.chunk_tx.send(Msg::Data(piece.clone())).await.is_ok()
                && self.hashes.feed(piece).await;
            if !sent {
                return false;
            }
        }
        true
    }

    /// Spawns the distributor task and the lease renewer on the current tokio runtime, once.
    fn spawn_distributor(&mut self) {
        if let Some((quorum, policy, chunks, done)) = self.distributor.take() {
            self.renewer = Some(Renewer::start(quorum.clone(), self.leases.clone()));
            let leases = self.leases.clone();
            tokio::spawn(async move {
                let _ = done.send(distribute(quorum, policy, chunks, leases).await);
            });
        }
    }
}

fn spawn_workers(quorum: &Arc<Quorum>, policy: &Policy) -> Result<Workers, DataError> {
    let spawn_err = DataError::Spawn;
    let hashes = Hashes::start()?;
    let (chunk_tx, chunk_in) = mpsc::channel(QUEUE);
    let (chunk_out, chunk_rx) = oneshot::channel();
    let (to_store, store_in) = mpsc::channel::<(ChunkId, Bytes)>(STORE_QUEUE);
    let (done_tx, done_rx) = oneshot::channel();
    thread::Builder::new()
        .name("ingest-chunk".into())
        .spawn(move || {
            if let Some(res) = chunk_worker(to_store, done_rx, chunk_in) {
                let _ = chunk_out.send(res);
            }
        })
        .map_err(spawn_err)?;
    Ok(Workers {
        distributor: Some((quorum.clone(), policy.clone(), store_in, done_tx)),
        leases: LeaseSet::default(),
        renewer: None,
        gathered: BytesMut::new(),
        hashes,
        chunk_tx,
        chunk_rx,
    })
}

/// Cuts and hashes; returns `None` when the ingest was abandoned.
fn chunk_worker(
    to_store: mpsc::Sender<(ChunkId, Bytes)>,
    done_rx: oneshot::Receiver<Result<Pins, DataError>>,
    mut rx: mpsc::Receiver<Msg>,
) -> Option<Result<ChunkResult, DataError>> {
    let mut chunker = Chunker::new();
    let mut entries = Vec::new();
    let mut size = 0u64;
    let mut emit = |chunk: Bytes| -> Result<(), ()> {
        let id = ChunkId::of(&chunk);
        let len = chunk.len() as u32; // at most MAX_SIZE
        to_store.blocking_send((id, chunk)).map_err(|_| ())?;
        entries.push(ManifestEntry { id, len });
        Ok(())
    };
    let finished = loop {
        match rx.blocking_recv() {
            Some(Msg::Data(b)) => {
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
    let written = done_rx
        .blocking_recv()
        .unwrap_or(Err(DataError::Pipeline("distributor died")));
    match (finished, written) {
        (None, _) => None,
        (Some(_), Err(e)) => Some(Err(e)),
        (Some(false), Ok(_)) => Some(Err(DataError::Pipeline("store worker stopped"))),
        (Some(true), Ok(pins)) => Some(Ok(ChunkResult {
            entries,
            size,
            pins,
        })),
    }
}

/// Replicates chunks under `policy` (leased on their targets, recorded in `leases`) until the
/// channel closes, at most `in_flight` at once; refreshes the mtime of local chunks written
/// long ago. Stops at the first chunk that misses W.
async fn distribute(
    quorum: Arc<Quorum>,
    policy: Policy,
    mut rx: mpsc::Receiver<(ChunkId, Bytes)>,
    leases: LeaseSet,
) -> Result<Pins, DataError> {
    let store = quorum.store.clone();
    let limit = quorum.config.in_flight.max(1);
    let mut pins = Pins::new(store.clone());
    let mut written: Vec<(ChunkId, Instant)> = Vec::new();
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    while open || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some(res) = inflight.next(), if !inflight.is_empty() => res?,
            msg = rx.recv(), if open && inflight.len() < limit => match msg {
                Some((id, chunk)) => {
                    if chunk.len() > u32::MAX as usize {
                        return Err(StoreError::TooLarge(chunk.len()).into());
                    }
                    pins.add(id);
                    written.push((id, Instant::now()));
                    leases.add(id, &quorum.targets_and_quorum(&id, &policy).0);
                    let quorum = quorum.clone();
                    let lease = Some(quorum.config.upload_lease);
                    let needs = Needs::of(policy.clone());
                    inflight.push(async move { quorum.replicate(id, chunk, lease, needs).await });
                }
                None => open = false,
            },
        }
    }
    tokio::task::spawn_blocking(move || {
        for (id, at) in written {
            if at.elapsed() >= TOUCH_AFTER {
                store.touch(&id)?;
            }
        }
        Ok(pins)
    })
    .await?
}
