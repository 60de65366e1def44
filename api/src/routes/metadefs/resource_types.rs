//! `/v2/metadefs/resource_types` and a namespace's associations
//! (`/v2/metadefs/namespaces/{namespace}/resource_types[/{name}]`).

use super::parse::{self, READ_ONLY};
use super::view::association_json;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::metadef_schema::Record;
use crate::view::format_time;
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_domain::Glance;

/// `GET /v2/metadefs/resource_types`.
pub async fn list(State(glance): State<Glance>, who: Identity) -> Result<Json<Value>, ApiError> {
    let types: Vec<Value> = glance
        .list_resource_types(&who)
        .await?
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "created_at": format_time(t.created_at),
                "updated_at": format_time(t.updated_at),
            })
        })
        .collect();
    Ok(Json(json!({"resource_types": types})))
}

/// `GET .../namespaces/{namespace}/resource_types`.
pub async fn associations(
    State(glance): State<Glance>,
    who: Identity,
    Path(ns): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let list: Vec<Value> = glance
        .associations(&who, &ns)
        .await?
        .iter()
        .map(association_json)
        .collect();
    Ok(Json(json!({"resource_type_associations": list})))
}

/// `POST .../namespaces/{namespace}/resource_types` (201).
pub async fn associate(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path(ns): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let doc = parse::body(body, config.max_json_body, Record::ResourceType, READ_ONLY).await?;
    let a = glance
        .associate(&who, &ns, parse::association(&doc))
        .await?;
    Ok((StatusCode::CREATED, Json(association_json(&a))).into_response())
}

/// `DELETE .../namespaces/{namespace}/resource_types/{name}`.
pub async fn dissociate(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    glance.dissociate(&who, &ns, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
