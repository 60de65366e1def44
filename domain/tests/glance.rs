//! The Glance operations end to end over a real single-node `Meta` and the local chunk store:
//! the upload lifecycle, download, actions, members, tags and delayed delete.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{caller, node, node_with};
use futures::StreamExt;
use std::convert::Infallible;
use tessera_domain::{Caller, Deleted, DomainError, Glance, NewImage, Settings};
use tessera_raft::{Image, ImageStatus, MemberStatus, Visibility};

fn alice() -> Caller {
    caller("projA", &["member", "reader"])
}
fn bob() -> Caller {
    caller("projB", &["member", "reader"])
}
fn admin() -> Caller {
    caller("ops", &["admin", "member", "reader"])
}

async fn create(glance: &Glance, who: &Caller, visibility: Visibility) -> Image {
    let new = NewImage::<DomainError> {
        id: Ok(None),
        owner: None,
        visibility: None,
    };
    glance
        .create(who, new, |mut img| {
            img.disk_format = Some("raw".into());
            img.container_format = Some("bare".into());
            img.visibility = visibility;
            Ok(img)
        })
        .await
        .unwrap()
}

fn body(parts: &[&'static [u8]]) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p)))
            .collect::<Vec<_>>(),
    )
}

async fn status(glance: &Glance, id: &str) -> ImageStatus {
    glance.show(&admin(), id).await.unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_activates_and_download_reads_any_range() {
    let n = node().await;
    let g = &n.glance;
    let img = create(g, &alice(), Visibility::Public).await;
    assert_eq!(img.owner.as_deref(), Some("projA"));
    assert_eq!(img.status, ImageStatus::Queued);
    assert!(g.download(&alice(), &img.id).await.unwrap().is_none());

    let refused = g.upload(&bob(), &img.id, body(&[b"x"]), None, None).await;
    assert!(matches!(refused, Err(DomainError::Forbidden(_))));
    g.upload(
        &alice(),
        &img.id,
        body(&[b"hello ", b"world"]),
        Some(11),
        None,
    )
    .await
    .unwrap();
    let stored = g.show(&bob(), &img.id).await.unwrap();
    assert_eq!(stored.status, ImageStatus::Active);
    assert_eq!(stored.size, Some(11));
    assert_eq!(
        stored.checksum.as_deref(),
        Some("5eb63bbbe01eeed093cb22bb8f5acdc3")
    );

    let again = g.upload(&alice(), &img.id, body(&[b"x"]), None, None).await;
    assert_eq!(
        again.unwrap_err().to_string(),
        "Image status transition from active to saving is not allowed"
    );

    let data = g.download(&bob(), &img.id).await.unwrap().unwrap();
    assert_eq!(data.size(), 11);
    let part: Vec<u8> = data
        .read(6, 11)
        .await
        .unwrap()
        .map(|b| b.unwrap().to_vec())
        .concat()
        .await;
    assert_eq!(part, b"world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_returns_to_queued() {
    let n = node_with(Settings {
        image_size_cap: 4,
        ..Settings::default()
    })
    .await;
    let g = &n.glance;
    let img = create(g, &alice(), Visibility::Private).await;
    let big = g
        .upload(&alice(), &img.id, body(&[b"12", b"345"]), None, None)
        .await;
    assert!(matches!(big, Err(DomainError::TooLarge(_))));
    assert_eq!(status(g, &img.id).await, ImageStatus::Queued);

    let short = g
        .upload(&alice(), &img.id, body(&[b"12"]), Some(3), None)
        .await;
    assert_eq!(
        short.unwrap_err().to_string(),
        "Size mismatch: expected 3 bytes, got 2 bytes"
    );
    assert_eq!(status(g, &img.id).await, ImageStatus::Queued);

    let broken = futures::stream::iter(vec![Ok(Bytes::from_static(b"1")), Err("reset")]);
    let cut = g.upload(&alice(), &img.id, broken, None, None).await;
    assert!(matches!(cut, Err(DomainError::Invalid(_))));
    assert_eq!(status(g, &img.id).await, ImageStatus::Queued);

    g.upload(&alice(), &img.id, body(&[b"1234"]), Some(4), None)
        .await
        .unwrap();
    assert_eq!(status(g, &img.id).await, ImageStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_hides_data_from_non_admins() {
    let n = node().await;
    let g = &n.glance;
    let img = create(g, &alice(), Visibility::Public).await;
    let early = g.deactivate(&alice(), &img.id).await;
    assert_eq!(
        early.unwrap_err().to_string(),
        "Not allowed to deactivate image in status 'queued'"
    );
    g.upload(&alice(), &img.id, body(&[b"data"]), None, None)
        .await
        .unwrap();
    assert!(matches!(
        g.deactivate(&bob(), &img.id).await,
        Err(DomainError::Forbidden(_))
    ));
    g.deactivate(&alice(), &img.id).await.unwrap();
    g.deactivate(&alice(), &img.id).await.unwrap();
    assert!(matches!(
        g.download(&alice(), &img.id).await,
        Err(DomainError::Forbidden(_))
    ));
    assert!(g.download(&admin(), &img.id).await.unwrap().is_some());
    g.reactivate(&alice(), &img.id).await.unwrap();
    assert!(g.download(&bob(), &img.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_and_members_follow_the_rules() {
    let n = node().await;
    let g = &n.glance;
    let not_mine = NewImage::<DomainError> {
        id: Ok(None),
        owner: Some("projB"),
        visibility: None,
    };
    let refused = g.create(&alice(), not_mine, Ok).await;
    assert!(matches!(refused, Err(DomainError::Forbidden(_))));
    let public = NewImage::<DomainError> {
        id: Ok(Some("chosen".into())),
        owner: None,
        visibility: Some("public"),
    };
    assert!(matches!(
        g.create(&alice(), public, Ok).await,
        Err(DomainError::Forbidden(_))
    ));

    let img = create(g, &alice(), Visibility::Shared).await;
    let given = g
        .update(&alice(), &img.id, |i| {
            i.owner = Some("projB".into());
            Ok::<_, DomainError>(())
        })
        .await;
    assert_eq!(
        given.unwrap_err().to_string(),
        "Owner can't be updated by non admin."
    );
    let renamed = g
        .update(&alice(), &img.id, |i| {
            i.name = Some("n".into());
            i.status = ImageStatus::Active;
            Ok::<_, DomainError>(())
        })
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("n"));
    assert_eq!(
        renamed.status,
        ImageStatus::Queued,
        "status is not patchable"
    );

    assert!(matches!(
        g.show(&bob(), &img.id).await,
        Err(DomainError::NotFound(_))
    ));
    let m = g.add_member(&alice(), &img.id, "projB").await.unwrap();
    assert_eq!(m.status, MemberStatus::Pending);
    assert!(matches!(
        g.add_member(&alice(), &img.id, "projB").await,
        Err(DomainError::Conflict(_))
    ));
    assert!(g.show(&bob(), &img.id).await.is_ok());
    assert!(matches!(
        g.answer_member(&alice(), &img.id, "projB", MemberStatus::Accepted)
            .await,
        Err(DomainError::Forbidden(_))
    ));
    let accepted = g
        .answer_member(&bob(), &img.id, "projB", MemberStatus::Accepted)
        .await
        .unwrap();
    assert_eq!(accepted.status, MemberStatus::Accepted);
    assert_eq!(g.members(&bob(), &img.id).await.unwrap().len(), 1);
    g.remove_member(&alice(), &img.id, "projB").await.unwrap();
    assert!(matches!(
        g.member(&alice(), &img.id, "projB").await,
        Err(DomainError::NotFound(_))
    ));

    g.add_tag(&alice(), &img.id, "t").await.unwrap();
    g.add_tag(&alice(), &img.id, "t").await.unwrap();
    let long = "x".repeat(256);
    assert!(matches!(
        g.add_tag(&alice(), &img.id, &long).await,
        Err(DomainError::Invalid(_))
    ));
    g.remove_tag(&alice(), &img.id, "t").await.unwrap();
    assert!(matches!(
        g.remove_tag(&alice(), &img.id, "t").await,
        Err(DomainError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_delete_keeps_data_until_the_reaper() {
    let n = node_with(Settings {
        delayed_delete: true,
        ..Settings::default()
    })
    .await;
    let g = &n.glance;
    let empty = create(g, &alice(), Visibility::Private).await;
    assert_eq!(
        g.delete(&alice(), &empty.id).await.unwrap(),
        Deleted::Removed
    );

    let img = create(g, &alice(), Visibility::Private).await;
    g.upload(&alice(), &img.id, body(&[b"data"]), None, None)
        .await
        .unwrap();
    assert!(matches!(
        g.delete(&bob(), &img.id).await,
        Err(DomainError::NotFound(_))
    ));
    assert_eq!(g.delete(&alice(), &img.id).await.unwrap(), Deleted::Pending);
    let record = n.meta.get_image(&img.id).await.unwrap().unwrap();
    assert_eq!(record.status, ImageStatus::PendingDelete);
    assert!(matches!(
        g.show(&alice(), &img.id).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(matches!(
        g.delete(&alice(), &img.id).await,
        Err(DomainError::NotFound(_))
    ));
}
