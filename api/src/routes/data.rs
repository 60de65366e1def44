//! Image data over HTTP: `PUT /v2/images/{id}/file` hands the request body to the domain's
//! upload, and `GET` streams the image (or the `Range` it names) out.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::request_span::record_image;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_domain::Glance;

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

/// The size a request carrying image data announces; 415 unless the data is sent as
/// `application/octet-stream`.
pub(crate) fn image_data(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    if !media.starts_with("application/octet-stream") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Invalid content type {media}"
        )));
    }
    announced_size(headers)
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    record_image(&id);
    let announced = image_data(&headers)?;
    glance
        .upload(
            &who,
            &id,
            body.into_data_stream(),
            announced,
            store_header(&headers),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The store a request names in `X-Image-Meta-Store`, if any.
pub(crate) fn store_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-image-meta-store")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
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
            // `last` may be u64::MAX: the end is at most `size` anyway.
            last.saturating_add(1).min(size)
        };
        (start, end)
    };
    (start < size).then_some((start, end))
}

/// `GET /v2/images/{id}/file`.
pub async fn download(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    record_image(&id);
    let Some(data) = glance.download(&who, &id).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let size = data.size();
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
    // A whole-image read goes through the node's image cache (a hit, or cached on the way);
    // a range does not, as in Glance.
    let stream = if status == StatusCode::OK {
        data.read_whole().await?
    } else {
        data.read(start, end).await?
    };
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    // Not Glance's: tells which store served the bytes.
    if let Ok(store) = HeaderValue::from_str(&data.store) {
        h.insert("x-image-meta-store", store);
    }
    if let Some(md5) = data
        .image
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
        // The largest last byte a client can name is clamped, not overflowed.
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 100_000),
            Ok((0, 100_000))
        );
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
