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
///
/// [`ClientError::kind`] says what failed in terms a caller branches on (for example a
/// participant runtime that registers again when the hub no longer knows it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let hub = gambi_test_support::TestHub::start().await;
/// # let hub_url = hub.url();
/// use gambi_client::{Client, ErrorKind};
///
/// let error = Client::new(&hub_url)?.rooms().get("NOROOM").await.unwrap_err();
/// assert_eq!(error.kind, ErrorKind::RoomNotFound);
/// assert_eq!(error.status, 404);
/// assert!(error.is_fatal(), "asking again cannot help");
///
/// // Nothing listens on port 9 of the loopback: the client reports it as a 503.
/// let error = Client::new("http://127.0.0.1:9")?.health().await.unwrap_err();
/// assert_eq!((error.kind, error.status), (ErrorKind::Unreachable, 503));
/// assert!(error.cause().is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// What failed, for callers that branch on it.
    pub kind: ErrorKind,
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

/// What a [`ClientError`] means, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The hub has no room with this code (`ROOM_NOT_FOUND`).
    RoomNotFound,
    /// The hub does not know this participant: it was removed, or the hub restarted
    /// (`PARTICIPANT_NOT_FOUND`).
    ParticipantNotFound,
    /// The room password is missing or wrong (`INVALID_PASSWORD`).
    InvalidPassword,
    /// The hub refused the call as malformed (`INVALID_REQUEST` with a 4xx status other
    /// than 401; a 401 `INVALID_REQUEST` is a refused tunnel token, which is [`Self::Rejected`]).
    InvalidRequest,
    /// The participant id is held by someone else's live session (`PARTICIPANT_CONFLICT`).
    Conflict,
    /// The hub refused the call for another reason; see the status and code.
    Rejected,
    /// The hub could not be reached, did not answer in time, or dropped the connection.
    Unreachable,
    /// The hub answered something that is not a management answer: no envelope, or a
    /// body over [`crate::MAX_RESPONSE_BODY`].
    InvalidResponse,
}

impl ErrorKind {
    /// The kind of an error the hub reported with `code`.
    fn reported(status: StatusCode, code: &proto::ErrorCode) -> Self {
        match code {
            proto::ErrorCode::RoomNotFound => Self::RoomNotFound,
            proto::ErrorCode::ParticipantNotFound => Self::ParticipantNotFound,
            proto::ErrorCode::InvalidPassword => Self::InvalidPassword,
            proto::ErrorCode::InvalidRequest
                if status.is_client_error() && status != StatusCode::UNAUTHORIZED =>
            {
                Self::InvalidRequest
            }
            proto::ErrorCode::ParticipantConflict => Self::Conflict,
            _ => Self::Rejected,
        }
    }
}

impl ClientError {
    /// True when sending the same call again cannot succeed: the room does not exist, the
    /// password is refused, or the hub refuses the call as malformed.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RoomNotFound | ErrorKind::InvalidPassword | ErrorKind::InvalidRequest
        )
    }

    /// True when the hub answered that it no longer knows this participant (or its room),
    /// so registering again is the way forward.
    ///
    /// A refused credential (`401`/`403`) is not in this class: registering again would
    /// not change what the next call sends.
    pub fn needs_registration(&self) -> bool {
        match self.kind {
            ErrorKind::RoomNotFound | ErrorKind::ParticipantNotFound => true,
            ErrorKind::Rejected => self.status == StatusCode::NOT_FOUND.as_u16(),
            _ => false,
        }
    }

    /// What went wrong on this side, for failures the client detected itself
    /// ([`ErrorKind::Unreachable`], [`ErrorKind::InvalidResponse`]): e.g. "Connection
    /// refused (os error 111)", or the size limit a body exceeded.
    pub fn cause(&self) -> Option<&str> {
        if !matches!(
            self.kind,
            ErrorKind::Unreachable | ErrorKind::InvalidResponse
        ) {
            return None;
        }
        self.details.as_ref()?.get("cause")?.as_str()
    }

    /// The hub could not be reached, or the connection failed mid-answer.
    pub(crate) fn unreachable(hub_url: &str, cause: &reqwest::Error) -> Self {
        let cause = if cause.is_timeout() {
            "the request timed out".to_owned()
        } else {
            root_cause(cause)
        };
        Self {
            kind: ErrorKind::Unreachable,
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
            kind: ErrorKind::InvalidResponse,
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
                kind: ErrorKind::reported(status, &envelope.error.code),
                status: status.as_u16(),
                code: Some(envelope.error.code),
                message: envelope.error.message,
                hint: envelope.error.hint,
                details: envelope.error.details,
                request_id: Some(envelope.meta.request_id),
            },
            Err(_) => Self {
                kind: ErrorKind::InvalidResponse,
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
                kind: ErrorKind::RoomNotFound,
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
        assert_eq!(error.kind, ErrorKind::InvalidResponse);
        assert_eq!(error.code, None);
        assert_eq!(
            error.message,
            "Hub answered HTTP 502 Bad Gateway without an error envelope."
        );
        assert_eq!(error.request_id.as_deref(), Some("hdr"));
    }

    fn reported(status: u16, code: &str) -> ClientError {
        let body = json!({"error": {"code": code, "message": "m"}, "meta": {"requestId": "r"}});
        ClientError::from_error_body(
            StatusCode::from_u16(status).expect("a status"),
            body.to_string().as_bytes(),
            None,
        )
    }

    #[test]
    fn reported_errors_are_classified() {
        let cases = [
            (404, "ROOM_NOT_FOUND", ErrorKind::RoomNotFound),
            (404, "PARTICIPANT_NOT_FOUND", ErrorKind::ParticipantNotFound),
            (401, "INVALID_PASSWORD", ErrorKind::InvalidPassword),
            (400, "INVALID_REQUEST", ErrorKind::InvalidRequest),
            (422, "INVALID_REQUEST", ErrorKind::InvalidRequest),
            // A refused tunnel token, not a malformed call.
            (401, "INVALID_REQUEST", ErrorKind::Rejected),
            (500, "INVALID_REQUEST", ErrorKind::Rejected),
            (409, "PARTICIPANT_CONFLICT", ErrorKind::Conflict),
            (401, "UNAUTHORIZED", ErrorKind::Rejected),
            (500, "SOMETHING_NEW", ErrorKind::Rejected),
        ];
        for (status, code, kind) in cases {
            assert_eq!(reported(status, code).kind, kind, "{status} {code}");
        }
    }

    #[test]
    fn fatal_and_registration_classes() {
        // (error, is_fatal, needs_registration)
        let cases = [
            (reported(404, "ROOM_NOT_FOUND"), true, true),
            (reported(404, "PARTICIPANT_NOT_FOUND"), false, true),
            (reported(401, "INVALID_PASSWORD"), true, false),
            (reported(400, "INVALID_REQUEST"), true, false),
            (reported(409, "PARTICIPANT_CONFLICT"), false, false),
            (reported(401, "UNAUTHORIZED"), false, false),
            (reported(404, "SOMETHING_NEW"), false, true),
            (reported(503, "INTERNAL_ERROR"), false, false),
            (ClientError::invalid_response("bad", None), false, false),
        ];
        for (error, fatal, registration) in cases {
            assert_eq!(error.is_fatal(), fatal, "{error:?}");
            assert_eq!(error.needs_registration(), registration, "{error:?}");
        }
    }

    #[test]
    fn causes_are_only_the_clients_own() {
        let invalid = ClientError::invalid_response("the body is too large", None);
        assert_eq!(invalid.cause(), Some("the body is too large"));
        let mut hub = reported(500, "INTERNAL_ERROR");
        hub.details = Some(json!({"cause": "the hub's own detail"}));
        assert_eq!(hub.cause(), None);
    }
}
