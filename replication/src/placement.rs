//! Chunk placement: weighted rendezvous (HRW) hashing over live nodes, spread across zones.
//!
//! Each live node gets a score for a chunk, `weight / -ln(h)` with `h` in `(0, 1)` a hash of
//! (chunk id, node id): the best score wins, and with one replica a node is chosen with
//! probability proportional to its weight. Replicas go to the best node of every zone first
//! (zones ordered by their best score), then to the second best of every zone, and so on.
//!
//! Deterministic in the set of nodes (their order in the slice does not matter). Adding a
//! node moves at most one replica (to the new node); removing a node that holds no replica
//! changes nothing.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::id::ChunkId;
use crate::policy::Policy;

/// What placement knows of a cluster member (from gossip).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's id.
    pub id: u64,
    /// Failure domain (rack, room, region); replicas are spread across zones first.
    pub zone: String,
    /// Placement weight (typically capacity in bytes or GiB); 0 ranks last within its zone.
    pub capacity: u64,
    /// Whether gossip currently considers the node alive.
    pub alive: bool,
    /// Whether the node advertised its chunk store below its free-space reserve: it gets no
    /// new copies ([`write_placement`]) but keeps and serves the ones it holds.
    #[serde(default)]
    pub full: bool,
}

impl NodeInfo {
    /// A live node.
    pub fn new(id: u64, zone: impl Into<String>, capacity: u64) -> NodeInfo {
        NodeInfo {
            id,
            zone: zone.into(),
            capacity,
            alive: true,
            full: false,
        }
    }
}

/// Uniform value in `(0, 1)` derived from (chunk, node).
fn hash01(chunk: &ChunkId, node: u64) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(chunk.as_bytes());
    h.update(&node.to_le_bytes());
    let out = h.finalize();
    let mut eight = [0u8; 8];
    eight.copy_from_slice(&out.as_bytes()[..8]);
    let x = u64::from_le_bytes(eight) >> 11;
    (x as f64 + 0.5) / (1u64 << 53) as f64
}

/// Weighted HRW score of `node` for `chunk` (higher is better).
fn score(chunk: &ChunkId, node: &NodeInfo) -> f64 {
    node.capacity as f64 / -hash01(chunk, node.id).ln()
}

/// The ids of up to `r` live nodes that should hold `chunk`, best first.
///
/// Returns every live node (in preference order) when `r` exceeds their number. Duplicate
/// ids in `nodes` are considered once (the first entry wins).
pub fn placement(chunk: &ChunkId, nodes: &[NodeInfo], r: usize) -> Vec<u64> {
    let mut seen = HashSet::new();
    let mut scored: Vec<(f64, &NodeInfo)> = nodes
        .iter()
        .filter(|n| n.alive && seen.insert(n.id))
        .map(|n| (score(chunk, n), n))
        .collect();
    let by_score =
        |a: &(f64, &NodeInfo), b: &(f64, &NodeInfo)| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id));
    scored.sort_by(by_score);
    let mut per_zone: HashMap<&str, usize> = HashMap::new();
    let mut ranked: Vec<(usize, f64, &NodeInfo)> = scored
        .into_iter()
        .map(|(s, n)| {
            let rank = per_zone.entry(n.zone.as_str()).or_insert(0);
            *rank += 1;
            (*rank, s, n)
        })
        .collect();
    ranked.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| by_score(&(a.1, a.2), &(b.1, b.2)))
    });
    ranked.into_iter().take(r).map(|(_, _, n)| n.id).collect()
}

/// [`placement`] of a new copy: nodes below their free-space reserve are left out, so the
/// chunk goes to the best nodes that can take it. Reads, anti-entropy and handoff keep using
/// [`placement`], so the copies a full node holds stay where they are.
pub fn write_placement(chunk: &ChunkId, nodes: &[NodeInfo], r: usize) -> Vec<u64> {
    if !nodes.iter().any(|n| n.full) {
        return placement(chunk, nodes, r);
    }
    let writable: Vec<NodeInfo> = nodes.iter().filter(|n| !n.full).cloned().collect();
    placement(chunk, &writable, r)
}

/// Where `chunk` goes under every policy of `policies`: each policy's [`placement`] (or
/// [`write_placement`] for a new copy) among the nodes it admits, `skip` left out, united in
/// policy order; and the write quorum W, the most any policy needs (the majority of its
/// copies, capped by its zones' members, dead ones included).
pub fn placement_under(
    chunk: &ChunkId,
    nodes: &[NodeInfo],
    policies: &[Policy],
    write: bool,
    skip: Option<u64>,
) -> (Vec<u64>, usize) {
    let mut targets: Vec<u64> = Vec::new();
    let mut need = 1;
    for policy in policies {
        let zoned: Vec<NodeInfo>;
        let admitted = if policy.zones().is_empty() {
            nodes
        } else {
            zoned = nodes.iter().filter(|n| policy.admits(n)).cloned().collect();
            &zoned
        };
        let members: HashSet<u64> = admitted.iter().map(|n| n.id).collect();
        let r = policy.replicas.max(1);
        need = need.max(crate::quorum::majority(r.min(members.len())));
        let order = if write {
            write_placement(chunk, admitted, usize::MAX)
        } else {
            placement(chunk, admitted, usize::MAX)
        };
        let picked = order.into_iter().filter(|n| Some(*n) != skip).take(r);
        for node in picked {
            if !targets.contains(&node) {
                targets.push(node);
            }
        }
    }
    (targets, need)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cluster() -> impl Strategy<Value = Vec<NodeInfo>> {
        prop::collection::btree_map(
            0u64..1000,
            (0u8..4, 1u64..100, prop::bool::weighted(0.85)),
            1..12,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(id, (z, w, alive))| NodeInfo {
                    id,
                    zone: format!("z{z}"),
                    capacity: w,
                    alive,
                    full: false,
                })
                .collect()
        })
    }

    fn chunk() -> impl Strategy<Value = ChunkId> {
        any::<[u8; 32]>().prop_map(ChunkId::from_bytes)
    }

    proptest! {
        #[test]
        fn deterministic_and_order_independent(nodes in cluster(), c in chunk(), r in 1usize..6) {
            let a = placement(&c, &nodes, r);
            let mut rev = nodes.clone();
            rev.reverse();
            prop_assert_eq!(&a, &placement(&c, &rev, r));
            let live = nodes.iter().filter(|n| n.alive).count();
            prop_assert_eq!(a.len(), r.min(live));
            let distinct: HashSet<_> = a.iter().collect();
            prop_assert_eq!(distinct.len(), a.len());
            for id in &a {
                prop_assert!(nodes.iter().any(|n| n.id == *id && n.alive));
            }
        }

        #[test]
        fn r_beyond_live_gives_all_live(nodes in cluster(), c in chunk()) {
            let mut got = placement(&c, &nodes, 100);
            got.sort_unstable();
            let mut live: Vec<u64> = nodes.iter().filter(|n| n.alive).map(|n| n.id).collect();
            live.sort_unstable();
            prop_assert_eq!(got, live);
        }

        #[test]
        fn adding_a_node_moves_at_most_one_replica(
            nodes in cluster(),
            c in chunk(),
            r in 1usize..5,
            new_zone in 0u8..5,
            new_w in 1u64..100,
        ) {
            let old = placement(&c, &nodes, r);
            let mut more = nodes.clone();
            more.push(NodeInfo::new(5000, format!("z{new_zone}"), new_w));
            let new = placement(&c, &more, r);
            if new.contains(&5000) {
                let kept = new.iter().filter(|id| old.contains(id)).count();
                prop_assert_eq!(kept, new.len() - 1);
            } else {
                prop_assert_eq!(new, old);
            }
        }

        #[test]
        fn removing_a_node_moves_only_its_replica(nodes in cluster(), c in chunk(), r in 1usize..5, pick in any::<prop::sample::Index>()) {
            let old = placement(&c, &nodes, r);
            let gone = nodes[pick.index(nodes.len())].id;
            let fewer: Vec<NodeInfo> = nodes.iter().filter(|n| n.id != gone).cloned().collect();
            let new = placement(&c, &fewer, r);
            if old.contains(&gone) {
                for id in old.iter().filter(|id| **id != gone) {
                    prop_assert!(new.contains(id), "{id} lost: {old:?} -> {new:?}");
                }
            } else {
                prop_assert_eq!(new, old);
            }
        }

        #[test]
        fn zones_are_spread(nodes in cluster(), c in chunk(), r in 1usize..8) {
            let got = placement(&c, &nodes, r);
            let zone_of = |id: &u64| nodes.iter().find(|n| n.id == *id).map(|n| n.zone.clone());
            let mut live_per_zone: HashMap<String, usize> = HashMap::new();
            for n in nodes.iter().filter(|n| n.alive) {
                *live_per_zone.entry(n.zone.clone()).or_default() += 1;
            }
            let mut used: HashMap<String, usize> = live_per_zone.keys().map(|z| (z.clone(), 0)).collect();
            for id in &got {
                if let Some(z) = zone_of(id) {
                    *used.entry(z).or_default() += 1;
                }
            }
            // No zone gets a second replica while another zone with spare live nodes has fewer.
            for (za, &a) in &used {
                for (zb, &b) in &used {
                    prop_assert!(a <= b + 1 || b == live_per_zone[zb], "{za}:{a} vs {zb}:{b} in {got:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn policies_confine_and_unite(
            nodes in cluster(),
            c in chunk(),
            r in 1usize..5,
            zone in 0u8..4,
        ) {
            // One policy anywhere is plain placement.
            let (got, _) = placement_under(&c, &nodes, &[Policy::everywhere(r)], false, None);
            prop_assert_eq!(got, placement(&c, &nodes, r));
            // A zoned policy places among its zone only, as placement of that zone would.
            let z = Policy::in_zones(r, [format!("z{zone}")]);
            let in_zone: Vec<NodeInfo> = nodes.iter().filter(|n| z.admits(n)).cloned().collect();
            let (zoned, need) = placement_under(&c, &nodes, std::slice::from_ref(&z), false, None);
            prop_assert_eq!(&zoned, &placement(&c, &in_zone, r));
            prop_assert_eq!(need, crate::quorum::majority(r.min(in_zone.len())));
            // Both: the union, anywhere's targets first.
            let both = [Policy::everywhere(r), z];
            let (union, _) = placement_under(&c, &nodes, &both, false, None);
            let mut want = placement(&c, &nodes, r);
            want.extend(zoned.iter().filter(|n| !want.contains(n)).collect::<Vec<_>>());
            prop_assert_eq!(union, want);
        }
    }

    #[test]
    fn weights_skew_choice_proportionally() {
        let nodes: Vec<NodeInfo> = (1..=4).map(|i| NodeInfo::new(i, "z", i * 10)).collect();
        let mut hits = [0usize; 5];
        let n = 20_000;
        for i in 0..n {
            let c = ChunkId::of(&(i as u64).to_le_bytes());
            hits[placement(&c, &nodes, 1)[0] as usize] += 1;
        }
        for w in 1..=4usize {
            let expected = n as f64 * w as f64 / 10.0;
            let got = hits[w] as f64;
            assert!(
                (got - expected).abs() < expected * 0.08,
                "node {w}: {got} vs {expected} ({hits:?})"
            );
        }
    }

    #[test]
    fn zones_first_then_doubling_up() {
        let nodes = vec![
            NodeInfo::new(1, "a", 1000),
            NodeInfo::new(2, "a", 1000),
            NodeInfo::new(3, "a", 1000),
            NodeInfo::new(4, "b", 1),
        ];
        for i in 0..200u64 {
            let c = ChunkId::of(&i.to_le_bytes());
            let got = placement(&c, &nodes, 2);
            assert!(
                got.contains(&4),
                "tiny zone b still gets one replica: {got:?}"
            );
            let got = placement(&c, &nodes, 3);
            assert_eq!(got.iter().filter(|&&id| id != 4).count(), 2);
        }
    }

    #[test]
    fn dead_nodes_are_skipped() {
        let mut nodes: Vec<NodeInfo> = (1..=3).map(|i| NodeInfo::new(i, "z", 1)).collect();
        nodes[1].alive = false;
        let got = placement(&ChunkId::of(b"x"), &nodes, 3);
        assert_eq!(got.len(), 2);
        assert!(!got.contains(&2));
        assert!(placement(&ChunkId::of(b"x"), &[], 3).is_empty());
    }

    proptest! {
        #[test]
        fn writes_skip_full_nodes_and_keep_the_rest_of_the_order(
            mut nodes in cluster(),
            c in chunk(),
            r in 1usize..6,
            full in prop::collection::vec(any::<bool>(), 12),
        ) {
            for (n, f) in nodes.iter_mut().zip(&full) {
                n.full = *f;
            }
            let got = write_placement(&c, &nodes, r);
            let writable: Vec<NodeInfo> = nodes.iter().filter(|n| !n.full).cloned().collect();
            prop_assert_eq!(&got, &placement(&c, &writable, r));
            for id in &got {
                prop_assert!(nodes.iter().any(|n| n.id == *id && n.alive && !n.full));
            }
            // Reads still see every live node, full or not.
            let live = nodes.iter().filter(|n| n.alive).count();
            prop_assert_eq!(placement(&c, &nodes, 100).len(), live);
        }
    }

    #[test]
    fn a_full_node_gets_no_new_copies_until_it_has_room() {
        let mut nodes: Vec<NodeInfo> = (1..=4).map(|i| NodeInfo::new(i, "z", 1)).collect();
        nodes[2].full = true;
        for i in 0..200u64 {
            let c = ChunkId::of(&i.to_le_bytes());
            let got = write_placement(&c, &nodes, 3);
            assert_eq!(got.len(), 3);
            assert!(!got.contains(&3), "{got:?}");
            // The shared placement (reads, handoff) still counts it.
            assert_eq!(placement(&c, &nodes, 4).len(), 4);
        }
        nodes[2].full = false;
        let c = ChunkId::of(b"x");
        assert_eq!(write_placement(&c, &nodes, 3), placement(&c, &nodes, 3));
        nodes.iter_mut().for_each(|n| n.full = true);
        assert!(write_placement(&c, &nodes, 3).is_empty());
    }
}
