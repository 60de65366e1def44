//! Serves peers: Raft RPCs and forwarded metadata calls go to the local `Meta`, chunk calls to
//! the local chunk store, gossip datagrams to the gossip task.
//!
//! Every peer is known by the node id its certificate proves ([`PeerIdentity`]): a revoked
//! certificate is refused outright, and a message that claims to come from another node (a
//! Raft leader or candidate id, a joining node's id) is refused with a log line.

use super::chunks::{join_digests, ChunkReply, ChunkRpc};
use super::codec::{decode, encode};
use crate::transport::{Handler, PeerIdentity, Service};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tessera_domain::revocation::revoked_locally;
use tessera_raft::{serve_forward, serve_rpc, ForwardRequest, Meta, RaftRpc};
use tessera_replication::ChunkService;
use tokio::sync::mpsc;

/// The node's answer to every peer call.
pub struct PeerHandler {
    /// Set once Raft has started; the transport must serve before that so peers can reach
    /// a joining node.
    meta: OnceLock<Meta>,
    chunks: ChunkService,
    gossip: mpsc::Sender<(GossipFrom, Vec<u8>)>,
}

/// Where a gossip datagram came from: the transport's remote address and the node id of the
/// sender's certificate.
pub type GossipFrom = (SocketAddr, u64);

impl PeerHandler {
    /// Serves chunks and passes gossip on at once, metadata once [`PeerHandler::set_meta`]
    /// is called.
    pub fn new(chunks: ChunkService, gossip: mpsc::Sender<(GossipFrom, Vec<u8>)>) -> Self {
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

/// A peer's request, decoded as the node serves it.
#[derive(Debug)]
pub enum PeerCall {
    /// A Raft RPC.
    Raft(RaftRpc),
    /// A metadata call forwarded to this node (boxed: much larger than the others).
    Meta(Box<ForwardRequest>),
    /// A chunk call.
    Chunks(ChunkRpc),
}

impl PeerCall {
    /// Decodes the payload of a request frame for `service` (also the fuzz targets' entry).
    pub fn decode(service: Service, payload: &[u8]) -> Result<PeerCall, String> {
        Ok(match service {
            Service::Raft => PeerCall::Raft(decode(payload)?),
            Service::Meta => PeerCall::Meta(Box::new(decode(payload)?)),
            Service::Chunks => PeerCall::Chunks(decode(payload)?),
        })
    }
}

/// The node a Raft RPC says it comes from: the leader of an append or snapshot, the
/// candidate of a vote.
fn raft_sender(rpc: &RaftRpc) -> Option<u64> {
    match rpc {
        RaftRpc::AppendEntries(r) => r.vote.leader_id().voted_for(),
        RaftRpc::InstallSnapshot(r) => r.vote.leader_id().voted_for(),
        RaftRpc::Vote(r) => r.vote.leader_id().voted_for(),
    }
}

/// Refuses a message whose claimed sender is not the node of the peer's certificate.
fn check_claim(peer: &PeerIdentity, what: &str, claimed: Option<u64>) -> Result<(), String> {
    match claimed {
        Some(id) if id == peer.node() => Ok(()),
        claimed => {
            tracing::warn!(
                peer = %peer.addr,
                node = peer.node(),
                ?claimed,
                what,
                "peer refused: message claims another node"
            );
            Err(format!(
                "refused: {what} claims node {claimed:?} but the certificate is node {}'s",
                peer.node()
            ))
        }
    }
}

/// Refuses a metadata call (a proposal, a read, a leave) from a node that is not a voter or
/// learner here: a removed node keeps a valid certificate until it expires or is revoked,
/// and must not write records or read them. Forwarded calls go to the leader, whose
/// membership is the newest.
fn check_member(meta: &Meta, peer: &PeerIdentity, what: &str) -> Result<(), String> {
    if meta.is_member(peer.node()) {
        return Ok(());
    }
    tracing::warn!(
        peer = %peer.addr,
        node = peer.node(),
        what,
        "peer refused: not a member of the cluster"
    );
    Err(format!(
        "refused: node {} is not a member of this cluster ({what})",
        peer.node()
    ))
}

#[async_trait::async_trait]
impl Handler for PeerHandler {
    async fn handle(
        &self,
        service: Service,
        payload: Vec<u8>,
        peer: PeerIdentity,
    ) -> Result<Vec<u8>, String> {
        match PeerCall::decode(service, &payload)? {
            PeerCall::Raft(rpc) => {
                check_claim(&peer, "a Raft message", raft_sender(&rpc))?;
                encode(&serve_rpc(self.meta()?.raft(), rpc).await)
            }
            PeerCall::Meta(req) => {
                tracing::debug!(peer = %peer.addr, node = peer.node(), ?req, "forwarded metadata call");
                let meta = self.meta()?;
                match req.as_ref() {
                    ForwardRequest::Join { node_id, .. } => {
                        check_claim(&peer, "a join", Some(*node_id))?;
                    }
                    // A joining node asks where the leader is before it is a member.
                    ForwardRequest::Status => {}
                    other => check_member(meta, &peer, other.kind())?,
                }
                encode(&serve_forward(meta, *req).await)
            }
            PeerCall::Chunks(rpc) => encode(&self.chunk_call(rpc).await?),
        }
    }

    fn datagram(&self, payload: Vec<u8>, peer: PeerIdentity) {
        // A full inbox means gossip is behind; SWIM tolerates the loss of a packet.
        if self
            .gossip
            .try_send(((peer.addr, peer.node()), payload))
            .is_err()
        {
            tracing::debug!(peer = %peer.addr, "gossip datagram dropped");
        }
    }

    fn admit(&self, peer: &PeerIdentity) -> Result<(), String> {
        // Before Raft starts (a joining node) there is no list yet; the members it dials
        // check it.
        let Some(meta) = self.meta.get() else {
            return Ok(());
        };
        let fingerprint = peer.cert.fingerprint_hex();
        match revoked_locally(meta, peer.node(), &fingerprint) {
            Ok(None) => Ok(()),
            Ok(Some(r)) => Err(format!(
                "the certificate of node {} was revoked at {}",
                r.node, r.revoked_at
            )),
            // Fail closed: a node that cannot read its list must not trust anyone blindly,
            // and a broken store stops the node anyway.
            Err(e) => Err(format!("revocation list unreadable: {e}")),
        }
    }
}
