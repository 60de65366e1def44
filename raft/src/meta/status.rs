//! Cluster status: this node's view from its raft metrics, or a member's own view asked over
//! the transport.

use super::{mismatch, Meta};
use crate::error::MetaError;
use crate::forward::{ClusterStatus, ForwardReply, ForwardRequest};
use crate::types::NodeId;

impl Meta {
    /// This node's own view of the cluster.
    pub fn status(&self) -> Result<ClusterStatus, MetaError> {
        let m = self.metrics();
        if let Err(f) = &m.running_state {
            return Err(f.clone().into());
        }
        let membership = m.membership_config.membership();
        let addr_of = |id: NodeId| {
            membership
                .get_node(&id)
                .map(|n| n.addr.clone())
                .unwrap_or_default()
        };
        Ok(ClusterStatus {
            node_id: m.id,
            role: m.state.into(),
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            leader_id: m.current_leader,
            voters: membership.voter_ids().map(|id| (id, addr_of(id))).collect(),
            learners: membership
                .learner_ids()
                .map(|id| (id, addr_of(id)))
                .collect(),
            joint: membership.get_joint_config().len() > 1,
        })
    }

    /// Whether `node_id` is a voter or a learner of this node's newest membership.
    pub fn is_member(&self, node_id: NodeId) -> bool {
        self.metrics()
            .membership_config
            .membership()
            .get_node(&node_id)
            .is_some()
    }

    /// Asks member `node_id` (found in this node's membership) for its own view of the
    /// cluster.
    pub async fn peer_status(&self, node_id: NodeId) -> Result<ClusterStatus, MetaError> {
        if node_id == self.inner.node_id {
            return self.status();
        }
        let node = self
            .metrics()
            .membership_config
            .membership()
            .get_node(&node_id)
            .cloned()
            .ok_or_else(|| MetaError::Raft(format!("node {node_id} is not a member")))?;
        let call = self
            .inner
            .transport
            .forward(node_id, &node, ForwardRequest::Status);
        match tokio::time::timeout(self.inner.opts.request_timeout, call).await {
            Err(_) => Err(MetaError::Timeout(format!("status of node {node_id}"))),
            Ok(Err(e)) => Err(MetaError::Timeout(format!("node {node_id}: {e}"))),
            Ok(Ok(ForwardReply::Status(r))) => r,
            Ok(Ok(_)) => Err(mismatch()),
        }
    }
}
