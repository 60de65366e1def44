//! The `s3` store: images as objects of one bucket of any S3-compatible endpoint, laid out as
//! Glance's S3 store lays them out (the object is named by the image id).
//!
//! Requests are signed with SigV4 by `rusty-s3` (pre-signed URLs, path-style addressing) and
//! sent with the node's `reqwest`. An image of known size under `large_object_size` is one
//! streamed `PUT`; a larger one, or one of unknown size that does not fit in one part, is a
//! multipart upload of `large_object_chunk_size` parts, held in memory one part at a time, and
//! aborted when anything fails. Locations are Glance's form,
//! `s3+http(s)://<access key>:<secret key>@<host>/<bucket>/<image id>` (Glance has no form
//! without the secret); any bucket of this store's endpoint is read, with the location's own
//! keys when it carries some.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::header::{CONTENT_LENGTH, ETAG, RANGE};
use reqwest::{Response, StatusCode};
use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde::Deserialize;
use tessera_domain::stores::driver::{redact, ByteStream, StoreDriver, StoreError};
use tracing::{info, warn};
use url::Url;

use super::object_io::{
    check_object_name, empty_stream, http_client, range_header, ranged_body, status_error,
    transport_error, OpenError, Segmenter, MIB,
};

/// How long a signed request stays valid: it is sent right after signing.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// S3's limits on a multipart upload: parts, and the smallest part but the last.
const MAX_PARTS: u64 = 10_000;
const MIN_PART: u64 = 5 * MIB;

/// An `s3` store's options (Glance's `s3_store_*` settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// The endpoint URL, e.g. `http://127.0.0.1:18080` or `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: String,
    /// The bucket images go to.
    pub bucket: String,
    /// The region requests are signed for.
    #[serde(default = "default_region")]
    pub region: String,
    /// Create the bucket on the first upload when it does not exist.
    #[serde(default)]
    pub create_bucket_on_put: bool,
    /// From this size on (MiB), an image is a multipart upload (Glance's default 100).
    #[serde(default = "default_large_object_size")]
    pub large_object_size: u64,
    /// The size of one part (MiB, at least 5; Glance's default 10).
    #[serde(default = "default_large_object_chunk_size")]
    pub large_object_chunk_size: u64,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_large_object_size() -> u64 {
    100
}
fn default_large_object_chunk_size() -> u64 {
    10
}

/// Builds an `s3` store from its config table.
pub async fn open(options: toml::Value) -> Result<Arc<dyn StoreDriver>, OpenError> {
    let options: S3Options = options.try_into()?;
    Ok(Arc::new(S3Store::new(options)?))
}

/// One bucket of an S3 endpoint holding images.
pub struct S3Store {
    options: S3Options,
    endpoint: Url,
    bucket: Bucket,
    credentials: Credentials,
    client: reqwest::Client,
}

impl S3Store {
    /// A store with `options`; nothing is contacted until the first request.
    pub fn new(options: S3Options) -> Result<Self, OpenError> {
        let endpoint = Url::parse(&options.endpoint)
            .map_err(|e| OpenError::Invalid(format!("endpoint = {:?}: {e}", options.endpoint)))?;
        let bucket = Bucket::new(
            endpoint.clone(),
            UrlStyle::Path,
            options.bucket.clone(),
            options.region.clone(),
        )
        .map_err(|e| OpenError::Invalid(format!("endpoint or bucket: {e}")))?;
        if options.large_object_size == 0 || options.large_object_chunk_size * MIB < MIN_PART {
            return Err(OpenError::Invalid(
                "large_object_size must be at least 1 and large_object_chunk_size at least 5 (MiB)"
                    .into(),
            ));
        }
        let credentials = Credentials::new(options.access_key.clone(), options.secret_key.clone());
        Ok(Self {
            options,
            endpoint,
            bucket,
            credentials,
            client: http_client()?,
        })
    }

    /// The endpoint as locations carry it: host, port and path, without scheme or slash.
    fn endpoint_host_path(&self) -> String {
        let url = &self.endpoint;
        let mut host = url.host_str().unwrap_or_default().to_owned();
        if let Some(port) = url.port() {
            host.push_str(&format!(":{port}"));
        }
        host.push_str(url.path().trim_end_matches('/'));
        host
    }

    /// The location of object `key` of this store's bucket.
    fn location(&self, key: &str) -> String {
        let scheme = if self.endpoint.scheme() == "https" {
            "s3+https"
        } else {
            "s3+http"
        };
        let quote = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        format!(
            "{scheme}://{}:{}@{}/{}/{key}",
            quote(&self.options.access_key),
            quote(&self.options.secret_key),
            self.endpoint_host_path(),
            self.options.bucket
        )
    }

    /// The bucket, object key and keys a location names (this store's keys when it names
    /// none), when it is on this store's endpoint.
    fn parse_location(&self, location: &str) -> Result<(Bucket, String, Credentials), StoreError> {
        let (bucket, key, credentials) = self.split_location(location)?;
        let credentials = credentials.unwrap_or_else(|| self.credentials.clone());
        Ok((bucket, key, credentials))
    }

    /// The bucket, object key and keys (if any) a location names, when it is on this store's
    /// endpoint.
    fn split_location(
        &self,
        location: &str,
    ) -> Result<(Bucket, String, Option<Credentials>), StoreError> {
        let refused = |why: &str| StoreError::Refused(format!("{why}: {}", redact(location)));
        let (scheme, rest) = location
            .split_once("://")
            .ok_or_else(|| refused("not a URL"))?;
        if !matches!(scheme, "s3" | "s3+http" | "s3+https") {
            return Err(refused("not an S3 location"));
        }
        let (keys, rest) = match rest.rsplit_once('@') {
            Some((keys, rest)) => (Some(keys), rest),
            None => (None, rest),
        };
        let (endpoint, bucket, key) = match rest.rsplitn(3, '/').collect::<Vec<_>>()[..] {
            [key, bucket, endpoint] => (endpoint, bucket, key),
            _ => return Err(refused("not <endpoint>/<bucket>/<object>")),
        };
        if endpoint.trim_end_matches('/') != self.endpoint_host_path() {
            return Err(refused("another S3 endpoint"));
        }
        check_object_name(bucket)?;
        check_object_name(key)?;
        let credentials = match keys {
            None => None,
            Some(keys) => {
                let (access, secret) = keys
                    .split_once(':')
                    .ok_or_else(|| refused("keys are not <access>:<secret>"))?;
                let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
                Some(Credentials::new(decode(access), decode(secret)))
            }
        };
        let bucket = Bucket::new(
            self.endpoint.clone(),
            UrlStyle::Path,
            bucket.to_owned(),
            self.options.region.clone(),
        )
        .map_err(|e| refused(&e.to_string()))?;
        Ok((bucket, key.to_owned(), credentials))
    }

    /// Sends a request to a signed URL.
    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> Result<Response, StoreError> {
        req.send().await.map_err(|e| transport_error(what, &e))
    }

    /// Makes sure the bucket exists (creating it when so configured).
    async fn ensure_bucket(&self) -> Result<(), StoreError> {
        let url = self
            .bucket
            .head_bucket(Some(&self.credentials))
            .sign(SIGNED_FOR);
        let resp = self.send("s3 bucket", self.client.head(url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND if self.options.create_bucket_on_put => {
                let action = self.bucket.create_bucket(&self.credentials);
                let url = action.sign(SIGNED_FOR);
                let resp = self
                    .send("s3 bucket create", self.client.put(url).body(action.body()))
                    .await?;
                if !resp.status().is_success() {
                    return Err(status_error("s3 bucket create", resp.status()));
                }
                info!(bucket = %self.options.bucket, "s3 bucket created");
                Ok(())
            }
            StatusCode::NOT_FOUND => Err(StoreError::Refused(format!(
                "s3 bucket {} does not exist (create_bucket_on_put is off)",
                self.options.bucket
            ))),
            s => Err(status_error("s3 bucket", s)),
        }
    }

    /// Streams exactly `size` bytes of `data` as object `key` in one request.
    async fn put_single(
        &self,
        key: &str,
        data: &mut Segmenter,
        size: u64,
    ) -> Result<(), StoreError> {
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let (status, sent) = data
            .stream_into(size, |body| async move {
                let req = self.client.put(url).header(CONTENT_LENGTH, size).body(body);
                Ok(self.send("s3 object upload", req).await?.status())
            })
            .await?;
        if !status.is_success() {
            return Err(status_error("s3 object upload", status));
        }
        let longer = data
            .has_more()
            .await
            .map_err(|e| StoreError::Unavailable(format!("reading the image data: {e}")))?;
        if sent != size || longer {
            self.remove(&self.bucket, key, &self.credentials).await;
            return Err(StoreError::Refused(format!(
                "the image data is not the {size} bytes announced"
            )));
        }
        Ok(())
    }

    /// Writes one part already in memory as object `key` in one request.
    async fn put_buffered(&self, key: &str, part: bytes::Bytes) -> Result<(), StoreError> {
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let resp = self
            .send("s3 object upload", self.client.put(url).body(part))
            .await?;
        if !resp.status().is_success() {
            return Err(status_error("s3 object upload", resp.status()));
        }
        Ok(())
    }

    /// Uploads `data` (whose first `first` part is already read) as a multipart upload of
    /// `part_size` parts; the upload is aborted when anything fails.
    async fn put_multipart(
        &self,
        key: &str,
        first: bytes::Bytes,
        data: &mut Segmenter,
        part_size: u64,
    ) -> Result<(), StoreError> {
        let creds = Some(&self.credentials);
        let url = self
            .bucket
            .create_multipart_upload(creds, key)
            .sign(SIGNED_FOR);
        let resp = self
            .send("s3 multipart create", self.client.post(url))
            .await?;
        if !resp.status().is_success() {
            return Err(status_error("s3 multipart create", resp.status()));
        }
        let text = resp
            .text()
            .await
            .map_err(|e| transport_error("s3 multipart create", &e))?;
        let created = CreateMultipartUpload::parse_response(&text)
            .map_err(|e| StoreError::Unavailable(format!("s3 multipart create answer: {e}")))?;
        let upload_id = created.upload_id().to_owned();
        let result = self
            .upload_parts(key, &upload_id, first, data, part_size)
            .await;
        if result.is_err() {
            let url = self
                .bucket
                .abort_multipart_upload(creds, key, &upload_id)
                .sign(SIGNED_FOR);
            match self
                .send("s3 multipart abort", self.client.delete(url))
                .await
            {
                Ok(resp) if resp.status().is_success() => info!(key, "s3 multipart upload aborted"),
                Ok(resp) => {
                    warn!(key, upload_id, status = %resp.status(), "s3 multipart upload left behind")
                }
                Err(e) => warn!(key, upload_id, error = %e, "s3 multipart upload left behind"),
            }
        }
        result
    }

    /// The parts of multipart upload `upload_id`, then its completion.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        first: bytes::Bytes,
        data: &mut Segmenter,
        part_size: u64,
    ) -> Result<(), StoreError> {
        let creds = Some(&self.credentials);
        let mut etags: Vec<String> = Vec::new();
        let mut part = first;
        let mut total = 0u64;
        while !part.is_empty() {
            let number = u16::try_from(etags.len() + 1)
                .map_err(|_| StoreError::Refused("more than 10000 parts".into()))?;
            total += part.len() as u64;
            let url = self
                .bucket
                .upload_part(creds, key, number, upload_id)
                .sign(SIGNED_FOR);
            let resp = self
                .send("s3 part upload", self.client.put(url).body(part))
                .await?;
            if !resp.status().is_success() {
                return Err(status_error("s3 part upload", resp.status()));
            }
            let etag = resp
                .headers()
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| StoreError::Unavailable("s3 part upload answered no ETag".into()))?;
            etags.push(etag.to_owned());
            part = data.collect(part_size).await?;
        }
        let action = self.bucket.complete_multipart_upload(
            creds,
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let resp = self
            .send(
                "s3 multipart complete",
                self.client.post(url).body(action.body()),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(status_error("s3 multipart complete", resp.status()));
        }
        // S3 may answer 200 and still fail: the body says which.
        let text = resp
            .text()
            .await
            .map_err(|e| transport_error("s3 multipart complete", &e))?;
        CompleteMultipartUploadResponse::parse(&text).map_err(|e| {
            StoreError::Unavailable(format!("s3 multipart complete failed: {e}: {text}"))
        })?;
        info!(
            parts = etags.len(),
            bytes = total,
            "s3 multipart upload completed"
        );
        Ok(())
    }

    /// Deletes object `key` of `bucket`, logging a failure (cleanup after a failed upload).
    async fn remove(&self, bucket: &Bucket, key: &str, credentials: &Credentials) {
        if let Err(e) = self.delete_object(bucket, key, credentials).await {
            warn!(key, error = %e, "s3 object left behind");
        }
    }

    /// Deletes object `key` of `bucket`; one already gone is not an error.
    async fn delete_object(
        &self,
        bucket: &Bucket,
        key: &str,
        credentials: &Credentials,
    ) -> Result<(), StoreError> {
        let url = bucket
            .delete_object(Some(credentials), key)
            .sign(SIGNED_FOR);
        let resp = self
            .send("s3 object delete", self.client.delete(url))
            .await?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(status_error("s3 object delete", s)),
        }
    }
}

#[async_trait]
impl StoreDriver for S3Store {
    #[tracing::instrument(name = "s3_put", skip(self, data), fields(bucket = %self.options.bucket))]
    async fn put(
        &self,
        image_id: &str,
        data: ByteStream,
        size: Option<u64>,
    ) -> Result<String, StoreError> {
        check_object_name(image_id)?;
        self.ensure_bucket().await?;
        let mut data = Segmenter::new(data);
        match size {
            Some(size) if size < self.options.large_object_size * MIB => {
                self.put_single(image_id, &mut data, size).await?
            }
            _ => {
                // Parts grow when a known size would need more than S3's 10000.
                let part_size = (self.options.large_object_chunk_size * MIB)
                    .max(size.unwrap_or_default().div_ceil(MAX_PARTS));
                let first = data.collect(part_size).await?;
                if (first.len() as u64) < part_size {
                    self.put_buffered(image_id, first).await?
                } else {
                    self.put_multipart(image_id, first, &mut data, part_size)
                        .await?
                }
            }
        }
        Ok(self.location(image_id))
    }

    #[tracing::instrument(name = "s3_get", skip(self, location), fields(location = %redact(location)))]
    async fn get(
        &self,
        location: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError> {
        let (bucket, key, credentials) = self.parse_location(location)?;
        if len == Some(0) {
            return Ok(empty_stream());
        }
        let url = bucket.get_object(Some(&credentials), &key).sign(SIGNED_FOR);
        let mut req = self.client.get(url);
        if let Some(range) = range_header(offset, len) {
            req = req.header(RANGE, range);
        }
        let resp = self.send("s3 object read", req).await?;
        ranged_body(resp, "s3", location, offset, len)
    }

    #[tracing::instrument(name = "s3_delete", skip(self, location), fields(location = %redact(location)))]
    async fn delete(&self, location: &str) -> Result<(), StoreError> {
        let (bucket, key, credentials) = self.parse_location(location)?;
        self.delete_object(&bucket, &key, &credentials).await
    }

    #[tracing::instrument(name = "s3_size", skip(self, location), fields(location = %redact(location)))]
    async fn size(&self, location: &str) -> Result<u64, StoreError> {
        let (bucket, key, credentials) = self.parse_location(location)?;
        let url = bucket
            .head_object(Some(&credentials), &key)
            .sign(SIGNED_FOR);
        let resp = self.send("s3 object head", self.client.head(url)).await?;
        if !resp.status().is_success() {
            return Err(status_error(&redact(location), resp.status()));
        }
        resp.headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Unavailable("s3 answered no Content-Length".into()))
    }

    fn owns(&self, location: &str) -> bool {
        // glance_store's prefix of an S3 store: `<scheme>://<access>:<secret>@<endpoint>/
        // <bucket>`. Requiring the keys keeps a caller who does not know them from reading
        // other objects of the bucket with the store's access.
        match self.split_location(location) {
            Ok((bucket, _, Some(keys))) => {
                bucket.name() == self.options.bucket
                    && keys.key() == self.options.access_key
                    && keys.secret() == self.options.secret_key
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> S3Store {
        let options: S3Options = toml::from_str(
            "endpoint = 'http://s3.example:18080'\naccess_key = 'test:tester'\n\
             secret_key = 's/ecret'\nbucket = 'images'",
        )
        .expect("options");
        S3Store::new(options).expect("store")
    }

    #[test]
    fn locations_are_glances_form() {
        let s = store();
        let location = s.location("abc");
        assert_eq!(
            location,
            "s3+http://test%3Atester:s%2Fecret@s3.example:18080/images/abc"
        );
        let (bucket, key, creds) = s.parse_location(&location).expect("parsed");
        assert_eq!((bucket.name(), key.as_str()), ("images", "abc"));
        assert_eq!((creds.key(), creds.secret()), ("test:tester", "s/ecret"));
        assert!(s.parse_location("s3://s3.example:18080/other/abc").is_ok());
        assert!(s.parse_location("s3://elsewhere/images/abc").is_err());
        assert!(s.parse_location("swift+config://ref1/images/abc").is_err());
        assert!(s.parse_location("s3+http://s3.example:18080/abc").is_err());
        assert_eq!(
            redact(&location),
            "s3+http://***@s3.example:18080/images/abc"
        );
    }

    #[test]
    fn parts_under_5_mib_are_refused_at_open() {
        let options: S3Options = toml::from_str(
            "endpoint = 'http://h'\naccess_key = 'a'\nsecret_key = 's'\nbucket = 'b'\n\
             large_object_chunk_size = 4",
        )
        .expect("options");
        assert!(matches!(S3Store::new(options), Err(OpenError::Invalid(_))));
    }

    #[test]
    fn owns_its_bucket_with_its_keys() {
        let s = store();
        for loc in [
            s.location("abc"),
            "s3://test%3Atester:s%2Fecret@s3.example:18080/images/abc".into(),
            "s3+https://test%3Atester:s%2Fecret@s3.example:18080/images/abc".into(),
        ] {
            assert!(s.owns(&loc), "{loc}");
        }
        for loc in [
            // Another bucket, endpoint or key; no keys (the store's own would read it).
            "s3+http://test%3Atester:s%2Fecret@s3.example:18080/other/abc",
            "s3+http://test%3Atester:s%2Fecret@elsewhere:18080/images/abc",
            "s3+http://test%3Atester:wrong@s3.example:18080/images/abc",
            "s3://s3.example:18080/images/abc",
            "s3+http://test%3Atester:s%2Fecret@s3.example:18080/images/",
            "swift+http://test%3Atester:s%2Fecret@s3.example:18080/images/abc",
            "http://s3.example:18080/images/abc",
        ] {
            assert!(!s.owns(loc), "{loc}");
        }
    }
}
