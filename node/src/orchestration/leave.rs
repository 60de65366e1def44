//! Drain then leave: a node stops taking new chunks, copies each of its chunks to the other
//! targets until all have their copies, and only then leaves Raft. A lost node is removed
//! without draining; the replicators restore its chunks from the remaining copies.

use std::collections::BTreeMap;

use tessera_domain::cluster_admin::LeaveReport;
use tessera_domain::DomainError;
use tessera_raft::Meta;
use tessera_replication::Data;

use super::job::JobOutcome;

/// Removes `node` from the cluster, draining it first when `drain` (only the node itself
/// can drain); `phase` hears each step's end.
pub async fn leave_cluster(
    meta: Meta,
    data: Data,
    node: u64,
    drain: bool,
    phase: impl Fn(f64),
) -> Result<LeaveReport, DomainError> {
    let me = data.self_id();
    let status = meta.status()?;
    if !status.voters.contains_key(&node) && !status.learners.contains_key(&node) {
        return Err(DomainError::NotFound(format!(
            "node {node} is not a cluster member"
        )));
    }
    if !drain {
        tracing::info!(node, "removing a node without draining it");
        meta.leave(node).await?;
        tracing::info!(node, "node left the cluster");
        return Ok(LeaveReport {
            node,
            left: true,
            drained: None,
        });
    }
    if node != me {
        return Err(DomainError::Invalid(format!(
            "node {node} drains itself: send this request to its own API, or pass drain=false \
             to remove a lost node (its chunks are restored from the remaining copies)"
        )));
    }
    tracing::info!(node, "draining this node before it leaves");
    let report = match data.drain().await {
        Ok(r) if r.remaining == 0 => r,
        Ok(r) => {
            data.set_draining(false);
            tracing::warn!(node, ?r, "drain incomplete; the node stays a member");
            return Err(DomainError::Unavailable(format!(
                "drain incomplete: {} of {} chunks not yet confirmed on all their targets; \
                 the node stays a member, retry",
                r.remaining, r.chunks
            )));
        }
        Err(e) => {
            data.set_draining(false);
            tracing::warn!(node, error = %e, "drain failed; the node stays a member");
            return Err(e.into());
        }
    };
    phase(0.5);
    meta.leave(node).await?;
    tracing::info!(node, ?report, "node drained and left the cluster");
    Ok(LeaveReport {
        node,
        left: true,
        drained: Some(report),
    })
}

impl JobOutcome for LeaveReport {
    fn bytes(&self) -> u64 {
        self.drained.as_ref().map_or(0, |d| d.bytes)
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let mut c = BTreeMap::from([("node".to_string(), self.node)]);
        if let Some(d) = &self.drained {
            c.extend([
                ("rounds".to_string(), d.rounds),
                ("chunks".to_string(), d.chunks),
                ("pushed".to_string(), d.pushed),
                ("remaining".to_string(), d.remaining),
            ]);
        }
        c
    }
}
