//! Reading JSON request bodies with a size limit and errors in the envelope shape.

use axum::body::Body;
use serde_json::Value;

use crate::error::ApiError;

/// Reads `body` (at most `limit` bytes) as JSON.
pub(super) async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        if std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
        {
            ApiError::payload_too_large(limit)
        } else {
            ApiError::invalid("Could not read the request body.", "Send the body again.")
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|error| ApiError::invalid_json(&error))
}
