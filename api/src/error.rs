//! The one place where every failure becomes a Glance response.
//!
//! Glance answers errors with a short `text/html` page naming the status and the reason;
//! clients (glanceclient, openstacksdk) strip the markup and show the reason, so we send the
//! same shape for every error.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_domain::DomainError;

/// Media types accepted by `PATCH /v2/images/{id}`, advertised on a 415.
pub const ACCEPT_PATCH: &str =
    "application/openstack-images-v2.1-json-patch, application/openstack-images-v2.0-json-patch";

/// A failed API call, by the Glance status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or breaks a rule.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing, or the caller may not see it.
    #[error("{0}")]
    NotFound(String),
    /// 405: the resource never allows this method (the handler sets `Allow`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the state of the record does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// 410: the record went away during the call.
    #[error("{0}")]
    Gone(String),
    /// 413: a size limit was exceeded.
    #[error("{0}")]
    TooLarge(String),
    /// 415: the body is not of a media type this call takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 415 for a PATCH, advertising the patch media types in `Accept-Patch`.
    #[error("{0}")]
    PatchMediaType(String),
    /// 416: the `Range` is outside the image.
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// 503: the cluster cannot serve this now; retry.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a fault of the service.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status Glance uses for this kind of failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) | Self::PatchMediaType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The title Glance (webob) gives `status`: the HTTP name, but 413 keeps its older one.
fn title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

/// Renders Glance's error page for `status` with `reason`.
pub fn error_page(status: StatusCode, reason: &str) -> String {
    let title = format!("{} {}", status.as_u16(), title(status));
    let reason = reason
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n  {reason}<br /><br />\n\n\n\n </body>\n</html>"
    )
}

/// The reason of an error response, kept so it can be re-rendered for the client's `Accept`.
#[derive(Debug, Clone)]
pub struct ErrorReason(pub String);

/// Glance's JSON error document, sent to clients that ask for `application/json`
/// (openstacksdk reads its `message`).
pub fn error_json(status: StatusCode, reason: &str) -> serde_json::Value {
    let title = title(status);
    serde_json::json!({
        "message": reason,
        "code": format!("{} {title}", status.as_u16()),
        "title": title,
    })
}

/// Glance's message for a 500 (webob's), which a client sees instead of the reason.
const INTERNAL_MESSAGE: &str =
    "The server has either erred or is incapable of performing the requested operation.";

/// Renders an error response for the client: a 500's reason (it may name files and other
/// internals; it is logged under the request id) becomes Glance's generic message with the
/// request id, and the page is JSON when the client prefers it.
pub fn render(accept_json: bool, request_id: &str, resp: Response) -> Response {
    let status = resp.status();
    let internal = status == StatusCode::INTERNAL_SERVER_ERROR;
    if !accept_json && !internal {
        return resp;
    }
    let Some(ErrorReason(reason)) = resp.extensions().get::<ErrorReason>().cloned() else {
        return resp;
    };
    let reason = if internal {
        format!("{INTERNAL_MESSAGE} (Request ID: {request_id})")
    } else {
        reason
    };
    let mut out = if accept_json {
        (status, axum::Json(error_json(status, &reason))).into_response()
    } else {
        (status, error_page(status, &reason)).into_response()
    };
    for (name, value) in resp.headers() {
        if name != header::CONTENT_LENGTH && (name != header::CONTENT_TYPE || !accept_json) {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out.extensions_mut().insert(ErrorReason(reason));
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let reason = self.to_string();
        if status.is_server_error() {
            tracing::error!(%status, error = %reason, "request failed");
        } else {
            tracing::info!(%status, error = %reason, "request refused");
        }
        let mut resp = (status, error_page(status, &reason)).into_response();
        resp.extensions_mut().insert(ErrorReason(reason));
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
        if matches!(self, Self::PatchMediaType(_)) {
            headers.insert("accept-patch", HeaderValue::from_static(ACCEPT_PATCH));
        }
        resp
    }
}

impl From<DomainError> for ApiError {
    /// The one mapping of a domain failure to its Glance response.
    fn from(e: DomainError) -> Self {
        use tessera_domain::stores::StoreError as S;
        use tessera_raft::MetaError as M;
        use tessera_replication::DataError as D;
        use tessera_replication::WorkerError as W;
        match e {
            DomainError::Invalid(m) => Self::BadRequest(m),
            DomainError::Forbidden(m) => Self::Forbidden(m),
            DomainError::NotFound(m) => Self::NotFound(m),
            DomainError::Conflict(m) => Self::Conflict(m),
            DomainError::Gone(m) => Self::Gone(m),
            DomainError::TooLarge(m) => Self::TooLarge(m),
            DomainError::InvalidImageData(m) => Self::UnsupportedMediaType(m),
            e @ (DomainError::LimitExceeded(_)
            | DomainError::ImageLimitExceeded { .. }
            | DomainError::OverLimit(_)) => Self::TooLarge(e.to_string()),
            DomainError::Unavailable(m) => Self::Unavailable(m),
            DomainError::Internal(m) => Self::Internal(m),
            DomainError::Meta(M::MarkerNotFound(m)) => {
                Self::BadRequest(format!("No image found with ID {m}"))
            }
            DomainError::Meta(e @ (M::NotLeader { .. } | M::Timeout(_) | M::Shutdown)) => {
                Self::Unavailable(format!("The metadata service is unavailable, retry: {e}"))
            }
            DomainError::Meta(e @ (M::TooLarge { .. } | M::StorageFull(_))) => {
                Self::TooLarge(e.to_string())
            }
            DomainError::Meta(other) => Self::Internal(format!("metadata failure: {other}")),
            // Glance's answer to glance_store's StorageFull.
            DomainError::Data(e @ D::StorageFull { .. }) => {
                Self::TooLarge(format!("Image storage media is full: {e}"))
            }
            // Too few nodes answered: the data is safe or was never acknowledged; retry later.
            DomainError::Data(e @ (D::InsufficientReplicas { .. } | D::Unavailable { .. })) => {
                Self::Unavailable(format!(
                    "Not enough storage nodes are reachable, retry: {e}"
                ))
            }
            DomainError::Data(other) => Self::Internal(format!("image data failure: {other}")),
            DomainError::Store(e) => match e {
                S::NotFound(_) => Self::NotFound(e.to_string()),
                S::ReadOnly => Self::Gone(
                    "Error in store configuration. Adding images to store is disabled.".into(),
                ),
                S::Unavailable(_) => Self::Unavailable(e.to_string()),
                S::Refused(_) => Self::BadRequest(e.to_string()),
            },
            DomainError::Worker(e @ W::NoSuchWorker(_)) => Self::NotFound(e.to_string()),
            DomainError::Worker(e @ (W::UnknownKey { .. } | W::BadValue { .. })) => {
                Self::BadRequest(e.to_string())
            }
            DomainError::Worker(e @ W::Stopped(_)) => Self::Unavailable(e.to_string()),
            DomainError::Worker(e @ W::Failed(_)) => Self::Internal(e.to_string()),
        }
    }
}

// A worker's refusal reaches a handler from the workers endpoints; it takes the same road as
// a domain failure.
impl From<tessera_replication::WorkerError> for ApiError {
    fn from(e: tessera_replication::WorkerError) -> Self {
        DomainError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_replication::{ChunkId, DataError};

    /// A 500 shows neither paths nor other internals: Glance's generic message and the
    /// request id under which the reason is logged; other errors keep their reason.
    #[test]
    fn a_500_body_names_the_request_id_not_the_cause() {
        let cause = "image data failure: cannot open /var/lib/tessera/chunks/ab/cd: denied";
        for json in [false, true] {
            let resp = ApiError::Internal(cause.into()).into_response();
            let resp = render(json, "req-42", resp);
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let reason = &resp.extensions().get::<ErrorReason>().unwrap().0;
            assert!(!reason.contains("/var/lib"), "{reason}");
            assert!(reason.contains("(Request ID: req-42)"), "{reason}");
            let kind = resp.headers()[header::CONTENT_TYPE].to_str().unwrap();
            assert_eq!(kind.starts_with("application/json"), json, "{kind}");
        }
        let resp = render(
            false,
            "req-1",
            ApiError::NotFound("No image".into()).into_response(),
        );
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            resp.extensions().get::<ErrorReason>().unwrap().0,
            "No image"
        );
    }

    #[test]
    fn domain_storage_and_metadata_failures_map_to_glance_statuses() {
        let id = ChunkId::of(b"x");
        let short = DataError::InsufficientReplicas {
            id,
            acked: 1,
            needed: 2,
            targets: vec![1, 2, 3],
        };
        assert_eq!(
            ApiError::from(DomainError::from(short)).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let gone = DataError::Unavailable {
            id,
            tried: 3,
            corrupt: 1,
        };
        assert_eq!(
            ApiError::from(DomainError::from(gone)).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let full = DataError::StorageFull {
            id,
            writable: 1,
            needed: 2,
            full: vec![2, 3],
        };
        match ApiError::from(DomainError::from(full)) {
            e @ ApiError::TooLarge(_) => {
                assert!(
                    e.to_string().starts_with("Image storage media is full: "),
                    "{e}"
                )
            }
            other => panic!("{other:?}"),
        }
        let meta_full = tessera_raft::MetaError::StorageFull("below reserve".into());
        assert_eq!(
            ApiError::from(DomainError::from(meta_full)).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let marker = tessera_raft::MetaError::MarkerNotFound("m".into());
        assert_eq!(
            ApiError::from(DomainError::from(marker)).status(),
            StatusCode::BAD_REQUEST
        );
        let timeout = tessera_raft::MetaError::Timeout("no leader".into());
        assert_eq!(
            ApiError::from(DomainError::from(timeout)).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        for (e, status) in [
            (DomainError::Invalid("i".into()), StatusCode::BAD_REQUEST),
            (DomainError::Forbidden("f".into()), StatusCode::FORBIDDEN),
            (DomainError::no_image("x"), StatusCode::NOT_FOUND),
            (DomainError::Conflict("c".into()), StatusCode::CONFLICT),
            (DomainError::Gone("g".into()), StatusCode::GONE),
            (
                DomainError::TooLarge("t".into()),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                DomainError::LimitExceeded(tessera_domain::LimitExceeded::Properties {
                    attempted: 2,
                    maximum: 1,
                }),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                DomainError::image_limit(
                    "x",
                    tessera_domain::LimitExceeded::Members {
                        attempted: 2,
                        maximum: 1,
                    },
                ),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                DomainError::Unavailable("u".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                DomainError::Internal("x".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                DomainError::Meta(tessera_raft::MetaError::Shutdown),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                DomainError::Worker(tessera_replication::WorkerError::NoSuchWorker("w".into())),
                StatusCode::NOT_FOUND,
            ),
        ] {
            let reason = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status(), status, "{reason}");
        }
        assert_eq!(
            ApiError::from(DomainError::no_image("x")).to_string(),
            "No image found with ID x"
        );
        let page = error_page(StatusCode::PAYLOAD_TOO_LARGE, "t");
        assert!(
            page.contains("<h1>413 Request Entity Too Large</h1>"),
            "{page}"
        );
        let json = error_json(StatusCode::PAYLOAD_TOO_LARGE, "t");
        assert_eq!(json["code"], "413 Request Entity Too Large");
        let page = error_page(StatusCode::NOT_FOUND, "No image <x>");
        assert!(page.contains("<h1>404 Not Found</h1>") && page.contains("No image &lt;x&gt;"));
    }
}
