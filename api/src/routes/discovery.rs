//! Version discovery, health, schemas and store info.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::schema::schemas;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tessera_domain::stores::{Store, Stores};
use tessera_domain::Glance;

/// API versions this service speaks, as Glance 33 lists them without the optional
/// features (v2.14 and v2.16) that Tessera does not serve.
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

fn version_doc(headers: &HeaderMap) -> Value {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9292");
    let href = format!("http://{host}/v2/");
    let versions: Vec<Value> = VERSIONS
        .iter()
        .map(|(id, status)| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]}))
        .collect();
    json!({ "versions": versions })
}

/// `GET /`: 300 Multiple Choices with the version list.
pub async fn root(headers: HeaderMap) -> Response {
    (StatusCode::MULTIPLE_CHOICES, Json(version_doc(&headers))).into_response()
}

/// `GET /versions`.
pub async fn versions(headers: HeaderMap) -> Json<Value> {
    Json(version_doc(&headers))
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

/// One store as `/v2/info/stores` shows it: Glance sends `default` and `read-only` as the
/// string `"true"`, and only when true; no description when none is configured.
fn store_json(store: &Store, default: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(store.id));
    if let Some(d) = &store.description {
        m.insert("description".into(), json!(d));
    }
    if default {
        m.insert("default".into(), json!("true"));
    }
    if store.read_only {
        m.insert("read-only".into(), json!("true"));
    }
    m
}

/// The configured stores, each with what `more` adds to it.
fn stores_json(stores: &Stores, more: impl Fn(&Store, &mut Map<String, Value>)) -> Value {
    let default = &stores.default_store().id;
    let list: Vec<Value> = stores
        .all()
        .iter()
        .map(|s| {
            let mut m = store_json(s, &s.id == default);
            more(s, &mut m);
            Value::Object(m)
        })
        .collect();
    json!({ "stores": list })
}

/// `GET /v2/info/stores`.
pub async fn stores(State(glance): State<Glance>) -> Json<Value> {
    Json(stores_json(glance.stores(), |_, _| {}))
}

/// `GET /v2/info/stores/detail`: with each store's type, properties and weight (admin).
pub async fn stores_detail(
    State(glance): State<Glance>,
    who: Identity,
) -> Result<Json<Value>, ApiError> {
    let stores = glance.stores_detail(&who)?;
    Ok(Json(stores_json(stores, |s, m| {
        m.insert("type".into(), json!(s.kind.as_str()));
        m.insert("properties".into(), Value::Object(s.properties.clone()));
        m.insert("weight".into(), json!(s.weight));
    })))
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
