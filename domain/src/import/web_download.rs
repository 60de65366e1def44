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
    let resp = filter
        .fetch(uri, reqwest::header::HeaderMap::new())
        .await
        .map_err(DownloadError::Failed)?;
    fetch_body(glance, claim, resp, None).await
}

/// Streams a response body into the chunk store, reporting progress on the task; a body
/// longer or shorter than `expected` (when known) fails.
pub(super) async fn fetch_body(
    glance: &Glance,
    claim: &Claim,
    resp: reqwest::Response,
    expected: Option<u64>,
) -> Result<StoredData, DownloadError> {
    let copied = Arc::new(AtomicU64::new(0));
    let counter = copied.clone();
    let body = resp.bytes_stream().inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    });
    let ingest = glance.ingest(body, expected);
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
    tracing::info!(size = done.size, "download fetched");
    // The hold on the chunks ends here; their leases outlast the few milliseconds until the
    // task records this decision, which the reapers' live set then includes.
    Ok(StoredData::new(&done, detected))
}
