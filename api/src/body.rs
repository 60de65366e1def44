//! Bounded reading of JSON request bodies.

use crate::error::ApiError;
use axum::body::Body;
use serde_json::Value;

/// Reads at most `limit` bytes of `body` (413 past that).
pub async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            ApiError::TooLarge(format!(
                "Request body is larger than the limit of {limit} bytes."
            ))
        } else {
            ApiError::BadRequest(format!("Unable to read the request body: {e}"))
        }
    })
}

/// Parses a JSON document (400 with the parser's reason when malformed).
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON in request body: {e}")))
}

/// Reads and parses a JSON object body.
pub async fn json_object(
    body: Body,
    limit: usize,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let bytes = read_limited(body, limit).await?;
    match parse_json(&bytes)? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::BadRequest(
            "The request body must be a JSON object.".into(),
        )),
    }
}
