//! Reading request bodies with a size limit, for both planes.

use axum::body::Body;
use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// It is larger than the limit.
    TooLarge,
    /// The connection failed while reading it.
    Unreadable,
}

/// Reads `body`, at most `limit` bytes.
pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
        {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable
        }
    })
}

/// Reads `body` (at most `limit` bytes) as JSON, with errors in the envelope shape.
pub(super) async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = read_limited(body, limit)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => ApiError::payload_too_large(limit),
            BodyError::Unreadable => {
                ApiError::invalid("Could not read the request body.", "Send the body again.")
            }
        })?;
    serde_json::from_slice(&bytes).map_err(|error| ApiError::invalid_json(&error))
}
