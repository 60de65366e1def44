//! The compare-and-set write path over a real single-node `Meta`: request-id dedup, retries
//! on a concurrent change, lifecycle checks.

#![allow(clippy::unwrap_used)]

mod common;

use common::node;
use tessera_domain::write::{self, Proposal};
use tessera_domain::DomainError;
use tessera_raft::{Command, Image, ImageStatus, Outcome};

async fn stored(meta: &tessera_raft::Meta, id: &str) -> Image {
    write::create(meta, Image::new(id.into(), Some("p".into()), 1), vec![])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_proposal_sent_twice_applies_once() {
    let n = node().await;
    let img = stored(&n.meta, "a").await;
    let mut next = img.clone();
    next.name = Some("renamed".into());
    let proposal = Proposal::new(Command::PutImage {
        image: next,
        expect: img.revision,
        limits: vec![],
    });
    // As after an ambiguous failure (a reply lost, a leader gone): the same proposal again.
    let first = proposal.submit(&n.meta).await.unwrap();
    let again = proposal.submit(&n.meta).await.unwrap();
    assert_eq!(first, again, "the retry answers with the recorded outcome");
    let Outcome::Applied(Some(applied)) = first else {
        panic!("not applied: {first:?}");
    };
    assert_eq!(applied.revision, img.revision + 1);
    let now = n.meta.get_image("a").await.unwrap().unwrap();
    assert_eq!(now.revision, img.revision + 1, "applied once");

    // A new proposal of the same change is a new attempt: it sees the moved revision.
    let stale = Proposal::new(Command::PutImage {
        image: img.clone(),
        expect: img.revision,
        limits: vec![],
    });
    assert_ne!(stale.request_id(), proposal.request_id());
    assert!(matches!(
        stale.submit(&n.meta).await.unwrap(),
        Outcome::Conflict(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_change_is_retried_on_a_fresh_read() {
    let n = node().await;
    stored(&n.meta, "a").await;
    let mut attempts = 0;
    let meta = n.meta.clone();
    let out = write::modify(&n.meta, "a", |img| {
        attempts += 1;
        if attempts == 1 {
            // Another writer gets in between this attempt's read and its proposal.
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    write::modify(&meta, "a", |other| {
                        other.tags.insert("theirs".into());
                        Ok::<_, DomainError>(())
                    })
                    .await
                    .unwrap();
                })
            });
        }
        img.name = Some("mine".into());
        Ok::<_, DomainError>(())
    })
    .await
    .unwrap();
    // The retry was a new proposal (a reused id would replay the first attempt's conflict).
    assert_eq!(attempts, 2);
    assert_eq!(out.name.as_deref(), Some("mine"));
    assert!(out.tags.contains("theirs"), "the other change is kept");
    assert_eq!(out.revision, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_status_moves_go_through_the_rules() {
    let n = node().await;
    stored(&n.meta, "a").await;
    let refused = write::modify(&n.meta, "a", |_| {
        Err::<(), _>(DomainError::Forbidden("no".into()))
    })
    .await;
    assert!(matches!(refused, Err(DomainError::Forbidden(_))));
    // `queued` may not become `deactivated`.
    let jump = write::modify(&n.meta, "a", |img| {
        img.status = ImageStatus::Deactivated;
        Ok::<_, DomainError>(())
    })
    .await;
    assert!(matches!(jump, Err(DomainError::Conflict(_))));
    assert_eq!(
        n.meta.get_image("a").await.unwrap().unwrap().status,
        ImageStatus::Queued
    );
    let unchanged = write::modify(&n.meta, "a", |_| Ok::<_, DomainError>(()))
        .await
        .unwrap();
    assert_eq!(unchanged.revision, 1, "no change, no proposal");
    let missing = write::modify(&n.meta, "b", |_| Ok::<_, DomainError>(())).await;
    assert!(matches!(missing, Err(DomainError::NotFound(_))));
    let dup = write::create(&n.meta, Image::new("a".into(), None, 1), vec![]).await;
    assert_eq!(dup.unwrap_err().to_string(), "Image ID a already exists!");
    write::delete(&n.meta, "a", |_| Ok::<_, DomainError>(()))
        .await
        .unwrap();
    assert!(n.meta.get_image("a").await.unwrap().is_none());
}
