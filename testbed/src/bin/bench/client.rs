//! The Glance v2 calls the workloads make, the same against Tessera and the real Glance.
//! Uploads stream from a file with a Content-Length (as `openstack image create --file` does);
//! downloads are counted and dropped; nothing holds a whole image in memory.

use anyhow::{bail, Context};
use futures::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::StatusCode;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// A noauth token both servers map to an admin of project `bench`.
const TOKEN: &str = "bench:bench:admin,member,reader";

/// One server's Glance API.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// Why a create failed: the HTTP status when there was one.
#[derive(Debug)]
pub struct CreateFailed(pub Option<u16>);

impl Api {
    /// A client for `base` (e.g. `http://127.0.0.1:9292`).
    pub fn new(base: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", TOKEN)
    }

    /// `POST /v2/images` with a raw/bare record; returns the new id.
    pub async fn create(&self, name: &str, tag: &str) -> Result<String, CreateFailed> {
        let body = serde_json::json!({
            "name": name, "disk_format": "raw", "container_format": "bare", "tags": [tag],
        });
        let resp = self
            .request(reqwest::Method::POST, "/v2/images")
            .timeout(Duration::from_secs(60))
            .json(&body)
            .send()
            .await
            .map_err(|_| CreateFailed(None))?;
        let status = resp.status();
        if status != StatusCode::CREATED {
            return Err(CreateFailed(Some(status.as_u16())));
        }
        let v: serde_json::Value = resp.json().await.map_err(|_| CreateFailed(None))?;
        v["id"].as_str().map(String::from).ok_or(CreateFailed(None))
    }

    /// Creates an image, failing with the status on anything but 201.
    pub async fn create_ok(&self, name: &str, tag: &str) -> anyhow::Result<String> {
        self.create(name, tag)
            .await
            .map_err(|CreateFailed(s)| anyhow::anyhow!("create on {} failed: {s:?}", self.base))
    }

    /// `PUT /v2/images/ID/file` with `len` bytes of `file` from `offset`, streamed.
    pub async fn upload(&self, id: &str, file: &Path, offset: u64, len: u64) -> anyhow::Result<()> {
        let mut f = tokio::fs::File::open(file).await?;
        f.seek(std::io::SeekFrom::Start(offset)).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 1 << 20);
        let resp = self
            .request(reqwest::Method::PUT, &format!("/v2/images/{id}/file"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .with_context(|| format!("upload to {}", self.base))?;
        if resp.status() != StatusCode::NO_CONTENT {
            let status = resp.status();
            bail!(
                "upload to {}: {status}: {}",
                self.base,
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// `GET /v2/images/ID/file`, discarding the bytes; returns how many arrived.
    pub async fn download(&self, id: &str) -> anyhow::Result<u64> {
        let resp = self
            .request(reqwest::Method::GET, &format!("/v2/images/{id}/file"))
            .send()
            .await?;
        if resp.status() != StatusCode::OK {
            bail!("download from {}: {}", self.base, resp.status());
        }
        let mut body = resp.bytes_stream();
        let mut n = 0u64;
        while let Some(piece) = body.next().await {
            n += piece?.len() as u64;
        }
        Ok(n)
    }

    /// `GET /v2/images/ID`.
    pub async fn show(&self, id: &str) -> anyhow::Result<serde_json::Value> {
        let resp = self
            .request(reqwest::Method::GET, &format!("/v2/images/{id}"))
            .send()
            .await?;
        if resp.status() != StatusCode::OK {
            bail!("show on {}: {}", self.base, resp.status());
        }
        Ok(resp.json().await?)
    }

    /// `DELETE /v2/images/ID`.
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let resp = self
            .request(reqwest::Method::DELETE, &format!("/v2/images/{id}"))
            .timeout(Duration::from_secs(60))
            .send()
            .await?;
        if resp.status() != StatusCode::NO_CONTENT {
            bail!("delete on {}: {}", self.base, resp.status());
        }
        Ok(())
    }

    /// One page of `GET /v2/images?QUERY`: its image count and the `next` link.
    pub async fn list_page(&self, path_and_query: &str) -> anyhow::Result<(usize, Option<String>)> {
        let resp = self
            .request(reqwest::Method::GET, path_and_query)
            .timeout(Duration::from_secs(120))
            .send()
            .await?;
        if resp.status() != StatusCode::OK {
            bail!("list on {}: {}", self.base, resp.status());
        }
        let v: serde_json::Value = resp.json().await?;
        let n = v["images"].as_array().map_or(0, Vec::len);
        Ok((n, v["next"].as_str().map(String::from)))
    }

    /// Lists every image, following `next` links from `/v2/images?QUERY`; returns the count.
    pub async fn list_all(&self, query: &str) -> anyhow::Result<usize> {
        let mut path = Some(format!("/v2/images{query}"));
        let mut total = 0;
        while let Some(p) = path {
            let (n, next) = self.list_page(&p).await?;
            total += n;
            path = next;
        }
        Ok(total)
    }
}
