//! The locations API (2.17): `POST /v2/images/{id}/locations` (202; the executor runs the
//! `location_import` task it creates) and `GET /v2/images/{id}/locations`.

use crate::body::{parse_json, read_limited};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::{record_image, RequestId};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;
use tessera_domain::locations::AddLocation;
use tessera_domain::tasks::TASKS_WORKER;
use tessera_domain::Glance;

/// `POST /v2/images/{id}/locations`.
pub async fn add(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    who: Identity,
    Path(id): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    let AppState {
        glance,
        config,
        workers,
        ..
    } = state;
    let body = parse_json(&read_limited(body, config.max_json_body).await?)?;
    let req = AddLocation::parse(&body).inspect_err(|e| {
        tracing::info!(error = %e, "location refused");
    })?;
    let task = glance
        .add_location(&who, &id, req, Some(request_id))
        .await?;
    tracing::info!(task_id = %task, "location accepted");
    // Start it now rather than at the executor's next poll (any node may run it).
    if let Err(e) = workers.wake(TASKS_WORKER) {
        tracing::debug!(error = %e, "no task executor here to wake");
    }
    Ok(StatusCode::ACCEPTED)
}

/// `GET /v2/images/{id}/locations`.
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let shown = glance.get_locations(&who, &id).await?;
    Ok(Json(Value::Array(
        shown.iter().map(|l| l.to_json()).collect(),
    )))
}
