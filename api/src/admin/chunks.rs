//! Admin endpoints of the replicator: `POST /tessera/v1/chunks/repair` (a full repair pass
//! now) and `POST /tessera/v1/cluster/leave` (drain a node, then remove it from Raft).

use super::admin::require_admin;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::live_chunks::MetaLiveChunks;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use tessera_replication::LiveChunks;

/// Brings every chunk referenced by a live image to a copy on each of its placement targets
/// now; reports what it found, including local orphans (left to the reaper).
pub async fn repair(State(st): State<AppState>, who: Identity) -> Result<Json<Value>, ApiError> {
    require_admin(&who, "chunks_repair")?;
    let manifests = MetaLiveChunks(st.meta.clone()).live_manifests().await?;
    let report = st.data.repair_referenced(manifests).await?;
    Ok(Json(json!(report)))
}

/// `?node=ID` (default: this node) and `drain=false` (remove a lost node without draining).
fn leave_args(raw: Option<String>, me: u64) -> Result<(u64, bool), ApiError> {
    let (mut node, mut drain) = (me, true);
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match &*k {
            "node" => {
                node = v
                    .parse()
                    .map_err(|_| ApiError::BadRequest(format!("node must be a node id: {v}")))?
            }
            "drain" => {
                drain = v.parse().map_err(|_| {
                    ApiError::BadRequest(format!("drain must be true or false: {v}"))
                })?
            }
            other => return Err(ApiError::BadRequest(format!("unknown parameter {other}"))),
        }
    }
    Ok((node, drain))
}

/// Removes a node from the cluster. Draining (the default) must be asked of the leaving node
/// itself: it stops taking new chunks, copies each of its chunks to the other targets until
/// all have their copies, and only then leaves Raft. `drain=false` removes a lost node at
/// once; the replicators restore its chunks from the remaining copies.
pub async fn leave(
    State(st): State<AppState>,
    who: Identity,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    require_admin(&who, "cluster_leave")?;
    let me = st.data.self_id();
    let (node, drain) = leave_args(raw, me)?;
    let status = st.meta.status()?;
    if !status.voters.contains_key(&node) && !status.learners.contains_key(&node) {
        return Err(ApiError::NotFound(format!(
            "node {node} is not a cluster member"
        )));
    }
    if !drain {
        st.meta.leave(node).await?;
        return Ok(Json(json!({ "node": node, "left": true, "drained": null })));
    }
    if node != me {
        return Err(ApiError::BadRequest(format!(
            "node {node} drains itself: send this request to its own API, or pass drain=false \
             to remove a lost node (its chunks are restored from the remaining copies)"
        )));
    }
    let report = match st.data.drain().await {
        Ok(r) if r.remaining == 0 => r,
        Ok(r) => {
            st.data.set_draining(false);
            return Err(ApiError::Unavailable(format!(
                "drain incomplete: {} of {} chunks not yet confirmed on all their targets; \
                 the node stays a member, retry",
                r.remaining, r.chunks
            )));
        }
        Err(e) => {
            st.data.set_draining(false);
            return Err(e.into());
        }
    };
    st.meta.leave(node).await?;
    tracing::info!(node, ?report, "node drained and left the cluster");
    Ok(Json(
        json!({ "node": node, "left": true, "drained": report }),
    ))
}
