//! Admin endpoints of the background loops (the node's jobs, such as `repair`, among them):
//! - `GET /tessera/v1/workers`: a JSON array of every worker's status;
//! - `GET /tessera/v1/workers/{name}`: one worker's status;
//! - `POST /tessera/v1/workers/{name}/pause` and `.../resume`: 204;
//! - `PUT /tessera/v1/workers/{name}/settings/{key}`: the body is the new value as text (a
//!   JSON string or number is accepted too); 204 once the worker took it, 400 with the reason
//!   if it refused.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use tessera_replication::WorkerStatus;

use super::require_admin;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::AppState;

/// `GET /tessera/v1/workers`.
pub async fn list(
    State(st): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<WorkerStatus>>, ApiError> {
    require_admin(&st, &who, "workers_list")?;
    Ok(Json(st.workers.list()))
}

/// `GET /tessera/v1/workers/{name}`.
pub async fn show(
    State(st): State<AppState>,
    who: Identity,
    Path(name): Path<String>,
) -> Result<Json<WorkerStatus>, ApiError> {
    require_admin(&st, &who, "workers_show")?;
    Ok(Json(st.workers.get(&name)?))
}

/// `POST /tessera/v1/workers/{name}/pause`.
pub async fn pause(
    State(st): State<AppState>,
    who: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&st, &who, "workers_pause")?;
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
    require_admin(&st, &who, "workers_resume")?;
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
    require_admin(&st, &who, "workers_set")?;
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
