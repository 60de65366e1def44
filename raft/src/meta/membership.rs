//! Membership changes: join (as learner, then voter while voters are short), leave (with a
//! learner promoted in the leaver's place), serialized on the leader.

use super::{mismatch, write_err, Meta};
use crate::error::MetaError;
use crate::forward::{ForwardReply, ForwardRequest};
use crate::types::{Node, NodeId};
use openraft::{ChangeMembers, RaftMetrics};
use std::collections::BTreeSet;

impl Meta {
    /// Adds node `node_id` at `addr` to the cluster: as a learner, returning once it caught
    /// up, then promoted to voter if there are fewer than `max_voters` voters. Idempotent.
    pub async fn join(&self, node_id: NodeId, addr: &str) -> Result<(), MetaError> {
        let req = ForwardRequest::Join {
            node_id,
            addr: addr.into(),
        };
        match self.route(req, None).await? {
            ForwardReply::Join(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Adds this (fresh, non-bootstrap) node to the cluster that node `seed_id` at
    /// `seed_addr` belongs to, as [`Meta::join`] does.
    pub async fn join_cluster(&self, seed_id: NodeId, seed_addr: &str) -> Result<(), MetaError> {
        let req = ForwardRequest::Join {
            node_id: self.inner.node_id,
            addr: self.inner.addr.clone(),
        };
        match self
            .route(req, Some((seed_id, Node::new(seed_addr))))
            .await?
        {
            ForwardReply::Join(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Removes node `node_id` from voters and learners. A removed voter is replaced by the
    /// most caught-up learner while voters are fewer than `max_voters`. The last voter
    /// cannot leave. Idempotent.
    pub async fn leave(&self, node_id: NodeId) -> Result<(), MetaError> {
        match self.route(ForwardRequest::Leave { node_id }, None).await? {
            ForwardReply::Leave(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Fails with [`MetaError::NotLeader`] unless this node is the leader; returns its
    /// metrics.
    pub(super) fn leading(&self) -> Result<RaftMetrics<NodeId, Node>, MetaError> {
        let m = self.metrics();
        if m.state.is_leader() && m.current_leader == Some(self.inner.node_id) {
            return Ok(m);
        }
        let leader_addr = m
            .current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned())
            .map(|n| n.addr);
        Err(MetaError::NotLeader {
            leader_id: m.current_leader,
            leader_addr,
        })
    }

    /// Adds `node_id` as a learner (waiting for it to catch up), then promotes it while voters
    /// are short; on the leader only.
    #[tracing::instrument(level = "info", skip_all, fields(leader = self.inner.node_id, node_id, addr = %addr))]
    pub(super) async fn join_local(&self, node_id: NodeId, addr: String) -> Result<(), MetaError> {
        let _guard = self.inner.membership.lock().await;
        let m = self.leading()?;
        let membership = m.membership_config.membership();
        if membership.voter_ids().any(|v| v == node_id) {
            return match membership.get_node(&node_id) {
                Some(n) if n.addr == addr => Ok(()),
                _ => Err(MetaError::Raft(format!(
                    "node {node_id} is already a voter at another address"
                ))),
            };
        }
        tracing::info!("adding learner; waiting for it to catch up");
        let add = self.inner.raft.add_learner(node_id, Node::new(addr), true);
        tokio::time::timeout(self.inner.opts.join_timeout, add)
            .await
            .map_err(|_| {
                MetaError::Timeout(format!(
                    "node {node_id} was added as learner but did not catch up"
                ))
            })?
            .map_err(write_err)?;
        let m = self.leading()?;
        let voters = m.membership_config.membership().voter_ids().count();
        if voters < self.inner.opts.max_voters {
            tracing::info!(voters, "promoting learner to voter");
            self.inner
                .raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([node_id])), false)
                .await
                .map_err(write_err)?;
        }
        Ok(())
    }

    /// Removes `node_id` from voters or learners, promoting the most caught-up learner in a
    /// leaving voter's place while voters are short; on the leader only.
    #[tracing::instrument(level = "info", skip_all, fields(leader = self.inner.node_id, node_id))]
    pub(super) async fn leave_local(&self, node_id: NodeId) -> Result<(), MetaError> {
        let _guard = self.inner.membership.lock().await;
        let m = self.leading()?;
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners: BTreeSet<NodeId> = membership.learner_ids().collect();
        let change = if voters.contains(&node_id) {
            let mut next: BTreeSet<NodeId> =
                voters.iter().copied().filter(|v| *v != node_id).collect();
            if next.is_empty() {
                return Err(MetaError::Raft(format!(
                    "node {node_id} is the last voter and cannot leave"
                )));
            }
            if next.len() < self.inner.opts.max_voters {
                if let Some(l) = most_caught_up(&m, &learners, node_id) {
                    tracing::info!(
                        promoted = l,
                        "promoting a learner in the leaving voter's place"
                    );
                    next.insert(l);
                }
            }
            tracing::info!(voters = ?next, "removing voter");
            ChangeMembers::ReplaceAllVoters(next)
        } else if learners.contains(&node_id) {
            tracing::info!("removing learner");
            ChangeMembers::RemoveNodes(BTreeSet::from([node_id]))
        } else {
            return Ok(());
        };
        self.inner
            .raft
            .change_membership(change, false)
            .await
            .map_err(write_err)?;
        Ok(())
    }
}

/// The learner (other than `leaving`) whose replication is furthest along, lowest id first
/// on ties.
fn most_caught_up(
    m: &RaftMetrics<NodeId, Node>,
    learners: &BTreeSet<NodeId>,
    leaving: NodeId,
) -> Option<NodeId> {
    let matched = |id: &NodeId| {
        m.replication
            .as_ref()
            .and_then(|r| r.get(id).cloned().flatten())
            .map(|l| l.index)
    };
    learners
        .iter()
        .filter(|l| **l != leaving)
        .max_by(|a, b| matched(a).cmp(&matched(b)).then(b.cmp(a)))
        .copied()
}
