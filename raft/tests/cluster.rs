#![allow(clippy::unwrap_used)]
//! Cluster behaviour over the in-process transport: forwarding to the leader, failover,
//! joining from a snapshot, leaving, and dedup of retried proposals.

mod common;

use common::{admin_query, create, list_ids};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tessera_raft::{
    Change, ClusterStatus, Command, DocOp, Expect, Filters, ForwardReply, ForwardRequest, Image,
    ListQuery, LocalTransport, Meta, MetaConfig, NodeId, Outcome, RaftTransport, Request, Role,
};

fn all() -> ListQuery {
    let filters = Filters {
        visibility: Some(None),
        ..Default::default()
    };
    admin_query(filters, 100)
}

fn addr(id: NodeId) -> String {
    format!("node{id}")
}

/// Polls `f` until it holds, panicking with `what` after `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Nodes on one in-process network, each with its own data dir.
struct Cluster {
    net: LocalTransport,
    dirs: BTreeMap<NodeId, TempDir>,
    metas: BTreeMap<NodeId, Meta>,
    tweak: fn(&mut MetaConfig),
}

impl Cluster {
    fn new(tweak: fn(&mut MetaConfig)) -> Self {
        Cluster {
            net: LocalTransport::new(),
            dirs: BTreeMap::new(),
            metas: BTreeMap::new(),
            tweak,
        }
    }

    fn config(&self, id: NodeId, bootstrap: bool) -> MetaConfig {
        let mut cfg = MetaConfig::new(id, addr(id), Arc::new(self.net.clone()));
        cfg.bootstrap = bootstrap;
        (self.tweak)(&mut cfg);
        cfg
    }

    /// Starts node `id` (on its existing data dir if it had one) and registers it.
    async fn start_with(&mut self, id: NodeId, cfg: MetaConfig) -> Meta {
        let dir = self
            .dirs
            .entry(id)
            .or_insert_with(|| tempfile::tempdir().unwrap())
            .path()
            .to_path_buf();
        let m = Meta::start(Path::new(&dir), cfg).await.unwrap();
        self.net.register(&m);
        self.net.set_down(id, false);
        self.metas.insert(id, m.clone());
        m
    }

    async fn start(&mut self, id: NodeId, bootstrap: bool) -> Meta {
        let cfg = self.config(id, bootstrap);
        self.start_with(id, cfg).await
    }

    /// Node 1 bootstraps, nodes 2..=n join through node 1.
    async fn boot(&mut self, n: NodeId) {
        let first = self.start(1, true).await;
        for id in 2..=n {
            self.start(id, false).await;
            first.join(id, &addr(id)).await.unwrap();
        }
    }

    fn meta(&self, id: NodeId) -> &Meta {
        &self.metas[&id]
    }

    fn status(&self, id: NodeId) -> ClusterStatus {
        self.meta(id).status().unwrap()
    }

    /// The node every live member agrees leads.
    async fn leader(&self) -> NodeId {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st: Vec<_> = self
                .metas
                .values()
                .filter_map(|m| m.status().ok())
                .collect();
            if let Some(l) = st.iter().find(|s| s.role == Role::Leader) {
                if st.iter().all(|s| s.leader_id == Some(l.node_id)) {
                    return l.node_id;
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader: {st:?}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Stops node `id`, cuts it off and forgets its handle (its data dir stays).
    async fn kill(&mut self, id: NodeId) {
        self.net.set_down(id, true);
        self.net.deregister(id);
        if let Some(m) = self.metas.remove(&id) {
            m.shutdown().await.unwrap();
        }
    }

    async fn stop_all(&mut self) {
        let ids: Vec<_> = self.metas.keys().copied().collect();
        for id in ids {
            self.kill(id).await;
        }
    }
}

fn followers(c: &Cluster, leader: NodeId) -> Vec<NodeId> {
    c.metas.keys().copied().filter(|id| *id != leader).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_through_follower_is_visible_through_another() {
    let mut c = Cluster::new(|_| {});
    c.boot(3).await;
    let leader = c.leader().await;
    let f = followers(&c, leader);
    assert_eq!(f.len(), 2);

    let out = c.meta(f[0]).propose(create("r1", "a")).await.unwrap();
    assert!(matches!(out, Outcome::Applied(Some(_))));
    // Linearizable: visible at once through the other follower.
    let img = c.meta(f[1]).get_image("a").await.unwrap().unwrap();
    assert_eq!(img.revision, 1);
    let ids = list_ids(c.meta(f[1]), &all()).await;
    assert_eq!(ids, vec!["a"]);
    assert_eq!(
        c.meta(f[0]).live_manifests().await.unwrap(),
        vec![tessera_raft::DataRef::new("m-a".into())]
    );

    // Every node reports the same cluster, and any node can be asked about itself.
    for id in 1..=3 {
        let s = c.status(id);
        assert_eq!(s.node_id, id);
        assert_eq!(s.leader_id, Some(leader));
        assert_eq!(
            s.voters,
            (1..=3).map(|i| (i, addr(i))).collect::<BTreeMap<_, _>>()
        );
        assert!(s.learners.is_empty());
        let role = if id == leader {
            Role::Leader
        } else {
            Role::Follower
        };
        assert_eq!(s.role, role);
        let remote = c.meta(f[0]).peer_status(id).await.unwrap();
        assert_eq!(remote.node_id, id);
        assert_eq!(remote.role, role);
    }
    let reply = c
        .net
        .forward(
            leader,
            &openraft::BasicNode::new(addr(leader)),
            ForwardRequest::Status,
        )
        .await
        .unwrap();
    assert!(matches!(reply, ForwardReply::Status(Ok(s)) if s.role == Role::Leader));

    // Documents take the same path: written through one follower, read through another.
    let docs = Request {
        request_id: "d1".into(),
        stamped_at: 1,
        command: Command::Docs {
            ops: vec![DocOp::new(
                "task",
                "t1",
                Expect::Absent,
                Change::Put(b"{}".to_vec()),
            )],
        },
    };
    assert!(matches!(
        c.meta(f[0]).propose(docs).await.unwrap(),
        Outcome::Docs(_)
    ));
    let doc = c.meta(f[1]).get_doc("task", "t1").await.unwrap().unwrap();
    assert_eq!((doc.revision, doc.body.as_slice()), (1, &b"{}"[..]));
    assert_eq!(
        c.meta(f[1]).list_docs("task", "t").await.unwrap(),
        vec![doc]
    );
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_and_old_leader_catches_up() {
    let mut c = Cluster::new(|_| {});
    c.boot(3).await;
    c.meta(1).propose(create("r1", "before")).await.unwrap();
    let old = c.leader().await;
    let old_term = c.status(old).term;
    c.kill(old).await;

    let s = followers(&c, old);
    // Calls through the survivors wait out the election and reach the new leader.
    let out = c.meta(s[0]).propose(create("r2", "after")).await.unwrap();
    assert!(matches!(out, Outcome::Applied(Some(_))));
    assert!(c.meta(s[1]).get_image("after").await.unwrap().is_some());
    assert!(c.meta(s[1]).get_image("before").await.unwrap().is_some());
    let new = c.leader().await;
    assert_ne!(new, old);
    assert!(c.status(new).term > old_term);
    c.meta(s[1]).propose(create("r3", "after2")).await.unwrap();

    // The old leader restarts on its data dir and catches up as a follower.
    let back = c.start(old, false).await;
    eventually(10, "old leader catches up", || async {
        back.get_image_local("after2").unwrap().is_some()
    })
    .await;
    assert_eq!(c.leader().await, new);
    assert_eq!(c.status(old).role, Role::Follower);
    // And serves calls again.
    back.propose(create("r4", "via-old")).await.unwrap();
    assert!(c.meta(new).get_image("via-old").await.unwrap().is_some());
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_leader_is_replaced_and_heals() {
    // A forward reaching the cut-off leader hangs (it cannot commit): give up on it quickly.
    let mut c = Cluster::new(|cfg| cfg.attempt_timeout_ms = 1000);
    c.boot(3).await;
    let old = c.leader().await;
    let s = followers(&c, old);
    c.net.partition(&[&[old], &s]);
    // The majority elects a new leader; calls through it work.
    c.meta(s[0]).propose(create("r1", "p")).await.unwrap();
    assert!(c.meta(s[1]).get_image("p").await.unwrap().is_some());
    c.net.partition(&[]);
    eventually(10, "old leader rejoins", || async {
        c.meta(old).get_image_local("p").unwrap().is_some()
    })
    .await;
    assert_ne!(c.leader().await, old);
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_catches_up_from_snapshot() {
    let mut c = Cluster::new(|cfg| {
        cfg.snapshot_logs = 10;
        cfg.max_in_snapshot_log_to_keep = 0;
    });
    c.boot(3).await;
    for i in 0..30 {
        c.meta(1 + i % 3)
            .propose(create(&format!("r{i}"), &format!("img{i:02}")))
            .await
            .unwrap();
    }
    let leader = c.leader().await;
    eventually(10, "leader snapshot and purge", || async {
        c.status(leader).purged_index.is_some_and(|p| p >= 10)
    })
    .await;

    // Node 4 never builds a snapshot itself, so one it has was installed from the leader.
    let mut cfg = c.config(4, false);
    cfg.snapshot_logs = 0;
    let n4 = c.start_with(4, cfg).await;
    // A fresh non-bootstrap node initializes nothing: it waits to be added.
    let fresh = n4.status().unwrap();
    assert_eq!(fresh.snapshot_index, None);
    assert!(fresh.voters.is_empty() && fresh.leader_id.is_none());
    // Join through a follower: the request follows the leader hint.
    let seed = followers(&c, leader)
        .into_iter()
        .find(|id| *id != 4)
        .unwrap();
    n4.join_cluster(seed, &addr(seed)).await.unwrap();
    // The leader saw it caught up; its own metrics follow shortly.
    eventually(5, "joiner applies", || async {
        n4.status().unwrap().last_applied >= c.status(leader).last_applied
    })
    .await;

    let s4 = n4.status().unwrap();
    assert!(
        s4.snapshot_index.is_some_and(|i| i >= 10),
        "no snapshot installed: {s4:?}"
    );
    for i in 0..30 {
        assert!(
            n4.get_image_local(&format!("img{i:02}")).unwrap().is_some(),
            "img{i:02} missing on the joiner"
        );
    }
    // max_voters = 3: the fourth node stays a learner.
    assert_eq!(s4.role, Role::Learner);
    let ls = c.status(leader);
    assert_eq!(ls.voters.len(), 3);
    assert_eq!(ls.learners.keys().copied().collect::<Vec<_>>(), vec![4]);
    // The learner gets the log tail after the snapshot and serves calls.
    n4.propose(create("tail", "tail")).await.unwrap();
    eventually(5, "tail on joiner", || async {
        n4.get_image_local("tail").unwrap().is_some()
    })
    .await;
    assert_eq!(n4.list_images(&all()).await.unwrap().len(), 31);
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiners_become_voters_up_to_max_voters() {
    let mut c = Cluster::new(|cfg| cfg.max_voters = 5);
    c.boot(6).await;
    let s = c.status(c.leader().await);
    assert_eq!(
        s.voters.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(s.learners.keys().copied().collect::<Vec<_>>(), vec![6]);
    assert_eq!(c.status(6).role, Role::Learner);
    // Joining again is a no-op.
    c.meta(6).join(3, &addr(3)).await.unwrap();
    c.meta(2).join(6, &addr(6)).await.unwrap();
    assert_eq!(c.status(c.leader().await).voters.len(), 5);
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_removes_nodes_and_cluster_keeps_working() {
    let mut c = Cluster::new(|_| {});
    c.boot(4).await;
    let leader = c.leader().await;
    assert_eq!(c.status(leader).learners.len(), 1);
    let voter = followers(&c, leader)
        .into_iter()
        .find(|id| c.status(leader).voters.contains_key(id))
        .unwrap();

    // A leaving voter is replaced by the learner, keeping three voters.
    c.meta(4).leave(voter).await.unwrap();
    let s = c.status(leader);
    assert_eq!(s.voters.len(), 3);
    assert!(!s.voters.contains_key(&voter));
    assert!(!s.learners.contains_key(&voter));
    assert!(s.voters.contains_key(&4));
    assert!(s.learners.is_empty());
    c.kill(voter).await;
    c.meta(4).propose(create("r1", "a")).await.unwrap();
    let other = followers(&c, leader)
        .into_iter()
        .find(|id| *id != 4)
        .unwrap();
    assert!(c.meta(other).get_image("a").await.unwrap().is_some());
    c.meta(other).leave(voter).await.unwrap(); // idempotent

    // The leader itself leaves: the two others elect a new one and keep serving.
    c.meta(other).leave(leader).await.unwrap();
    c.kill(leader).await;
    let new = c.leader().await;
    assert_ne!(new, leader);
    let s = c.status(new);
    assert_eq!(s.voters.len(), 2);
    c.meta(other).propose(create("r2", "b")).await.unwrap();
    assert!(c.meta(4).get_image("b").await.unwrap().is_some());
    // The last voters cannot all go.
    let rest: Vec<_> = c.metas.keys().copied().collect();
    c.meta(rest[0]).leave(rest[0]).await.unwrap();
    assert!(c.meta(rest[1]).leave(rest[1]).await.is_err());
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_proposal_through_another_node_applies_once() {
    let mut c = Cluster::new(|_| {});
    c.boot(3).await;
    let leader = c.leader().await;
    let f = followers(&c, leader);
    let first = c.meta(f[0]).propose(create("c1", "x")).await.unwrap();
    let Outcome::Applied(Some(img)) = first.clone() else {
        panic!("create: {first:?}")
    };
    let put = Request {
        request_id: "p1".into(),
        stamped_at: 101,
        command: Command::PutImage {
            image: Image {
                name: Some("renamed".into()),
                ..img
            },
            expect: 1,
            limits: vec![],
        },
    };
    let a = c.meta(f[0]).propose(put.clone()).await.unwrap();
    // The client retries the same request elsewhere (e.g. after a lost reply).
    let b = c.meta(f[1]).propose(put.clone()).await.unwrap();
    let l = c.meta(leader).propose(put).await.unwrap();
    assert!(matches!(&a, Outcome::Applied(Some(i)) if i.revision == 2));
    assert_eq!(a, b);
    assert_eq!(a, l);
    assert_eq!(
        c.meta(f[1]).propose(create("c1", "x")).await.unwrap(),
        first
    );
    let now = c.meta(f[1]).get_image("x").await.unwrap().unwrap();
    assert_eq!(now.revision, 2);
    assert_eq!(now.name.as_deref(), Some("renamed"));
    c.stop_all().await;
}

#[test]
fn list_query_roundtrips_with_visibility_all() {
    let q = all();
    let bytes = rmp_serde::to_vec(&ForwardRequest::ListImages(q.clone())).unwrap();
    let back: ForwardRequest = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, ForwardRequest::ListImages(q.clone()));
    let mut d = q.clone();
    d.filters.visibility = None;
    let bytes = serde_json::to_vec(&d).unwrap();
    assert_eq!(serde_json::from_slice::<ListQuery>(&bytes).unwrap(), d);
}
