//! The metadata watermark of the cluster: every member applies every write to its own
//! metadata volume, so a write that grows the state is refused while this node's volume, or
//! any live member's (as its advert says), is below its reserve.

use super::gossip::{GossipSnapshot, Liveness};
use crate::space::Volume;
use tessera_raft::MetaSpace;
use tokio::sync::watch;

/// This node's metadata volume and what gossip says of the others'.
pub struct ClusterMetaSpace {
    /// This node's metadata volume.
    pub local: Volume,
    /// The members' adverts.
    pub gossip: watch::Receiver<GossipSnapshot>,
}

impl MetaSpace for ClusterMetaSpace {
    fn check_room(&self) -> Result<(), String> {
        self.local.check_room()?;
        full_member(&self.gossip.borrow()).map_or(Ok(()), Err)
    }
}

/// The refusal for the first live member advertising its metadata volume below its reserve.
fn full_member(snapshot: &GossipSnapshot) -> Option<String> {
    snapshot.nodes.iter().find_map(|(id, g)| {
        let advert = g.advert.as_ref()?;
        (advert.metadata_full && g.liveness != Some(Liveness::Down)).then(|| {
            format!(
                "Metadata storage is full: the metadata volume of member {id} ({}) is below \
                 its reserve; only deletes are accepted until space is freed",
                advert.name
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::advert::{test_advert, Advert};
    use crate::cluster::gossip::NodeGossip;

    #[test]
    fn a_live_member_below_its_metadata_reserve_refuses_growth_everywhere() {
        let member = |id, liveness, metadata_full| {
            let advert = Advert {
                metadata_full,
                ..test_advert(id, 4)
            };
            (
                id,
                NodeGossip {
                    liveness,
                    advert: Some(advert),
                },
            )
        };
        let mut snap = GossipSnapshot {
            settled: true,
            nodes: [
                member(1, Some(Liveness::Alive), false),
                member(2, Some(Liveness::Down), true),
            ]
            .into(),
        };
        assert_eq!(full_member(&snap), None, "a down member's advert is stale");
        snap.nodes
            .extend([member(3, Some(Liveness::Suspect), true)]);
        let msg = full_member(&snap).unwrap();
        assert!(
            msg.contains("member 3 (zzzz) is below its reserve"),
            "{msg}"
        );
    }
}
