//! The network seam: [`PeerChunks`] (client side, implemented by the node over QUIC) and
//! [`ChunkService`] (server side, what a node runs for an incoming request on its own store).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::error::StoreError;
use crate::id::ChunkId;
use crate::loops::replicator::digest::{bucket_digests, Digest};
use crate::quorum::Quorum;
use crate::store::ChunkStore;

/// Failure of a call to another node's chunk store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The node is known to be down or refused the connection.
    #[error("node {0} is down")]
    Down(u64),
    /// The call did not complete in time.
    #[error("node {0} timed out")]
    Timeout(u64),
    /// The transport failed (connection reset, bad frame, ...).
    #[error("transport to node {node} failed: {reason}")]
    Transport {
        /// The node called.
        node: u64,
        /// What went wrong.
        reason: String,
    },
    /// The request is larger than the transport carries; nothing was sent.
    #[error("request to node {node} of {len} bytes exceeds the transport's {max}-byte limit")]
    TooLarge {
        /// The node called.
        node: u64,
        /// The encoded request's length.
        len: usize,
        /// The transport's limit.
        max: usize,
    },
    /// The node is below its free-space reserve and took no new chunk.
    #[error("node {0} is below its free-space reserve")]
    Full(u64),
    /// The node received the call but failed to serve it (e.g. its disk failed).
    #[error("node {node} failed: {reason}")]
    Remote {
        /// The node called.
        node: u64,
        /// The remote error, as text.
        reason: String,
    },
}

/// Access to other nodes' chunk stores; the node implements it over QUIC.
///
/// Every method may be called concurrently, and a returned future may be dropped before it
/// completes (a straggling write cut off after quorum): dropping should cancel the request.
/// Implementations should bound each call's duration; [`crate::Data`] also applies
/// [`crate::QuorumConfig::peer_timeout`]. A call for the node's own id is never made.
pub trait PeerChunks: Send + Sync + 'static {
    /// Stores `bytes` as chunk `id` on `node`; resolves only after the node fsynced it. With
    /// `lease`, the node holds the chunk back from its reaper for that long, from before the
    /// write (an upload's copy is never unreferenced and unprotected).
    fn put(
        &self,
        node: u64,
        id: ChunkId,
        bytes: Bytes,
        lease: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), PeerError>>;

    /// Holds `ids` back from `node`'s reaper for `ttl` from now (renewing an upload's leases,
    /// held or not yet arrived); answers whether `node` holds each (presence only).
    fn lease(
        &self,
        node: u64,
        ids: Vec<ChunkId>,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Vec<bool>, PeerError>>;

    /// Reads chunk `id` from `node`: `None` if the node does not hold it (or held a corrupt
    /// copy). Callers verify the bytes.
    fn get(&self, node: u64, id: ChunkId) -> BoxFuture<'_, Result<Option<Bytes>, PeerError>>;

    /// Whether `node` holds each of `ids` (same order, presence only).
    fn has(&self, node: u64, ids: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>>;

    /// Whether `node` holds a valid copy of each of `ids` (re-hashed there; a corrupt copy is
    /// quarantined and reported `false`).
    fn verify(&self, node: u64, ids: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>>;

    /// `node`'s digest of each prefix bucket of the chunks it holds that both it and `with`
    /// should hold (per its placement view): [`crate::loops::replicator::digest::BUCKETS`] entries.
    fn bucket_digests(&self, node: u64, with: u64)
        -> BoxFuture<'_, Result<Vec<Digest>, PeerError>>;

    /// The ids behind one entry of [`PeerChunks::bucket_digests`], sorted.
    fn bucket_ids(
        &self,
        node: u64,
        with: u64,
        bucket: u8,
    ) -> BoxFuture<'_, Result<Vec<ChunkId>, PeerError>>;
}

/// Peers of a cluster of one: every call fails with [`PeerError::Down`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPeers;

impl PeerChunks for NoPeers {
    fn put(
        &self,
        node: u64,
        _: ChunkId,
        _: Bytes,
        _: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), PeerError>> {
        Box::pin(async move { Err(PeerError::Down(node)) })
    }

    fn lease(
        &self,
        node: u64,
        _: Vec<ChunkId>,
        _: Duration,
    ) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move { Err(PeerError::Down(node)) })
    }

    fn get(&self, node: u64, _: ChunkId) -> BoxFuture<'_, Result<Option<Bytes>, PeerError>> {
        Box::pin(async move { Err(PeerError::Down(node)) })
    }

    fn has(&self, node: u64, _: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move { Err(PeerError::Down(node)) })
    }

    fn verify(&self, node: u64, _: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move { Err(PeerError::Down(node)) })
    }

    fn bucket_digests(&self, node: u64, _: u64) -> BoxFuture<'_, Result<Vec<Digest>, PeerError>> {
        Box::pin(async move { Err(PeerError::Down(node)) })
    }

    fn bucket_ids(
        &self,
        node: u64,
        _: u64,
        _: u8,
    ) -> BoxFuture<'_, Result<Vec<ChunkId>, PeerError>> {
        Box::pin(async move { Err(PeerError::Down(node)) })
    }
}

/// Failure serving a peer's request against the local store.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The bytes sent do not hash to the id they were sent under; nothing was stored.
    #[error("chunk sent as {id} hashes to {actual}")]
    Mismatch {
        /// The id claimed by the sender.
        id: ChunkId,
        /// What the bytes hash to.
        actual: ChunkId,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(String),
}

impl From<tokio::task::JoinError> for ServeError {
    fn from(e: tokio::task::JoinError) -> Self {
        ServeError::Join(e.to_string())
    }
}

impl ServeError {
    /// The [`PeerError::Remote`] a client should see for this failure of `node`.
    pub fn to_peer_error(&self, node: u64) -> PeerError {
        PeerError::Remote {
            node,
            reason: self.to_string(),
        }
    }
}

/// Serves peers' chunk requests from the local store and placement view; the node only
/// moves the bytes. Made by [`crate::Data::chunk_service`].
#[derive(Debug, Clone)]
pub struct ChunkService {
    store: Arc<ChunkStore>,
    cluster: Arc<Quorum>,
}

impl ChunkService {
    /// A service over `cluster`'s store.
    pub(crate) fn new(cluster: Arc<Quorum>) -> ChunkService {
        ChunkService {
            store: cluster.store.clone(),
            cluster,
        }
    }

    /// Verifies that `bytes` hash to `id`, then stores them (fsynced) unless already present;
    /// with `lease`, leases the chunk (see [`PeerChunks::put`]) before writing it.
    pub async fn put(
        &self,
        id: ChunkId,
        bytes: Bytes,
        lease: Option<Duration>,
    ) -> Result<(), ServeError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(ttl) = lease {
                store.lease(&[id], ttl);
            }
            if bytes.len() > u32::MAX as usize {
                return Err(StoreError::TooLarge(bytes.len()).into());
            }
            let actual = ChunkId::of(&bytes);
            if actual != id {
                return Err(ServeError::Mismatch { id, actual });
            }
            store.put_verified(&id, &bytes)?;
            Ok(())
        })
        .await?
    }

    /// Reads and verifies chunk `id`: `None` if absent or corrupt (a corrupt copy is
    /// quarantined).
    pub async fn get(&self, id: ChunkId) -> Result<Option<Bytes>, ServeError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || match store.get(&id) {
            Ok(b) => Ok(Some(b)),
            Err(StoreError::NotFound(_) | StoreError::Corrupt { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await?
    }

    /// Leases `ids` for `ttl` (see [`PeerChunks::lease`]); whether each is present.
    pub async fn lease(&self, ids: Vec<ChunkId>, ttl: Duration) -> Result<Vec<bool>, ServeError> {
        self.store.lease(&ids, ttl);
        self.has(ids).await
    }

    /// Whether each of `ids` is present (not verified).
    pub async fn has(&self, ids: Vec<ChunkId>) -> Result<Vec<bool>, ServeError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            ids.iter()
                .map(|id| store.has(id).map_err(ServeError::from))
                .collect()
        })
        .await?
    }

    /// Whether each of `ids` is present and hashes to its id (a corrupt copy is quarantined).
    pub async fn verify(&self, ids: Vec<ChunkId>) -> Result<Vec<bool>, ServeError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            ids.iter()
                .map(|id| match store.get(id) {
                    Ok(_) => Ok(true),
                    Err(StoreError::NotFound(_) | StoreError::Corrupt { .. }) => Ok(false),
                    Err(e) => Err(e.into()),
                })
                .collect()
        })
        .await?
    }

    /// Digest of each prefix bucket of the held chunks that this node and `with` should both
    /// hold.
    pub async fn bucket_digests(&self, with: u64) -> Result<Vec<Digest>, ServeError> {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || {
            let ids = cluster.store.list_ids()?;
            Ok(bucket_digests(
                ids.into_iter().filter(|id| cluster.shared(id, with)),
            ))
        })
        .await?
    }

    /// Sorted ids of one bucket of [`ChunkService::bucket_digests`].
    pub async fn bucket_ids(&self, with: u64, bucket: u8) -> Result<Vec<ChunkId>, ServeError> {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || {
            let mut ids: Vec<ChunkId> = cluster
                .store
                .list_bucket(bucket)?
                .into_iter()
                .filter(|id| cluster.shared(id, with))
                .collect();
            ids.sort_unstable();
            Ok(ids)
        })
        .await?
    }
}
