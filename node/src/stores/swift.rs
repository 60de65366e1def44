//! The `swift` store: images as objects in one container of an OpenStack Swift account, laid
//! out as Glance's Swift store lays them out, so that either can read what the other wrote.
//!
//! - Auth (`swift_auth`): tempauth (`auth_version = 1`) or Keystone v3 (`auth_version = 3`,
//!   the storage URL from the token's catalog, or `endpoint` when set); the token is renewed
//!   once when Swift answers 401, and before use when it expires within
//!   `expire_soon_interval`. Only the login differs: every object call is the same.
//! - An image of known size under `large_object_size` is one object named by the image id; a
//!   larger one, or one of unknown size, is written as Glance writes it: segments
//!   `<id>-00001`, `<id>-00002`, ... of `large_object_chunk_size` in the same container, then
//!   a zero-byte dynamic large object manifest `<id>` (`X-Object-Manifest: <container>/<id>-`).
//!   A failed upload removes the segments it wrote.
//! - Locations are Glance's credential-free form `swift+config://<reference>/<container>/<id>`;
//!   Glance's older forms (`swift+http://user:key@<auth address>/<container>/<obj>`) are read
//!   when they name this store's auth address. A location a client adds is this store's when
//!   it names the store's container and, in the older form, its `user:key` (`owns`).

use std::sync::Arc;

use async_trait::async_trait;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{CONTENT_LENGTH, RANGE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tessera_domain::stores::driver::{redact, ByteStream, StoreDriver, StoreError};
use tokio::sync::RwLock;
use tracing::{info, warn};

use super::object_io::{
    check_object_name, empty_stream, http_client, range_header, ranged_body, status_error,
    transport_error, OpenError, Segmenter, MIB,
};
use super::swift_auth::{Auth, Session};

/// Characters left as they are in a container or object name inside a URL path.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How many object names one container listing returns at most.
const LISTING_LIMIT: usize = 1000;

/// A `swift` store's options (Glance's `swift_store_*` and `glance-swift.conf` settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwiftOptions {
    /// The auth endpoint: tempauth's (`http://127.0.0.1:8080/auth/v1.0`) or Keystone's v3
    /// URL (`http://127.0.0.1:5000/v3`).
    pub auth_address: String,
    /// 1 = tempauth, 3 = Keystone v3.
    #[serde(default = "default_auth_version")]
    pub auth_version: u8,
    /// The user: `account:user` for tempauth, `project:user` for Keystone.
    pub user: String,
    /// The user's key (password).
    pub key: String,
    /// Keystone: the user's domain id (`default` when neither it nor the name is set).
    #[serde(default)]
    pub user_domain_id: Option<String>,
    /// Keystone: the user's domain name.
    #[serde(default)]
    pub user_domain_name: Option<String>,
    /// Keystone: the project's domain id (`default` when neither it nor the name is set).
    #[serde(default)]
    pub project_domain_id: Option<String>,
    /// Keystone: the project's domain name.
    #[serde(default)]
    pub project_domain_name: Option<String>,
    /// Keystone: the catalog interface (Glance's `publicURL`, `internalURL`, `adminURL`).
    #[serde(default = "default_endpoint_type")]
    pub endpoint_type: String,
    /// Keystone: the catalog service type of Swift.
    #[serde(default = "default_service_type")]
    pub service_type: String,
    /// Keystone: the catalog region of Swift (any when unset).
    #[serde(default)]
    pub region: Option<String>,
    /// The account URL to use instead of the one the auth service gives (Glance's
    /// `swift_store_endpoint`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A token expiring within this many seconds is replaced before use (Glance's 60).
    #[serde(default = "default_expire_soon_interval")]
    pub expire_soon_interval: u64,
    /// The container images go to (Glance's default `glance`).
    #[serde(default = "default_container")]
    pub container: String,
    /// From this size on (MiB), an image is written in segments (Glance's default 5120).
    #[serde(default = "default_large_object_size")]
    pub large_object_size: u64,
    /// The size of one segment (MiB, Glance's default 200).
    #[serde(default = "default_large_object_chunk_size")]
    pub large_object_chunk_size: u64,
    /// Create the container on the first upload when it does not exist.
    #[serde(default)]
    pub create_container_on_put: bool,
    /// The account reference written into locations (`swift+config://<reference>/...`):
    /// Glance's `default_swift_reference`, `ref1` unless set.
    #[serde(default = "default_reference")]
    pub reference: String,
}

fn default_auth_version() -> u8 {
    1
}
fn default_endpoint_type() -> String {
    "publicURL".to_owned()
}
fn default_service_type() -> String {
    "object-store".to_owned()
}
fn default_expire_soon_interval() -> u64 {
    60
}
fn default_container() -> String {
    "glance".to_owned()
}
fn default_large_object_size() -> u64 {
    5120
}
fn default_large_object_chunk_size() -> u64 {
    200
}
fn default_reference() -> String {
    "ref1".to_owned()
}

/// Builds a `swift` store from its config table.
pub async fn open(options: toml::Value) -> Result<Arc<dyn StoreDriver>, OpenError> {
    let options: SwiftOptions = options.try_into()?;
    Ok(Arc::new(SwiftStore::new(options)?))
}

/// A Swift account's container holding images.
pub struct SwiftStore {
    options: SwiftOptions,
    /// `auth_address` without its scheme and trailing slash, as locations carry it.
    auth_host_path: String,
    auth: Auth,
    client: reqwest::Client,
    session: RwLock<Option<Session>>,
}

impl SwiftStore {
    /// A store with `options`; nothing is contacted until the first request.
    pub fn new(options: SwiftOptions) -> Result<Self, OpenError> {
        let auth = Auth::from_options(&options)?;
        let auth_host_path = options
            .auth_address
            .strip_prefix("http://")
            .or_else(|| options.auth_address.strip_prefix("https://"))
            .ok_or_else(|| {
                OpenError::Invalid(format!(
                    "auth_address = {:?}: not an http(s) URL",
                    options.auth_address
                ))
            })?
            .trim_end_matches('/')
            .to_owned();
        if options.large_object_size == 0 || options.large_object_chunk_size == 0 {
            return Err(OpenError::Invalid(
                "large_object_size and large_object_chunk_size must be at least 1 (MiB)".into(),
            ));
        }
        check_object_name(&options.container)
            .map_err(|_| OpenError::Invalid(format!("container = {:?}", options.container)))?;
        Ok(Self {
            options,
            auth_host_path,
            auth,
            client: http_client()?,
            session: RwLock::new(None),
        })
    }

    /// The location of object `obj` of this store's container.
    fn location(&self, obj: &str) -> String {
        format!(
            "swift+config://{}/{}/{obj}",
            self.options.reference, self.options.container
        )
    }

    /// The container and object a location names, when it is one of this store's.
    fn parse_location(&self, location: &str) -> Result<(String, String), StoreError> {
        let (_, container, obj) = self.split_location(location)?;
        Ok((container.to_owned(), obj.to_owned()))
    }

    /// The credentials (of a `swift+http(s)` location that carries some), container and
    /// object a location names, when it is in this store's account.
    fn split_location<'a>(
        &self,
        location: &'a str,
    ) -> Result<(Option<&'a str>, &'a str, &'a str), StoreError> {
        let refused = |why: &str| StoreError::Refused(format!("{why}: {}", redact(location)));
        let (scheme, rest) = location
            .split_once("://")
            .ok_or_else(|| refused("not a URL"))?;
        let (prefix, container, obj) = match rest.rsplitn(3, '/').collect::<Vec<_>>()[..] {
            [obj, container, prefix] => (prefix, container, obj),
            _ => return Err(refused("not <account>/<container>/<object>")),
        };
        let credentials = match scheme {
            "swift+config" if prefix == self.options.reference => None,
            "swift+config" => return Err(refused("another Swift account reference")),
            "swift" | "swift+http" | "swift+https" => {
                // Credentials in the URL are Glance's old form; this store's own are used.
                let (credentials, auth) = match prefix.rsplit_once('@') {
                    Some((credentials, auth)) => (Some(credentials), auth),
                    None => (None, prefix),
                };
                if auth.trim_end_matches('/') != self.auth_host_path {
                    return Err(refused("another Swift auth address"));
                }
                credentials
            }
            _ => return Err(refused("not a Swift location")),
        };
        check_object_name(container)?;
        check_object_name(obj)?;
        Ok((credentials, container, obj))
    }

    /// The current session, authenticating first when there is none or its token is about
    /// to expire.
    async fn session(&self) -> Result<Session, StoreError> {
        let stale = match self.session.read().await.clone() {
            Some(s) if !s.expires_within(self.options.expire_soon_interval) => return Ok(s),
            Some(s) => Some(s.token),
            None => None,
        };
        self.authenticate(stale.as_deref()).await
    }

    /// A new token, unless another request already replaced the `stale` one.
    async fn authenticate(&self, stale: Option<&str>) -> Result<Session, StoreError> {
        let mut current = self.session.write().await;
        if let Some(session) = current.as_ref() {
            if Some(session.token.as_str()) != stale {
                return Ok(session.clone());
            }
        }
        let mut session = self.auth.login(&self.client).await?;
        if let Some(endpoint) = &self.options.endpoint {
            session.storage_url = endpoint.trim_end_matches('/').to_owned();
        }
        info!(storage_url = %session.storage_url, "swift token obtained");
        *current = Some(session.clone());
        Ok(session)
    }

    /// The URL of `container` (and `obj` in it) in the session's account.
    fn url(session: &Session, container: &str, obj: Option<&str>) -> String {
        let mut url = format!(
            "{}/{}",
            session.storage_url,
            utf8_percent_encode(container, PATH_SEGMENT)
        );
        if let Some(obj) = obj {
            url.push('/');
            url.extend(utf8_percent_encode(obj, PATH_SEGMENT));
        }
        url
    }

    /// Sends the request `build` makes (one that can be repeated), once more with a new
    /// token when Swift answers 401.
    async fn send<F>(&self, what: &str, build: F) -> Result<Response, StoreError>
    where
        F: Fn(&reqwest::Client, &Session) -> RequestBuilder,
    {
        let session = self.session().await?;
        let send = |session: Session| {
            build(&self.client, &session)
                .header("X-Auth-Token", &session.token)
                .send()
        };
        let resp = send(session.clone())
            .await
            .map_err(|e| transport_error(what, &e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let session = self.authenticate(Some(&session.token)).await?;
        send(session).await.map_err(|e| transport_error(what, &e))
    }

    /// Makes sure the container exists (creating it when so configured); this also renews
    /// an expired token before an upload whose body cannot be sent twice.
    async fn ensure_container(&self) -> Result<(), StoreError> {
        let container = &self.options.container;
        let resp = self
            .send("swift container", |c, s| {
                c.head(Self::url(s, container, None))
            })
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND if self.options.create_container_on_put => {
                let resp = self
                    .send("swift container create", |c, s| {
                        c.put(Self::url(s, container, None))
                            .header(CONTENT_LENGTH, 0)
                    })
                    .await?;
                if !resp.status().is_success() {
                    return Err(status_error("swift container create", resp.status()));
                }
                info!(container, "swift container created");
                Ok(())
            }
            StatusCode::NOT_FOUND => Err(StoreError::Refused(format!(
                "swift container {container} does not exist (create_container_on_put is off)"
            ))),
            s => Err(status_error("swift container", s)),
        }
    }

    /// Streams the next at most `max` bytes of `data` as object `obj` (`length` is the exact
    /// byte count when known); returns the bytes sent.
    async fn put_object(
        &self,
        data: &mut Segmenter,
        obj: &str,
        max: u64,
        length: Option<u64>,
    ) -> Result<u64, StoreError> {
        let session = self.session().await?;
        let url = Self::url(&session, &self.options.container, Some(obj));
        let client = &self.client;
        let (status, sent) = data
            .stream_into(max, |body| async move {
                let mut req = client
                    .put(url)
                    .header("X-Auth-Token", session.token)
                    .body(body);
                if let Some(length) = length {
                    req = req.header(CONTENT_LENGTH, length);
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| transport_error("swift object upload", &e))?;
                Ok(resp.status())
            })
            .await?;
        if status != StatusCode::CREATED {
            return Err(status_error("swift object upload", status));
        }
        Ok(sent)
    }

    /// Writes the image as one object of exactly `size` bytes.
    async fn put_single(&self, obj: &str, data: ByteStream, size: u64) -> Result<(), StoreError> {
        let mut data = Segmenter::new(data);
        let sent = self.put_object(&mut data, obj, size, Some(size)).await?;
        let longer = data
            .has_more()
            .await
            .map_err(|e| StoreError::Unavailable(format!("reading the image data: {e}")))?;
        if sent != size || longer {
            self.remove_objects(&self.options.container, &[obj.to_owned()])
                .await;
            return Err(StoreError::Refused(format!(
                "the image data is not the {size} bytes announced"
            )));
        }
        Ok(())
    }

    /// Writes the image as segments and a dynamic large object manifest, as Glance does.
    async fn put_segmented(
        &self,
        obj: &str,
        data: ByteStream,
        size: Option<u64>,
    ) -> Result<(), StoreError> {
        let chunk = self.options.large_object_chunk_size * MIB;
        let container = &self.options.container;
        let mut data = Segmenter::new(data);
        let mut written = Vec::new();
        let result = async {
            let mut total = 0u64;
            while data
                .has_more()
                .await
                .map_err(|e| StoreError::Unavailable(format!("reading the image data: {e}")))?
            {
                if size.is_some_and(|size| total >= size) {
                    return Err(StoreError::Refused(format!(
                        "the image data is longer than the {} bytes announced",
                        size.unwrap_or_default()
                    )));
                }
                let segment = format!("{obj}-{:05}", written.len() + 1);
                // Counted before the upload: a lost answer may hide a stored segment.
                written.push(segment.clone());
                let length = size.map(|size| size.saturating_sub(total).min(chunk));
                total += self.put_object(&mut data, &segment, chunk, length).await?;
            }
            if size.is_some_and(|size| size != total) {
                return Err(StoreError::Refused(format!(
                    "the image data is {total} bytes, not the {} announced",
                    size.unwrap_or_default()
                )));
            }
            let manifest = format!("{container}/{obj}-");
            let resp = self
                .send("swift manifest upload", |c, s| {
                    c.put(Self::url(s, container, Some(obj)))
                        .header("X-Object-Manifest", &manifest)
                        .header(CONTENT_LENGTH, 0)
                })
                .await?;
            if resp.status() != StatusCode::CREATED {
                return Err(status_error("swift manifest upload", resp.status()));
            }
            info!(
                segments = written.len(),
                bytes = total,
                "swift large object written"
            );
            Ok(())
        }
        .await;
        if result.is_err() {
            self.remove_objects(container, &written).await;
        }
        result
    }

    /// Deletes `objects` of `container` as far as Swift lets it; what stays is logged.
    async fn remove_objects(&self, container: &str, objects: &[String]) {
        for obj in objects {
            match self
                .send("swift object delete", |c, s| {
                    c.delete(Self::url(s, container, Some(obj)))
                })
                .await
            {
                Ok(resp)
                    if resp.status().is_success() || resp.status() == StatusCode::NOT_FOUND => {}
                Ok(resp) => {
                    warn!(container, %obj, status = %resp.status(), "swift object left behind")
                }
                Err(e) => warn!(container, %obj, error = %e, "swift object left behind"),
            }
        }
    }

    /// The names of the objects of `container` that start with `prefix`.
    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = Vec::new();
        let limit = LISTING_LIMIT.to_string();
        loop {
            let marker = names.last().cloned().unwrap_or_default();
            let resp = self
                .send("swift container listing", |c, s| {
                    c.get(Self::url(s, container, None)).query(&[
                        ("format", "json"),
                        ("prefix", prefix),
                        ("marker", marker.as_str()),
                        ("limit", limit.as_str()),
                    ])
                })
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(names);
            }
            if !resp.status().is_success() {
                return Err(status_error("swift container listing", resp.status()));
            }
            #[derive(Deserialize)]
            struct Entry {
                name: String,
            }
            let page: Vec<Entry> = resp
                .json()
                .await
                .map_err(|e| StoreError::Unavailable(format!("swift container listing: {e}")))?;
            let full = page.len() >= LISTING_LIMIT;
            names.extend(page.into_iter().map(|e| e.name));
            if !full {
                return Ok(names);
            }
        }
    }
}

#[async_trait]
impl StoreDriver for SwiftStore {
    #[tracing::instrument(name = "swift_put", skip(self, data), fields(container = %self.options.container))]
    async fn put(
        &self,
        image_id: &str,
        data: ByteStream,
        size: Option<u64>,
    ) -> Result<String, StoreError> {
        check_object_name(image_id)?;
        self.ensure_container().await?;
        match size {
            Some(size) if size < self.options.large_object_size * MIB => {
                self.put_single(image_id, data, size).await?
            }
            _ => self.put_segmented(image_id, data, size).await?,
        }
        Ok(self.location(image_id))
    }

    #[tracing::instrument(name = "swift_get", skip(self, location), fields(location = %redact(location)))]
    async fn get(
        &self,
        location: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError> {
        let (container, obj) = self.parse_location(location)?;
        if len == Some(0) {
            return Ok(empty_stream());
        }
        let range = range_header(offset, len);
        let resp = self
            .send("swift object read", |c, s| {
                let req = c.get(Self::url(s, &container, Some(&obj)));
                match &range {
                    Some(range) => req.header(RANGE, range),
                    None => req,
                }
            })
            .await?;
        ranged_body(resp, "swift", location, offset, len)
    }

    #[tracing::instrument(name = "swift_delete", skip(self, location), fields(location = %redact(location)))]
    async fn delete(&self, location: &str) -> Result<(), StoreError> {
        let (container, obj) = self.parse_location(location)?;
        let resp = self
            .send("swift object head", |c, s| {
                c.head(Self::url(s, &container, Some(&obj)))
            })
            .await?;
        let manifest = match resp.status() {
            s if s.is_success() => resp
                .headers()
                .get("X-Object-Manifest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            // Gone already; segments a half-done delete left are still removed below.
            StatusCode::NOT_FOUND => Some(format!("{container}/{obj}-")),
            s => return Err(status_error("swift object head", s)),
        };
        // The manifest goes first: a delete cut short leaves unreferenced segments, never a
        // manifest that reads a truncated image.
        let resp = self
            .send("swift object delete", |c, s| {
                c.delete(Self::url(s, &container, Some(&obj)))
            })
            .await?;
        if !resp.status().is_success() && resp.status() != StatusCode::NOT_FOUND {
            return Err(status_error("swift object delete", resp.status()));
        }
        if let Some((seg_container, prefix)) = manifest.as_deref().and_then(|m| m.split_once('/')) {
            let segments = self.list(seg_container, prefix).await?;
            self.remove_objects(seg_container, &segments).await;
            let left = self.list(seg_container, prefix).await?;
            if !left.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "{} segments of {} could not be deleted",
                    left.len(),
                    redact(location)
                )));
            }
            info!(segments = segments.len(), "swift large object deleted");
        }
        Ok(())
    }

    #[tracing::instrument(name = "swift_size", skip(self, location), fields(location = %redact(location)))]
    async fn size(&self, location: &str) -> Result<u64, StoreError> {
        let (container, obj) = self.parse_location(location)?;
        let resp = self
            .send("swift object head", |c, s| {
                c.head(Self::url(s, &container, Some(&obj)))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(status_error(&redact(location), resp.status()));
        }
        resp.headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Unavailable("swift answered no Content-Length".into()))
    }

    fn owns(&self, location: &str) -> bool {
        // glance_store's prefix of a Swift store: its account (the reference of a
        // `swift+config` URL, else the auth address with this store's `user:key`, quoted or
        // not) and its container. Requiring the key keeps a caller who does not know it from
        // reading other objects of the container with the store's access.
        let Ok((credentials, container, _)) = self.split_location(location) else {
            return false;
        };
        if container != self.options.container {
            return false;
        }
        match credentials {
            None => location.starts_with("swift+config://"),
            Some(given) => {
                percent_decode_str(given).decode_utf8_lossy()
                    == format!("{}:{}", self.options.user, self.options.key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SwiftStore {
        let options: SwiftOptions = toml::from_str(
            "auth_address = 'http://swift.example:8080/auth/v1.0/'\nuser = 'a:u'\nkey = 'k'",
        )
        .expect("options");
        SwiftStore::new(options).expect("store")
    }

    #[test]
    fn locations_are_glances_forms() {
        let s = store();
        assert_eq!(s.location("abc"), "swift+config://ref1/glance/abc");
        let parsed = |l: &str| s.parse_location(l).ok();
        let want = Some(("glance".to_owned(), "abc".to_owned()));
        assert_eq!(parsed("swift+config://ref1/glance/abc"), want);
        assert_eq!(
            parsed("swift+http://a:u:k@swift.example:8080/auth/v1.0/glance/abc"),
            want
        );
        assert_eq!(parsed("swift+config://ref2/glance/abc"), None);
        assert_eq!(parsed("swift+http://other:8080/auth/v1.0/glance/abc"), None);
        assert_eq!(parsed("s3://x/glance/abc"), None);
        assert_eq!(parsed("swift+config://ref1/abc"), None);
        assert_eq!(parsed("swift+config://ref1/glance/"), None);
    }

    #[test]
    fn owns_its_container_with_its_credentials() {
        let s = store();
        for loc in [
            "swift+config://ref1/glance/abc",
            "swift+http://a:u:k@swift.example:8080/auth/v1.0/glance/abc",
            "swift+http://a%3Au:k@swift.example:8080/auth/v1.0/glance/abc",
            "swift://a:u:k@swift.example:8080/auth/v1.0/glance/abc",
        ] {
            assert!(s.owns(loc), "{loc}");
        }
        for loc in [
            // Another container of the account, account reference, auth address or key.
            "swift+config://ref1/other/abc",
            "swift+http://a:u:k@swift.example:8080/auth/v1.0/other/abc",
            "swift+config://ref2/glance/abc",
            "swift+http://a:u:k@elsewhere:8080/auth/v1.0/glance/abc",
            "swift+http://a:u:wrong@swift.example:8080/auth/v1.0/glance/abc",
            // No credentials: the store's own would read it.
            "swift+http://swift.example:8080/auth/v1.0/glance/abc",
            "swift+http://a:u:k@swift.example:8080/auth/v1.0/glance/",
            "s3://a:k@swift.example:8080/glance/abc",
            "http://swift.example:8080/v1/AUTH_a/glance/abc",
        ] {
            assert!(!s.owns(loc), "{loc}");
        }
    }
}
