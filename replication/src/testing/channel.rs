//! [`ChannelPeers`], an in-process [`PeerChunks`] over several local stores, with injectable
//! faults (node down, calls dropped, delayed or stalled, corrupted replies).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::id::ChunkId;
use crate::loops::replicator::digest::Digest;
use crate::peer::{ChunkService, PeerChunks, PeerError};

/// A fault injected into calls to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Calls fail at once with [`PeerError::Down`].
    Down,
    /// Calls never complete (a lost request; the caller's timeout fires).
    Drop,
    /// Calls are served after this delay.
    Delay(Duration),
    /// `get` replies carry one flipped bit (corruption in transit).
    CorruptGets,
    /// Calls wait until the fault changes: served once it is cleared, failed once the node
    /// is set down (a peer that stops answering mid-call, then crashes).
    Stall,
}

/// Largest chunk the fake carries, the same as the node's QUIC frame limit (less the few
/// bytes a frame adds around a chunk).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Call counters of a [`ChannelPeers`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// `put` calls made.
    pub puts: usize,
    /// `get` calls made.
    pub gets: usize,
    /// `has` calls made.
    pub has: usize,
    /// `verify` calls made.
    pub verify: usize,
    /// `lease` calls made.
    pub leases: usize,
    /// `bucket_digests` calls made.
    pub digests: usize,
    /// `bucket_ids` calls made.
    pub bucket_ids: usize,
    /// Bytes of the answers to `bucket_digests` and `bucket_ids` (digests and ids).
    pub sync_bytes: usize,
    /// Most `put` calls running at the same time.
    pub max_concurrent_puts: usize,
}

#[derive(Debug)]
struct Node {
    service: ChunkService,
    fault: Option<Fault>,
}

/// In-process peers: node id -> local [`crate::ChunkStore`], served through [`ChunkService`].
#[derive(Debug, Default)]
pub struct ChannelPeers {
    nodes: Mutex<HashMap<u64, Node>>,
    /// Bumped on every fault change, so stalled calls look again.
    changes: watch::Sender<u64>,
    puts: AtomicUsize,
    gets: AtomicUsize,
    has: AtomicUsize,
    verify: AtomicUsize,
    leases: AtomicUsize,
    digests: AtomicUsize,
    bucket_ids: AtomicUsize,
    sync_bytes: AtomicUsize,
    concurrent_puts: AtomicUsize,
    max_concurrent_puts: AtomicUsize,
}

/// Decrements a counter on drop (so cancelled calls are counted out too).
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ChannelPeers {
    /// No nodes yet.
    pub fn new() -> ChannelPeers {
        ChannelPeers::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Node>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `service` (from [`crate::Data::chunk_service`]) reachable as `node` (healthy).
    pub fn add(&self, node: u64, service: ChunkService) {
        self.lock().insert(
            node,
            Node {
                service,
                fault: None,
            },
        );
    }

    /// Sets (or with `None` clears) the fault of calls to `node`.
    pub fn set_fault(&self, node: u64, fault: Option<Fault>) {
        if let Some(n) = self.lock().get_mut(&node) {
            n.fault = fault;
        }
        self.changes.send_modify(|g| *g += 1);
    }

    /// Marks `node` down (calls fail at once) or back up.
    pub fn set_down(&self, node: u64, down: bool) {
        self.set_fault(node, down.then_some(Fault::Down));
    }

    /// Call counters so far.
    pub fn stats(&self) -> PeerStats {
        PeerStats {
            puts: self.puts.load(Ordering::SeqCst),
            gets: self.gets.load(Ordering::SeqCst),
            has: self.has.load(Ordering::SeqCst),
            verify: self.verify.load(Ordering::SeqCst),
            leases: self.leases.load(Ordering::SeqCst),
            digests: self.digests.load(Ordering::SeqCst),
            bucket_ids: self.bucket_ids.load(Ordering::SeqCst),
            sync_bytes: self.sync_bytes.load(Ordering::SeqCst),
            max_concurrent_puts: self.max_concurrent_puts.load(Ordering::SeqCst),
        }
    }

    /// The service of `node` after applying its fault (`Err` if down, pending if dropped,
    /// waiting while stalled).
    async fn reach(&self, node: u64) -> Result<(ChunkService, Option<Fault>), PeerError> {
        let mut changes = self.changes.subscribe();
        loop {
            let (service, fault) = {
                let nodes = self.lock();
                let n = nodes.get(&node).ok_or(PeerError::Down(node))?;
                (n.service.clone(), n.fault)
            };
            match fault {
                Some(Fault::Down) => return Err(PeerError::Down(node)),
                Some(Fault::Drop) => futures::future::pending::<()>().await,
                Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
                Some(Fault::Stall) => {
                    // `self` holds the sender, so this only fails if it is dropped mid-call.
                    if changes.changed().await.is_err() {
                        return Err(PeerError::Down(node));
                    }
                    continue;
                }
                Some(Fault::CorruptGets) | None => {}
            }
            return Ok((service, fault));
        }
    }
}

impl PeerChunks for ChannelPeers {
    fn put(
        &self,
        node: u64,
        id: ChunkId,
        bytes: Bytes,
        lease: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), PeerError>> {
        Box::pin(async move {
            self.puts.fetch_add(1, Ordering::SeqCst);
            let now = self.concurrent_puts.fetch_add(1, Ordering::SeqCst) + 1;
            let _running = Running(&self.concurrent_puts);
            self.max_concurrent_puts.fetch_max(now, Ordering::SeqCst);
            if bytes.len() > MAX_MESSAGE {
                return Err(PeerError::TooLarge {
                    node,
                    len: bytes.len(),
                    max: MAX_MESSAGE,
                });
            }
            let (service, _) = self.reach(node).await?;
            service
                .put(id, bytes, lease)
                .await
                .map_err(|e| e.to_peer_error(node))
        })
    }

    fn lease(
        &self,
        node: u64,
        ids: Vec<ChunkId>,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move {
            self.leases.fetch_add(1, Ordering::SeqCst);
            let (service, _) = self.reach(node).await?;
            service
                .lease(ids, ttl)
                .await
                .map_err(|e| e.to_peer_error(node))
        })
    }

    fn get(&self, node: u64, id: ChunkId) -> BoxFuture<'_, Result<Option<Bytes>, PeerError>> {
        Box::pin(async move {
            self.gets.fetch_add(1, Ordering::SeqCst);
            let (service, fault) = self.reach(node).await?;
            let got = service.get(id).await.map_err(|e| e.to_peer_error(node))?;
            Ok(match (got, fault) {
                (Some(b), Some(Fault::CorruptGets)) if !b.is_empty() => {
                    let mut v = b.to_vec();
                    v[0] ^= 1;
                    Some(Bytes::from(v))
                }
                (got, _) => got,
            })
        })
    }

    fn has(&self, node: u64, ids: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move {
            self.has.fetch_add(1, Ordering::SeqCst);
            let (service, _) = self.reach(node).await?;
            service.has(ids).await.map_err(|e| e.to_peer_error(node))
        })
    }

    fn verify(&self, node: u64, ids: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move {
            self.verify.fetch_add(1, Ordering::SeqCst);
            let (service, _) = self.reach(node).await?;
            service.verify(ids).await.map_err(|e| e.to_peer_error(node))
        })
    }

    fn bucket_digests(
        &self,
        node: u64,
        with: u64,
    ) -> BoxFuture<'_, Result<Vec<Digest>, PeerError>> {
        Box::pin(async move {
            self.digests.fetch_add(1, Ordering::SeqCst);
            let (service, _) = self.reach(node).await?;
            let d = service
                .bucket_digests(with)
                .await
                .map_err(|e| e.to_peer_error(node))?;
            self.sync_bytes.fetch_add(d.len() * 32, Ordering::SeqCst);
            Ok(d)
        })
    }

    fn bucket_ids(
        &self,
        node: u64,
        with: u64,
        bucket: u8,
    ) -> BoxFuture<'_, Result<Vec<ChunkId>, PeerError>> {
        Box::pin(async move {
            self.bucket_ids.fetch_add(1, Ordering::SeqCst);
            let (service, _) = self.reach(node).await?;
            let ids = service
                .bucket_ids(with, bucket)
                .await
                .map_err(|e| e.to_peer_error(node))?;
            self.sync_bytes.fetch_add(ids.len() * 32, Ordering::SeqCst);
            Ok(ids)
        })
    }
}
