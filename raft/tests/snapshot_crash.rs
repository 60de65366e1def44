//! Snapshot install is crash-atomic: stopped after any step, the reopened database holds
//! either the state before the install or the installed snapshot, never a mix.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh_db, image, Applier};
use openraft::RaftSnapshotBuilder;
use std::path::Path;
use tessera_raft::db::{Db, SM_TREE_NAMES};
use tessera_raft::snapshot::{current, install_until};
use tessera_raft::types::SnapshotMeta;
use tessera_raft::Command;

type Dump = Vec<Vec<(Vec<u8>, Vec<u8>)>>;

/// Every state machine tree's pairs, in tree order.
fn dump(db: &Db) -> Dump {
    db.sm
        .all()
        .iter()
        .map(|t| {
            t.iter()
                .map(|kv| {
                    let (k, v) = kv.unwrap();
                    (k.to_vec(), v.to_vec())
                })
                .collect()
        })
        .collect()
}

/// Creates `n` images named `{prefix}{i}` with tags, one log entry each.
async fn fill(db: &Db, prefix: &str, n: usize) {
    let mut a = Applier::new(db);
    for i in 0..n {
        let mut img = image(&format!("{prefix}{i:03}"), prefix, i as i64);
        img.tags.insert(format!("t{}", i % 3));
        a.cmd(
            &format!("{prefix}-r{i}"),
            i as i64,
            Command::CreateImage {
                image: img,
                limits: vec![],
            },
        )
        .await;
    }
}

/// A snapshot of 20 images: its meta and bytes.
async fn snapshot() -> (SnapshotMeta, Vec<u8>) {
    let (_d, db) = fresh_db();
    fill(&db, "new", 20).await;
    let snap = tessera_raft::snapshot::SnapshotBuilder::capture(&db)
        .build_snapshot()
        .await
        .unwrap();
    (snap.meta, snap.snapshot.into_inner())
}

fn reopen(dir: &Path, db: Db) -> Db {
    drop(db);
    Db::open(dir).unwrap()
}

#[tokio::test]
async fn install_stopped_after_any_step_reopens_old_or_new() {
    let (meta, bytes) = snapshot().await;
    let want_new = {
        let (_d, db) = fresh_db();
        assert!(install_until(&db, &meta, bytes.clone(), usize::MAX).unwrap());
        dump(&db)
    };

    let (mut olds, mut news) = (0, 0);
    for stop_at in 0.. {
        let (dir, db) = fresh_db();
        fill(&db, "old", 3).await;
        let want_old = dump(&db);
        assert_ne!(want_old, want_new);
        let done = install_until(&db, &meta, bytes.clone(), stop_at).unwrap();
        let db = reopen(dir.path(), db);
        let got = dump(&db);
        if got == want_old {
            olds += 1;
        } else {
            assert!(got == want_new, "stopped before step {stop_at}: a mix");
            assert_eq!(current(&db).unwrap().unwrap().meta, meta);
            news += 1;
        }
        // Reopening again changes nothing: the redo ran to the end.
        assert_eq!(dump(&reopen(dir.path(), db)), got);
        if done {
            // A completed install survives reopening.
            assert_eq!(got, want_new);
            break;
        }
    }
    // Only stopping before anything is written keeps the old state.
    assert_eq!(olds, 1);
    assert!(news > SM_TREE_NAMES.len(), "{news} steps");
}

#[tokio::test]
async fn a_build_captured_before_an_install_does_not_replace_it() {
    let (meta, bytes) = snapshot().await;
    let want_new = {
        let (_d, db) = fresh_db();
        assert!(install_until(&db, &meta, bytes.clone(), usize::MAX).unwrap());
        dump(&db)
    };
    for stop_at in [2, usize::MAX] {
        let (dir, db) = fresh_db();
        fill(&db, "old", 3).await;
        let mut stale = tessera_raft::snapshot::SnapshotBuilder::capture(&db);
        // Cut short (the redo on reopen reads the saved snapshot) or finished (the state
        // machine is newer than the stale build): either way the build must not replace it.
        install_until(&db, &meta, bytes.clone(), stop_at).unwrap();
        stale.build_snapshot().await.unwrap();
        drop(stale);
        assert_eq!(current(&db).unwrap().unwrap().meta, meta);
        assert_eq!(dump(&reopen(dir.path(), db)), want_new);
    }
}
