//! `PeerChunks` over QUIC: chunk puts, gets and presence checks on the `Chunks` service.

use super::addresses::Addresses;
use super::codec::{decode, encode};
use crate::transport::{LinkError, Service, Transport};
use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tessera_replication::loops::replicator::digest::Digest;
use tessera_replication::{ChunkId, PeerChunks, PeerError};

/// Longest wait for one chunk transfer (4 MiB at worst).
const CHUNK_CALL: Duration = Duration::from_secs(30);
/// After a peer fails to answer, calls to it fail fast for this long, so an upload does not
/// pay a connect timeout per chunk while a node is down (its chunks get repair hints).
const SUSPECT_FOR: Duration = Duration::from_secs(3);

/// A chunk request between nodes.
#[derive(Debug, Serialize, Deserialize)]
pub enum ChunkRpc {
    /// Store these bytes as this chunk (fsynced before the reply), leased for `lease_ms`
    /// when given (a copy of an in-flight upload).
    Put {
        id: ChunkId,
        bytes: Bytes,
        lease_ms: Option<u64>,
    },
    /// Hold these chunks back from the reaper for `ttl_ms`; which of them are held.
    Lease { ids: Vec<ChunkId>, ttl_ms: u64 },
    /// Read a chunk.
    Get { id: ChunkId },
    /// Which of these chunks are held.
    Has { ids: Vec<ChunkId> },
    /// Which of these chunks are held with valid bytes (re-hashed).
    Verify { ids: Vec<ChunkId> },
    /// Digest of every prefix bucket of the chunks both the callee and `with` should hold.
    BucketDigests { with: u64 },
    /// The ids behind one bucket digest.
    BucketIds { with: u64, bucket: u8 },
}

/// The answer to a [`ChunkRpc`].
#[derive(Debug, Serialize, Deserialize)]
pub enum ChunkReply {
    /// The put is durable.
    Stored,
    /// The chunk's bytes, or `None` when not held.
    Chunk(Option<Bytes>),
    /// Presence of each asked chunk, in order.
    Present(Vec<bool>),
    /// The bucket digests, concatenated (32 bytes each).
    Digests(Bytes),
    /// Sorted chunk ids.
    Ids(Vec<ChunkId>),
}

/// Moves chunks to and from peers over the node's QUIC endpoint.
pub struct QuicChunks {
    transport: Transport,
    addresses: Addresses,
    suspects: Mutex<HashMap<u64, Instant>>,
}

impl QuicChunks {
    /// Reaches nodes at the addresses the membership loop maintains.
    pub fn new(transport: Transport, addresses: Addresses) -> Self {
        QuicChunks {
            transport,
            addresses,
            suspects: Mutex::new(HashMap::new()),
        }
    }

    fn suspected(&self, node: u64) -> bool {
        let suspects = self.suspects.lock().unwrap_or_else(PoisonError::into_inner);
        suspects
            .get(&node)
            .is_some_and(|until| Instant::now() < *until)
    }

    fn mark(&self, node: u64, failed: bool) {
        let mut suspects = self.suspects.lock().unwrap_or_else(PoisonError::into_inner);
        if failed {
            suspects.insert(node, Instant::now() + SUSPECT_FOR);
        } else {
            suspects.remove(&node);
        }
    }

    async fn call(&self, node: u64, rpc: ChunkRpc) -> Result<ChunkReply, PeerError> {
        if self.suspected(node) {
            return Err(PeerError::Down(node));
        }
        let result = self.call_peer(node, rpc).await;
        let unreachable = matches!(
            result,
            Err(PeerError::Down(_) | PeerError::Timeout(_) | PeerError::Transport { .. })
        );
        self.mark(node, unreachable);
        result
    }

    async fn call_peer(&self, node: u64, rpc: ChunkRpc) -> Result<ChunkReply, PeerError> {
        let peer = self.addresses.get(node).ok_or(PeerError::Down(node))?;
        let payload = encode(&rpc).map_err(|reason| PeerError::Transport { node, reason })?;
        let reply = self
            .transport
            .call_node(node, peer, Service::Chunks, payload, CHUNK_CALL)
            .await
            .map_err(|e| match e {
                LinkError::Timeout { .. } => PeerError::Timeout(node),
                LinkError::Remote { message, .. } => PeerError::Remote {
                    node,
                    reason: message,
                },
                LinkError::ConnectTimeout { .. } | LinkError::Refused { .. } => {
                    PeerError::Down(node)
                }
                // Refused before sending: says nothing about the peer, so it is not suspected.
                LinkError::FrameTooLarge { len, max } => PeerError::TooLarge { node, len, max },
                other => PeerError::Transport {
                    node,
                    reason: other.to_string(),
                },
            })?;
        decode(&reply).map_err(|reason| PeerError::Transport { node, reason })
    }
}

/// `d` in whole milliseconds, saturating (a lease is never shorter than asked).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unexpected(node: u64, reply: ChunkReply) -> PeerError {
    PeerError::Transport {
        node,
        reason: format!("unexpected chunk reply {reply:?}"),
    }
}

impl PeerChunks for QuicChunks {
    fn put(
        &self,
        node: u64,
        id: ChunkId,
        bytes: Bytes,
        lease: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), PeerError>> {
        Box::pin(async move {
            let lease_ms = lease.map(millis);
            match self
                .call(
                    node,
                    ChunkRpc::Put {
                        id,
                        bytes,
                        lease_ms,
                    },
                )
                .await?
            {
                ChunkReply::Stored => Ok(()),
                other => Err(unexpected(node, other)),
            }
        })
    }

    fn lease(
        &self,
        node: u64,
        ids: Vec<ChunkId>,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move {
            let ttl_ms = millis(ttl);
            match self.call(node, ChunkRpc::Lease { ids, ttl_ms }).await? {
                ChunkReply::Present(p) => Ok(p),
                other => Err(unexpected(node, other)),
            }
        })
    }

    fn get(&self, node: u64, id: ChunkId) -> BoxFuture<'_, Result<Option<Bytes>, PeerError>> {
        Box::pin(async move {
            match self.call(node, ChunkRpc::Get { id }).await? {
                ChunkReply::Chunk(bytes) => Ok(bytes),
                other => Err(unexpected(node, other)),
            }
        })
    }

    fn has(&self, node: u64, ids: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move {
            match self.call(node, ChunkRpc::Has { ids }).await? {
                ChunkReply::Present(p) => Ok(p),
                other => Err(unexpected(node, other)),
            }
        })
    }

    fn verify(&self, node: u64, ids: Vec<ChunkId>) -> BoxFuture<'_, Result<Vec<bool>, PeerError>> {
        Box::pin(async move {
            match self.call(node, ChunkRpc::Verify { ids }).await? {
                ChunkReply::Present(p) => Ok(p),
                other => Err(unexpected(node, other)),
            }
        })
    }

    fn bucket_digests(
        &self,
        node: u64,
        with: u64,
    ) -> BoxFuture<'_, Result<Vec<Digest>, PeerError>> {
        Box::pin(async move {
            match self.call(node, ChunkRpc::BucketDigests { with }).await? {
                ChunkReply::Digests(bytes) => Ok(split_digests(&bytes)),
                other => Err(unexpected(node, other)),
            }
        })
    }

    fn bucket_ids(
        &self,
        node: u64,
        with: u64,
        bucket: u8,
    ) -> BoxFuture<'_, Result<Vec<ChunkId>, PeerError>> {
        Box::pin(async move {
            match self
                .call(node, ChunkRpc::BucketIds { with, bucket })
                .await?
            {
                ChunkReply::Ids(ids) => Ok(ids),
                other => Err(unexpected(node, other)),
            }
        })
    }
}

/// Digests sent as one byte string (8 KiB for 256 buckets, not an array of arrays).
pub fn join_digests(digests: &[Digest]) -> Bytes {
    digests.concat().into()
}

fn split_digests(bytes: &[u8]) -> Vec<Digest> {
    bytes
        .chunks_exact(32)
        .map(|c| {
            let mut d = [0u8; 32];
            d.copy_from_slice(c);
            d
        })
        .collect()
}
