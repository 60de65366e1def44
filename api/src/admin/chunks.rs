//! Chunk maintenance (admin only): `POST /tessera/v1/chunks/repair` (a full repair pass now,
//! run by the node's `repair` job) and `POST /tessera/v1/chunks/verify[?image_id=ID]` (an
//! audit now, see [`verify`]).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::Json;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_replication::{ChunkHealth, ChunkId};

use super::require_admin;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::{ops, AppState};

/// Chunk copies checked at once by `verify`.
const VERIFY_CONCURRENCY: usize = 8;

/// Brings every chunk referenced by a live image to a copy on each of its placement targets
/// now; reports what it found, including local orphans (left to the reaper).
pub async fn repair(State(st): State<AppState>, who: Identity) -> Result<Json<Value>, ApiError> {
    require_admin(&who, "chunks_repair")?;
    let report = st.admin.repair().await?;
    Ok(Json(json!(report)))
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
