//! The membership view chunk placement reads: the Raft members (voters and learners, the
//! authority on who is in the cluster) combined with gossip (who is alive, zones, capacities).
//!
//! A member gossip declares down stays in the view marked dead: placement leaves it out of
//! the targets of new writes and of the read order, while the write quorum still counts it
//! (see `tessera_replication::quorum`). A member gossip never heard from counts as alive
//! until gossip has settled (startup), then as dead. Zone and capacity come from the
//! member's latest advert (kept while it is down), the defaults before one arrived. A node
//! removed from Raft leaves the view whatever gossip says; gossip never adds one.

use super::addresses::Addresses;
use super::gossip::{GossipSnapshot, Liveness};
use crate::config::{DEFAULT_CAPACITY, DEFAULT_ZONE};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tessera_raft::Meta;
use tessera_replication::NodeInfo;
use tokio::sync::watch;

/// How often the view is refreshed from the local Raft metrics (gossip changes apply at once).
const REFRESH: Duration = Duration::from_millis(500);

/// Gossip's verdict on Raft member `id`: what gossip says, down if it never heard of the
/// member once settled, `None` (unknown, counted alive) before that.
pub fn verdict(gossip: &GossipSnapshot, id: u64) -> Option<Liveness> {
    match gossip.nodes.get(&id).and_then(|g| g.liveness) {
        Some(l) => Some(l),
        None if gossip.settled => Some(Liveness::Down),
        None => None,
    }
}

/// The placement view of `members` (Raft voters and learners) given what gossip knows.
pub fn merge_view(members: &BTreeMap<u64, SocketAddr>, gossip: &GossipSnapshot) -> Vec<NodeInfo> {
    members
        .keys()
        .map(|&id| {
            let advert = gossip.nodes.get(&id).and_then(|g| g.advert.as_ref());
            NodeInfo {
                id,
                zone: advert.map_or_else(|| DEFAULT_ZONE.to_string(), |a| a.zone.clone()),
                capacity: advert.map_or(DEFAULT_CAPACITY, |a| a.capacity),
                alive: verdict(gossip, id) != Some(Liveness::Down),
                full: advert.is_some_and(|a| a.full),
            }
        })
        .collect()
}

/// The Raft members with their peer addresses, as this node's metrics show them.
fn raft_members(meta: &Meta) -> Option<BTreeMap<u64, SocketAddr>> {
    let status = match meta.status() {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "membership refresh failed");
            return None;
        }
    };
    let members: BTreeMap<u64, SocketAddr> = status
        .voters
        .iter()
        .chain(status.learners.iter())
        .filter_map(|(id, addr)| addr.parse().ok().map(|a| (*id, a)))
        .collect();
    (!members.is_empty()).then_some(members)
}

/// Keeps `view` and `addresses` in step with the Raft membership and gossip until the node
/// stops.
pub async fn follow_membership(
    meta: Meta,
    mut gossip: watch::Receiver<GossipSnapshot>,
    view: watch::Sender<Vec<NodeInfo>>,
    addresses: Addresses,
) {
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            changed = gossip.changed() => if changed.is_err() {
                // Gossip stopped (node shutting down): Raft alone still drives the view.
                tick.tick().await;
            },
        }
        let Some(members) = raft_members(&meta) else {
            continue;
        };
        let nodes = merge_view(&members, &gossip.borrow_and_update());
        addresses.set(members.into_iter().collect());
        view.send_if_modified(|current| {
            let changed = *current != nodes;
            if changed {
                let show: Vec<String> = nodes
                    .iter()
                    .map(|n| format!("{}{}", n.id, if n.alive { "" } else { "(down)" }))
                    .collect();
                tracing::info!(members = ?show, "placement membership changed");
                *current = nodes;
            }
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::advert::{test_advert, Advert};
    use crate::cluster::gossip::NodeGossip;

    fn members(ids: &[u64]) -> BTreeMap<u64, SocketAddr> {
        ids.iter()
            .map(|&id| (id, SocketAddr::from(([127, 0, 0, id as u8], 7100))))
            .collect()
    }

    fn gossip(settled: bool, nodes: &[(u64, Option<Liveness>, Option<&str>)]) -> GossipSnapshot {
        GossipSnapshot {
            settled,
            nodes: nodes
                .iter()
                .map(|&(id, liveness, zone)| {
                    let advert = zone.map(|z| Advert {
                        zone: z.into(),
                        capacity: id * 10,
                        ..test_advert(id, 4)
                    });
                    (id, NodeGossip { liveness, advert })
                })
                .collect(),
        }
    }

    #[test]
    fn a_member_gossip_declares_down_stays_in_the_view_as_dead() {
        let g = gossip(
            true,
            &[
                (1, Some(Liveness::Alive), Some("a")),
                (2, Some(Liveness::Suspect), Some("b")),
                (3, Some(Liveness::Down), Some("c")),
            ],
        );
        let view = merge_view(&members(&[1, 2, 3]), &g);
        let alive: Vec<(u64, bool)> = view.iter().map(|n| (n.id, n.alive)).collect();
        assert_eq!(alive, [(1, true), (2, true), (3, false)]);
        // The dead member keeps its last advertised zone and weight.
        assert_eq!((view[2].zone.as_str(), view[2].capacity), ("c", 30));
    }

    #[test]
    fn a_member_removed_from_raft_is_gone_whatever_gossip_says() {
        let g = gossip(
            true,
            &[
                (1, Some(Liveness::Alive), Some("a")),
                (2, Some(Liveness::Alive), Some("a")),
                (9, Some(Liveness::Alive), Some("a")),
            ],
        );
        let ids: Vec<u64> = merge_view(&members(&[1, 2]), &g)
            .iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn unheard_members_count_as_alive_only_until_gossip_settles() {
        let early = merge_view(
            &members(&[1, 2]),
            &gossip(false, &[(1, Some(Liveness::Alive), None)]),
        );
        assert!(early.iter().all(|n| n.alive));
        assert_eq!(
            (early[1].zone.as_str(), early[1].capacity),
            (DEFAULT_ZONE, DEFAULT_CAPACITY)
        );
        let late = merge_view(
            &members(&[1, 2]),
            &gossip(true, &[(1, Some(Liveness::Alive), None)]),
        );
        assert_eq!(
            late.iter().map(|n| n.alive).collect::<Vec<_>>(),
            [true, false]
        );
    }
}
