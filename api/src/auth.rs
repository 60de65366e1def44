//! Token checking in Keystone mode, what keystonemiddleware's `auth_token` does in front of
//! Glance: every request but the version documents and the health check must carry an
//! `X-Auth-Token` that a [`TokenVerifier`] accepts (the node implements it against
//! Keystone), else 401 with `WWW-Authenticate: Keystone uri="..."`; a verifier that cannot
//! reach Keystone gives 503. The verified identity rides in the request's extensions; the
//! [`Identity`] extractor takes it from there and never from the client's claims.

use crate::error::ApiError;
use crate::identity::Identity;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tessera_domain::{Delegation, ServiceCatalog};

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is missing, malformed, expired, revoked or unknown to Keystone.
    #[error("{0}")]
    Invalid(String),
    /// Keystone could not be asked (and the token is not in the cache).
    #[error("{0}")]
    Unavailable(String),
}

/// Validates tokens; implemented by the node over Keystone (with its cache).
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The identity `token` names with its catalog, or why it names none.
    async fn verify(&self, token: &str) -> Result<Verified, TokenError>;
    /// The Keystone URL clients are told to get a token from (`WWW-Authenticate`).
    fn www_authenticate_uri(&self) -> &str;
}

/// What a verifier vouched for in this request: the caller, and the service catalog that
/// came with its token (keystonemiddleware's `X-Service-Catalog`).
#[derive(Debug, Clone)]
pub struct Verified {
    /// The caller.
    pub identity: Identity,
    /// The caller's catalog.
    pub catalog: ServiceCatalog,
}

/// What the caller of a request lends a task that acts for it elsewhere: the token it sent
/// and, in Keystone mode, its catalog (none in noauth mode, as Glance without Keystone has
/// none).
pub fn delegation(headers: &HeaderMap, verified: Option<&Verified>) -> Delegation {
    Delegation {
        token: headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        catalog: verified.map(|v| v.catalog.clone()),
    }
}

/// Paths Glance serves without a token: the version documents and the health check.
fn is_public(path: &str) -> bool {
    matches!(path, "/" | "/versions" | "/healthcheck")
}

/// keystonemiddleware's refusal: a JSON body and where to authenticate.
pub(crate) fn unauthorized(uri: &str) -> Response {
    let body = serde_json::json!({"error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }});
    let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{uri}\"")) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The middleware: verifies `X-Auth-Token` (and `X-Service-Token` when sent) before any
/// handler runs.
pub async fn require_token(
    State(verifier): State<Arc<dyn TokenVerifier>>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let header_value = |name: &str| headers.get(name).map(|v| v.to_str().map(str::to_string));
    let sent = (
        header_value("x-auth-token"),
        header_value("x-service-token"),
    );
    let (token, service) = match sent {
        (Some(Ok(t)), Some(Ok(s))) => (t, Some(s)),
        (Some(Ok(t)), None) => (t, None),
        _ => {
            tracing::info!("request without a usable X-Auth-Token refused");
            return unauthorized(verifier.www_authenticate_uri());
        }
    };
    let checked = match verifier.verify(&token).await {
        Ok(who) => match service {
            Some(s) => verifier.verify(&s).await.map(|_| who),
            None => Ok(who),
        },
        Err(e) => Err(e),
    };
    match checked {
        Ok(who) => {
            tracing::debug!(user = %who.identity.user, project = %who.identity.project, "token verified");
            req.extensions_mut().insert(who);
            next.run(req).await
        }
        Err(TokenError::Invalid(reason)) => {
            tracing::info!(%reason, "token refused");
            unauthorized(verifier.www_authenticate_uri())
        }
        Err(TokenError::Unavailable(reason)) => ApiError::Unavailable(format!(
            "The Keystone service is temporarily unavailable: {reason}"
        ))
        .into_response(),
    }
}
