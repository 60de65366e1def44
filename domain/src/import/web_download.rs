//! `web-download`: the image's bytes fetched from a URL into the chunk store, off the
//! request path. Redirects are followed by hand, each hop checked by the [`UriFilter`] and
//! its connection pinned to the checked address; a stalled server times out, an endless one
//! stops at the size cap; the task's message shows the progress.

use super::filter::UriFilter;
use crate::error::DomainError;
use crate::service::Glance;
use crate::tasks::claim::{Claim, Fenced};
use crate::tasks::StoredData;
use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Redirects followed before giving up (as Python's urllib).
const MAX_REDIRECTS: usize = 10;
/// Time to connect to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence of the server, before the headers and between reads.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the task's progress message is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Why a download ended without data.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The import fails with this message.
    #[error("{0}")]
    Failed(String),
    /// The runner lost its claim.
    #[error(transparent)]
    Fenced(#[from] Fenced),
}

impl From<DomainError> for DownloadError {
    fn from(e: DomainError) -> Self {
        DownloadError::Failed(e.to_string())
    }
}

/// Fetches `uri` under `filter` into the chunk store.
pub async fn download(
    glance: &Glance,
    claim: &Claim,
    filter: &UriFilter,
    uri: &str,
) -> Result<StoredData, DownloadError> {
    let fail = |m: String| DownloadError::Failed(m);
    let mut next = uri.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let hop = filter.check(&next).await.map_err(|e| {
            if next == uri {
                fail(e.to_string())
            } else {
                fail(format!("Redirect to disallowed URL: {next}"))
            }
        })?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .resolve(&hop.host, hop.addr)
            .build()
            .map_err(|e| fail(format!("cannot set up the download: {e}")))?;
        let resp = client
            .get(hop.url.clone())
            .send()
            .await
            .map_err(|e| fail(format!("Failed to download {next}: {e}")))?;
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| fail(format!("Redirect without a location from {next}")))?;
            next = hop
                .url
                .join(location)
                .map_err(|e| fail(format!("Bad redirect location {location}: {e}")))?
                .to_string();
            tracing::info!(to = %next, "web-download redirected");
            continue;
        }
        if !resp.status().is_success() {
            return Err(fail(format!(
                "Failed to download {next}: HTTP {}",
                resp.status()
            )));
        }
        return fetch_body(glance, claim, resp).await;
    }
    Err(fail(format!("Too many redirects fetching {uri}")))
}

/// Streams a response body into the chunk store, reporting progress on the task.
async fn fetch_body(
    glance: &Glance,
    claim: &Claim,
    resp: reqwest::Response,
) -> Result<StoredData, DownloadError> {
    let copied = Arc::new(AtomicU64::new(0));
    let counter = copied.clone();
    let body = resp.bytes_stream().inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    });
    let ingest = glance.ingest(body, None);
    let progress = async {
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            let mib = copied.load(Ordering::Relaxed) >> 20;
            if let Err(lost) = claim
                .update(|t| t.message = format!("Copied {mib} MiB"))
                .await
            {
                return lost;
            }
        }
    };
    let (done, detected) = tokio::select! {
        done = ingest => done?,
        lost = progress => return Err(DownloadError::Fenced(lost)),
    };
    tracing::info!(size = done.size, "web-download fetched");
    // The hold on the chunks ends here; their leases outlast the few milliseconds until the
    // task records this decision, which the reapers' live set then includes.
    Ok(StoredData::new(&done, detected))
}
