//! The membership view that chunk placement uses, derived from the Raft membership: every
//! voter and learner, with its peer address.
//!
//! Gossip (liveness, zones, capacities) is not built yet, so every member counts as alive in
//! one zone with equal weight; a dead member costs a failed put that the write quorum absorbs
//! and a read that fails over.

use super::addresses::Addresses;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tessera_raft::Meta;
use tessera_replication::NodeInfo;
use tokio::sync::watch;

/// How often the view is refreshed from the local Raft metrics.
const REFRESH: Duration = Duration::from_millis(500);

/// Keeps `view` and `addresses` in step with the Raft membership until the node stops.
pub async fn follow_membership(
    meta: Meta,
    view: watch::Sender<Vec<NodeInfo>>,
    addresses: Addresses,
) {
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tick.tick().await;
        let status = match meta.status() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "membership refresh failed");
                continue;
            }
        };
        let members: HashMap<u64, SocketAddr> = status
            .voters
            .iter()
            .chain(status.learners.iter())
            .filter_map(|(id, addr)| addr.parse().ok().map(|a| (*id, a)))
            .collect();
        if members.is_empty() {
            continue;
        }
        let mut nodes: Vec<NodeInfo> = members
            .keys()
            .map(|id| NodeInfo::new(*id, "default", 1))
            .collect();
        nodes.sort_by_key(|n| n.id);
        addresses.set(members);
        view.send_if_modified(|current| {
            let changed = *current != nodes;
            if changed {
                tracing::info!(members = ?nodes.iter().map(|n| n.id).collect::<Vec<_>>(), "placement membership changed");
                *current = nodes;
            }
            changed
        });
    }
}
