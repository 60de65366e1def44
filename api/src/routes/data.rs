//! Image data: `PUT /v2/images/{id}/file` streams into the chunk store (queued -> saving ->
//! active, or back to queued on any failure) and `GET` streams it out, with `Range`.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use crate::{ops, policy, AppState, STORE_ID};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tessera_raft::{DataRef, ImageStatus};
use tessera_replication::{ChunkId, Ingested};
use tracing::Instrument;

/// Parses `x-openstack-image-size`, the size glanceclient announces for chunked uploads.
fn announced_size(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get("x-openstack-image-size")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("Invalid or missing image size in request headers.".into())
                })
        })
        .transpose()
}

/// Streams the request body into the chunk store, enforcing the size cap and any
/// announced size.
async fn ingest(st: &AppState, body: Body, announced: Option<u64>) -> Result<Ingested, ApiError> {
    let cap = st.config.image_size_cap;
    let mut writer = st.data.ingest();
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    while let Some(frame) = stream.next().await {
        let bytes = frame.map_err(|e| {
            ApiError::BadRequest(format!(
                "Error reading image data from the request after {received} bytes: {e}"
            ))
        })?;
        received += bytes.len() as u64;
        if received > cap {
            return Err(ApiError::TooLarge(format!(
                "Image exceeds the storage quota: the size cap is {cap} bytes."
            )));
        }
        if let Some(n) = announced.filter(|n| received > *n) {
            return Err(ApiError::BadRequest(format!(
                "Size exceeds: expected {n} bytes, got {received} bytes"
            )));
        }
        writer.write(bytes).await?;
    }
    if let Some(n) = announced.filter(|n| *n != received) {
        return Err(ApiError::BadRequest(format!(
            "Size mismatch: expected {n} bytes, got {received} bytes"
        )));
    }
    Ok(writer.finish().await?)
}

/// Puts a `saving` image back to `queued` after a failed upload, so it can be retried.
async fn back_to_queued(st: &AppState, id: &str) {
    let reverted = ops::modify(&st.meta, id, |img| {
        if img.status == ImageStatus::Saving {
            img.status = ImageStatus::Queued;
        }
        Ok(())
    })
    .await;
    if let Err(e) = reverted {
        tracing::warn!(error = %e, "could not return image to queued after a failed upload");
    }
}

/// The whole upload once the image is `saving`; runs in its own task so a client that
/// goes away cannot cancel it half-way and leave the image stuck in `saving`.
async fn store_upload(
    st: AppState,
    id: String,
    body: Body,
    announced: Option<u64>,
) -> Result<(), ApiError> {
    let done = match ingest(&st, body, announced).await {
        Ok(done) => done,
        Err(e) => {
            back_to_queued(&st, &id).await;
            return Err(e);
        }
    };
    let activated = ops::modify(&st.meta, &id, |img| {
        if img.status != ImageStatus::Saving {
            return Err(ApiError::Conflict(format!(
                "Image {id} changed to status '{}' during the upload.",
                img.status.as_str()
            )));
        }
        img.status = ImageStatus::Active;
        img.size = Some(done.size);
        img.checksum = Some(done.md5.clone());
        img.os_hash_algo = Some("sha512".into());
        img.os_hash_value = Some(done.sha512.clone());
        img.data = Some(DataRef {
            manifest: done.manifest.to_string(),
        });
        Ok(())
    })
    .await;
    match activated {
        Ok(_) => {
            tracing::info!(size = done.size, chunks = done.chunks, "image data stored");
            Ok(())
        }
        Err(ApiError::NotFound(_)) => Err(ApiError::Gone(format!(
            "Image {id} could not be found after upload. The image may have been deleted during the upload."
        ))),
        Err(e) => {
            back_to_queued(&st, &id).await;
            Err(e)
        }
    }
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    if !media.starts_with("application/octet-stream") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Invalid content type {media}"
        )));
    }
    let announced = announced_size(&headers)?;
    ops::modify(&st.meta, &id, |img| {
        policy::check_owner_write(&who, img, "upload_image")?;
        if img.status != ImageStatus::Queued {
            return Err(ApiError::Conflict(format!(
                "Image status transition from {} to saving is not allowed",
                img.status.as_str()
            )));
        }
        if img.disk_format.is_none() || img.container_format.is_none() {
            return Err(ApiError::BadRequest(
                "Properties disk_format, container_format must be set prior to saving data.".into(),
            ));
        }
        img.status = ImageStatus::Saving;
        Ok(())
    })
    .await?;
    let task =
        tokio::spawn(store_upload(st.clone(), id.clone(), body, announced).in_current_span());
    match task.await {
        Ok(result) => result.map(|()| StatusCode::NO_CONTENT),
        Err(e) => {
            back_to_queued(&st, &id).await;
            Err(ApiError::Internal(format!("upload task failed: {e}")))
        }
    }
}

/// Why a `Range` header cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeError {
    /// Several ranges in one header (Glance refuses those with 400).
    Multiple,
    /// Malformed or outside the image (416).
    Unsatisfiable,
}

/// The satisfiable byte range `[start, end)` of an image of `size` bytes named by a `Range`
/// header value.
pub fn parse_range(value: &str, size: u64) -> Result<(u64, u64), RangeError> {
    let spec = value
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Unsatisfiable)?;
    if spec.contains(',') {
        return Err(RangeError::Multiple);
    }
    parse_single(spec, size).ok_or(RangeError::Unsatisfiable)
}

fn parse_single(spec: &str, size: u64) -> Option<(u64, u64)> {
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok().filter(|n| *n > 0)?;
        (size.saturating_sub(n), size)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size
        } else {
            let last: u64 = b.parse().ok().filter(|last| *last >= start)?;
            (last + 1).min(size)
        };
        (start, end)
    };
    (start < size).then_some((start, end))
}

/// `GET /v2/images/{id}/file`.
pub async fn download(
    State(st): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    record_image(&id);
    let img = ops::load(&st.meta, &id).await?;
    policy::check_view(&who, &img)?;
    if img.status == ImageStatus::Deactivated && !who.is_admin() {
        return Err(ApiError::Forbidden(
            "The requested image has been deactivated. Image data download is forbidden.".into(),
        ));
    }
    let Some(data) = img
        .data
        .as_ref()
        .filter(|_| matches!(img.status, ImageStatus::Active | ImageStatus::Deactivated))
    else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let manifest_id: ChunkId = data
        .manifest
        .parse()
        .map_err(|_| ApiError::Internal(format!("image {id} has a malformed manifest id")))?;
    let manifest = st.data.manifest(&manifest_id).await?;
    let size = manifest.size();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, size),
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(Err(RangeError::Multiple)) => {
            return Err(ApiError::BadRequest(
                "Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.".into(),
            ))
        }
        Some(Err(RangeError::Unsatisfiable)) => {
            let mut resp = ApiError::RangeNotSatisfiable(format!(
                "Requested range not satisfiable for an image of {size} bytes."
            ))
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    let stream = st.data.read_range(manifest, start, end);
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert("x-image-meta-store", HeaderValue::from_static(STORE_ID));
    if let Some(md5) = img
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("content-md5", md5);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::parse_range;
    use proptest::prelude::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok((90, 100)));
        assert_eq!(parse_range("bytes=50-500", 100), Ok((50, 100)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=5-2", 100).is_err());
        assert_eq!(
            parse_range("bytes=0-1,4-5", 100),
            Err(super::RangeError::Multiple)
        );
        assert!(parse_range("items=0-1", 100).is_err());
    }

    proptest! {
        #[test]
        fn satisfiable_ranges_stay_inside(size in 1u64..10_000, a in 0u64..12_000, len in 0u64..12_000) {
            if let Ok((s, e)) = parse_range(&format!("bytes={a}-{}", a + len), size) {
                prop_assert!(s < e && e <= size && s == a);
            } else {
                prop_assert!(a >= size);
            }
        }
    }
}
