//! Serves peers: Raft RPCs and forwarded metadata calls go to the local `Meta`, chunk calls to
//! the local chunk store, gossip datagrams to the gossip task.

use super::chunks::{join_digests, ChunkReply, ChunkRpc};
use super::codec::{decode, encode};
use crate::transport::{Handler, Service};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tessera_raft::{serve_forward, serve_rpc, ForwardRequest, Meta, RaftRpc};
use tessera_replication::ChunkService;
use tokio::sync::mpsc;

/// The node's answer to every peer call.
pub struct PeerHandler {
    /// Set once Raft has started; the transport must serve before that so peers can reach
    /// a joining node.
    meta: OnceLock<Meta>,
    chunks: ChunkService,
    gossip: mpsc::Sender<(SocketAddr, Vec<u8>)>,
}

impl PeerHandler {
    /// Serves chunks and passes gossip on at once, metadata once [`PeerHandler::set_meta`]
    /// is called.
    pub fn new(chunks: ChunkService, gossip: mpsc::Sender<(SocketAddr, Vec<u8>)>) -> Self {
        PeerHandler {
            meta: OnceLock::new(),
            chunks,
            gossip,
        }
    }

    /// Starts serving Raft and metadata calls.
    pub fn set_meta(&self, meta: Meta) {
        let _ = self.meta.set(meta);
    }

    fn meta(&self) -> Result<&Meta, String> {
        self.meta
            .get()
            .ok_or_else(|| "metadata not started yet".to_string())
    }

    async fn chunk_call(&self, rpc: ChunkRpc) -> Result<ChunkReply, String> {
        let e = |e: tessera_replication::ServeError| e.to_string();
        Ok(match rpc {
            ChunkRpc::Put {
                id,
                bytes,
                lease_ms,
            } => {
                let lease = lease_ms.map(Duration::from_millis);
                self.chunks.put(id, bytes, lease).await.map_err(e)?;
                ChunkReply::Stored
            }
            ChunkRpc::Lease { ids, ttl_ms } => ChunkReply::Present(
                self.chunks
                    .lease(ids, Duration::from_millis(ttl_ms))
                    .await
                    .map_err(e)?,
            ),
            ChunkRpc::Get { id } => ChunkReply::Chunk(self.chunks.get(id).await.map_err(e)?),
            ChunkRpc::Has { ids } => ChunkReply::Present(self.chunks.has(ids).await.map_err(e)?),
            ChunkRpc::Verify { ids } => {
                ChunkReply::Present(self.chunks.verify(ids).await.map_err(e)?)
            }
            ChunkRpc::BucketDigests { with } => ChunkReply::Digests(join_digests(
                &self.chunks.bucket_digests(with).await.map_err(e)?,
            )),
            ChunkRpc::BucketIds { with, bucket } => {
                ChunkReply::Ids(self.chunks.bucket_ids(with, bucket).await.map_err(e)?)
            }
        })
    }
}

#[async_trait::async_trait]
impl Handler for PeerHandler {
    async fn handle(
        &self,
        service: Service,
        payload: Vec<u8>,
        peer: SocketAddr,
    ) -> Result<Vec<u8>, String> {
        match service {
            Service::Raft => {
                let rpc: RaftRpc = decode(&payload)?;
                encode(&serve_rpc(self.meta()?.raft(), rpc).await)
            }
            Service::Meta => {
                let req: ForwardRequest = decode(&payload)?;
                tracing::debug!(%peer, ?req, "forwarded metadata call");
                encode(&serve_forward(self.meta()?, req).await)
            }
            Service::Chunks => encode(&self.chunk_call(decode(&payload)?).await?),
        }
    }

    fn datagram(&self, payload: Vec<u8>, peer: SocketAddr) {
        // A full inbox means gossip is behind; SWIM tolerates the loss of a packet.
        if self.gossip.try_send((peer, payload)).is_err() {
            tracing::debug!(%peer, "gossip datagram dropped");
        }
    }
}
