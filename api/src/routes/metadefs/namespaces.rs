//! `/v2/metadefs/namespaces` and `/v2/metadefs/namespaces/{namespace}`.

use super::parse::{self, READ_ONLY_WITH_LINKS};
use super::view::{namespace_json, Detail};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::list::{parse_dir, parse_limit, without_marker, DEFAULT_LIMIT};
use crate::metadef_schema::Record;
use crate::ApiConfig;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_domain::metadefs::{NamespaceQuery, NamespaceSort, Visibility};
use tessera_domain::Glance;
use tessera_raft::SortDir;

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

/// Glance's namespace list parameters.
fn query(raw: &str) -> Result<NamespaceQuery, ApiError> {
    let mut q = NamespaceQuery {
        marker: None,
        limit: DEFAULT_LIMIT,
        sort: NamespaceSort::CreatedAt,
        descending: true,
        visibility: None,
        resource_types: Vec::new(),
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "limit" => q.limit = parse_limit(&v)?,
            "marker" => q.marker = Some(v.into_owned()),
            "sort_key" => {
                q.sort =
                    NamespaceSort::parse(&v).ok_or_else(|| bad(format!("Invalid sort key: {v}")))?
            }
            "sort_dir" => q.descending = parse_dir(&v)? == SortDir::Desc,
            "visibility" => {
                q.visibility = Some(
                    Visibility::parse(&v)
                        .ok_or_else(|| bad(format!("Invalid visibility value: {v}")))?,
                )
            }
            "resource_types" => {
                q.resource_types = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            _ => {}
        }
    }
    Ok(q)
}

/// `GET /v2/metadefs/namespaces`.
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = raw.unwrap_or_default();
    let page = glance.list_namespaces(&who, &query(&raw)?).await?;
    let rest = without_marker(&raw);
    let base = "/v2/metadefs/namespaces";
    let first = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{rest}")
    };
    let mut doc = json!({
        "namespaces": page
            .namespaces
            .iter()
            .map(|ns| namespace_json(ns, Detail::Summary, None))
            .collect::<Vec<_>>(),
        "schema": "/v2/schemas/metadefs/namespaces",
        "first": first,
    });
    if let Some(next) = page.next {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.extend_pairs(form_urlencoded::parse(rest.as_bytes()));
        s.append_pair("marker", &next);
        doc["next"] = json!(format!("{base}?{}", s.finish()));
    }
    Ok(Json(doc))
}

/// `POST /v2/metadefs/namespaces`: the namespace with any objects, properties, tags and
/// associations it names (201 with `Location`).
pub async fn create(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    body: Body,
) -> Result<Response, ApiError> {
    let doc = parse::body(
        body,
        config.max_json_body,
        Record::Namespace,
        READ_ONLY_WITH_LINKS,
    )
    .await?;
    let ns = glance
        .create_namespace(&who, parse::new_namespace(&doc))
        .await?;
    // Glance answers with the namespace and the contents exactly as the request gave them.
    let mut view = namespace_json(&ns, Detail::Summary, None);
    if let Some(m) = view.as_object_mut() {
        m.remove("resource_type_associations");
        for key in [
            "properties",
            "objects",
            "tags",
            "resource_type_associations",
        ] {
            if let Some(v) = doc.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
    }
    let location = format!("/v2/metadefs/namespaces/{}", ns.namespace);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// `GET /v2/metadefs/namespaces/{namespace}[?resource_type=...]`: with a resource type,
/// property names carry that association's prefix.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ns = glance.namespace(&who, &name).await?;
    let raw = raw.unwrap_or_default();
    let resource_type = form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "resource_type")
        .map(|(_, v)| v.into_owned());
    let prefix = resource_type.and_then(|rt| {
        ns.associations
            .iter()
            .find(|a| a.name == rt)
            .and_then(|a| a.prefix.clone())
    });
    Ok(Json(namespace_json(&ns, Detail::Full, prefix.as_deref())))
}

/// `PUT /v2/metadefs/namespaces/{namespace}`.
pub async fn update(
    State(glance): State<Glance>,
    State(config): State<Arc<ApiConfig>>,
    who: Identity,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let doc = parse::body(
        body,
        config.max_json_body,
        Record::Namespace,
        READ_ONLY_WITH_LINKS,
    )
    .await?;
    let ns = glance
        .update_namespace(&who, &name, parse::namespace_fields(&doc))
        .await?;
    let mut view = namespace_json(&ns, Detail::Summary, None);
    if let Some(m) = view.as_object_mut() {
        m.remove("resource_type_associations");
    }
    Ok(Json(view))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}`: it and everything in it.
pub async fn remove(
    State(glance): State<Glance>,
    who: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    glance.delete_namespace(&who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
