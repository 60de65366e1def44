//! End-to-end tests of the `Meta` handle: single node restart, and a 3-node cluster over the
//! in-process transport.

mod common;

use common::{admin_query, create, list_ids};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_raft::{ImageStatus, ListQuery, LocalTransport, Meta, MetaConfig, MetaError, Outcome};

fn all() -> ListQuery {
    admin_query(Default::default(), 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_restart_keeps_data_and_stays_writable() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let meta = Meta::open(dir.path(), 1).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2), "slow first election");
    let out = meta.propose(create("r1", "a")).await.unwrap();
    assert!(matches!(out, Outcome::Applied(Some(_))));
    assert_eq!(meta.get_image("a").await.unwrap().unwrap().revision, 1);
    assert_eq!(
        meta.live_manifests().await.unwrap(),
        vec![tessera_raft::DataRef::new("m-a".into())]
    );
    meta.shutdown().await.unwrap();
    assert!(matches!(
        meta.propose(create("r2", "b")).await,
        Err(MetaError::Shutdown | MetaError::Fatal(_))
    ));
    drop(meta);

    let t0 = Instant::now();
    let meta = Meta::open(dir.path(), 1).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3), "slow re-election");
    assert!(meta.get_image("a").await.unwrap().is_some());
    // Dedup survives the restart.
    assert!(matches!(
        meta.propose(create("r1", "a")).await.unwrap(),
        Outcome::Applied(Some(_))
    ));
    assert_eq!(
        meta.propose(create("r3", "a")).await.unwrap(),
        Outcome::Exists
    );
    meta.propose(create("r4", "b")).await.unwrap();
    let ids = list_ids(&meta, &all()).await;
    assert_eq!(ids, vec!["b", "a"]);
    let queued = meta.images_with_status_local(ImageStatus::Queued).unwrap();
    assert_eq!(
        queued.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(meta
        .images_with_status_local(ImageStatus::PendingDelete)
        .unwrap()
        .is_empty());
    meta.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_and_replicate() {
    let net = LocalTransport::new();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut metas = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let id = i as u64 + 1;
        let cfg = MetaConfig::new(id, format!("node{id}"), Arc::new(net.clone()));
        let m = Meta::start(d.path(), cfg).await.unwrap();
        net.register(&m);
        metas.push(m);
    }
    let members: BTreeMap<_, _> = (1..=3)
        .map(|id| (id, openraft::BasicNode::new(format!("node{id}"))))
        .collect();
    metas[0].initialize(members).await.unwrap();

    // Wait for some leader.
    let deadline = Instant::now() + Duration::from_secs(10);
    let leader = loop {
        if let Some(l) = metas[0].current_leader() {
            if metas[l as usize - 1]
                .wait_leader(Duration::from_secs(1))
                .await
                .is_ok()
            {
                break l;
            }
        }
        assert!(Instant::now() < deadline, "no leader elected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let lm = &metas[leader as usize - 1];
    let out = lm.propose(create("r1", "x")).await.unwrap();
    assert!(matches!(out, Outcome::Applied(Some(_))));

    // A follower forwards writes to the leader, and replicates the record.
    let follower = metas.iter().find(|m| m.node_id() != leader).unwrap();
    let out = follower.propose(create("r2", "y")).await.unwrap();
    assert!(matches!(out, Outcome::Applied(Some(_))));
    let deadline = Instant::now() + Duration::from_secs(5);
    for m in &metas {
        while m.get_image_local("x").unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "not replicated to {}",
                m.node_id()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for m in &metas {
        m.shutdown().await.unwrap();
        net.deregister(m.node_id());
    }
}

/// A command over the entry bound is refused with a typed error before it reaches the log
/// (no batch split could carry it to a follower), and the node stays writable.
#[tokio::test]
async fn a_command_over_the_entry_bound_is_refused_before_the_log() {
    use tessera_raft::{Change, Command, DocOp, Expect, Request, MAX_ENTRY_BYTES};
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(dir.path(), 1).await.unwrap();
    let docs = |len: usize| Request {
        request_id: format!("big-{len}"),
        stamped_at: 0,
        command: Command::Docs {
            ops: vec![DocOp::new(
                "k",
                "id",
                Expect::Any,
                Change::Put(vec![7; len]),
            )],
        },
    };
    let err = meta.propose(docs(MAX_ENTRY_BYTES)).await.unwrap_err();
    assert!(
        matches!(err, MetaError::TooLarge { max, .. } if max == MAX_ENTRY_BYTES),
        "{err}"
    );
    assert!(meta.propose(docs(1000)).await.is_ok());
    meta.shutdown().await.unwrap();
}

/// A metadata volume below its reserve refuses what grows the state and still takes what
/// shrinks it; with room again, writes resume.
#[tokio::test]
async fn a_full_metadata_volume_refuses_growth_but_not_deletes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tessera_raft::{Change, Command, DocOp, Expect, MetaSpace, Request};

    struct Switch(AtomicBool);
    impl MetaSpace for Switch {
        fn check_room(&self) -> Result<(), String> {
            if self.0.load(Ordering::SeqCst) {
                Err("metadata volume below its reserve".into())
            } else {
                Ok(())
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(dir.path(), 1).await.unwrap();
    let full = Arc::new(Switch(AtomicBool::new(false)));
    meta.set_space(full.clone());
    meta.propose(create("r1", "a")).await.unwrap();
    full.0.store(true, Ordering::SeqCst);

    let err = meta.propose(create("r2", "b")).await.unwrap_err();
    assert_eq!(
        err,
        MetaError::StorageFull("metadata volume below its reserve".into())
    );
    assert!(meta.get_image("b").await.unwrap().is_none());
    let doc = |rid: &str, change: Change| Request {
        request_id: rid.into(),
        stamped_at: 0,
        command: Command::Docs {
            ops: vec![DocOp::new("k", "id", Expect::Any, change)],
        },
    };
    assert!(matches!(
        meta.propose(doc("d1", Change::Put(vec![1]))).await,
        Err(MetaError::StorageFull(_))
    ));
    assert!(meta.propose(doc("d2", Change::Delete)).await.is_ok());
    let delete = Request {
        request_id: "r3".into(),
        stamped_at: 0,
        command: Command::DeleteImage {
            id: "a".into(),
            expect: 1,
        },
    };
    assert!(matches!(
        meta.propose(delete).await.unwrap(),
        Outcome::Applied(_)
    ));
    assert!(meta.get_image("a").await.unwrap().is_none());

    full.0.store(false, Ordering::SeqCst);
    assert!(meta.propose(create("r4", "b")).await.is_ok());
    meta.shutdown().await.unwrap();
}
