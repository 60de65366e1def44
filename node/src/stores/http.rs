//! The `http` driver: read-only, images whose data is an HTTP(S) URL, streamed on download.
//! Every request goes through the `[import_filtering_opts]` rules (`UriFilter::fetch`: the
//! address checked after DNS resolution and on every redirect, the connection pinned to
//! it), so a location cannot make the node fetch from where web-download may not.

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::{Method, StatusCode};
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
        let partial = resp.status() == StatusCode::PARTIAL_CONTENT;
        if !whole && !partial && offset != 0 {
            return Err(StoreError::Unavailable(format!(
                "{location} does not serve byte ranges (HTTP {})",
                resp.status()
            )));
        }
        let body = resp
            .bytes_stream()
            .map(|r| r.map_err(std::io::Error::other));
        match len {
            // A server without ranges sends the whole body: from offset 0, its first `n`
            // bytes are the answer.
            Some(n) if !partial => Ok(body
                .scan(n, |left, piece| {
                    let piece = piece.map(|mut b| {
                        b.truncate(usize::try_from(*left).unwrap_or(usize::MAX));
                        *left -= b.len() as u64;
                        b
                    });
                    let done = *left == 0 && piece.as_ref().is_ok_and(|b| b.is_empty());
                    futures::future::ready((!done).then_some(piece))
                })
                .boxed()),
            _ => Ok(body.boxed()),
        }
    }

    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        // The data is not Tessera's: forgetting the location is all a delete does.
        Ok(())
    }

    async fn size(&self, location: &str) -> Result<u64, StoreError> {
        // HEAD first, as glance_store's http driver asks (a server streaming its body, or
        // one without ranges, still says its length there); then a one-byte range.
        let head = self
            .filter
            .request(Method::HEAD, location, HeaderMap::new())
            .await;
        let announced = head.as_ref().ok().and_then(|resp| {
            let value = resp.headers().get(CONTENT_LENGTH)?.to_str().ok()?;
            value.trim().parse::<u64>().ok()
        });
        if let Some(size) = announced {
            return Ok(size);
        }
        let resp = self.fetch(location, Some("bytes=0-0".into())).await?;
        let size = match resp.status() {
            StatusCode::PARTIAL_CONTENT => range_total(&resp),
            _ => resp.content_length(),
        };
        size.ok_or_else(|| StoreError::Unavailable(format!("{location} gives no size")))
    }

    fn owns(&self, location: &str) -> bool {
        // glance_store's http store takes every http(s) URL; where it may be fetched from
        // is the filter's to say when it is read.
        location.split_once("://").is_some_and(|(scheme, rest)| {
            !rest.is_empty()
                && (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus};
    use axum::routing::get;

    const DATA: &[u8] = b"0123456789abcdef";

    /// Serves DATA at /img with single byte ranges, and a redirect to it at /moved.
    async fn origin() -> String {
        async fn img(headers: AxumHeaders) -> (AxumStatus, AxumHeaders, Vec<u8>) {
            let mut out = AxumHeaders::new();
            let range = headers.get("range").and_then(|v| v.to_str().ok());
            let Some(spec) = range.and_then(|r| r.strip_prefix("bytes=")) else {
                return (AxumStatus::OK, out, DATA.to_vec());
            };
            let (a, b) = spec.split_once('-').unwrap();
            let a: usize = a.parse().unwrap();
            let b: usize = if b.is_empty() {
                DATA.len() - 1
            } else {
                b.parse().unwrap()
            };
            let total = DATA.len();
            out.insert(
                "content-range",
                format!("bytes {a}-{b}/{total}").parse().unwrap(),
            );
            (AxumStatus::PARTIAL_CONTENT, out, DATA[a..=b].to_vec())
        }
        let app = axum::Router::new().route("/img", get(img)).route(
            "/moved",
            get(|| async { axum::response::Redirect::temporary("/img") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn loopback_allowed() -> UriFilter {
        UriFilter {
            allowed_hosts: vec!["127.0.0.1".into()],
            allowed_ports: vec![],
            ..UriFilter::default()
        }
    }

    use super::super::collect as all;

    #[tokio::test]
    async fn reads_whole_ranges_and_sizes_through_redirects() {
        let base = origin().await;
        let store = HttpStore::new(loopback_allowed());
        for path in ["/img", "/moved"] {
            let url = format!("{base}{path}");
            assert_eq!(store.size(&url).await.unwrap(), DATA.len() as u64);
            assert_eq!(all(store.get(&url, 0, None).await.unwrap()).await, DATA);
            assert_eq!(
                all(store.get(&url, 3, Some(4)).await.unwrap()).await,
                b"3456"
            );
            assert_eq!(
                all(store.get(&url, 10, None).await.unwrap()).await,
                b"abcdef"
            );
        }
        let put = store.put("i", futures::stream::empty().boxed(), None).await;
        assert!(matches!(put, Err(StoreError::ReadOnly)));
    }

    #[test]
    fn owns_every_http_url_and_nothing_else() {
        let store = HttpStore::new(UriFilter::default());
        for url in ["http://h/i", "https://h:8443/a/b", "HTTPS://h/i"] {
            assert!(store.owns(url), "{url}");
        }
        for url in [
            "http://",
            "ftp://h/i",
            "file:///tmp/i",
            "swift+http://u:k@h/auth/v1.0/c/o",
            "s3://h/b/k",
            "httpx://h/i",
            "h/i",
        ] {
            assert!(!store.owns(url), "{url}");
        }
    }

    #[tokio::test]
    async fn the_address_rules_apply() {
        let base = origin().await;
        let store = HttpStore::new(UriFilter::default());
        let refused = store.size(&format!("{base}/img")).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(m)) if m.contains("127.0.0.1")));
        let missing = HttpStore::new(loopback_allowed())
            .size(&format!("{base}/nope"))
            .await;
        assert!(matches!(missing, Err(StoreError::Unavailable(m)) if m.contains("404")));
    }
}
