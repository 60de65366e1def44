//! The API end to end in-process: real Meta (single-voter Raft on sled) and Data (chunk
//! store) in a temp dir, requests through the axum router.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_api::{router, ApiConfig, AppState};
use tessera_domain::cluster_admin::{
    manifest_to_verify, ChunkTotals, ClusterAdmin, ClusterReport, ImageCheck, LeaveReport,
    MemberReport, NodeAudit, VerifyReport,
};
use tessera_domain::{DomainError, Glance};
use tessera_replication::{Auditor, AuditorConfig, Data, Workers};
use tower::ServiceExt;

const ALICE: &str = "alice:projA:member,reader";
const BOB: &str = "bob:projB:member,reader";
const READER: &str = "rita:projA:reader";
const ADMIN: &str = "root:admins:admin,member,reader";

struct Node {
    app: Router,
    meta: tessera_raft::Meta,
    data: Data,
    workers: Workers,
    _dir: tempfile::TempDir,
}

async fn node() -> Node {
    node_with(ApiConfig::default(), None).await
}

async fn node_with(config: ApiConfig, gossip: Option<FakeGossip>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let meta = tessera_raft::Meta::open(&dir.path().join("meta"), 1)
        .await
        .unwrap();
    let data = Data::open(&dir.path().join("chunks")).unwrap();
    let workers = Workers::new();
    let app = router(AppState {
        glance: Glance::new(meta.clone(), data.clone(), config.domain())
            .with_protections(config.protections.clone()),
        config: Arc::new(config),
        admin: Arc::new(FakeAdmin {
            meta: meta.clone(),
            data: data.clone(),
            gossip,
        }),
        workers: workers.clone(),
    });
    Node {
        app,
        meta,
        data,
        workers,
        _dir: dir,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(n: &Node, req: Request<Body>) -> Reply {
    let resp = n.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(headers.contains_key("x-openstack-request-id"));
    Reply {
        status,
        headers,
        body,
    }
}

fn req(method: &str, uri: &str, token: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-auth-token", token)
}

async fn create(n: &Node, token: &str, body: Value) -> Reply {
    call(
        n,
        req("POST", "/v2/images", token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

/// The id of an image created with `body`.
async fn create_id(n: &Node, token: &str, body: Value) -> String {
    create(n, token, body).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The id of a raw/bare image of Alice's with `len` bytes of data stored.
async fn stored_image(n: &Node, name: &str, len: usize) -> String {
    let id = create_id(
        n,
        ALICE,
        json!({"name": name, "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    assert_eq!(
        upload(n, ALICE, &id, payload(len)).await.status,
        StatusCode::NO_CONTENT
    );
    id
}

async fn patch(n: &Node, token: &str, id: &str, ops: Value) -> Reply {
    call(
        n,
        req("PATCH", &format!("/v2/images/{id}"), token)
            .header(
                header::CONTENT_TYPE,
                "application/openstack-images-v2.1-json-patch",
            )
            .body(Body::from(ops.to_string()))
            .unwrap(),
    )
    .await
}

/// Renames image `id` to `name` as `token`; the reply's status.
async fn rename(n: &Node, token: &str, id: &str, name: &str) -> StatusCode {
    let ops = json!([{"op": "replace", "path": "/name", "value": name}]);
    patch(n, token, id, ops).await.status
}

async fn upload(n: &Node, token: &str, id: &str, data: Vec<u8>) -> Reply {
    call(
        n,
        req("PUT", &format!("/v2/images/{id}/file"), token)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(data))
            .unwrap(),
    )
    .await
}

/// A request with no headers beyond the token.
async fn send(n: &Node, method: &str, uri: &str, token: &str, body: Body) -> Reply {
    call(n, req(method, uri, token).body(body).unwrap()).await
}

/// A request whose body is `body` as JSON text, with no content type.
async fn send_json(n: &Node, method: &str, uri: &str, token: &str, body: Value) -> Reply {
    send(n, method, uri, token, Body::from(body.to_string())).await
}

async fn get(n: &Node, token: &str, uri: &str) -> Reply {
    send(n, "GET", uri, token, Body::empty()).await
}

/// How many images a listing at `uri` shows.
async fn count(n: &Node, token: &str, uri: &str) -> usize {
    get(n, token, uri).await.json()["images"]
        .as_array()
        .unwrap()
        .len()
}

fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn create_upload_download_with_ranges() {
    let n = node().await;
    let r = create(
        &n,
        ALICE,
        json!({"name": "a", "disk_format": "raw", "container_format": "bare", "hw_x": "1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let img = r.json();
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(img["status"], "queued");
    assert_eq!(img["owner"], "projA");
    assert_eq!(img["visibility"], "shared");
    assert_eq!(img["hw_x"], "1");
    assert!(r.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .ends_with(&format!("/v2/images/{id}")));

    let data = payload(3 * 1024 * 1024 + 17);
    assert_eq!(
        upload(&n, ALICE, &id, data.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    let shown = get(&n, ALICE, &format!("/v2/images/{id}")).await.json();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], data.len() as u64);
    assert_eq!(shown["os_hash_algo"], "sha512");

    let full = get(&n, ALICE, &format!("/v2/images/{id}/file")).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body.as_ref(), data.as_slice());
    assert_eq!(
        full.headers["content-md5"],
        shown["checksum"].as_str().unwrap()
    );

    let part = call(
        &n,
        req("GET", &format!("/v2/images/{id}/file"), ALICE)
            .header(header::RANGE, "bytes=1048570-2097160")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body.as_ref(), &data[1_048_570..=2_097_160]);
    let bad = call(
        &n,
        req("GET", &format!("/v2/images/{id}/file"), ALICE)
            .header(header::RANGE, "bytes=99999999-")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // A second upload to an active image is a conflict and changes nothing.
    assert_eq!(
        upload(&n, ALICE, &id, vec![1, 2, 3]).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        get(&n, ALICE, &format!("/v2/images/{id}")).await.json(),
        shown
    );
}

#[tokio::test]
async fn patch_rules_and_bad_input_change_nothing() {
    let n = node().await;
    let id = create_id(&n, ALICE, json!({"name": "p"})).await;
    let before = get(&n, ALICE, &format!("/v2/images/{id}")).await.json();
    let cases = [
        (
            json!([{"op": "replace", "path": "/status", "value": "active"}]),
            StatusCode::FORBIDDEN,
        ),
        (
            json!([{"op": "add", "path": "/os_glance_foo", "value": "x"}]),
            StatusCode::FORBIDDEN,
        ),
        (
            json!([{"op": "replace", "path": "/id", "value": "x"}]),
            StatusCode::FORBIDDEN,
        ),
        (
            json!([{"op": "replace", "path": "/min_ram", "value": "lots"}]),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!([{"op": "replace", "path": "/nope", "value": "x"}]),
            StatusCode::CONFLICT,
        ),
        (json!({"op": "add"}), StatusCode::BAD_REQUEST),
    ];
    for (ops, want) in cases {
        assert_eq!(
            patch(&n, ALICE, &id, ops.clone()).await.status,
            want,
            "{ops}"
        );
    }
    let wrong_type = call(
        &n,
        req("PATCH", &format!("/v2/images/{id}"), ALICE)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("[]"))
            .unwrap(),
    )
    .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(wrong_type.headers.contains_key("accept-patch"));
    let malformed = send(&n, "POST", "/v2/images", ALICE, Body::from("{nope")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        create(&n, ALICE, json!({"disk_format": "floppy"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        create(&n, ALICE, json!({"status": "active"})).await.status,
        StatusCode::FORBIDDEN
    );
    let huge = create(&n, ALICE, json!({"name": "x", "big": "y".repeat(200_000)})).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        get(&n, ALICE, &format!("/v2/images/{id}")).await.json(),
        before
    );
    assert_eq!(count(&n, ALICE, "/v2/images").await, 1);

    let ok = patch(
        &n,
        ALICE,
        &id,
        json!([
            {"op": "replace", "path": "/name", "value": "q"},
            {"op": "add", "path": "/k", "value": "v"},
            {"op": "replace", "path": "/tags", "value": ["t1", "t2"]}
        ]),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let after = ok.json();
    assert_eq!(
        (after["name"].clone(), after["k"].clone()),
        (json!("q"), json!("v"))
    );
    assert_eq!(after["tags"], json!(["t1", "t2"]));

    // Protected images cannot be deleted; readers and other projects cannot change them.
    patch(
        &n,
        ALICE,
        &id,
        json!([{"op": "replace", "path": "/protected", "value": true}]),
    )
    .await;
    let del = send(
        &n,
        "DELETE",
        &format!("/v2/images/{id}"),
        ALICE,
        Body::empty(),
    )
    .await;
    assert_eq!(del.status, StatusCode::FORBIDDEN);
    assert_eq!(rename(&n, READER, &id, "r").await, StatusCode::FORBIDDEN);
    assert_eq!(rename(&n, BOB, &id, "r").await, StatusCode::NOT_FOUND);
    assert_eq!(
        create(&n, READER, json!({"name": "no"})).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn listing_sharing_and_pagination() {
    let n = node().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = create(
            &n,
            ALICE,
            json!({"name": format!("img{i}"), "tags": [if i % 2 == 0 { "even" } else { "odd" }]}),
        )
        .await;
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let page = get(&n, ALICE, "/v2/images?limit=2&sort_key=name&sort_dir=asc")
        .await
        .json();
    let names: Vec<_> = page["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("img0"), json!("img1")]);
    let next = page["next"].as_str().unwrap().to_string();
    let page2 = get(&n, ALICE, &next).await.json();
    assert_eq!(page2["images"][0]["name"], "img2");
    assert_eq!(count(&n, ALICE, "/v2/images?tag=even").await, 3);
    assert_eq!(
        get(&n, ALICE, "/v2/images?marker=nope").await.status,
        StatusCode::BAD_REQUEST
    );

    // Bob sees nothing until Alice shares and Bob accepts.
    let members = format!("/v2/images/{}/members", ids[0]);
    let projb = format!("{members}/projB");
    assert_eq!(count(&n, BOB, "/v2/images").await, 0);
    let share = send_json(&n, "POST", &members, ALICE, json!({"member": "projB"})).await;
    assert_eq!(share.status, StatusCode::OK);
    assert_eq!(share.json()["status"], "pending");
    assert_eq!(count(&n, BOB, "/v2/images").await, 0);
    let accept = send_json(&n, "PUT", &projb, BOB, json!({"status": "accepted"})).await;
    assert_eq!(accept.status, StatusCode::OK);
    let seen = get(&n, BOB, "/v2/images").await.json();
    assert_eq!(seen["images"][0]["id"], json!(ids[0]));
    // Alice cannot answer for Bob; an admin sees everything.
    let forged = send_json(&n, "PUT", &projb, ALICE, json!({"status": "rejected"})).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&n, ADMIN, "/v2/images").await, 5);
}

#[tokio::test]
async fn deactivate_and_tags() {
    let n = node().await;
    let id = create_id(
        &n,
        ALICE,
        json!({"disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    upload(&n, ALICE, &id, payload(1000)).await;
    let image = format!("/v2/images/{id}");
    let file = format!("{image}/file");
    let act = |action: &'static str, token: &'static str| {
        let uri = format!("/v2/images/{id}/actions/{action}");
        let n = &n;
        async move { send(n, "POST", &uri, token, Body::empty()).await.status }
    };
    assert_eq!(act("deactivate", READER).await, StatusCode::FORBIDDEN);
    assert_eq!(act("deactivate", ALICE).await, StatusCode::NO_CONTENT);
    assert_eq!(get(&n, ALICE, &file).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&n, ADMIN, &file).await.status, StatusCode::OK);
    assert_eq!(act("reactivate", ALICE).await, StatusCode::NO_CONTENT);
    assert_eq!(get(&n, ALICE, &file).await.status, StatusCode::OK);

    let tag = send(
        &n,
        "PUT",
        &format!("{image}/tags/blue"),
        ALICE,
        Body::empty(),
    )
    .await;
    assert_eq!(tag.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&n, ALICE, &image).await.json()["tags"], json!(["blue"]));
    let untag = send(
        &n,
        "DELETE",
        &format!("{image}/tags/red"),
        ALICE,
        Body::empty(),
    )
    .await;
    assert_eq!(untag.status, StatusCode::NOT_FOUND);
    let del = send(&n, "DELETE", &image, ALICE, Body::empty()).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&n, ALICE, &image).await.status, StatusCode::NOT_FOUND);
}

/// Gossip that reports every member alive (or down) in zone z1.
struct FakeGossip {
    down: bool,
}

/// The node's cluster status and verify over one `Meta` and a fake gossip (the node's own
/// assembly is tested in `tessera-node`); leave and repair are not offered here.
struct FakeAdmin {
    meta: tessera_raft::Meta,
    data: Data,
    gossip: Option<FakeGossip>,
}

#[async_trait::async_trait]
impl ClusterAdmin for FakeAdmin {
    async fn status(&self) -> Result<ClusterReport, DomainError> {
        let node = self.meta.status()?;
        let mut members = Vec::new();
        for (id, addr) in &node.voters {
            let down = self.gossip.as_ref().is_some_and(|g| g.down);
            let status = if down {
                Err("down according to gossip".to_string())
            } else {
                self.meta.peer_status(*id).await.map_err(|e| e.to_string())
            };
            let gossip = match &self.gossip {
                Some(g) => json!({ "gossip": if g.down { "down" } else { "alive" }, "zone": "z1" })
                    .as_object()
                    .unwrap()
                    .clone(),
                None => Default::default(),
            };
            members.push(MemberReport {
                id: *id,
                addr: addr.clone(),
                voter: true,
                status,
                gossip,
            });
        }
        let totals = self.data.store().totals();
        Ok(ClusterReport {
            node,
            members,
            chunks: ChunkTotals {
                count: totals.count,
                bytes: totals.bytes,
            },
        })
    }

    async fn leave(&self, _: Option<u64>, _: bool) -> Result<LeaveReport, DomainError> {
        Err(DomainError::Unavailable(
            "not offered by these tests".into(),
        ))
    }

    async fn repair(&self) -> Result<tessera_replication::RepairReport, DomainError> {
        Err(DomainError::Unavailable(
            "not offered by these tests".into(),
        ))
    }
    async fn verify(&self, image_id: Option<String>) -> Result<VerifyReport, DomainError> {
        let Some(image_id) = image_id else {
            let summary = self.data.audit_all().await?;
            let ok = summary.corrupt.is_empty();
            return Ok(VerifyReport::Node(NodeAudit {
                node: self.data.self_id(),
                summary,
                ok,
            }));
        };
        let manifest = manifest_to_verify(&self.meta, &image_id).await?;
        let copies = self.data.check_manifest(manifest).await?;
        Ok(VerifyReport::Image(ImageCheck { image_id, copies }))
    }
}

#[tokio::test]
async fn cluster_status_shows_raft_and_gossip_per_member_to_admins_only() {
    let n = node_with(ApiConfig::default(), Some(FakeGossip { down: false })).await;
    // A first write waits for the single voter to lead.
    assert_eq!(
        create(&n, ALICE, json!({"name": "x"})).await.status,
        StatusCode::CREATED
    );
    let get = |token| {
        req("GET", "/tessera/v1/cluster", token)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(call(&n, get(ALICE)).await.status, StatusCode::FORBIDDEN);
    let r = call(&n, get(ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let body = r.json();
    let m = &body["members"][0];
    assert_eq!(
        (m["id"].clone(), m["voter"].clone()),
        (json!(1), json!(true)),
        "{body}"
    );
    assert_eq!(m["role"], "leader");
    assert!(m["term"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["last_applied"].is_u64(), "{m}");
    assert_eq!(
        (m["gossip"].clone(), m["zone"].clone()),
        (json!("alive"), json!("z1"))
    );
    assert_eq!(body["chunks"]["count"], 0);

    // A member gossip holds down is not asked for its Raft status.
    let n = node_with(ApiConfig::default(), Some(FakeGossip { down: true })).await;
    assert_eq!(
        create(&n, ALICE, json!({"name": "x"})).await.status,
        StatusCode::CREATED
    );
    let body = call(&n, get(ADMIN)).await.json();
    let m = &body["members"][0];
    assert_eq!(
        (m["gossip"].clone(), m["role"].clone()),
        (json!("down"), Value::Null)
    );
    assert!(
        m["status"]["error"].as_str().unwrap().contains("gossip"),
        "{m}"
    );
}

#[tokio::test]
async fn delayed_delete_hides_the_image_and_keeps_its_data() {
    let n = node_with(
        ApiConfig {
            delayed_delete: true,
            ..ApiConfig::default()
        },
        None,
    )
    .await;
    let id = stored_image(&n, "d", 300_000).await;
    let uri = format!("/v2/images/{id}");
    assert_eq!(
        send(&n, "DELETE", &uri, ALICE, Body::empty()).await.status,
        StatusCode::NO_CONTENT
    );
    // Glance answers a pending-delete image like a deleted one, to its owner and to admins.
    for token in [ALICE, ADMIN] {
        assert_eq!(get(&n, token, &uri).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            get(&n, token, &format!("{uri}/file")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(count(&n, token, "/v2/images").await, 0);
    }
    assert_eq!(rename(&n, ALICE, &id, "x").await, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&n, "DELETE", &uri, ADMIN, Body::empty()).await.status,
        StatusCode::NOT_FOUND
    );
    let rec = n.meta.get_image(&id).await.unwrap().unwrap();
    assert_eq!(rec.status, tessera_raft::ImageStatus::PendingDelete);
    let manifest = rec.data.unwrap().manifest.parse().unwrap();
    assert!(n.data.manifest(&manifest).await.is_ok());

    // An image without data has nothing to scrub: it goes at once.
    let empty = create_id(&n, ALICE, json!({"name": "e"})).await;
    let uri = format!("/v2/images/{empty}");
    assert_eq!(
        send(&n, "DELETE", &uri, ALICE, Body::empty()).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(n.meta.get_image(&empty).await.unwrap().is_none());
}

#[tokio::test]
async fn workers_endpoints_metrics_and_verify() {
    let n = node().await;
    let id = stored_image(&n, "v", 3_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::open(
        n.data.clone(),
        dir.path().join("auditor.json"),
        AuditorConfig::default(),
    )
    .unwrap();
    n.workers.spawn(auditor);

    let list = get(&n, ADMIN, "/tessera/v1/workers").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()[0]["name"], "auditor");
    assert_eq!(
        get(&n, ALICE, "/tessera/v1/workers").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&n, ADMIN, "/tessera/v1/workers/nobody").await.status,
        StatusCode::NOT_FOUND
    );
    let nr = &n;
    let put = |key: &str, value: &str| {
        let uri = format!("/tessera/v1/workers/auditor/settings/{key}");
        let body = Body::from(value.to_string());
        async move { send(nr, "PUT", &uri, ADMIN, body).await }
    };
    let bad = put("rate", "fast").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&bad.body).contains("rate"));
    assert_eq!(put("speed", "1").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        put("rate", "\"65536\"").await.status,
        StatusCode::NO_CONTENT
    );
    let paused = send(
        &n,
        "POST",
        "/tessera/v1/workers/auditor/pause",
        ADMIN,
        Body::empty(),
    )
    .await;
    assert_eq!(paused.status, StatusCode::NO_CONTENT);
    let mut state = Value::Null;
    for _ in 0..200 {
        state = get(&n, ADMIN, "/tessera/v1/workers/auditor").await.json();
        if state["state"] == "paused" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(state["state"], "paused", "{state}");
    assert_eq!(state["settings"]["rate"], "65536");
    let resumed = send(
        &n,
        "POST",
        "/tessera/v1/workers/auditor/resume",
        ADMIN,
        Body::empty(),
    )
    .await;
    assert_eq!(resumed.status, StatusCode::NO_CONTENT);
    let metrics = get(&n, ADMIN, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(
        text.contains("tessera_worker_items_total{worker=\"auditor\"}"),
        "{text}"
    );

    let verify = |q: String| {
        let uri = format!("/tessera/v1/chunks/verify{q}");
        async move { send(nr, "POST", &uri, ADMIN, Body::empty()).await }
    };
    let all = verify(String::new()).await.json();
    assert_eq!(all["ok"], true, "{all}");
    assert!(all["checked"].as_u64().unwrap() >= 2);
    let one = verify(format!("?image_id={id}")).await.json();
    assert_eq!(one["ok"], true, "{one}");
    // Damage one chunk of the image: the check finds and quarantines it.
    let rec = n.meta.get_image(&id).await.unwrap().unwrap();
    let manifest = n
        .data
        .manifest(&rec.data.unwrap().manifest.parse().unwrap())
        .await
        .unwrap();
    let victim = manifest.entries()[1].id;
    std::fs::write(n.data.store().path_of(&victim), b"rot").unwrap();
    let one = verify(format!("?image_id={id}")).await.json();
    assert_eq!(one["ok"], false, "{one}");
    assert_eq!(one["problems"][0]["chunk"], victim.to_string());
    assert_eq!(one["problems"][0]["state"], "corrupt");
    assert!(!n.data.store().has(&victim).unwrap());
    assert_eq!(
        verify(format!("?image_id={id}")).await.json()["problems"][0]["state"],
        "missing"
    );
}

#[tokio::test]
async fn protected_properties_are_refused_and_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("property-protections.conf");
    std::fs::write(
        &path,
        "[^x_admin_]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n\n\
         [.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n",
    )
    .unwrap();
    let protections =
        tessera_domain::Protections::from_file(&path, tessera_domain::protection::Format::Roles)
            .unwrap();
    let config = ApiConfig {
        protections: Some(Arc::new(protections)),
        ..ApiConfig::default()
    };
    let n = node_with(config, None).await;

    let refused = create(&n, ALICE, json!({"name": "a", "x_admin_k": "1"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let text = String::from_utf8_lossy(&refused.body).to_string();
    assert!(
        text.contains("Attribute 'x_admin_k' is reserved."),
        "{text}"
    );

    let made = create(
        &n,
        ADMIN,
        json!({"name": "b", "owner": "projA", "x_admin_k": "1", "os_distro": "debian"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let id = made.json()["id"].as_str().unwrap().to_string();
    let uri = format!("/v2/images/{id}");

    // Alice owns the image but may not read the property: it is not there for her.
    let seen = get(&n, ALICE, &uri).await.json();
    assert_eq!(seen["os_distro"], "debian");
    assert!(seen.get("x_admin_k").is_none(), "{seen}");
    let listed = get(&n, ALICE, "/v2/images").await.json();
    assert!(listed["images"][0].get("x_admin_k").is_none(), "{listed}");

    let add = json!([{"op": "add", "path": "/x_admin_k", "value": "2"}]);
    assert_eq!(
        patch(&n, ALICE, &id, add).await.status,
        StatusCode::FORBIDDEN
    );
    // Her other changes keep the property she cannot see.
    let ops = json!([{"op": "replace", "path": "/os_distro", "value": "ubuntu"}]);
    let changed = patch(&n, ALICE, &id, ops).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert!(changed.json().get("x_admin_k").is_none());
    let admin_view = get(&n, ADMIN, &uri).await.json();
    assert_eq!(
        (&admin_view["x_admin_k"], &admin_view["os_distro"]),
        (&json!("1"), &json!("ubuntu"))
    );
    let remove = json!([{"op": "remove", "path": "/x_admin_k"}]);
    assert_eq!(patch(&n, ADMIN, &id, remove).await.status, StatusCode::OK);
}

/// A body that sends `first` and then nothing, never ending: a client that stalled.
fn stalled_body(first: &'static [u8]) -> Body {
    use futures::StreamExt;
    let once = futures::stream::once(async move { Ok::<_, std::io::Error>(first) });
    Body::from_stream(once.chain(futures::stream::pending()))
}

/// An upload whose body stops arriving ends after the body timeout (a 400, the image back in
/// `queued`) instead of holding the upload forever; past the node's cap on concurrent uploads
/// (or the project's) a new upload is a 503 with a reason, and changes nothing.
#[tokio::test]
async fn stalled_uploads_time_out_and_uploads_are_capped() {
    let config = ApiConfig {
        body_timeout: std::time::Duration::from_millis(300),
        uploads: tessera_domain::UploadLimits {
            per_node: 2,
            per_project: 1,
        },
        ..ApiConfig::default()
    };
    let n = Arc::new(node_with(config, None).await);
    let raw = json!({"name": "slow", "disk_format": "raw", "container_format": "bare"});
    let slow = create_id(&n, ALICE, raw.clone()).await;
    let stalled = {
        let (n, slow) = (n.clone(), slow.clone());
        tokio::spawn(async move {
            let put = req("PUT", &format!("/v2/images/{slow}/file"), ALICE)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(stalled_body(b"first bytes"))
                .unwrap();
            call(&n, put).await
        })
    };
    // While Alice's stalled upload runs, her project is at its cap and Bob's is not.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let other = create_id(&n, ALICE, raw.clone()).await;
    let r = upload(&n, ALICE, &other, payload(1000)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        String::from_utf8_lossy(&r.body).contains("Project projA is running its maximum of 1"),
        "{:?}",
        r.body
    );
    let image = get(&n, ALICE, &format!("/v2/images/{other}")).await.json();
    assert_eq!(
        image["status"], "queued",
        "a refused upload changes nothing"
    );
    let bobs = create_id(&n, BOB, raw).await;
    assert_eq!(
        upload(&n, BOB, &bobs, payload(1000)).await.status,
        StatusCode::NO_CONTENT
    );
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), stalled)
        .await
        .expect("a stalled upload ends after the body timeout")
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let image = get(&n, ALICE, &format!("/v2/images/{slow}")).await.json();
    assert_eq!(image["status"], "queued");
    // Its slot is free again.
    assert_eq!(
        upload(&n, ALICE, &other, payload(1000)).await.status,
        StatusCode::NO_CONTENT
    );
}

/// With every quota off, a PATCH loop still cannot grow an image record without bound: past
/// the record bound it is 413 and the record stays as it was; an over-long value or name is a
/// 400.
#[tokio::test]
async fn a_patch_loop_stops_at_the_record_bound() {
    let config = ApiConfig {
        quotas: tessera_domain::Quotas {
            image_property_quota: -1,
            image_tag_quota: -1,
            image_member_quota: -1,
        },
        ..ApiConfig::default()
    };
    let n = node_with(config, None).await;
    let id = create_id(&n, ALICE, json!({"name": "big"})).await;
    let value = "v".repeat(60_000);
    let mut refused = None;
    for i in 0..40 {
        let ops = json!([{"op": "add", "path": format!("/p{i}"), "value": value}]);
        let r = patch(&n, ALICE, &id, ops).await;
        if r.status != StatusCode::OK {
            refused = Some((i, r));
            break;
        }
    }
    let (i, r) = refused.expect("the record bound refuses some PATCH");
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(String::from_utf8_lossy(&r.body).contains("over the limit of 1048576 bytes"));
    let image = get(&n, ALICE, &format!("/v2/images/{id}")).await.json();
    assert!(image.get(format!("p{}", i - 1)).is_some());
    assert!(
        image.get(format!("p{i}")).is_none(),
        "the refused PATCH changed nothing"
    );
    let long = json!([{"op": "add", "path": "/long", "value": "v".repeat(65_536)}]);
    assert_eq!(
        patch(&n, ALICE, &id, long).await.status,
        StatusCode::BAD_REQUEST
    );
    let name = json!([{"op": "add", "path": format!("/{}", "n".repeat(256)), "value": "v"}]);
    assert_eq!(
        patch(&n, ALICE, &id, name).await.status,
        StatusCode::BAD_REQUEST
    );
}
