//! Admin endpoints of the background loops (admin only):
//! - `GET /tessera/v1/workers`: a JSON array of every worker's status;
//! - `GET /tessera/v1/workers/{name}`: one worker's status;
//! - `POST /tessera/v1/workers/{name}/pause` and `.../resume`: 204;
//! - `PUT /tessera/v1/workers/{name}/settings/{key}`: the body is the new value as text (a
//!   JSON string or number is accepted too); 204 once the worker took it, 400 with the reason
//!   if it refused;
//! - `POST /tessera/v1/chunks/verify[?image_id=ID]`: audit now (see [`verify`]);
//! - `GET /metrics`: every worker's status in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_replication::{ChunkHealth, ChunkId, WorkerState, WorkerStatus};

use super::admin::require_admin;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::{ops, AppState};

/// Chunk copies checked at once by `verify`.
const VERIFY_CONCURRENCY: usize = 8;

/// `GET /tessera/v1/workers`.
pub async fn list(
    State(st): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<WorkerStatus>>, ApiError> {
    require_admin(&who, "workers_list")?;
    Ok(Json(st.workers.list()))
}

/// `GET /tessera/v1/workers/{name}`.
pub async fn show(
    State(st): State<AppState>,
    who: Identity,
    Path(name): Path<String>,
) -> Result<Json<WorkerStatus>, ApiError> {
    require_admin(&who, "workers_show")?;
    Ok(Json(st.workers.get(&name)?))
}

/// `POST /tessera/v1/workers/{name}/pause`.
pub async fn pause(
    State(st): State<AppState>,
    who: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&who, "workers_pause")?;
    st.workers.pause(&name)?;
    tracing::info!(worker = %name, "worker paused");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /tessera/v1/workers/{name}/resume`.
pub async fn resume(
    State(st): State<AppState>,
    who: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&who, "workers_resume")?;
    st.workers.resume(&name)?;
    tracing::info!(worker = %name, "worker resumed");
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /tessera/v1/workers/{name}/settings/{key}` with the value as the body.
pub async fn set(
    State(st): State<AppState>,
    who: Identity,
    Path((name, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    require_admin(&who, "workers_set")?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("The setting's value must be UTF-8 text.".into()))?
        .trim();
    let value = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => s,
        Ok(Value::Number(n)) => n.to_string(),
        _ => text.to_string(),
    };
    // Existence first, so an unknown worker is a 404 whatever the key.
    st.workers.get(&name)?;
    st.workers.set(&name, &key, &value).await?;
    tracing::info!(worker = %name, %key, %value, "worker setting changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `POST /tessera/v1/chunks/verify`.
#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    image_id: Option<String>,
}

/// `POST /tessera/v1/chunks/verify[?image_id=ID]`: with an image, checks every chunk of its
/// manifest (and the manifest) on every placement target and reports each copy as valid,
/// missing, corrupt or unreachable; without, re-hashes every chunk of this node now. Bad
/// copies are quarantined and queued for repair; `ok` says whether all was well.
pub async fn verify(
    State(st): State<AppState>,
    who: Identity,
    Query(q): Query<VerifyQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&who, "chunks_verify")?;
    let Some(image_id) = q.image_id else {
        let s = st.data.audit_all().await?;
        return Ok(Json(json!({
            "node": st.data.self_id(),
            "checked": s.checked,
            "bytes": s.bytes,
            "corrupt": s.corrupt,
            "missing": s.missing,
            "ok": s.corrupt.is_empty(),
        })));
    };
    let img = ops::load(&st.meta, &image_id).await?;
    let Some(data) = img.data else {
        return Err(ApiError::BadRequest(format!(
            "Image {image_id} has no data to verify (status {}).",
            img.status.as_str()
        )));
    };
    let manifest_id: ChunkId = data
        .manifest
        .parse()
        .map_err(|_| ApiError::Internal(format!("image {image_id} has a malformed manifest id")))?;
    let manifest = st.data.manifest(&manifest_id).await?;
    let mut chunks = vec![manifest_id];
    for e in manifest.entries() {
        if !chunks.contains(&e.id) {
            chunks.push(e.id);
        }
    }
    let copies: Vec<(ChunkId, u64)> = chunks
        .iter()
        .flat_map(|id| st.data.placement(id).into_iter().map(move |n| (*id, n)))
        .collect();
    let results: Vec<(ChunkId, u64, ChunkHealth)> = futures::stream::iter(copies)
        .map(|(id, node)| {
            let data = st.data.clone();
            async move { (id, node, data.check_chunk_on(node, id).await) }
        })
        .buffer_unordered(VERIFY_CONCURRENCY)
        .collect()
        .await;
    let mut nodes: BTreeMap<String, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (id, node, health) in &results {
        let state = match health {
            ChunkHealth::Valid => "valid",
            ChunkHealth::Missing => "missing",
            ChunkHealth::Corrupt => "corrupt",
            ChunkHealth::Unreachable(_) => "unreachable",
        };
        *nodes
            .entry(node.to_string())
            .or_default()
            .entry(state)
            .or_default() += 1;
        if let ChunkHealth::Unreachable(reason) = health {
            problems.push(json!({ "chunk": id, "node": node, "state": state, "reason": reason }));
        } else if *health != ChunkHealth::Valid {
            problems.push(json!({ "chunk": id, "node": node, "state": state }));
        }
    }
    Ok(Json(json!({
        "image_id": image_id,
        "chunks": chunks.len(),
        "copies": results.len(),
        "nodes": nodes,
        "problems": problems,
        "ok": problems.is_empty(),
    })))
}

/// `GET /metrics`.
pub async fn metrics(
    State(st): State<AppState>,
    who: Identity,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&who, "metrics")?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render_metrics(&st.workers.list()),
    ))
}

const STATES: [(WorkerState, &str); 5] = [
    (WorkerState::Busy, "busy"),
    (WorkerState::Idle, "idle"),
    (WorkerState::Throttled, "throttled"),
    (WorkerState::Paused, "paused"),
    (WorkerState::Error, "error"),
];

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of `workers`: one family per figure, one sample per worker.
pub fn render_metrics(workers: &[WorkerStatus]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let w = |s: &WorkerStatus| format!("worker=\"{}\"", label(&s.name));
    let each = |f: &dyn Fn(&WorkerStatus) -> f64| -> Vec<(String, f64)> {
        workers.iter().map(|s| (w(s), f(s))).collect()
    };
    family(
        "tessera_worker_state",
        "gauge",
        "1 for the state each background worker is in, 0 for the others.",
        workers
            .iter()
            .flat_map(|s| {
                STATES.iter().map(move |(st, name)| {
                    let v = if s.state == *st { 1.0 } else { 0.0 };
                    (format!("{},state=\"{name}\"", w(s)), v)
                })
            })
            .collect(),
    );
    family(
        "tessera_worker_queue_len",
        "gauge",
        "Items waiting for each worker.",
        each(&|s| s.report.queue_len as f64),
    );
    family(
        "tessera_worker_progress",
        "gauge",
        "Fraction of the current pass done (workers that work in passes).",
        workers
            .iter()
            .filter_map(|s| s.report.progress.map(|p| (w(s), p)))
            .collect(),
    );
    family(
        "tessera_worker_rate",
        "gauge",
        "Items per second over the last busy stretch.",
        each(&|s| s.rate),
    );
    family(
        "tessera_worker_items_total",
        "counter",
        "Items processed since the node started.",
        each(&|s| s.report.items as f64),
    );
    family(
        "tessera_worker_bytes_total",
        "counter",
        "Bytes processed since the node started.",
        each(&|s| s.report.bytes as f64),
    );
    family(
        "tessera_worker_passes_total",
        "counter",
        "Full passes completed since the node started.",
        each(&|s| s.report.passes as f64),
    );
    family(
        "tessera_worker_errors_total",
        "counter",
        "Failed steps since the node started.",
        each(&|s| s.errors as f64),
    );
    family(
        "tessera_worker_events_total",
        "counter",
        "Worker-specific counters (quarantined, deleted, scrubbed, ...).",
        workers
            .iter()
            .flat_map(|s| {
                s.report
                    .counters
                    .iter()
                    .map(move |(k, v)| (format!("{},counter=\"{}\"", w(s), label(k)), *v as f64))
            })
            .collect(),
    );
    family(
        "tessera_worker_setting",
        "gauge",
        "Numeric settings of each worker (rate in bytes/s, times in seconds).",
        workers
            .iter()
            .flat_map(|s| {
                s.report.settings.iter().filter_map(move |(k, v)| {
                    let v = v.parse::<f64>().ok()?;
                    Some((format!("{},key=\"{}\"", w(s), label(k)), v))
                })
            })
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_replication::WorkerReport;

    #[test]
    fn metrics_render_one_sample_per_worker_and_figure() {
        let status = WorkerStatus {
            name: "auditor".into(),
            state: WorkerState::Throttled,
            errors: 2,
            last_error: None,
            last_error_at: None,
            rate: 1.5,
            report: WorkerReport {
                progress: Some(0.25),
                items: 10,
                bytes: 4096,
                counters: [("quarantined".to_string(), 1)].into(),
                settings: [
                    ("rate".to_string(), "1024".to_string()),
                    ("mode".to_string(), "x".to_string()),
                ]
                .into(),
                ..WorkerReport::default()
            },
        };
        let text = render_metrics(&[status]);
        for line in [
            "# TYPE tessera_worker_state gauge",
            "tessera_worker_state{worker=\"auditor\",state=\"throttled\"} 1",
            "tessera_worker_state{worker=\"auditor\",state=\"busy\"} 0",
            "tessera_worker_progress{worker=\"auditor\"} 0.25",
            "tessera_worker_items_total{worker=\"auditor\"} 10",
            "tessera_worker_bytes_total{worker=\"auditor\"} 4096",
            "tessera_worker_errors_total{worker=\"auditor\"} 2",
            "tessera_worker_events_total{worker=\"auditor\",counter=\"quarantined\"} 1",
            "tessera_worker_setting{worker=\"auditor\",key=\"rate\"} 1024",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("key=\"mode\""));
        assert_eq!(label("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
