//! Storage tests: openraft's conformance suite, apply semantics, indexes, snapshots.

mod common;

use common::{fresh_db, image, Applier};
use openraft::storage::RaftStateMachine;
use openraft::testing::{StoreBuilder, Suite};
use openraft::RaftSnapshotBuilder;
use tessera_raft::db::Db;
use tessera_raft::index::list_images;
use tessera_raft::log_store::LogStore;
use tessera_raft::state_machine::{
    build_usage_if_missing, get_doc, get_image, get_usage, list_docs, StateMachine, DEDUP_TTL_SECS,
};
use tessera_raft::types::{StorageError, TypeConfig};
use tessera_raft::{
    Change, Command, DocOp, Expect, ImageStatus, LimitCheck, ListQuery, Outcome, Resource, Viewer,
    Visibility,
};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let (dir, db) = fresh_db();
        Ok((dir, LogStore::new(db.clone()), StateMachine::new(db)))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("storage suite failed: {e}");
    }
}

fn admin_query() -> ListQuery {
    ListQuery {
        viewer: Viewer {
            project: None,
            admin: true,
        },
        filters: Default::default(),
        sort: ListQuery::default_sort(),
        marker: None,
        limit: 100,
    }
}

fn ids(v: &[tessera_raft::Image]) -> Vec<&str> {
    v.iter().map(|i| i.id.as_str()).collect()
}

#[tokio::test]
async fn create_put_delete_cas() {
    let (_d, db) = fresh_db();
    let mut a = Applier::new(&db);
    let img = image("a", "p1", 10);
    let Outcome::Applied(Some(stored)) = a
        .cmd(
            "r1",
            100,
            Command::CreateImage {
                image: img.clone(),
                limits: vec![],
            },
        )
        .await
    else {
        panic!("create failed")
    };
    assert_eq!(stored.revision, 1);
    assert_eq!(
        a.cmd(
            "r2",
            100,
            Command::CreateImage {
                image: img.clone(),
                limits: vec![]
            }
        )
        .await,
        Outcome::Exists
    );
    // Stale revision -> conflict with the current record.
    let mut changed = stored.clone();
    changed.name = Some("n".into());
    assert_eq!(
        a.cmd(
            "r3",
            101,
            Command::PutImage {
                image: changed.clone(),
                expect: 0,
                limits: vec![],
            }
        )
        .await,
        Outcome::Conflict(stored.clone())
    );
    let Outcome::Applied(Some(v2)) = a
        .cmd(
            "r4",
            101,
            Command::PutImage {
                image: changed.clone(),
                expect: 1,
                limits: vec![],
            },
        )
        .await
    else {
        panic!("put failed")
    };
    assert_eq!(v2.revision, 2);
    assert_eq!(v2.name.as_deref(), Some("n"));
    let mut ghost = image("zz", "p1", 1);
    ghost.revision = 3;
    assert_eq!(
        a.cmd(
            "r5",
            102,
            Command::PutImage {
                image: ghost,
                expect: 0,
                limits: vec![],
            }
        )
        .await,
        Outcome::NotFound
    );
    assert_eq!(
        a.cmd(
            "r6",
            102,
            Command::DeleteImage {
                id: "a".into(),
                expect: 1
            }
        )
        .await,
        Outcome::Conflict(v2.clone())
    );
    assert_eq!(
        a.cmd(
            "r7",
            102,
            Command::DeleteImage {
                id: "a".into(),
                expect: 2
            }
        )
        .await,
        Outcome::Applied(None)
    );
    assert_eq!(
        a.cmd(
            "r8",
            102,
            Command::DeleteImage {
                id: "a".into(),
                expect: 2
            }
        )
        .await,
        Outcome::NotFound
    );
    assert!(list_images(&db.sm, &admin_query()).unwrap().is_empty());
    // No index entry survives the delete.
    for t in db.sm.all().iter().skip(4) {
        assert!(t.is_empty(), "index tree not empty after delete");
    }
}

#[tokio::test]
async fn dedup_returns_stored_outcome_and_expires() {
    let (_d, db) = fresh_db();
    let mut a = Applier::new(&db);
    let create = Command::CreateImage {
        image: image("a", "p", 1),
        limits: vec![],
    };
    let first = a.cmd("same", 1000, create.clone()).await;
    assert!(matches!(first, Outcome::Applied(Some(_))));
    // The retry returns the original outcome, not `Exists`.
    assert_eq!(a.cmd("same", 1000, create.clone()).await, first);
    // A put under a reused id is not applied either.
    let mut changed = image("a", "p", 1);
    changed.name = Some("x".into());
    let put = Command::PutImage {
        image: changed,
        expect: 1,
        limits: vec![],
    };
    assert_eq!(a.cmd("same", 1000, put.clone()).await, first);
    // Once a newer request moves time past the TTL, the id is forgotten and applies anew.
    a.cmd(
        "later",
        1000 + DEDUP_TTL_SECS + 1,
        Command::DeleteImage {
            id: "none".into(),
            expect: 0,
        },
    )
    .await;
    assert!(db.sm.dedup.get("same").unwrap().is_none());
    assert!(matches!(
        a.cmd("same", 1000, put).await,
        Outcome::Applied(Some(_))
    ));
}

#[tokio::test]
async fn indexes_follow_changes() {
    let (_d, db) = fresh_db();
    let mut a = Applier::new(&db);
    let mut img = image("a", "p1", 5);
    img.name = Some("old".into());
    img.tags.insert("t1".into());
    img.status = ImageStatus::Active;
    img.visibility = Visibility::Public;
    let Outcome::Applied(Some(cur)) = a
        .cmd(
            "r1",
            1,
            Command::CreateImage {
                image: img,
                limits: vec![],
            },
        )
        .await
    else {
        panic!()
    };
    let mut next = cur.clone();
    next.name = Some("new".into());
    next.tags = ["t2".to_string()].into();
    next.owner = Some("p2".into());
    next.status = ImageStatus::Killed;
    next.visibility = Visibility::Private;
    next.created_at = 7;
    next.updated_at = 9;
    a.cmd(
        "r2",
        2,
        Command::PutImage {
            image: next,
            expect: cur.revision,
            limits: vec![],
        },
    )
    .await;

    let q = |f: &dyn Fn(&mut ListQuery)| {
        let mut q = admin_query();
        f(&mut q);
        ids(&list_images(&db.sm, &q).unwrap()).join(",")
    };
    assert_eq!(q(&|q| q.filters.names = Some(vec!["old".into()])), "");
    assert_eq!(q(&|q| q.filters.names = Some(vec!["new".into()])), "a");
    assert_eq!(q(&|q| q.filters.tags = vec!["t1".into()]), "");
    assert_eq!(q(&|q| q.filters.tags = vec!["t2".into()]), "a");
    assert_eq!(q(&|q| q.filters.owner = Some("p1".into())), "");
    assert_eq!(q(&|q| q.filters.owner = Some("p2".into())), "a");
    assert_eq!(
        q(&|q| q.filters.statuses = Some(vec![ImageStatus::Active])),
        ""
    );
    assert_eq!(
        q(&|q| q.filters.statuses = Some(vec![ImageStatus::Killed])),
        "a"
    );
    assert_eq!(
        q(&|q| q.filters.visibility = Some(Some(Visibility::Public))),
        ""
    );
    assert_eq!(
        q(&|q| q.filters.visibility = Some(Some(Visibility::Private))),
        "a"
    );
    // Exactly one key per index tree that applies (created, updated, owner, status, vis,
    // name, one tag).
    for t in [
        &db.sm.idx_created,
        &db.sm.idx_updated,
        &db.sm.idx_owner,
        &db.sm.idx_status,
        &db.sm.idx_visibility,
        &db.sm.idx_name,
        &db.sm.idx_tag,
    ] {
        assert_eq!(t.len(), 1);
    }
}

#[tokio::test]
async fn marker_not_found() {
    let (_d, db) = fresh_db();
    let mut q = admin_query();
    q.marker = Some("nope".into());
    assert!(matches!(
        list_images(&db.sm, &q),
        Err(tessera_raft::MetaError::MarkerNotFound(_))
    ));
}

async fn fill(db: &Db, n: usize) -> Applier {
    let mut a = Applier::new(db);
    for i in 0..n {
        let mut img = image(&format!("img{i:03}"), "p", i as i64);
        img.tags.insert(format!("t{}", i % 3));
        a.cmd(
            &format!("r{i}"),
            i as i64,
            Command::CreateImage {
                image: img,
                limits: vec![],
            },
        )
        .await;
    }
    a
}

#[tokio::test]
async fn snapshot_build_install_roundtrip() {
    let (_d1, db1) = fresh_db();
    let mut a = fill(&db1, 20).await;
    let mut builder = a.sm.get_snapshot_builder().await;
    let snap = builder.build_snapshot().await.unwrap();
    assert_eq!(snap.meta.last_log_id.map(|l| l.index), Some(20));

    let (d2, db2) = fresh_db();
    let mut sm2 = StateMachine::new(db2.clone());
    let mut b = fill(&db2, 3).await; // pre-existing state must vanish
    drop(b.sm.get_snapshot_builder().await);
    sm2.install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    let l1 = list_images(&db1.sm, &admin_query()).unwrap();
    let l2 = list_images(&db2.sm, &admin_query()).unwrap();
    assert_eq!(l1.len(), 20);
    assert_eq!(l1, l2);
    let (applied, _) = sm2.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(20));
    // Dedup state travels with the snapshot.
    assert!(db2.sm.dedup.get("r19").unwrap().is_some());

    // The current snapshot survives reopening the database.
    drop((sm2, b, db2));
    let db2 = Db::open(d2.path()).unwrap();
    let cur = StateMachine::new(db2)
        .get_current_snapshot()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cur.meta, snap.meta);
}

fn put(kind: &str, id: &str, expect: Expect, body: &[u8]) -> DocOp {
    DocOp::new(kind, id, expect, Change::Put(body.to_vec()))
}

#[tokio::test]
async fn doc_batches_apply_whole_or_not_at_all() {
    let (_d, db) = fresh_db();
    let mut a = Applier::new(&db);
    let ops = vec![
        put("ns", "a", Expect::Absent, b"A"),
        put("prop", "a/x", Expect::Absent, b"X"),
    ];
    let Outcome::Docs(after) = a.cmd("d1", 100, Command::Docs { ops }).await else {
        panic!("batch refused")
    };
    assert_eq!(
        after
            .iter()
            .map(|d| d.as_ref().map(|d| d.revision))
            .collect::<Vec<_>>(),
        [Some(1), Some(1)]
    );

    // The second operation's precondition fails: the first is not applied either.
    let ops = vec![
        put("prop", "a/y", Expect::Absent, b"Y"),
        DocOp::new("ns", "a", Expect::Revision(7), Change::Keep),
    ];
    let Outcome::DocConflict(c) = a.cmd("d2", 101, Command::Docs { ops }).await else {
        panic!("stale precondition applied")
    };
    assert_eq!((c.index, c.current.map(|d| d.revision)), (1, Some(1)));
    assert_eq!(get_doc(&db.sm, "prop", "a/y").unwrap(), None);

    // Later operations see earlier ones of the same batch; a kind is its own namespace.
    let ops = vec![
        put("ns", "a", Expect::Revision(1), b"A2"),
        put("ns", "a", Expect::Revision(2), b"A3"),
        put("nsx", "a", Expect::Absent, b"other kind"),
        DocOp::new("prop", "a/x", Expect::Present, Change::Delete),
    ];
    assert!(matches!(
        a.cmd("d3", 102, Command::Docs { ops }).await,
        Outcome::Docs(_)
    ));
    let ns = get_doc(&db.sm, "ns", "a").unwrap().unwrap();
    assert_eq!((ns.revision, ns.body.as_slice()), (3, &b"A3"[..]));
    assert_eq!(list_docs(&db.sm, "prop", "a/").unwrap(), vec![]);
    assert_eq!(list_docs(&db.sm, "ns", "").unwrap().len(), 1);
}

#[tokio::test]
async fn docs_travel_with_snapshots() {
    let (_d1, db1) = fresh_db();
    let mut a = Applier::new(&db1);
    let ops = (0..5)
        .map(|i| put("task", &format!("t{i}"), Expect::Absent, &[i]))
        .collect();
    assert!(matches!(
        a.cmd("d1", 100, Command::Docs { ops }).await,
        Outcome::Docs(_)
    ));
    let snap =
        a.sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
    let (_d2, db2) = fresh_db();
    StateMachine::new(db2.clone())
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    assert_eq!(
        list_docs(&db2.sm, "task", "").unwrap(),
        list_docs(&db1.sm, "task", "").unwrap()
    );
    assert_eq!(list_docs(&db2.sm, "task", "t3").unwrap()[0].body, vec![3]);
}

fn count_limit(limit: u64) -> Vec<LimitCheck> {
    vec![LimitCheck {
        resource: Resource::ImageCountTotal,
        limit,
        delta: 1,
        after: false,
    }]
}

#[tokio::test]
async fn limits_are_checked_against_usage_counted_in_apply() {
    let (_d, db) = fresh_db();
    let mut a = Applier::new(&db);
    // Two proposers read the same (empty) usage and race for the last slot: the log orders
    // them and the second is refused, whatever each proposer believed.
    let first = Command::CreateImage {
        image: image("a", "p1", 10),
        limits: count_limit(1),
    };
    let second = Command::CreateImage {
        image: image("b", "p1", 10),
        limits: count_limit(1),
    };
    assert!(matches!(a.cmd("r1", 10, first).await, Outcome::Applied(_)));
    let Outcome::OverLimit(over) = a.cmd("r2", 10, second).await else {
        panic!("second create passed the limit")
    };
    assert_eq!((over.usage, over.delta, over.limit), (1, 1, 1));
    assert!(get_image(&db.sm, "b").unwrap().is_none());
    // Another project has its own count.
    let other = Command::CreateImage {
        image: image("c", "p2", 10),
        limits: count_limit(1),
    };
    assert!(matches!(a.cmd("r3", 10, other).await, Outcome::Applied(_)));

    // Entering an upload state counts the image itself against the uploading limit.
    let mut saving = get_image(&db.sm, "a").unwrap().unwrap();
    saving.status = ImageStatus::Saving;
    let upload = |limit| Command::PutImage {
        image: saving.clone(),
        expect: 1,
        limits: vec![LimitCheck {
            resource: Resource::ImageCountUploading,
            limit,
            delta: 0,
            after: true,
        }],
    };
    assert!(matches!(
        a.cmd("r4", 11, upload(0)).await,
        Outcome::OverLimit(_)
    ));
    assert!(matches!(
        a.cmd("r5", 11, upload(1)).await,
        Outcome::Applied(_)
    ));
    let u = get_usage(&db.sm, "p1").unwrap();
    assert_eq!((u.count, u.uploading), (1, 1));

    // Deleting gives the slot back; a usage tree lost (older data) is rebuilt the same.
    let del = Command::DeleteImage {
        id: "a".into(),
        expect: 2,
    };
    assert!(matches!(a.cmd("r6", 12, del).await, Outcome::Applied(None)));
    assert_eq!(get_usage(&db.sm, "p1").unwrap(), Default::default());
    let before = get_usage(&db.sm, "p2").unwrap();
    db.sm.usage.clear().unwrap();
    db.sm.meta.remove("usage_built").unwrap();
    build_usage_if_missing(&db.sm).unwrap();
    assert_eq!(get_usage(&db.sm, "p2").unwrap(), before);
    assert_eq!(before.count, 1);
}
