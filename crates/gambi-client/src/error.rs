//! What can go wrong talking to a hub.

use gambi_protocol as proto;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A failed management call, shaped like the hub's error envelope.
///
/// Errors the hub reported carry its status, code, hint and request id. Failures the
/// client detects itself are given a synthetic status, as the original SDK does, so that
/// callers can treat both alike:
///
/// * the hub could not be reached (connection refused, DNS, timeout, dropped
///   connection): `503`, [`proto::ErrorCode::InternalError`], "Failed to reach hub.", with
///   the cause in `details.cause`;
/// * the hub answered a success status without a `{data, meta}` envelope (or with a body
///   too large to be one): `502`, [`proto::ErrorCode::InternalError`].
///
/// An error status whose body is not an error envelope keeps its status and has no code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// HTTP status, real or synthetic (see above).
    pub status: u16,
    /// The hub's error code, when it sent one.
    pub code: Option<proto::ErrorCode>,
    /// What went wrong, in one sentence.
    pub message: String,
    /// What the caller can do about it.
    pub hint: Option<String>,
    /// Structured detail: the hub's `details`, or `{"cause": ...}` for client-side failures.
    pub details: Option<Value>,
    /// The hub's id for the exchange (`meta.requestId` or the `x-request-id` header).
    pub request_id: Option<String>,
}

impl ClientError {
    /// The hub could not be reached, or the connection failed mid-answer.
    pub(crate) fn unreachable(hub_url: &str, cause: &reqwest::Error) -> Self {
        let cause = if cause.is_timeout() {
            "the request timed out".to_owned()
        } else {
            root_cause(cause)
        };
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            code: Some(proto::ErrorCode::InternalError),
            message: "Failed to reach hub.".into(),
            hint: Some(format!(
                "Check that a Gambi hub is running at {hub_url} and reachable ({cause})."
            )),
            details: Some(json!({ "cause": cause })),
            request_id: None,
        }
    }

    /// A response the client cannot use: not an envelope, or too large.
    pub(crate) fn invalid_response(cause: &str, request_id: Option<String>) -> Self {
        Self {
            status: StatusCode::BAD_GATEWAY.as_u16(),
            code: Some(proto::ErrorCode::InternalError),
            message: "Invalid response from hub.".into(),
            hint: Some(
                "Check that the URL points at a Gambi hub and not at another service or proxy."
                    .into(),
            ),
            details: Some(json!({ "cause": cause })),
            request_id,
        }
    }

    /// An error status, with the hub's error envelope when the body is one.
    pub(crate) fn from_error_body(
        status: StatusCode,
        body: &[u8],
        header_request_id: Option<String>,
    ) -> Self {
        match serde_json::from_slice::<proto::ErrorEnvelope>(body) {
            Ok(envelope) => Self {
                status: status.as_u16(),
                code: Some(envelope.error.code),
                message: envelope.error.message,
                hint: envelope.error.hint,
                details: envelope.error.details,
                request_id: Some(envelope.meta.request_id),
            },
            Err(_) => Self {
                status: status.as_u16(),
                code: None,
                message: format!("Hub answered HTTP {status} without an error envelope."),
                hint: Some(
                    "Check that the URL points at a Gambi hub and not at another service or proxy."
                        .into(),
                ),
                details: None,
                request_id: header_request_id,
            },
        }
    }
}

/// The innermost message of an error chain: for a refused connection, "Connection refused
/// (os error 111)" rather than reqwest's "error sending request for url (...)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NewClientError {
    /// The hub URL is not an absolute `http`/`https` URL without query or fragment.
    #[error("Invalid hub URL '{url}': {reason}.")]
    InvalidHubUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup failed).
    #[error("Could not set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelopes_are_taken_whole() {
        let body = br#"{"error":{"code":"ROOM_NOT_FOUND","message":"Room not found.","hint":"h","details":{"x":1}},"meta":{"requestId":"r1"}}"#;
        let error = ClientError::from_error_body(StatusCode::NOT_FOUND, body, Some("hdr".into()));
        assert_eq!(
            error,
            ClientError {
                status: 404,
                code: Some(proto::ErrorCode::RoomNotFound),
                message: "Room not found.".into(),
                hint: Some("h".into()),
                details: Some(json!({"x": 1})),
                request_id: Some("r1".into()),
            }
        );
    }

    #[test]
    fn other_error_bodies_keep_their_status() {
        let error = ClientError::from_error_body(
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
            Some("hdr".into()),
        );
        assert_eq!(error.status, 502);
        assert_eq!(error.code, None);
        assert_eq!(
            error.message,
            "Hub answered HTTP 502 Bad Gateway without an error envelope."
        );
        assert_eq!(error.request_id.as_deref(), Some("hdr"));
    }
}
