//! The network seam: a transport trait this crate needs (the `node` crate implements it over
//! QUIC) and openraft's network traits implemented on top of it. The in-process transport
//! for tests is in `crate::testing` (feature `testing`).

use crate::forward::{ForwardReply, ForwardRequest};
use crate::types::{Node, NodeId, Raft, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A raft RPC sent to a peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RaftRpc {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Leader election.
    Vote(VoteRequest<NodeId>),
}

/// The peer's answer to a [`RaftRpc`], including raft-level refusals.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    /// Answer to [`RaftRpc::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// Answer to [`RaftRpc::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
}

/// Why an RPC got no reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The peer cannot be reached now; raft backs off before retrying.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The call failed in flight; raft may retry at once.
    #[error("network error: {0}")]
    Network(String),
    /// The message is larger than the transport carries; nothing was sent.
    #[error("message of {len} bytes exceeds the transport's {max}-byte limit")]
    TooLarge {
        /// The encoded message's length.
        len: usize,
        /// The transport's limit.
        max: usize,
    },
}

/// Carries raft RPCs and forwarded calls to peers. Implemented by the `node` crate (QUIC)
/// and, for tests, by `testing::LocalTransport`; both are held to `testing::transport_suite`.
#[async_trait::async_trait]
pub trait RaftTransport: Send + Sync + 'static {
    /// Sends `rpc` to node `target` (at `node.addr`) and waits for its reply; the peer
    /// answers with [`serve_rpc`].
    async fn call(
        &self,
        target: NodeId,
        node: &Node,
        rpc: RaftRpc,
    ) -> Result<RaftReply, TransportError>;

    /// Sends a forwarded call to node `target` (at `node.addr`) and waits for its reply; the
    /// peer answers with [`crate::serve_forward`]. A join may block until the new node caught up,
    /// so implementations should not cut these calls short.
    async fn forward(
        &self,
        target: NodeId,
        node: &Node,
        req: ForwardRequest,
    ) -> Result<ForwardReply, TransportError>;
}

/// Serves an incoming RPC on the local raft: what a transport's server side calls.
pub async fn serve_rpc(raft: &Raft, rpc: RaftRpc) -> RaftReply {
    match rpc {
        RaftRpc::AppendEntries(r) => RaftReply::AppendEntries(raft.append_entries(r).await),
        RaftRpc::InstallSnapshot(r) => RaftReply::InstallSnapshot(raft.install_snapshot(r).await),
        RaftRpc::Vote(r) => RaftReply::Vote(raft.vote(r).await),
    }
}

/// A transport that reaches no one: for a single-node cluster.
pub struct NoTransport;

#[async_trait::async_trait]
impl RaftTransport for NoTransport {
    async fn call(
        &self,
        target: NodeId,
        _: &Node,
        _: RaftRpc,
    ) -> Result<RaftReply, TransportError> {
        Err(TransportError::Unreachable(format!(
            "node {target}: no transport configured"
        )))
    }

    async fn forward(
        &self,
        target: NodeId,
        _: &Node,
        _: ForwardRequest,
    ) -> Result<ForwardReply, TransportError> {
        Err(TransportError::Unreachable(format!(
            "node {target}: no transport configured"
        )))
    }
}

/// openraft's network factory over a [`RaftTransport`].
#[derive(Clone)]
pub struct NetworkFactory {
    transport: Arc<dyn RaftTransport>,
}

impl NetworkFactory {
    /// Uses `transport` for every peer.
    pub fn new(transport: Arc<dyn RaftTransport>) -> Self {
        NetworkFactory { transport }
    }
}

/// openraft's connection to one peer over a [`RaftTransport`].
pub struct Network {
    transport: Arc<dyn RaftTransport>,
    target: NodeId,
    node: Node,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Network {
        Network {
            transport: self.transport.clone(),
            target,
            node: node.clone(),
        }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, Node, E>;

impl Network {
    async fn call<E: std::error::Error>(&self, rpc: RaftRpc) -> Result<RaftReply, RpcErr<E>> {
        let entries = match &rpc {
            RaftRpc::AppendEntries(r) => r.entries.len(),
            _ => 0,
        };
        self.transport
            .call(self.target, &self.node, rpc)
            .await
            .map_err(|e| rpc_error(e, entries))
    }

    fn remote<E: std::error::Error>(&self, e: E) -> RpcErr<E> {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target,
            self.node.clone(),
            e,
        ))
    }
}

/// openraft's error for a failed call that carried `entries` log entries. A batch over the
/// transport's limit is `PayloadTooLarge` with a hint that fits, and openraft resends it at
/// once in smaller batches; a single entry cannot be split (proposals over
/// [`crate::MAX_ENTRY_BYTES`] are refused before they reach the log), so it and other
/// oversized messages back off like an unreachable peer.
fn rpc_error<E: std::error::Error>(e: TransportError, entries: usize) -> RpcErr<E> {
    match e {
        TransportError::TooLarge { len, max } if entries > 1 => {
            // Entries per batch that fit, on average, with room for uneven sizes.
            let fit = (entries as u128 * max as u128 / 2 / len.max(1) as u128) as usize;
            let hint = fit.clamp(1, entries - 1) as u64;
            RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(hint))
        }
        TransportError::Unreachable(_) | TransportError::TooLarge { .. } => {
            RPCError::Unreachable(Unreachable::new(&e))
        }
        TransportError::Network(_) => RPCError::Network(NetworkError::new(&e)),
    }
}

/// A reply of the wrong kind: the peer or transport is broken.
#[derive(Debug, thiserror::Error)]
#[error("mismatched reply kind from peer")]
struct Mismatch;

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        match self.call(RaftRpc::AppendEntries(rpc)).await? {
            RaftReply::AppendEntries(r) => r.map_err(|e| self.remote(e)),
            _ => Err(RPCError::Network(NetworkError::new(&Mismatch))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<RaftError<NodeId, InstallSnapshotError>>>
    {
        match self.call(RaftRpc::InstallSnapshot(rpc)).await? {
            RaftReply::InstallSnapshot(r) => r.map_err(|e| self.remote(e)),
            _ => Err(RPCError::Network(NetworkError::new(&Mismatch))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        match self.call(RaftRpc::Vote(rpc)).await? {
            RaftReply::Vote(r) => r.map_err(|e| self.remote(e)),
            _ => Err(RPCError::Network(NetworkError::new(&Mismatch))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Err = RpcErr<RaftError<NodeId>>;

    /// A batch over the frame limit is split (openraft resends it at once with fewer
    /// entries); it used to be `Unreachable`, which resends the same batch forever.
    #[test]
    fn an_oversized_batch_is_split_and_a_single_entry_backs_off() {
        let too_large = |len| TransportError::TooLarge { len, max: 64 << 20 };
        let split: Err = rpc_error(too_large(200 << 20), 300);
        match split {
            RPCError::PayloadTooLarge(p) => {
                let hint = p.to_string();
                assert!(hint.contains("entries:48"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
        // Barely over: still fewer entries than before.
        let split: Err = rpc_error(too_large((64 << 20) + 1), 2);
        assert!(matches!(split, RPCError::PayloadTooLarge(_)));
        let one: Err = rpc_error(too_large(200 << 20), 1);
        assert!(matches!(one, RPCError::Unreachable(_)));
        let gone: Err = rpc_error(TransportError::Unreachable("down".into()), 300);
        assert!(matches!(gone, RPCError::Unreachable(_)));
    }
}
