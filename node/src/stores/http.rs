//! The `http` driver: read-only, images whose data is an HTTP(S) URL, streamed on download.
//! Every request goes through the `[import_filtering_opts]` rules (`UriFilter::fetch`: the
//! address checked after DNS resolution and on every redirect, the connection pinned to
//! it), so a location cannot make the node fetch from where web-download may not.

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use serde::Deserialize;
use tessera_domain::import::UriFilter;
use tessera_domain::stores::{ByteStream, StoreDriver, StoreError};

/// The `http` driver's options (none yet; unknown keys are refused).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOptions {}

/// Images served by web servers.
#[derive(Debug, Clone)]
pub struct HttpStore {
    filter: UriFilter,
}

impl HttpStore {
    /// The store reading through `filter`.
    pub fn new(filter: UriFilter) -> HttpStore {
        HttpStore { filter }
    }

    async fn fetch(
        &self,
        location: &str,
        range: Option<String>,
    ) -> Result<reqwest::Response, StoreError> {
        let mut headers = HeaderMap::new();
        if let Some(range) = range {
            let value =
                HeaderValue::from_str(&range).map_err(|e| StoreError::Refused(e.to_string()))?;
            headers.insert(RANGE, value);
        }
        self.filter
            .fetch(location, headers)
            .await
            .map_err(StoreError::Unavailable)
    }
}

/// The total size in a `Content-Range: bytes a-b/total` header.
fn range_total(resp: &reqwest::Response) -> Option<u64> {
    let value = resp.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    value.rsplit_once('/')?.1.trim().parse().ok()
}

#[async_trait]
impl StoreDriver for HttpStore {
    async fn put(&self, _: &str, _: ByteStream, _: Option<u64>) -> Result<String, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn get(
        &self,
        location: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError> {
        let whole = offset == 0 && len.is_none();
        let range = match len {
            _ if whole => None,
            Some(0) => return Ok(futures::stream::empty().boxed()),
            Some(n) => Some(format!("bytes={offset}-{}", offset + n - 1)),
            None => Some(format!("bytes={offset}-")),
        };
        let resp = self.fetch(location, range).await?;
        if !whole && resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(StoreError::Unavailable(format!(
                "{location} does not serve byte ranges (HTTP {})",
                resp.status()
            )));
        }
        Ok(resp
            .bytes_stream()
            .map(|r| r.map_err(std::io::Error::other))
            .boxed())
    }

    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        // The data is not Tessera's: forgetting the location is all a delete does.
        Ok(())
    }

    async fn size(&self, location: &str) -> Result<u64, StoreError> {
        let resp = self.fetch(location, Some("bytes=0-0".into())).await?;
        let size = match resp.status() {
            StatusCode::PARTIAL_CONTENT => range_total(&resp),
            _ => resp.content_length(),
        };
        size.ok_or_else(|| StoreError::Unavailable(format!("{location} gives no size")))
    }
}
