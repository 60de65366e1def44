//! `RaftTransport` over QUIC: Raft RPCs on the `Raft` service, forwarded metadata calls on
//! the `Meta` service.

use super::codec::{decode, encode};
use crate::transport::{LinkError, Service, Transport};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;
use tessera_raft::{
    ForwardReply, ForwardRequest, NodeId, RaftReply, RaftRpc, RaftTransport, TransportError,
};

/// Longest wait for one Raft RPC (snapshots move in pieces, so this stays short).
const RAFT_CALL: Duration = Duration::from_secs(5);
/// Longest wait for a forwarded call; a join waits for the new node to catch up.
const FORWARD_CALL: Duration = Duration::from_secs(90);

/// Carries Raft traffic to peers over the node's QUIC endpoint.
pub struct QuicRaft {
    transport: Transport,
}

impl QuicRaft {
    /// Uses `transport` for every peer.
    pub fn new(transport: Transport) -> Self {
        QuicRaft { transport }
    }

    /// Sends one encoded request to `target` and decodes its reply.
    async fn rpc<Req: Serialize, Rep: DeserializeOwned>(
        &self,
        target: NodeId,
        addr: &str,
        service: Service,
        req: &Req,
        limit: Duration,
    ) -> Result<Rep, TransportError> {
        let peer: SocketAddr = addr.parse().map_err(|_| {
            TransportError::Unreachable(format!("node {target} has a bad address '{addr}'"))
        })?;
        let payload = encode(req).map_err(TransportError::Network)?;
        // The seed of a join is dialled before its id is known (0); every other call checks
        // that the server is the node Raft meant.
        let call = if target == 0 {
            self.transport
                .call_with_timeout(peer, service, payload, limit)
                .await
        } else {
            self.transport
                .call_node(target, peer, service, payload, limit)
                .await
        };
        let reply = call.map_err(|e| match e {
            LinkError::Remote { message, .. } => TransportError::Network(message),
            LinkError::FrameTooLarge { len, max } => TransportError::TooLarge { len, max },
            other => TransportError::Unreachable(format!("node {target}: {other}")),
        })?;
        decode(&reply).map_err(TransportError::Network)
    }
}

#[async_trait::async_trait]
impl RaftTransport for QuicRaft {
    async fn call(
        &self,
        target: NodeId,
        node: &openraft::BasicNode,
        rpc: RaftRpc,
    ) -> Result<RaftReply, TransportError> {
        self.rpc(target, &node.addr, Service::Raft, &rpc, RAFT_CALL)
            .await
    }

    async fn forward(
        &self,
        target: NodeId,
        node: &openraft::BasicNode,
        req: ForwardRequest,
    ) -> Result<ForwardReply, TransportError> {
        self.rpc(target, &node.addr, Service::Meta, &req, FORWARD_CALL)
            .await
    }
}
