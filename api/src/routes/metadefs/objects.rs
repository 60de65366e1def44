//! `/v2/metadefs/namespaces/{namespace}/objects[/{object}]`.

use super::parse::{self, READ_ONLY_WITH_LINKS};
use super::view::object_json;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::metadef_schema::Record;
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_domain::Glance;

/// `GET .../objects` (Glance accepts paging parameters here and ignores them).
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    Path(ns): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let objects: Vec<Value> = glance
        .list_objects(&who, &ns)
        .await?
        .iter()
        .map(|o| object_json(&ns, o, true))
        .collect();
    // Glance's link here lacks the leading slash; clients compare it verbatim.
    Ok(Json(
        json!({"objects": objects, "schema": "v2/schemas/metadefs/objects"}),
    ))
}

/// `POST .../objects` (201).
pub async fn create(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path(ns): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let doc = parse::body(
        body,
        config.max_json_body,
        Record::Object,
        READ_ONLY_WITH_LINKS,
    )
    .await?;
    let o = glance.create_object(&who, &ns, parse::object(&doc)).await?;
    Ok((StatusCode::CREATED, Json(object_json(&ns, &o, false))).into_response())
}

/// `GET .../objects/{object}`.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let o = glance.object(&who, &ns, &name).await?;
    Ok(Json(object_json(&ns, &o, true)))
}

/// `PUT .../objects/{object}`.
pub async fn update(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let doc = parse::body(
        body,
        config.max_json_body,
        Record::Object,
        READ_ONLY_WITH_LINKS,
    )
    .await?;
    let o = glance
        .update_object(&who, &ns, &name, parse::object(&doc))
        .await?;
    Ok(Json(object_json(&ns, &o, false)))
}

/// `DELETE .../objects/{object}`.
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    glance.delete_object(&who, &ns, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
