//! Version discovery, health, schemas and store info.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::schema::schemas;
use crate::ApiConfig;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tessera_domain::stores::{Store, Stores};
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

/// Marks a request that came over TLS (the server adds it), so links say `https`.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// Where clients reach this API: the operator's `public_endpoint` if set (as Glance's), else
/// what a proxy in front says (`X-Forwarded-Proto`, `X-Forwarded-Host`, as Glance's
/// http_proxy_to_wsgi) when `proxy_headers` trusts it, else this request's own scheme and
/// `Host`.
fn base_url(
    headers: &HeaderMap,
    public_endpoint: Option<&str>,
    proxy_headers: bool,
    tls: bool,
) -> String {
    if let Some(endpoint) = public_endpoint {
        return endpoint.trim_end_matches('/').to_string();
    }
    // A proxy chain appends: the first value is what the client used.
    let first = |name: &str| {
        headers
            .get(name)
            .filter(|_| proxy_headers)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = match first("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ if tls => "https",
        _ => "http",
    };
    let host = first("x-forwarded-host")
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or("127.0.0.1:9292");
    format!("{scheme}://{host}")
}

fn version_doc(
    headers: &HeaderMap,
    config: &ApiConfig,
    tls: Option<Extension<OverTls>>,
    cache: bool,
) -> Value {
    let base = base_url(
        headers,
        config.public_endpoint.as_deref(),
        config.proxy_headers,
        tls.is_some(),
    );
    let href = format!("{base}/v2/");
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
pub async fn root(
    State(config): State<Arc<ApiConfig>>,
    State(glance): State<Glance>,
    tls: Option<Extension<OverTls>>,
    headers: HeaderMap,
) -> Response {
    let doc = version_doc(&headers, &config, tls, glance.image_cache().is_some());
    (StatusCode::MULTIPLE_CHOICES, Json(doc)).into_response()
}

/// `GET /versions`.
pub async fn versions(
    State(config): State<Arc<ApiConfig>>,
    State(glance): State<Glance>,
    tls: Option<Extension<OverTls>>,
    headers: HeaderMap,
) -> Json<Value> {
    Json(version_doc(
        &headers,
        &config,
        tls,
        glance.image_cache().is_some(),
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn links_follow_public_endpoint_then_proxy_headers_then_the_request() {
        let plain = headers(&[("host", "node:9292")]);
        assert_eq!(base_url(&plain, None, true, false), "http://node:9292");
        assert_eq!(base_url(&plain, None, true, true), "https://node:9292");
        let proxied = headers(&[
            ("host", "node:9292"),
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "images.example.com"),
        ]);
        assert_eq!(
            base_url(&proxied, None, true, false),
            "https://images.example.com"
        );
        // Unless proxy headers are trusted, a client cannot choose the links.
        assert_eq!(base_url(&proxied, None, false, false), "http://node:9292");
        // public_endpoint wins, a trailing slash dropped.
        assert_eq!(
            base_url(
                &proxied,
                Some("https://cloud.example.com/image/"),
                true,
                false
            ),
            "https://cloud.example.com/image"
        );
        // Anything but http or https in X-Forwarded-Proto is ignored.
        let odd = headers(&[("host", "node:9292"), ("x-forwarded-proto", "javascript")]);
        assert_eq!(base_url(&odd, None, true, false), "http://node:9292");
    }
}
