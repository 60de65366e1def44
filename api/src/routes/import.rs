//! Interoperable import over HTTP: `GET /v2/info/import`, `PUT /v2/images/{id}/stage` and
//! `POST /v2/images/{id}/import` (202; the executor runs the task it creates).

use super::data::{image_data, store_header};
use crate::auth::{delegation, Verified};
use crate::body::{parse_json, read_limited};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::{record_image, RequestId};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tessera_domain::import::{ImportMethod, ImportRequest};
use tessera_domain::tasks::TASKS_WORKER;
use tessera_domain::Glance;

/// The offered import methods' names.
pub(crate) fn method_names(glance: &Glance) -> Vec<&'static str> {
    glance.import_methods().iter().map(|m| m.as_str()).collect()
}

/// `GET /v2/info/import`.
pub async fn info(State(glance): State<Glance>) -> Json<Value> {
    Json(json!({"import-methods": {
        "description": "Import methods available.",
        "type": "array",
        "value": method_names(&glance),
    }}))
}

/// `PUT /v2/images/{id}/stage`.
pub async fn stage(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    if !glance.import_config().enabled(ImportMethod::GlanceDirect) {
        return Err(ApiError::NotFound(
            "'glance-direct' method is not available at this site.".into(),
        ));
    }
    let announced = image_data(&headers)?;
    glance
        .stage(&who, &id, body.into_data_stream(), announced)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v2/images/{id}/import`.
pub async fn import(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    verified: Option<Extension<Verified>>,
    who: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
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
    let mut req = ImportRequest::parse(
        body,
        &glance.import_methods(),
        store_header(&headers),
        glance.stores(),
    )?;
    req.delegation = Some(delegation(&headers, verified.as_deref()));
    let Some(task) = glance
        .import_image(&who, &id, req, Some(request_id))
        .await?
    else {
        tracing::info!("nothing to copy: the image is in every store");
        return Ok(StatusCode::ACCEPTED);
    };
    tracing::info!(task_id = %task, "import accepted");
    // Start it now rather than at the executor's next poll (any node may run it).
    if let Err(e) = workers.wake(TASKS_WORKER) {
        tracing::debug!(error = %e, "no task executor here to wake");
    }
    Ok(StatusCode::ACCEPTED)
}
