//! How the `swift` store logs in, as Glance's Swift store does: tempauth (`auth_version = 1`)
//! or Keystone v3 (`auth_version = 3`). Either gives a [`Session`], a token and the account's
//! storage URL; the object calls that use it are the same whichever way it was obtained.
//!
//! Keystone v3 is keystoneauth's `V3Password` as glance_store builds it: `POST
//! <auth_address>/auth/tokens` with the password method, the user given as `project:user`
//! and scoped to that project, domains by id or name (`default` when neither is set); the
//! token is `X-Subject-Token`, the storage URL the token's catalog entry of `service_type`
//! for the interface `endpoint_type` names, in `region` when one is set.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tessera_domain::stores::driver::StoreError;
use tracing::warn;

use super::object_io::{transport_error, OpenError};
use super::swift::SwiftOptions;
use crate::keystone::{now_secs, TokenInfo};

/// A token and the account URL it opens.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The account's URL, without a trailing slash.
    pub(crate) storage_url: String,
    /// The token sent as `X-Auth-Token`.
    pub(crate) token: String,
    /// Unix seconds at which the token expires, when the auth service says.
    pub(crate) expires_at: Option<i64>,
}

impl Session {
    /// Whether the token expires within `window` seconds (Glance's
    /// `swift_store_expire_soon_interval`): a segment upload cannot be sent twice, so a token
    /// about to expire is replaced before it is used rather than after a 401.
    pub(crate) fn expires_within(&self, window: u64) -> bool {
        self.expires_at
            .is_some_and(|at| (at as f64) < now_secs() + window as f64)
    }
}

/// A Keystone domain, named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Domain {
    Id(String),
    Name(String),
}

impl Domain {
    /// The domain `id` or `name` give (the id when both do), `default` when neither does.
    fn from_options(id: &Option<String>, name: &Option<String>) -> Self {
        match (id, name) {
            (Some(id), _) => Domain::Id(id.clone()),
            (None, Some(name)) => Domain::Name(name.clone()),
            (None, None) => Domain::Id("default".to_owned()),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Domain::Id(id) => json!({ "id": id }),
            Domain::Name(name) => json!({ "name": name }),
        }
    }
}

/// Keystone v3 password credentials and where to find Swift in the catalog.
#[derive(Debug, Clone)]
pub(crate) struct KeystoneV3 {
    tokens_url: String,
    project: String,
    user: String,
    key: String,
    user_domain: Domain,
    project_domain: Domain,
    service_type: String,
    interface: &'static str,
    region: Option<String>,
}

/// How a store logs in.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// `GET <auth_address>` with `X-Auth-User`/`X-Auth-Key`.
    TempAuth {
        /// The tempauth URL.
        address: String,
        /// `account:user`.
        user: String,
        /// The key.
        key: String,
    },
    /// A Keystone v3 password token, the storage URL from its catalog.
    Keystone(Box<KeystoneV3>),
}

/// The catalog interface an `endpoint_type` names (Glance's `publicURL`, `internalURL`,
/// `adminURL`, or keystoneauth's short forms).
fn interface(endpoint_type: &str) -> Option<&'static str> {
    match endpoint_type {
        "publicURL" | "public" => Some("public"),
        "internalURL" | "internal" => Some("internal"),
        "adminURL" | "admin" => Some("admin"),
        _ => None,
    }
}

impl Auth {
    /// The login `options` describe, or why they do not describe one.
    pub(crate) fn from_options(o: &SwiftOptions) -> Result<Self, OpenError> {
        match o.auth_version {
            1 => Ok(Auth::TempAuth {
                address: o.auth_address.clone(),
                user: o.user.clone(),
                key: o.key.clone(),
            }),
            3 => {
                // glance_store splits the user on ':' into project and user name.
                let (project, user) = match o.user.split(':').collect::<Vec<_>>()[..] {
                    [project, user] if !project.is_empty() && !user.is_empty() => (project, user),
                    _ => {
                        return Err(OpenError::Invalid(format!(
                            "user = {:?}: Keystone v3 needs \"project:user\"",
                            o.user
                        )))
                    }
                };
                let interface = interface(&o.endpoint_type).ok_or_else(|| {
                    OpenError::Invalid(format!(
                        "endpoint_type = {:?}: one of publicURL, internalURL, adminURL",
                        o.endpoint_type
                    ))
                })?;
                Ok(Auth::Keystone(Box::new(KeystoneV3 {
                    tokens_url: format!("{}/auth/tokens", o.auth_address.trim_end_matches('/')),
                    project: project.to_owned(),
                    user: user.to_owned(),
                    key: o.key.clone(),
                    user_domain: Domain::from_options(&o.user_domain_id, &o.user_domain_name),
                    project_domain: Domain::from_options(
                        &o.project_domain_id,
                        &o.project_domain_name,
                    ),
                    service_type: o.service_type.clone(),
                    interface,
                    region: o.region.clone(),
                })))
            }
            v => Err(OpenError::Invalid(format!(
                "auth_version = {v}: 1 (tempauth) or 3 (Keystone v3); Keystone v2 is gone"
            ))),
        }
    }

    /// A new session.
    pub(crate) async fn login(&self, client: &reqwest::Client) -> Result<Session, StoreError> {
        match self {
            Auth::TempAuth { address, user, key } => tempauth(client, address, user, key).await,
            Auth::Keystone(ks) => ks.login(client).await,
        }
    }
}

/// The error an auth service's non-success `status` stands for: the service failing is
/// `Unavailable`, anything else (wrong credentials, wrong address) `Refused`.
fn auth_error(what: &str, status: StatusCode) -> StoreError {
    if status.is_server_error() {
        StoreError::Unavailable(format!("{what}: {status}"))
    } else {
        StoreError::Refused(format!(
            "{what}: {status} (check the store's auth_address and credentials)"
        ))
    }
}

/// A header of a successful auth answer, which must be there.
fn required_header(resp: &reqwest::Response, what: &str, name: &str) -> Result<String, StoreError> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Unavailable(format!("{what} answered no {name}")))
}

/// Tempauth (v1): the token and storage URL come back as headers.
async fn tempauth(
    client: &reqwest::Client,
    address: &str,
    user: &str,
    key: &str,
) -> Result<Session, StoreError> {
    let resp = client
        .get(address)
        .header("X-Auth-User", user)
        .header("X-Auth-Key", key)
        .send()
        .await
        .map_err(|e| transport_error("swift auth", &e))?;
    if !resp.status().is_success() {
        warn!(status = %resp.status(), user, "swift auth failed");
        return Err(auth_error("swift auth", resp.status()));
    }
    Ok(Session {
        storage_url: required_header(&resp, "swift auth", "X-Storage-Url")?
            .trim_end_matches('/')
            .to_owned(),
        token: required_header(&resp, "swift auth", "X-Auth-Token")?,
        expires_at: None,
    })
}

/// The part of a Keystone v3 token document that locates Swift.
#[derive(Deserialize)]
struct CatalogDoc {
    token: CatalogToken,
}

#[derive(Deserialize)]
struct CatalogToken {
    #[serde(default)]
    catalog: Vec<CatalogService>,
}

#[derive(Deserialize)]
struct CatalogService {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    endpoints: Vec<CatalogEndpoint>,
}

#[derive(Deserialize)]
struct CatalogEndpoint {
    interface: String,
    url: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    region_id: Option<String>,
}

impl KeystoneV3 {
    /// `POST /auth/tokens`, the token from `X-Subject-Token`, Swift's URL from the catalog.
    async fn login(&self, client: &reqwest::Client) -> Result<Session, StoreError> {
        const WHAT: &str = "keystone auth";
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "domain": self.user_domain.to_json(),
                "password": self.key}}},
            "scope": {"project": {"name": self.project,
                                  "domain": self.project_domain.to_json()}}}});
        let resp = client
            .post(&self.tokens_url)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(WHAT, &e))?;
        let status = resp.status();
        if !status.is_success() {
            warn!(%status, user = %self.user, project = %self.project, url = %self.tokens_url,
                  "keystone auth for the swift store failed");
            return Err(auth_error(WHAT, status));
        }
        let token = required_header(&resp, WHAT, "X-Subject-Token")?;
        let doc = resp.bytes().await.map_err(|e| transport_error(WHAT, &e))?;
        let expires_at = TokenInfo::from_body(&doc)
            .map_err(|e| StoreError::Unavailable(format!("{WHAT}: {e}")))?
            .expires_at;
        Ok(Session {
            storage_url: self.storage_url(&doc)?,
            token,
            expires_at: Some(expires_at),
        })
    }

    /// The URL of the first catalog endpoint of `service_type` with this interface (and
    /// region, when one is set), as keystoneauth's `get_endpoint` picks it.
    fn storage_url(&self, doc: &[u8]) -> Result<String, StoreError> {
        let doc: CatalogDoc = serde_json::from_slice(doc)
            .map_err(|e| StoreError::Unavailable(format!("keystone auth: the catalog: {e}")))?;
        let region = self.region.as_deref();
        doc.token
            .catalog
            .iter()
            .filter(|s| s.kind == self.service_type)
            .flat_map(|s| &s.endpoints)
            .find(|e| {
                e.interface == self.interface
                    && region.is_none_or(|r| {
                        e.region_id.as_deref() == Some(r) || e.region.as_deref() == Some(r)
                    })
            })
            .map(|e| e.url.trim_end_matches('/').to_owned())
            .ok_or_else(|| {
                warn!(service_type = %self.service_type, interface = self.interface,
                      region = ?self.region, "no swift endpoint in the keystone catalog");
                let region = region
                    .map(|r| format!(" in region {r}"))
                    .unwrap_or_default();
                StoreError::Refused(format!(
                    "the Keystone catalog of {}:{} has no {} endpoint ({}){region}",
                    self.project, self.user, self.service_type, self.interface
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keystone(extra: &str) -> Result<KeystoneV3, OpenError> {
        let options: SwiftOptions = toml::from_str(&format!(
            "auth_address = 'http://k:5000/v3/'\nauth_version = 3\nuser = 'p:u'\nkey = 'k'\n{extra}"
        ))?;
        match Auth::from_options(&options)? {
            Auth::Keystone(ks) => Ok(*ks),
            Auth::TempAuth { .. } => Err(OpenError::Invalid("tempauth".into())),
        }
    }

    #[test]
    fn keystone_options_are_glances() {
        let ks = keystone("").expect("defaults");
        assert_eq!(ks.tokens_url, "http://k:5000/v3/auth/tokens");
        assert_eq!((ks.project.as_str(), ks.user.as_str()), ("p", "u"));
        assert_eq!(ks.user_domain, Domain::Id("default".into()));
        assert_eq!(ks.project_domain, Domain::Id("default".into()));
        assert_eq!(
            (ks.service_type.as_str(), ks.interface),
            ("object-store", "public")
        );
        let ks = keystone(
            "user_domain_name = 'Users'\nproject_domain_id = 'd1'\nproject_domain_name = 'x'\n\
             endpoint_type = 'internalURL'",
        )
        .expect("domains");
        assert_eq!(ks.user_domain, Domain::Name("Users".into()));
        assert_eq!(ks.project_domain, Domain::Id("d1".into()));
        assert_eq!(ks.interface, "internal");
        assert!(keystone("endpoint_type = 'privateURL'").is_err());
        for user in ["u", "p:u:x", ":u", "p:"] {
            let options: SwiftOptions = toml::from_str(&format!(
                "auth_address = 'http://k/v3'\nauth_version = 3\nuser = '{user}'\nkey = 'k'"
            ))
            .expect("options");
            assert!(Auth::from_options(&options).is_err(), "{user}");
        }
    }

    #[test]
    fn the_catalog_gives_the_endpoint_of_the_type_interface_and_region() {
        let doc = br#"{"token": {"expires_at": "2030-01-01T00:00:00.000000Z", "catalog": [
            {"type": "identity", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://k/v3"}]},
            {"type": "object-store", "endpoints": [
                {"interface": "admin", "region_id": "R1", "url": "http://admin/v1/AUTH_p"},
                {"interface": "public", "region_id": "R1", "region": "R1",
                 "url": "http://r1/v1/AUTH_p/"},
                {"interface": "public", "region_id": "R2", "url": "http://r2/v1/AUTH_p"}]}]}}"#;
        let url = |extra: &str| keystone(extra).expect("options").storage_url(doc);
        assert_eq!(url("").ok().as_deref(), Some("http://r1/v1/AUTH_p"));
        assert_eq!(
            url("region = 'R2'").ok().as_deref(),
            Some("http://r2/v1/AUTH_p")
        );
        assert_eq!(
            url("endpoint_type = 'adminURL'").ok().as_deref(),
            Some("http://admin/v1/AUTH_p")
        );
        assert!(matches!(url("region = 'R3'"), Err(StoreError::Refused(_))));
        assert!(matches!(
            url("service_type = 'volume'"),
            Err(StoreError::Refused(_))
        ));
    }

    #[test]
    fn a_token_is_replaced_before_it_expires() {
        let session = |expires_at| Session {
            storage_url: String::new(),
            token: String::new(),
            expires_at,
        };
        let now = now_secs() as i64;
        assert!(!session(None).expires_within(60));
        assert!(!session(Some(now + 3600)).expires_within(60));
        assert!(session(Some(now + 30)).expires_within(60));
        assert!(session(Some(now - 1)).expires_within(0));
    }
}
