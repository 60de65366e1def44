//! Who is calling, as HTTP tells it. In `noauth` mode the token names the identity as
//! `user:project:roles` (the convention of Glance's functional tests); in Keystone mode the
//! identity is the one [`crate::auth`] verified for this request, and nothing else. The rules
//! about callers are the domain's [`Caller`].

use crate::auth::{unauthorized, TokenVerifier, Verified};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use percent_encoding::percent_decode_str;
use std::ops::Deref;
use std::sync::Arc;
use tessera_domain::{Caller, Scope};

/// The caller of a request (an axum extractor); derefs to the domain's [`Caller`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub Caller);

impl Deref for Identity {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl Identity {
    /// Parses a noauth token `user:project:role[,role...]`, percent-encoded or not.
    pub fn from_token(token: &str) -> Option<Identity> {
        let decoded = percent_decode_str(token).decode_utf8().ok()?;
        let mut parts = decoded.splitn(3, ':');
        let user = parts.next()?.trim();
        let project = parts.next()?.trim();
        let roles = parts.next()?;
        if user.is_empty() || project.is_empty() {
            return None;
        }
        let roles = roles
            .split(',')
            .map(|r| r.trim().to_ascii_lowercase())
            .filter(|r| !r.is_empty())
            .collect();
        Some(Identity(Caller {
            user: user.to_string(),
            project: project.to_string(),
            roles,
            scope: Scope::Project,
        }))
    }
}

/// How identities are established.
#[derive(Clone)]
pub struct AuthConfig {
    /// Identity for a request without a parsable token (noauth mode only).
    pub default_identity: Identity,
    /// Keystone mode: every request's token is checked by this verifier, and the noauth
    /// conventions above grant nothing.
    pub keystone: Option<Arc<dyn TokenVerifier>>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("default_identity", &self.default_identity)
            .field("keystone", &self.keystone.is_some())
            .finish()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            default_identity: Identity(Caller {
                user: "tessera-user".into(),
                project: "tessera-project".into(),
                roles: vec!["admin".into(), "member".into(), "reader".into()],
                scope: Scope::Project,
            }),
            keystone: None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(verified) = parts.extensions.get::<Verified>() {
            return Ok(verified.identity.clone());
        }
        let auth = parts.extensions.get::<Arc<AuthConfig>>();
        if let Some(verifier) = auth.and_then(|a| a.keystone.as_ref()) {
            // Only reachable on a route the token check let through unverified: refuse
            // rather than fall back to a default identity.
            return Err(unauthorized(verifier.www_authenticate_uri()));
        }
        let token = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .and_then(Identity::from_token);
        Ok(match token {
            Some(id) => id,
            None => auth
                .map(|c| c.default_identity.clone())
                .unwrap_or_else(|| AuthConfig::default().default_identity),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_encoded_tokens() {
        let id = Identity::from_token("alice:projA:member,reader").unwrap();
        assert_eq!(id.project, "projA");
        assert!(id.has_role("member") && !id.is_admin());
        let enc = Identity::from_token("alice%3AprojA%3Areader").unwrap();
        assert_eq!(enc.roles, vec!["reader"]);
        assert!(Identity::from_token("x").is_none());
        assert!(Identity::from_token(":p:admin").is_none());
    }
}
