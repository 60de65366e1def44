//! The cluster as this node sees it: every Raft member, asked for its own status unless
//! gossip holds it down, with gossip's figures, and this node's chunk totals (kept by the
//! chunk store, so no call walks the chunk tree).

use std::time::Duration;

use tessera_domain::cluster_admin::{ChunkTotals, ClusterReport, MemberReport};
use tessera_domain::DomainError;
use tessera_raft::Meta;
use tessera_replication::Data;

use crate::cluster::{GossipReport, GossipReports};

/// Longest wait for a member's own Raft status; a slow member is shown with an error.
const MEMBER_STATUS_WAIT: Duration = Duration::from_secs(3);

/// Every voter, then every learner, and this node's chunk totals.
pub async fn cluster_report(
    meta: &Meta,
    data: &Data,
    gossip: Option<&GossipReports>,
) -> Result<ClusterReport, DomainError> {
    let me = meta.status()?;
    let listed: Vec<(u64, String, bool)> = me
        .voters
        .iter()
        .map(|(id, a)| (*id, a.clone(), true))
        .chain(me.learners.iter().map(|(id, a)| (*id, a.clone(), false)))
        .collect();
    let ids: Vec<u64> = listed.iter().map(|(id, _, _)| *id).collect();
    let mut reports = gossip.map(|g| g.reports(&ids)).unwrap_or_default();
    let members = futures::future::join_all(listed.into_iter().map(|(id, addr, voter)| {
        member(
            meta,
            id,
            addr,
            voter,
            reports.remove(&id).unwrap_or_default(),
        )
    }))
    .await;
    let totals = data.store().totals();
    Ok(ClusterReport {
        node: me,
        members,
        chunks: ChunkTotals {
            count: totals.count,
            bytes: totals.bytes,
        },
    })
}

/// One member: its own Raft status (not asked when gossip holds it down) and gossip's view.
async fn member(
    meta: &Meta,
    id: u64,
    addr: String,
    voter: bool,
    gossip: GossipReport,
) -> MemberReport {
    let status = if gossip.down {
        Err("down according to gossip".to_string())
    } else {
        match tokio::time::timeout(MEMBER_STATUS_WAIT, meta.peer_status(id)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {MEMBER_STATUS_WAIT:?}")),
        }
    };
    MemberReport {
        id,
        addr,
        voter,
        status,
        gossip: gossip.fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_member_gossip_holds_down_is_not_asked() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(dir.path(), 1).await.unwrap();
        let mut fields = serde_json::Map::new();
        fields.insert("gossip".into(), "down".into());
        let m = member(
            &meta,
            1,
            "n1".into(),
            true,
            GossipReport { down: true, fields },
        )
        .await;
        assert_eq!(m.status, Err("down according to gossip".to_string()));
        assert_eq!(m.gossip["gossip"], "down");
    }
}
