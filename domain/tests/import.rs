//! Interoperable import and tasks over a real single-node `Meta`: stage, import through the
//! executor, the import lock, claims that fence a node whose lease was taken over, and a
//! failed import leaving a retryable image.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{caller, node};
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;
use tessera_domain::docs::{self, Written};
use tessera_domain::import::{ImportMethod, ImportRequest, Staged, IMPORT_TASK};
use tessera_domain::stores::Stores;
use tessera_domain::tasks::claim::{Claim, Fenced};
use tessera_domain::tasks::{
    now_micros, ExecutorConfig, Lease, Task, TaskExecutor, TaskStatus, TASKS_WORKER,
};
use tessera_domain::{Caller, DomainError, Glance, NewImage};
use tessera_raft::{Expect, ImageStatus};
use tessera_replication::Workers;

fn alice() -> Caller {
    caller("projA", &["member", "reader"])
}
fn admin() -> Caller {
    caller("ops", &["admin", "member", "reader"])
}

async fn queued(glance: &Glance) -> String {
    let new = NewImage::<DomainError> {
        id: Ok(None),
        owner: None,
        visibility: None,
    };
    glance
        .create(&alice(), new, |mut img| {
            img.disk_format = Some("raw".into());
            img.container_format = Some("bare".into());
            Ok(img)
        })
        .await
        .unwrap()
        .id
}

fn body(data: Vec<u8>) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::iter(vec![Ok(Bytes::from(data))])
}

fn direct() -> ImportRequest {
    ImportRequest::parse(
        json!({"method": {"name": "glance-direct"}}),
        &[ImportMethod::GlanceDirect],
        None,
        &Stores::default(),
    )
    .unwrap()
}

fn executor(glance: &Glance) -> Workers {
    let workers = Workers::new();
    let config = ExecutorConfig {
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(50),
        ..ExecutorConfig::default()
    };
    workers.spawn(TaskExecutor::new(glance.clone(), config));
    workers
}

async fn wait_final(glance: &Glance, task: &str) -> Task {
    for _ in 0..200 {
        let t = glance.show_task(&admin(), task).await.unwrap().value;
        if t.status.is_final() {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {task} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_then_import_activates_with_the_staged_bytes() {
    let n = node().await;
    let g = &n.glance;
    let workers = executor(g);
    let id = queued(g).await;
    let data = vec![7u8; 300_000];
    g.stage(&alice(), &id, body(data.clone()), Some(300_000))
        .await
        .unwrap();
    let img = g.show(&alice(), &id).await.unwrap();
    assert_eq!(
        (img.status, img.size),
        (ImageStatus::Uploading, Some(300_000))
    );
    // Staging twice is refused in Glance's words.
    let again = g
        .stage(&alice(), &id, body(vec![1]), None)
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "Image status transition from uploading to uploading is not allowed"
    );

    let task = g
        .import_image(&alice(), &id, direct(), Some("req-1".into()))
        .await
        .unwrap()
        .unwrap();
    let lock = g.show(&alice(), &id).await.unwrap().properties[IMPORT_TASK].clone();
    assert_eq!(lock, task);
    let done = wait_final(g, &task).await;
    assert_eq!(done.status, TaskStatus::Success, "{}", done.message);
    assert_eq!(done.result, Some(json!({"image_id": id})));
    assert_eq!(done.request_id.as_deref(), Some("req-1"));
    assert!(done.expires_at.is_some() && done.lease.is_none());

    let img = g.show(&alice(), &id).await.unwrap();
    assert_eq!(img.status, ImageStatus::Active);
    assert!(!img.properties.contains_key(IMPORT_TASK));
    let read = g.download(&alice(), &id).await.unwrap().unwrap();
    assert_eq!(read.size(), 300_000);
    assert_eq!(g.image_tasks(&alice(), &id).await.unwrap().len(), 1);
    // The stage is released once the image holds the data.
    assert!(docs::get::<Staged>(&n.meta, &id).await.unwrap().is_none());
    // Importing into an active image is refused.
    let e = g
        .import_image(&alice(), &id, direct(), None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Image with status active cannot be target for import"
    );
    workers.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_refuses_a_second_import_and_a_stale_one_is_broken() {
    let n = node().await;
    let g = &n.glance;
    let id = queued(g).await;
    g.stage(&alice(), &id, body(vec![1; 10]), None)
        .await
        .unwrap();
    // No executor: the first task stays pending and holds the lock.
    let first = g
        .import_image(&alice(), &id, direct(), None)
        .await
        .unwrap()
        .unwrap();
    let e = g
        .import_image(&alice(), &id, direct(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::Conflict(_)));
    assert_eq!(e.to_string(), "Image has active task");
    // Once its task record is gone the lock is stale and a new import takes it.
    let t = docs::get::<Task>(&n.meta, &first).await.unwrap().unwrap();
    docs::write(
        &n.meta,
        vec![docs::remove::<Task>(&first, Expect::Revision(t.revision))],
    )
    .await
    .unwrap();
    let second = g
        .import_image(&alice(), &id, direct(), None)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first, second);
    let img = g.show(&alice(), &id).await.unwrap();
    assert_eq!(img.properties[IMPORT_TASK], second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_claim_is_fenced_and_the_new_node_finishes() {
    let n = node().await;
    let g = &n.glance;
    let id = queued(g).await;
    g.stage(&alice(), &id, body(vec![3; 1000]), None)
        .await
        .unwrap();
    let task = g
        .import_image(&alice(), &id, direct(), None)
        .await
        .unwrap()
        .unwrap();

    // Node 7 claims it with a lease that runs out at once, then "dies".
    let stored = docs::get::<Task>(&n.meta, &task).await.unwrap().unwrap();
    let old = Claim::take(&n.meta, stored, 7, Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    let again = docs::get::<Task>(&n.meta, &task).await.unwrap().unwrap();
    assert_eq!(again.value.status, TaskStatus::Processing);
    assert_eq!(again.value.lease.map(|l| l.node), Some(7));
    tokio::time::sleep(Duration::from_millis(5)).await;

    // This node's executor takes it over and finishes it.
    let workers = executor(g);
    let done = wait_final(g, &task).await;
    assert_eq!(done.status, TaskStatus::Success, "{}", done.message);
    assert_eq!(done.attempts, 2);
    let report = workers.get(TASKS_WORKER).unwrap();
    assert_eq!(report.report.counters.get("taken_over"), Some(&1));
    // The old runner can no longer change the task.
    let lost = old.update(|t| t.message = "late".into()).await;
    assert!(matches!(lost, Err(Fenced::Lost(_))));
    assert_eq!(
        g.show(&alice(), &id).await.unwrap().status,
        ImageStatus::Active
    );
    workers.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_leaves_a_queued_retryable_image() {
    let n = node().await;
    let g = &n.glance;
    let id = queued(g).await;
    g.stage(&alice(), &id, body(vec![5; 100]), None)
        .await
        .unwrap();
    // The staged record vanishes (as if lost): the import must fail cleanly.
    docs::write(&n.meta, vec![docs::remove::<Staged>(&id, Expect::Any)])
        .await
        .unwrap();
    let task = g
        .import_image(&alice(), &id, direct(), None)
        .await
        .unwrap()
        .unwrap();
    let workers = executor(g);
    let done = wait_final(g, &task).await;
    assert_eq!(done.status, TaskStatus::Failure);
    assert!(done.message.contains("no staged data"), "{}", done.message);
    let img = g.show(&alice(), &id).await.unwrap();
    assert_eq!(img.status, ImageStatus::Queued);
    assert_eq!(img.properties["os_glance_failed_import"], "tessera");
    assert!(!img.properties.contains_key(IMPORT_TASK));
    // And it can be staged and imported again.
    g.stage(&alice(), &id, body(vec![5; 100]), None)
        .await
        .unwrap();
    let task = g
        .import_image(&alice(), &id, direct(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(wait_final(g, &task).await.status, TaskStatus::Success);
    workers.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_reads_are_admin_only_by_default_and_expired_tasks_go() {
    let n = node().await;
    let g = &n.glance;
    let mut t = Task::new("api_image_import", "projA", json!({}));
    t.finish(Ok(json!({})), 0);
    t.expires_at = Some(now_micros() - 1);
    t.lease = Some(Lease { node: 1, until: 0 });
    let op = docs::put("11111111-1111-1111-1111-111111111111", Expect::Absent, &t).unwrap();
    assert!(matches!(
        docs::write(&n.meta, vec![op]).await.unwrap(),
        Written::Applied(_)
    ));
    let e = g
        .show_task(&alice(), "11111111-1111-1111-1111-111111111111")
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::Forbidden(_)));
    let workers = executor(g);
    for _ in 0..100 {
        if docs::list::<Task>(&n.meta, "").await.unwrap().is_empty() {
            workers.shutdown();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expired task kept");
}
