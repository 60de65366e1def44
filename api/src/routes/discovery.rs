//! Version discovery, health, schemas and store info.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::schema::schemas;
use crate::STORE_ID;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tessera_domain::Glance;

/// API versions this service speaks, as Glance 33 lists them without the optional
/// features (v2.14 and v2.16) that Tessera does not serve; v2.14 (the image cache) joins
/// them on a node with a cache ([`CACHE_VERSION`]).
const VERSIONS: &[(&str, &str)] = &[
    ("v2.17", "CURRENT"),
    ("v2.15", "SUPPORTED"),
    ("v2.13", "SUPPORTED"),
    ("v2.12", "SUPPORTED"),
    ("v2.11", "SUPPORTED"),
    ("v2.10", "SUPPORTED"),
    ("v2.9", "SUPPORTED"),
    ("v2.8", "SUPPORTED"),
    ("v2.7", "SUPPORTED"),
    ("v2.6", "SUPPORTED"),
    ("v2.5", "SUPPORTED"),
    ("v2.4", "SUPPORTED"),
    ("v2.3", "SUPPORTED"),
    ("v2.2", "SUPPORTED"),
    ("v2.1", "SUPPORTED"),
    ("v2.0", "SUPPORTED"),
];

/// The image cache API's version, listed when the node has a cache.
const CACHE_VERSION: (&str, &str) = ("v2.14", "SUPPORTED");

fn version_doc(headers: &HeaderMap, cache: bool) -> Value {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9292");
    let href = format!("http://{host}/v2/");
    let versions: Vec<Value> = VERSIONS
        .iter()
        .flat_map(|v| {
            let with_cache = cache && v.0 == "v2.15";
            std::iter::once(v).chain(with_cache.then_some(&CACHE_VERSION))
        })
        .map(|(id, status)| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]}))
        .collect();
    json!({ "versions": versions })
}

/// `GET /`: 300 Multiple Choices with the version list.
pub async fn root(State(glance): State<Glance>, headers: HeaderMap) -> Response {
    let doc = version_doc(&headers, glance.image_cache().is_some());
    (StatusCode::MULTIPLE_CHOICES, Json(doc)).into_response()
}

/// `GET /versions`.
pub async fn versions(State(glance): State<Glance>, headers: HeaderMap) -> Json<Value> {
    Json(version_doc(&headers, glance.image_cache().is_some()))
}

/// `GET /healthcheck`.
pub async fn healthcheck() -> &'static str {
    "OK"
}

/// `GET /v2/schemas/{name}`.
pub async fn schema(Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let s = schemas();
    let doc = match name.as_str() {
        "image" => &s.image,
        "images" => &s.images,
        "member" => &s.member,
        "members" => &s.members,
        "task" => &s.task,
        "tasks" => &s.tasks,
        other => return Err(ApiError::NotFound(format!("No schema named {other}."))),
    };
    Ok(Json(doc.clone()))
}

/// `GET /v2/schemas/metadefs/{name}`.
pub async fn metadef_schema(Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    crate::metadef_schema::document(&name)
        .map(|d| Json(d.clone()))
        .ok_or_else(|| ApiError::NotFound(format!("No schema named metadefs/{name}.")))
}

/// `GET /v2/info/stores`: the one replicated store.
pub async fn stores() -> Json<Value> {
    Json(
        json!({"stores": [{"id": STORE_ID, "description": "Tessera replicated chunk store", "default": true}]}),
    )
}

/// `GET /v2/info/usage`: the caller's project's unified limits and usage (empty when limits
/// are not enforced, as Glance answers).
pub async fn usage(State(glance): State<Glance>, who: Identity) -> Result<Json<Value>, ApiError> {
    let lines = glance.usage(&who.0).await?;
    let usage: serde_json::Map<String, Value> = lines
        .into_iter()
        .map(|u| {
            (
                u.resource.name().to_string(),
                json!({"limit": u.limit, "usage": u.usage}),
            )
        })
        .collect();
    Ok(Json(json!({ "usage": usage })))
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("The resource could not be found.".into())
}
