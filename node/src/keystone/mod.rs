//! Keystone mode: users' tokens validated against Keystone v3 with a service token, cached
//! (bounded, never past a token's expiry), and turned into the caller's identity.
//!
//! Every node validates for itself; nothing a peer forwards carries a client's claim, since
//! peers exchange Raft entries and chunks, not requests.

mod cache;
mod client;
mod flight;
mod limits;
mod token;

use cache::{Cached, TokenCache};
pub use client::{KeystoneClient, KeystoneError, ServiceCredentials};
use flight::SingleFlight;
pub use limits::KeystoneLimits;
pub use token::TokenInfo;

pub(crate) use client::now_secs;
use std::sync::Arc;
use tessera_api::auth::{TokenError, TokenVerifier, Verified};
use tessera_api::Identity;
use tessera_domain::{Caller, Scope};

/// How many tokens a node remembers.
pub const TOKEN_CACHE_ENTRIES: usize = 10_000;
/// How long a refused token is remembered (seconds): long enough to absorb a retry storm,
/// short enough that a token Keystone had not yet replicated is soon accepted.
pub const INVALID_TOKEN_SECS: f64 = 10.0;

/// Keystone token checking with a cache.
pub struct KeystoneAuth {
    client: Arc<KeystoneClient>,
    cache: TokenCache,
    /// Validations under way, by the token's cache key; `Err` is Keystone being unavailable.
    validating: SingleFlight<cache::Key, Result<Cached, String>>,
    www_authenticate_uri: String,
}

impl KeystoneAuth {
    /// Checks tokens with `client`, keeping valid ones `token_cache_secs` at most; clients
    /// are sent to `www_authenticate_uri` for tokens.
    pub fn new(
        client: Arc<KeystoneClient>,
        token_cache_secs: f64,
        www_authenticate_uri: String,
    ) -> Self {
        KeystoneAuth {
            client,
            cache: TokenCache::new(TOKEN_CACHE_ENTRIES, token_cache_secs, INVALID_TOKEN_SECS),
            validating: SingleFlight::new(),
            www_authenticate_uri,
        }
    }
}

/// The caller a token names with its catalog, as the API sees them.
fn verified(mut info: TokenInfo) -> Verified {
    Verified {
        catalog: std::mem::take(&mut info.catalog),
        identity: identity(info),
    }
}

/// The caller a token names, as the API sees it.
fn identity(info: TokenInfo) -> Identity {
    Identity(Caller {
        user: info.user_id,
        project: info.project_id.unwrap_or_default(),
        roles: info.roles,
        scope: match (info.system_all, info.domain_id) {
            (true, _) => Scope::System("all".into()),
            (false, Some(domain)) => Scope::Domain(domain),
            (false, None) => Scope::Project,
        },
    })
}

#[async_trait::async_trait]
impl TokenVerifier for KeystoneAuth {
    async fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let now = now_secs();
        let answer = match self.cache.get(token, now) {
            Some(hit) => hit,
            None => {
                let client = self.client.clone();
                let owned = token.to_string();
                let fresh = self
                    .validating
                    .run(cache::key(token), move || async move {
                        match client.validate(&owned).await {
                            Ok(info) => Ok(Cached::Valid(Box::new(info))),
                            Err(KeystoneError::Invalid(reason)) => Ok(Cached::Invalid(reason)),
                            Err(e @ KeystoneError::Unavailable(_)) => {
                                tracing::warn!(error = %e, "cannot validate a token");
                                Err(e.to_string())
                            }
                        }
                    })
                    .await
                    .map_err(TokenError::Unavailable)?;
                self.cache.put(token, fresh.clone(), now);
                fresh
            }
        };
        match answer {
            // A cached entry never outlives the token, but the clock moved since: check.
            Cached::Valid(info) if (info.expires_at as f64) > now_secs() => Ok(verified(*info)),
            Cached::Valid(_) => Err(TokenError::Invalid("The token has expired.".into())),
            Cached::Invalid(reason) => Err(TokenError::Invalid(reason)),
        }
    }

    fn www_authenticate_uri(&self) -> &str {
        &self.www_authenticate_uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(project: Option<&str>, domain: Option<&str>, system_all: bool) -> TokenInfo {
        TokenInfo {
            user_id: "u".into(),
            user_name: "n".into(),
            user_domain_id: "default".into(),
            project_id: project.map(Into::into),
            project_name: project.map(Into::into),
            project_domain_id: project.map(|_| "default".into()),
            domain_id: domain.map(Into::into),
            system_all,
            roles: vec!["admin".into()],
            expires_at: 0,
            catalog: Default::default(),
        }
    }

    #[test]
    fn the_token_scope_reaches_the_caller() {
        let project = identity(info(Some("p"), None, false));
        assert_eq!(
            (project.project.as_str(), &project.scope),
            ("p", &Scope::Project)
        );
        let domain = identity(info(None, Some("d"), false));
        assert_eq!(domain.scope, Scope::Domain("d".into()));
        let system = identity(info(None, None, true));
        assert_eq!(system.scope, Scope::System("all".into()));
    }
}
