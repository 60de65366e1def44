//! Chunk maintenance (admin only): `POST /tessera/v1/chunks/repair` (a full repair pass now,
//! run by the node's `repair` job) and `POST /tessera/v1/chunks/verify[?image_id=ID]` (an
//! audit now, see [`verify`]).

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::require_admin;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::AppState;

/// Brings every chunk referenced by a live image to a copy on each of its placement targets
/// now; reports what it found, including local orphans (left to the reaper).
pub async fn repair(State(st): State<AppState>, who: Identity) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &who, "chunks_repair")?;
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
    require_admin(&st, &who, "chunks_verify")?;
    let report = st.admin.verify(q.image_id).await?;
    Ok(Json(json!(report)))
}
