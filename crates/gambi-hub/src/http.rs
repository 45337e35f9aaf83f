//! HTTP helpers shared by the management and inference planes: bodies read with a size
//! limit, and the credentials a request carries in its headers.

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, header};

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

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// The `x-gambi-session` header: a participant's session credential.
pub(crate) fn session_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(gambi_protocol::SESSION_HEADER)?.to_str().ok()
}
