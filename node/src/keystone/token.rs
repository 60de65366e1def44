//! What a validated Keystone v3 token says about its holder: the `token` document of
//! `GET /v3/auth/tokens`, reduced to the fields Glance's policies read.

use serde::Deserialize;
use tessera_domain::catalog::{CatalogEndpoint, CatalogService, ServiceCatalog};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The caller a token names, with its scope and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub user_name: String,
    /// The user's domain id.
    pub user_domain_id: String,
    /// The project the token is scoped to, if project-scoped.
    pub project_id: Option<String>,
    /// That project's name.
    pub project_name: Option<String>,
    /// That project's domain id.
    pub project_domain_id: Option<String>,
    /// The domain the token is scoped to, if domain-scoped.
    pub domain_id: Option<String>,
    /// Whether the token is system-scoped (`"system": {"all": true}`).
    pub system_all: bool,
    /// Role names, lower-cased as oslo.policy compares them.
    pub roles: Vec<String>,
    /// Unix seconds after which Keystone no longer accepts the token.
    pub expires_at: i64,
    /// The image services of the token's catalog (Glance reads no other; the rest would
    /// only weigh on the token cache).
    pub catalog: ServiceCatalog,
}

/// Why a token document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenDocError {
    /// The body is not the JSON Keystone sends.
    #[error("Keystone's token document is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// `expires_at` is not an RFC 3339 time.
    #[error("Keystone's token expiry '{value}' is not a time: {source}")]
    Expiry {
        /// The value received.
        value: String,
        /// The parse failure.
        source: time::error::Parse,
    },
}

#[derive(Deserialize)]
struct Envelope {
    token: Doc,
}

#[derive(Deserialize)]
struct Named {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    domain: Option<DomainRef>,
}

#[derive(Deserialize)]
struct DomainRef {
    id: String,
}

#[derive(Deserialize)]
struct Role {
    name: String,
}

#[derive(Deserialize, Default)]
struct System {
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize)]
struct Service {
    #[serde(rename = "type")]
    service_type: String,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(default)]
    region: Option<String>,
    interface: String,
    url: String,
}

#[derive(Deserialize)]
struct Doc {
    expires_at: String,
    user: Named,
    #[serde(default)]
    project: Option<Named>,
    #[serde(default)]
    domain: Option<Named>,
    #[serde(default)]
    system: Option<System>,
    #[serde(default)]
    roles: Vec<Role>,
    #[serde(default)]
    catalog: Vec<Service>,
}

impl TokenInfo {
    /// Reads the body of a successful `GET /v3/auth/tokens`.
    pub fn from_body(body: &[u8]) -> Result<TokenInfo, TokenDocError> {
        let Envelope { token } = serde_json::from_slice(body)?;
        let expires_at = OffsetDateTime::parse(&token.expires_at, &Rfc3339)
            .map_err(|source| TokenDocError::Expiry {
                value: token.expires_at.clone(),
                source,
            })?
            .unix_timestamp();
        let project = token.project;
        Ok(TokenInfo {
            user_id: token.user.id,
            user_name: token.user.name,
            user_domain_id: token.user.domain.map(|d| d.id).unwrap_or_default(),
            project_domain_id: project
                .as_ref()
                .and_then(|p| p.domain.as_ref().map(|d| d.id.clone())),
            project_name: project.as_ref().map(|p| p.name.clone()),
            project_id: project.map(|p| p.id),
            domain_id: token.domain.map(|d| d.id),
            system_all: token.system.unwrap_or_default().all,
            roles: token
                .roles
                .into_iter()
                .map(|r| r.name.to_ascii_lowercase())
                .collect(),
            expires_at,
            catalog: image_services(token.catalog),
        })
    }
}

/// The image services of a v3 catalog, as the domain keeps them.
fn image_services(catalog: Vec<Service>) -> ServiceCatalog {
    let services = catalog
        .into_iter()
        .filter(|s| s.service_type == "image")
        .map(|s| CatalogService {
            service_type: s.service_type,
            endpoints: s
                .endpoints
                .into_iter()
                .map(|e| CatalogEndpoint {
                    region: e.region,
                    interface: e.interface,
                    url: e.url,
                })
                .collect(),
        })
        .collect();
    ServiceCatalog { services }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT_TOKEN: &str = r#"{"token": {"methods": ["password"],
        "user": {"domain": {"id": "default", "name": "Default"}, "id": "u1", "name": "admin",
                 "password_expires_at": null},
        "audit_ids": ["x"], "expires_at": "2026-12-01T02:24:09.000000Z",
        "issued_at": "2026-12-01T00:24:09.000000Z",
        "project": {"domain": {"id": "default", "name": "Default"}, "id": "p1", "name": "admin"},
        "is_domain": false,
        "roles": [{"id": "r1", "name": "Reader"}, {"id": "r2", "name": "member"}],
        "catalog": [
          {"type": "identity", "id": "s1", "name": "keystone", "endpoints": [
            {"id": "e1", "interface": "public", "region_id": "RegionOne", "region": "RegionOne",
             "url": "http://127.0.0.1:5000/v3"}]},
          {"type": "image", "id": "s2", "name": "glance", "endpoints": [
            {"id": "e2", "interface": "public", "region_id": "RegionTwo", "region": "RegionTwo",
             "url": "http://127.0.0.1:9393"}]}]}}"#;

    #[test]
    fn reads_a_project_scoped_token() {
        let t = TokenInfo::from_body(PROJECT_TOKEN.as_bytes()).unwrap();
        assert_eq!(t.user_id, "u1");
        assert_eq!(t.project_id.as_deref(), Some("p1"));
        assert_eq!(t.project_domain_id.as_deref(), Some("default"));
        assert_eq!(t.roles, vec!["reader", "member"]);
        assert!(!t.system_all && t.domain_id.is_none());
        assert_eq!(t.expires_at, 1_796_091_849);
        assert_eq!(t.catalog.services.len(), 1);
        assert_eq!(
            t.catalog.image_endpoint("RegionTwo", "public"),
            Some("http://127.0.0.1:9393")
        );
    }

    #[test]
    fn reads_system_and_domain_scopes() {
        let sys = r#"{"token": {"expires_at": "2030-01-01T00:00:00Z",
            "user": {"id": "u", "name": "n", "domain": {"id": "d"}},
            "system": {"all": true}, "roles": [{"id": "1", "name": "admin"}]}}"#;
        let t = TokenInfo::from_body(sys.as_bytes()).unwrap();
        assert!(t.system_all && t.project_id.is_none());
        let dom = r#"{"token": {"expires_at": "2030-01-01T00:00:00Z",
            "user": {"id": "u", "name": "n"}, "domain": {"id": "d1", "name": "D"}, "roles": []}}"#;
        let t = TokenInfo::from_body(dom.as_bytes()).unwrap();
        assert_eq!(t.domain_id.as_deref(), Some("d1"));
    }

    #[test]
    fn refuses_garbage() {
        assert!(TokenInfo::from_body(b"<html>").is_err());
        let bad_time = r#"{"token": {"expires_at": "soon", "user": {"id": "u"}}}"#;
        assert!(matches!(
            TokenInfo::from_body(bad_time.as_bytes()),
            Err(TokenDocError::Expiry { .. })
        ));
    }
}
