//! [`NodeAdmin`]: the node's [`ClusterAdmin`], handed to the API. Status and verify are
//! answered at once; leave and repair run as the `leave` and `repair` jobs.

use tessera_domain::cluster_admin::{ClusterAdmin, ClusterReport, LeaveReport, VerifyReport};
use tessera_domain::DomainError;
use tessera_raft::Meta;
use tessera_replication::{Data, RepairReport, Workers};
use tracing::Instrument;

use super::job::Job;
use super::{leave, repair, status, verify};
use crate::cluster::GossipReports;

/// Cluster operations of one node.
pub struct NodeAdmin {
    meta: Meta,
    data: Data,
    gossip: Option<GossipReports>,
    leave: Job,
    repair: Job,
}

impl NodeAdmin {
    /// Registers the leave and repair jobs with `workers`.
    pub fn new(meta: Meta, data: Data, gossip: Option<GossipReports>, workers: &Workers) -> Self {
        NodeAdmin {
            meta,
            data,
            gossip,
            leave: Job::spawn("leave", workers),
            repair: Job::spawn("repair", workers),
        }
    }
}

#[async_trait::async_trait]
impl ClusterAdmin for NodeAdmin {
    async fn status(&self) -> Result<ClusterReport, DomainError> {
        status::cluster_report(&self.meta, &self.data, self.gossip.as_ref()).await
    }

    async fn leave(&self, node: Option<u64>, drain: bool) -> Result<LeaveReport, DomainError> {
        let node = node.unwrap_or(self.data.self_id());
        let (meta, data, job) = (self.meta.clone(), self.data.clone(), self.leave.clone());
        let run =
            async move { leave::leave_cluster(meta, data, node, drain, |p| job.phase(p)).await };
        self.leave
            .run(run.instrument(tracing::info_span!("cluster_leave", node, drain)))
            .await
    }

    async fn repair(&self) -> Result<RepairReport, DomainError> {
        let (meta, data, job) = (self.meta.clone(), self.data.clone(), self.repair.clone());
        let run = async move { repair::repair_pass(meta, data, |p| job.phase(p)).await };
        self.repair
            .run(run.instrument(tracing::info_span!("repair_pass")))
            .await
    }

    async fn verify(&self, image_id: Option<String>) -> Result<VerifyReport, DomainError> {
        verify::verify(&self.meta, &self.data, image_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tessera_replication::WorkerState;

    async fn standalone() -> (NodeAdmin, Data, Workers, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta"), 1).await.unwrap();
        meta.wait_leader(Duration::from_secs(10)).await.unwrap();
        let data = Data::open(&dir.path().join("chunks")).unwrap();
        let workers = Workers::new();
        let admin = NodeAdmin::new(meta, data.clone(), None, &workers);
        (admin, data, workers, dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_lists_the_member_and_the_kept_chunk_totals() {
        let (admin, data, workers, _dir) = standalone().await;
        data.put_chunk(bytes::Bytes::from_static(b"some chunk"))
            .await
            .unwrap();
        let report = admin.status().await.unwrap();
        assert_eq!(report.node.node_id, 1);
        assert_eq!(report.members.len(), 1);
        let me = &report.members[0];
        assert!(me.voter && me.gossip.is_empty());
        assert_eq!(me.status.as_ref().unwrap().node_id, 1);
        assert_eq!((report.chunks.count, report.chunks.bytes), (1, 10));
        workers.shutdown();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repair_and_leave_run_as_jobs_the_workers_list_shows() {
        let (admin, _data, workers, _dir) = standalone().await;
        let names: Vec<String> = workers.list().into_iter().map(|w| w.name).collect();
        assert!(names.contains(&"repair".to_string()), "{names:?}");
        assert!(names.contains(&"leave".to_string()), "{names:?}");
        let report = admin.repair().await.unwrap();
        assert_eq!(report.manifests, 0);
        let mut repair = workers.get("repair").unwrap();
        for _ in 0..100 {
            if repair.state == WorkerState::Idle && repair.report.passes == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            repair = workers.get("repair").unwrap();
        }
        assert_eq!(repair.report.passes, 1, "{repair:?}");
        assert_eq!(repair.report.counters["repaired"], 0);
        // A non-member cannot leave: a typed refusal.
        assert!(matches!(
            admin.leave(Some(7), false).await,
            Err(DomainError::NotFound(_))
        ));
        workers.shutdown();
    }
}
