//! Gossip's part of `GET /tessera/v1/cluster`: each Raft member's gossip state and advert.

use super::gossip::{GossipSnapshot, Liveness};
use super::membership::verdict;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tokio::sync::watch;

/// Gossip's report on one member.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GossipReport {
    /// Whether gossip holds the member down (its own Raft status is then not asked for).
    pub down: bool,
    /// Fields merged into the member's entry of `GET /tessera/v1/cluster`.
    pub fields: Map<String, Value>,
}

/// Reports from the latest gossip snapshot.
#[derive(Clone)]
pub struct GossipReports(pub watch::Receiver<GossipSnapshot>);

impl GossipReports {
    /// The report on each of `members` (Raft node ids).
    pub fn reports(&self, members: &[u64]) -> BTreeMap<u64, GossipReport> {
        let snapshot = self.0.borrow();
        members
            .iter()
            .map(|&id| (id, report(&snapshot, id)))
            .collect()
    }
}

/// The report on member `id`: its gossip state ("unknown" until heard from or settled) and,
/// once it advertised, its advert's fields.
fn report(snapshot: &GossipSnapshot, id: u64) -> GossipReport {
    let state = verdict(snapshot, id);
    let mut fields = Map::new();
    fields.insert(
        "gossip".into(),
        json!(state.map_or("unknown", Liveness::as_str)),
    );
    if let Some(a) = snapshot.nodes.get(&id).and_then(|g| g.advert.as_ref()) {
        let advertised = json!({
            "name": a.name,
            "api": a.api,
            "peer": a.peer,
            "zone": a.zone,
            "capacity": a.capacity,
            "free_bytes": a.free_bytes,
            "full": a.full,
            "metadata_full": a.metadata_full,
            "version": a.version,
            "chunks": { "count": a.chunks, "bytes": a.chunk_bytes },
        });
        if let Value::Object(advertised) = advertised {
            fields.extend(advertised);
        }
    }
    GossipReport {
        down: state == Some(Liveness::Down),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::advert::{test_advert, Advert};
    use crate::cluster::gossip::NodeGossip;

    #[test]
    fn reports_state_and_advert_of_each_member() {
        let advert = Advert {
            zone: "rack-1".into(),
            chunks: 3,
            chunk_bytes: 300,
            ..test_advert(1, 4)
        };
        let mut snapshot = GossipSnapshot {
            settled: false,
            nodes: [
                (
                    1,
                    NodeGossip {
                        liveness: Some(Liveness::Alive),
                        advert: Some(advert),
                    },
                ),
                (
                    2,
                    NodeGossip {
                        liveness: Some(Liveness::Down),
                        advert: None,
                    },
                ),
            ]
            .into(),
        };
        let r = report(&snapshot, 1);
        assert!(!r.down);
        assert_eq!(r.fields["gossip"], "alive");
        assert_eq!(r.fields["zone"], "rack-1");
        assert_eq!(r.fields["chunks"], json!({ "count": 3, "bytes": 300 }));
        let r = report(&snapshot, 2);
        assert!(r.down && r.fields["gossip"] == "down" && !r.fields.contains_key("zone"));
        assert_eq!(report(&snapshot, 3).fields["gossip"], "unknown");
        snapshot.settled = true;
        assert!(report(&snapshot, 3).down);
    }
}
