//! Every request gets Glance's `x-openstack-request-id` and a tracing span carrying it (and
//! the image id, which handlers record once they know it).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The request's `x-openstack-request-id`, for handlers that record it (an import's task).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Stamps the request id and runs the request inside its span.
pub async fn request_span(mut req: Request, next: Next) -> Response {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.uri().path(),
        image_id = tracing::field::Empty,
    );
    let accept_json = req
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    async move {
        let mut resp = crate::error::negotiate(accept_json, next.run(req).await);
        tracing::info!(status = resp.status().as_u16(), "done");
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-openstack-request-id", v);
        }
        resp
    }
    .instrument(span)
    .await
}

/// Records the image id on the current request span.
pub fn record_image(id: &str) {
    tracing::Span::current().record("image_id", id);
}
