//! Keystone v3 over HTTP: a service token from the configured service credentials (renewed
//! before it expires), and validation of users' tokens with it (`GET /v3/auth/tokens`).

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio::sync::Mutex;

use super::token::{TokenDocError, TokenInfo};

/// The service user's credentials, named as in Glance's `[keystone_authtoken]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCredentials {
    /// Keystone's URL, e.g. `http://127.0.0.1:5000/v3` (a trailing `/v3` is optional).
    pub auth_url: String,
    /// The service user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The project the service token is scoped to.
    pub project_name: String,
    /// The service user's domain.
    pub user_domain_name: String,
    /// The project's domain.
    pub project_domain_name: String,
}

/// Why a token could not be validated.
#[derive(Debug, thiserror::Error)]
pub enum KeystoneError {
    /// Keystone says the token is not valid (unknown, expired, revoked, disabled user...).
    #[error("{0}")]
    Invalid(String),
    /// Keystone could not be reached or answered something unusable: nothing is known about
    /// the token.
    #[error("Keystone is unavailable: {0}")]
    Unavailable(String),
}

impl From<reqwest::Error> for KeystoneError {
    fn from(e: reqwest::Error) -> Self {
        KeystoneError::Unavailable(e.to_string())
    }
}

impl From<TokenDocError> for KeystoneError {
    fn from(e: TokenDocError) -> Self {
        KeystoneError::Unavailable(e.to_string())
    }
}

/// Renew the service token this long before Keystone would expire it.
const RENEW_BEFORE_SECS: i64 = 120;

/// A Keystone v3 client holding a service token.
pub struct KeystoneClient {
    http: reqwest::Client,
    /// Base URL ending in `/v3`.
    v3: String,
    creds: ServiceCredentials,
    service: Mutex<Option<(String, i64)>>,
}

/// Unix seconds now.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl KeystoneClient {
    /// A client for `creds`; every call to Keystone gives up after `timeout`.
    pub fn new(creds: ServiceCredentials, timeout: Duration) -> Result<Self, KeystoneError> {
        let base = creds.auth_url.trim_end_matches('/');
        let v3 = if base.ends_with("/v3") {
            base.to_string()
        } else {
            format!("{base}/v3")
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(KeystoneClient {
            http,
            v3,
            creds,
            service: Mutex::new(None),
        })
    }

    /// Issues a token for the service user (password method, project scope).
    async fn issue_service_token(&self) -> Result<(String, i64), KeystoneError> {
        let c = &self.creds;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain_name},
                "password": c.password}}},
            "scope": {"project": {"name": c.project_name,
                                  "domain": {"name": c.project_domain_name}}}}});
        let resp = self
            .http
            .post(format!("{}/auth/tokens", self.v3))
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await?;
        if status != StatusCode::CREATED {
            // Wrong service credentials are an operator error, but to a caller the effect is
            // the same as Keystone being down: nothing can be validated.
            return Err(KeystoneError::Unavailable(format!(
                "the service user '{}' could not get a token: {status}",
                c.username
            )));
        }
        let token = token.ok_or_else(|| {
            KeystoneError::Unavailable("Keystone issued no X-Subject-Token".into())
        })?;
        let info = TokenInfo::from_body(&bytes)?;
        tracing::info!(expires_at = info.expires_at, "service token issued");
        Ok((token, info.expires_at))
    }

    /// The current service token, renewed when it is near its expiry (or `force`d).
    async fn service_token(&self, force: bool) -> Result<String, KeystoneError> {
        let mut held = self.service.lock().await;
        let now = now_secs() as i64;
        match &*held {
            Some((token, expires)) if !force && *expires - RENEW_BEFORE_SECS > now => {
                Ok(token.clone())
            }
            _ => {
                let fresh = self.issue_service_token().await?;
                let token = fresh.0.clone();
                *held = Some(fresh);
                Ok(token)
            }
        }
    }

    /// `GET {v3}/{path}?{query}` with the service token (renewed once if Keystone refuses
    /// it), as JSON.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, KeystoneError> {
        for attempt in 0..2 {
            let service = self.service_token(attempt > 0).await?;
            let resp = self
                .http
                .get(format!("{}/{path}", self.v3))
                .query(query)
                .header("x-auth-token", service)
                .header("accept", "application/json")
                .send()
                .await?;
            match resp.status() {
                StatusCode::OK => return Ok(resp.json().await?),
                StatusCode::UNAUTHORIZED if attempt == 0 => continue,
                other => {
                    return Err(KeystoneError::Unavailable(format!(
                        "GET /v3/{path} answered {other}"
                    )))
                }
            }
        }
        Err(KeystoneError::Unavailable(
            "Keystone refused the service token twice".into(),
        ))
    }

    /// Asks Keystone what `token` is worth.
    pub async fn validate(&self, token: &str) -> Result<TokenInfo, KeystoneError> {
        for attempt in 0..2 {
            let service = self.service_token(attempt > 0).await?;
            let resp = self
                .http
                .get(format!("{}/auth/tokens", self.v3))
                .header("x-auth-token", service)
                .header("x-subject-token", token)
                .header("accept", "application/json")
                .send()
                .await?;
            match resp.status() {
                StatusCode::OK => {
                    let bytes = resp.bytes().await?;
                    return Ok(TokenInfo::from_body(&bytes)?);
                }
                // Keystone refused our own token (expired or revoked early): renew it once.
                StatusCode::UNAUTHORIZED if attempt == 0 => continue,
                StatusCode::NOT_FOUND => {
                    return Err(KeystoneError::Invalid(
                        "The request you have made requires authentication.".into(),
                    ))
                }
                other => {
                    return Err(KeystoneError::Unavailable(format!(
                        "token validation answered {other}"
                    )))
                }
            }
        }
        Err(KeystoneError::Unavailable(
            "Keystone refused the service token twice".into(),
        ))
    }
}
