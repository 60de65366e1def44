//! Who is calling. In `noauth` mode the token names the identity as `user:project:roles`
//! (the convention of Glance's functional tests); Keystone will plug in behind the same type.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use percent_encoding::percent_decode_str;
use std::convert::Infallible;
use std::sync::Arc;
use tessera_raft::Viewer;

/// The caller's identity and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub project: String,
    pub roles: Vec<String>,
}

impl Identity {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Glance's `context_is_admin`.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// Project member (may create and change the project's images).
    pub fn is_member(&self) -> bool {
        self.is_admin() || self.has_role("member")
    }

    /// Project reader (may read what the project can see).
    pub fn is_reader(&self) -> bool {
        self.is_member() || self.has_role("reader")
    }

    /// The metadata layer's view of this caller.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            project: Some(self.project.clone()),
            admin: self.is_admin(),
        }
    }

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
        Some(Identity {
            user: user.to_string(),
            project: project.to_string(),
            roles,
        })
    }
}

/// How identities are established.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Identity for a request without a parsable token.
    pub default_identity: Identity,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            default_identity: Identity {
                user: "tessera-user".into(),
                project: "tessera-project".into(),
                roles: vec!["admin".into(), "member".into(), "reader".into()],
            },
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .and_then(Identity::from_token);
        Ok(match token {
            Some(id) => id,
            None => parts
                .extensions
                .get::<Arc<AuthConfig>>()
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
        assert!(id.is_member() && !id.is_admin());
        let enc = Identity::from_token("alice%3AprojA%3Areader").unwrap();
        assert_eq!(enc.roles, vec!["reader"]);
        assert!(!enc.is_member() && enc.is_reader());
        assert!(Identity::from_token("x").is_none());
        assert!(Identity::from_token(":p:admin").is_none());
    }
}
