//! The per-image quotas through the Glance operations over a real single-node `Meta`: each
//! operation that can add a property, tag or member is refused past the limit with Glance's
//! message, and writers racing on one image stay within it.

#![allow(clippy::unwrap_used)]

mod common;

use common::{caller, node_with, Node};
use std::collections::BTreeSet;
use tessera_domain::{Caller, DomainError, LimitExceeded, NewImage, Quotas, Settings};
use tessera_raft::{Image, Visibility};

fn alice() -> Caller {
    caller("projA", &["member", "reader"])
}

async fn small(n: i64) -> Node {
    node_with(Settings {
        quotas: Quotas {
            image_property_quota: n,
            image_tag_quota: n,
            image_member_quota: n,
        },
        ..Settings::default()
    })
    .await
}

fn new_image() -> NewImage<'static, DomainError> {
    NewImage {
        id: Ok(None),
        owner: None,
        visibility: None,
    }
}

async fn create_with(n: &Node, props: usize, tags: usize) -> Result<Image, DomainError> {
    n.glance
        .create(&alice(), new_image(), |mut img| {
            img.visibility = Visibility::Shared;
            img.properties = (0..props).map(|i| (format!("p{i}"), "v".into())).collect();
            img.tags = (0..tags).map(|i| format!("t{i}")).collect();
            Ok(img)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_counts_properties_and_tags() {
    let n = small(2).await;
    create_with(&n, 2, 2).await.unwrap();
    let props = create_with(&n, 3, 0).await.unwrap_err();
    assert_eq!(
        props.to_string(),
        "The limit has been exceeded on the number of allowed image properties. \
         Attempted: 3, Maximum: 2"
    );
    let tags = create_with(&n, 0, 3).await.unwrap_err();
    assert!(matches!(
        tags,
        DomainError::LimitExceeded(LimitExceeded::Tags {
            attempted: 3,
            maximum: 2
        })
    ));
    // A refused create stores nothing.
    let chosen = NewImage {
        id: Ok(Some("chosen".into())),
        ..new_image()
    };
    let refused = n
        .glance
        .create(&alice(), chosen, |mut img| {
            img.tags = BTreeSet::from(["1".into(), "2".into(), "3".into()]);
            Ok(img)
        })
        .await;
    assert!(refused.is_err());
    assert!(n.meta.get_image("chosen").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_members_and_updates_stop_at_the_limit() {
    let n = small(2).await;
    let g = &n.glance;
    let id = create_with(&n, 0, 0).await.unwrap().id;
    g.add_tag(&alice(), &id, "a").await.unwrap();
    g.add_tag(&alice(), &id, "b").await.unwrap();
    g.add_tag(&alice(), &id, "b").await.unwrap();
    let over = g.add_tag(&alice(), &id, "c").await.unwrap_err();
    assert_eq!(
        over.to_string(),
        format!(
            "Image tag limit exceeded for image {id}: The limit has been exceeded on the \
             number of allowed image tags. Attempted: 3, Maximum: 2:"
        )
    );

    g.add_member(&alice(), &id, "projB").await.unwrap();
    g.add_member(&alice(), &id, "projC").await.unwrap();
    let over = g.add_member(&alice(), &id, "projD").await.unwrap_err();
    assert_eq!(
        over.to_string(),
        format!(
            "Image member limit exceeded for image {id}: The limit has been exceeded on the \
             number of allowed image members for this image. Attempted: 3, Maximum: 2:"
        )
    );
    // Glance counts before it looks for a duplicate.
    assert!(matches!(
        g.add_member(&alice(), &id, "projB").await,
        Err(DomainError::ImageLimitExceeded { .. })
    ));

    let props = |keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        move |img: &mut Image| {
            img.properties = keys.iter().map(|k| (k.clone(), "v".into())).collect();
            Ok::<_, DomainError>(())
        }
    };
    g.update(&alice(), &id, props(&["x", "y"])).await.unwrap();
    assert!(matches!(
        g.update(&alice(), &id, props(&["x", "y", "z"])).await,
        Err(DomainError::LimitExceeded(LimitExceeded::Properties {
            attempted: 3,
            ..
        }))
    ));
    let tags = g
        .update(&alice(), &id, |img: &mut Image| {
            img.tags = BTreeSet::from(["1".into(), "2".into(), "3".into()]);
            Ok::<_, DomainError>(())
        })
        .await;
    assert!(matches!(
        tags,
        Err(DomainError::LimitExceeded(LimitExceeded::Tags { .. }))
    ));
    let stored = g.show(&alice(), &id).await.unwrap();
    assert_eq!(stored.tags.len(), 2);
    assert_eq!(stored.properties.len(), 2);
    assert_eq!(stored.members.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_over_a_lowered_quota_may_shed_but_not_grow() {
    let roomy = small(-1).await;
    let id = create_with(&roomy, 5, 5).await.unwrap().id;
    let tight = tessera_domain::Glance::new(
        roomy.meta.clone(),
        roomy.data.clone(),
        Settings {
            quotas: Quotas {
                image_property_quota: 2,
                image_tag_quota: 2,
                image_member_quota: 2,
            },
            ..Settings::default()
        },
    );
    tight
        .update(&alice(), &id, |img: &mut Image| {
            img.properties.remove("p0");
            img.properties.insert("p1".into(), "changed".into());
            img.name = Some("renamed".into());
            Ok::<_, DomainError>(())
        })
        .await
        .unwrap();
    tight.remove_tag(&alice(), &id, "t0").await.unwrap();
    // Like Glance: the set is still over the limit, so even a tag it has is refused.
    assert!(matches!(
        tight.add_tag(&alice(), &id, "t1").await,
        Err(DomainError::ImageLimitExceeded { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_racing_on_one_image_stay_within_the_limit() {
    let n = small(5).await;
    let id = create_with(&n, 0, 0).await.unwrap().id;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let g = n.glance.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            g.add_tag(&alice(), &id, &format!("tag{i}")).await
        }));
    }
    let mut added = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => added += 1,
            Err(DomainError::ImageLimitExceeded { .. }) => {}
            Err(e) => panic!("unexpected failure: {e}"),
        }
    }
    assert_eq!(added, 5, "exactly the quota's worth of racers won");
    let stored = n.glance.show(&alice(), &id).await.unwrap();
    assert_eq!(stored.tags.len(), 5);
}
