//! `/v2/metadefs/namespaces/{namespace}/properties[/{property}]`.

use super::parse::{self, READ_ONLY};
use super::view::{properties_json, property_json};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::metadef_schema::Record;
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tessera_domain::Glance;

/// A property body: its name and its definition as stored (name included, as Glance
/// stores a created property's model).
async fn definition(
    config: &ApiConfig,
    body: Body,
) -> Result<(String, Map<String, Value>), ApiError> {
    let doc = parse::body(body, config.max_json_body, Record::Property, READ_ONLY).await?;
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((name, doc))
}

/// One property as Glance shows it alone: its definition with its name.
fn named(name: &str, def: &Map<String, Value>) -> Value {
    let mut v = property_json(def);
    v["name"] = json!(name);
    v
}

/// `GET .../properties`.
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    Path(ns): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let props = glance.list_properties(&who, &ns).await?;
    Ok(Json(
        json!({"properties": properties_json(props.iter().map(|(k, v)| (k, v)))}),
    ))
}

/// `POST .../properties` (201).
pub async fn create(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path(ns): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let (name, def) = definition(&config, body).await?;
    let def = glance.create_property(&who, &ns, &name, def).await?;
    Ok((StatusCode::CREATED, Json(property_json(&def))).into_response())
}

/// `GET .../properties/{property}[?resource_type=...]`.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = raw.unwrap_or_default();
    let resource_type = form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "resource_type")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty());
    let (name, def) = glance
        .property(&who, &ns, &name, resource_type.as_deref())
        .await?;
    Ok(Json(named(&name, &def)))
}

/// `PUT .../properties/{property}` (the body's name renames it).
pub async fn update(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (new_name, def) = definition(&config, body).await?;
    let def = glance
        .update_property(&who, &ns, &name, &new_name, def)
        .await?;
    Ok(Json(property_json(&def)))
}

/// `DELETE .../properties/{property}`.
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    glance.delete_property(&who, &ns, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
