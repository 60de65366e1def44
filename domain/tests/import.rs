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
use tessera_domain::catalog::{CatalogEndpoint, CatalogService, Delegation, ServiceCatalog};
use tessera_domain::docs::{self, Written};
use tessera_domain::import::{
    ImportConfig, ImportMethod, ImportRequest, Staged, UriFilter, IMPORT_TASK,
};
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

/// A remote Glance on loopback: answers `GET /v2/images/{id}` with `record` and
/// `.../file` with `data`, to requests bearing the token `lent`, and 401 to others.
async fn remote_glance(record: serde_json::Value, data: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (record, data) = (record.clone(), data.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                let (status, body) = if !head.contains("\r\nx-auth-token: lent\r\n") {
                    ("401 Unauthorized", Vec::new())
                } else if path.ends_with("/file") {
                    ("200 OK", data)
                } else {
                    ("200 OK", record.to_string().into_bytes())
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                conn.write_all(reply.as_bytes()).await.unwrap();
                conn.write_all(&body).await.unwrap();
            });
        }
    });
    url
}

fn glance_download(remote_id: &str, endpoint: &str) -> ImportRequest {
    let on = [ImportMethod::GlanceDownload];
    let body = json!({"method": {"name": "glance-download", "glance_region": "RegionTwo",
        "glance_image_id": remote_id}});
    let mut req = ImportRequest::parse(body, &on, None, &Stores::default()).unwrap();
    req.delegation = Some(Delegation {
        token: "lent".into(),
        catalog: Some(ServiceCatalog {
            services: vec![CatalogService {
                service_type: "image".into(),
                endpoints: vec![CatalogEndpoint {
                    region: Some("RegionTwo".into()),
                    interface: "public".into(),
                    url: endpoint.into(),
                }],
            }],
        }),
    });
    req
}

fn glance_download_node(glance: Glance) -> Glance {
    glance.with_import(ImportConfig {
        methods: vec![ImportMethod::GlanceDownload],
        filter: UriFilter {
            allowed_hosts: vec!["127.0.0.1".into()],
            allowed_ports: Vec::new(),
            ..UriFilter::default()
        },
        ..ImportConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glance_download_copies_the_remote_image_with_the_callers_token() {
    let n = node().await;
    let g = &glance_download_node(n.glance.clone());
    let workers = executor(g);
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let remote_id = "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c";
    let record = json!({"id": remote_id, "status": "active", "size": data.len(),
        "disk_format": "raw", "container_format": "ovf", "hw_cpu_cores": "5",
        "os_distro": "rhel", "speed": "88mph", "os_glance_import_task": "x"});
    let endpoint = remote_glance(record, data.clone()).await;

    let id = queued(g).await;
    let task = g
        .import_image(&alice(), &id, glance_download(remote_id, &endpoint), None)
        .await
        .unwrap()
        .unwrap();
    let done = wait_final(g, &task).await;
    assert_eq!(done.status, TaskStatus::Success, "{}", done.message);
    // The token was lent for the run only.
    assert!(done.delegation.is_none());
    assert_eq!(
        done.input["import_req"]["method"]["glance_service_interface"],
        "public"
    );
    let img = g.show(&alice(), &id).await.unwrap();
    assert_eq!(img.status, ImageStatus::Active);
    assert_eq!(img.size, Some(data.len() as u64));
    assert_eq!(img.container_format.as_deref(), Some("ovf"));
    assert_eq!(img.properties["hw_cpu_cores"], "5");
    assert_eq!(img.properties["os_distro"], "rhel");
    assert!(!img.properties.contains_key("speed"));
    assert!(!img.properties.contains_key(IMPORT_TASK));
    let read = g.download(&alice(), &id).await.unwrap().unwrap();
    assert_eq!(read.size(), data.len() as u64);
    workers.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glance_download_refuses_data_that_is_not_the_remote_images() {
    let n = node().await;
    let g = &glance_download_node(n.glance.clone());
    let workers = executor(g);
    let remote_id = "c7edec8e-24b5-416a-9d42-b3e773bab62c";
    let data = vec![3u8; 5000];
    let lying = json!({"status": "active", "size": data.len(), "disk_format": "raw",
        "container_format": "ovf", "os_hash_algo": "sha512", "os_hash_value": "00",
        "hw_cpu_cores": "5"});
    let endpoint = remote_glance(lying, data).await;
    let id = queued(g).await;
    let task = g
        .import_image(&alice(), &id, glance_download(remote_id, &endpoint), None)
        .await
        .unwrap()
        .unwrap();
    let done = wait_final(g, &task).await;
    assert_eq!(done.status, TaskStatus::Failure);
    assert_eq!(
        done.message,
        format!("The data downloaded does not match the os_hash_value of remote image {remote_id}")
    );
    // Nothing of the remote record reached the image.
    let img = g.show(&alice(), &id).await.unwrap();
    assert_eq!(img.status, ImageStatus::Queued);
    assert_eq!(img.container_format.as_deref(), Some("bare"));
    assert!(!img.properties.contains_key("hw_cpu_cores"));
    // A request without a token is refused by the remote: the task says so.
    let mut anonymous = glance_download(remote_id, &endpoint);
    if let Some(lent) = anonymous.delegation.as_mut() {
        lent.token = "nobody".into();
    }
    let task = g
        .import_image(&alice(), &id, anonymous, None)
        .await
        .unwrap()
        .unwrap();
    let done = wait_final(g, &task).await;
    assert!(done.message.contains("HTTP 401"), "{}", done.message);
    workers.shutdown();
}
