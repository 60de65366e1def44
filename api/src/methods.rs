//! Glance answers `HEAD` with 405 and lists only its real methods in `Allow`; axum would
//! serve `HEAD` from every `GET` route. This layer restores Glance's behaviour.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Turns `HEAD` into a method no route accepts (so the router answers 405 with the
/// route's `Allow`) and drops `HEAD` from every `Allow` list.
pub async fn glance_methods(mut req: Request, next: Next) -> Response {
    if req.method() == Method::HEAD {
        if let Ok(m) = Method::from_bytes(b"X-HEAD") {
            *req.method_mut() = m;
        }
    }
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allow = resp
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|m| *m != "HEAD")
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        if let Some(v) = allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
    }
    resp
}
