//! `/v2/metadefs/namespaces/{namespace}/tags[/{tag}]`.

use super::parse::{self, READ_ONLY};
use super::view::{tag_json, tag_names_json};
use crate::body::json_object;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::list::{parse_dir, parse_limit};
use crate::metadef_schema::{validate, Record};
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_domain::metadefs::{TagQuery, TagSort};
use tessera_domain::Glance;
use tessera_raft::SortDir;

/// Glance's tag list parameters.
fn query(raw: &str) -> Result<TagQuery, ApiError> {
    let mut q = TagQuery {
        marker: None,
        limit: None,
        sort: TagSort::CreatedAt,
        descending: true,
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "limit" if !v.is_empty() => q.limit = Some(parse_limit(&v)?).filter(|n| *n > 0),
            "marker" if !v.is_empty() => q.marker = Some(v.into_owned()),
            "sort_key" => {
                q.sort = TagSort::parse(&v)
                    .ok_or_else(|| ApiError::BadRequest(format!("Invalid sort key: {v}")))?
            }
            "sort_dir" => q.descending = parse_dir(&v)? == SortDir::Desc,
            _ => {}
        }
    }
    Ok(q)
}

/// Whether `X-Openstack-Append` asks to keep the existing tags (oslo's boolean spellings).
fn append(headers: &HeaderMap) -> bool {
    headers
        .get("x-openstack-append")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "t" | "true" | "on" | "y" | "yes"
            )
        })
}

/// `GET .../tags` (names only).
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    Path(ns): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw.unwrap_or_default())?;
    let tags = glance.list_tags(&who, &ns, &q).await?;
    Ok(Json(json!({"tags": tag_names_json(&tags)})))
}

/// `POST .../tags` with `{"tags": [{"name": ...}, ...]}`: replaces every tag, or adds to
/// them with `X-Openstack-Append: true` (201).
pub async fn create_many(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let doc = json_object(body, config.max_json_body).await?;
    let items = match doc.get("tags") {
        Some(Value::Array(items)) => items,
        _ => {
            return Err(ApiError::BadRequest(
                "Provided object does not match schema 'tags': 'tags' is a required array".into(),
            ))
        }
    };
    let mut names = Vec::new();
    for item in items {
        validate(Record::Tag, item)?;
        if let Some(name) = item.get("name").and_then(Value::as_str) {
            names.push(name.to_string());
        }
    }
    let tags = glance
        .create_tags(&who, &ns, &names, append(&headers))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"tags": tag_names_json(&tags)})),
    )
        .into_response())
}

/// `POST .../tags/{tag}` (201).
pub async fn create(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    validate(Record::Tag, &json!({"name": name}))?;
    let tag = glance.create_tag(&who, &ns, &name).await?;
    Ok((StatusCode::CREATED, Json(tag_json(&tag))).into_response())
}

/// `GET .../tags/{tag}`.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(tag_json(&glance.tag(&who, &ns, &name).await?)))
}

/// `PUT .../tags/{tag}` with `{"name": new}`.
pub async fn update(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let doc = parse::body(body, config.max_json_body, Record::Tag, READ_ONLY).await?;
    let new_name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
    let tag = glance.update_tag(&who, &ns, &name, new_name).await?;
    Ok(Json(tag_json(&tag)))
}

/// `DELETE .../tags/{tag}`.
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path((ns, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    glance.delete_tag(&who, &ns, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
