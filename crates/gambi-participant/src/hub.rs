//! The management calls a participant makes to its hub: register (`PUT`), heartbeat and
//! leave (`DELETE`), with the `{data, meta}` / `{error, meta}` envelopes decoded into
//! typed errors.

use std::time::Duration;

use gambi_protocol as proto;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

/// Time limit of one management call.
const HUB_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest management response read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A management call to the hub failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HubError {
    /// The hub has no room with this code.
    #[error("room not found: {message}")]
    RoomNotFound {
        /// The hub's message.
        message: String,
    },
    /// The hub does not know this participant (it was removed, or the hub restarted).
    #[error("participant not found: {message}")]
    ParticipantNotFound {
        /// The hub's message.
        message: String,
    },
    /// The room password is missing or wrong.
    #[error("invalid password: {message}")]
    InvalidPassword {
        /// The hub's message.
        message: String,
    },
    /// The hub refused the registration as malformed.
    #[error("invalid request: {message}{}", in_parentheses(hint.as_deref()))]
    InvalidRequest {
        /// The hub's message.
        message: String,
        /// What the hub suggests doing.
        hint: Option<String>,
    },
    /// The participant id is held by someone else's live session.
    #[error("participant id in use: {message}")]
    Conflict {
        /// The hub's message.
        message: String,
    },
    /// The hub refused the call for another reason.
    #[error("hub answered {status} {code}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Error code from the envelope.
        code: proto::ErrorCode,
        /// The hub's message.
        message: String,
    },
    /// The hub could not be reached, or did not answer in time.
    #[error("failed to reach hub: {0}")]
    Unreachable(String),
    /// The hub answered something that is not a management envelope.
    #[error("invalid response from hub (HTTP {status}): {detail}")]
    InvalidResponse {
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
}

impl HubError {
    /// True when retrying the same registration cannot succeed: the room is gone, the
    /// password is wrong, or the hub refuses the registration itself.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::RoomNotFound { .. } | Self::InvalidPassword { .. } | Self::InvalidRequest { .. }
        )
    }

    /// True when the hub answered that it no longer knows this participant (or its room),
    /// so registering again is the way forward.
    ///
    /// A refused credential (`401`/`403`) is not in this class: registering again would
    /// not change what the heartbeat sends, and the session would drop its tunnel every
    /// heartbeat for nothing.
    pub(crate) fn needs_registration(&self) -> bool {
        match self {
            Self::RoomNotFound { .. } | Self::ParticipantNotFound { .. } => true,
            Self::Rejected { status, .. } => *status == 404,
            _ => false,
        }
    }
}

/// ` (hint)`, or nothing without a hint.
fn in_parentheses(hint: Option<&str>) -> String {
    hint.map(|hint| format!(" ({hint})")).unwrap_or_default()
}

/// Management client for one participant of one room.
#[derive(Debug, Clone)]
pub(crate) struct HubClient {
    http: reqwest::Client,
    participant_url: Url,
}

impl HubClient {
    /// A client for `{hub}/v1/rooms/{room}/participants/{participant}`; `None` if `hub`
    /// cannot carry a path (e.g. `mailto:`).
    pub(crate) fn new(
        http: reqwest::Client,
        hub: &Url,
        room: &str,
        participant: &str,
    ) -> Option<Self> {
        if !matches!(hub.scheme(), "http" | "https") {
            return None;
        }
        let mut url = hub.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut().ok()?.pop_if_empty().extend([
            "v1",
            "rooms",
            room,
            "participants",
            participant,
        ]);
        Some(Self {
            http,
            participant_url: url,
        })
    }

    /// `PUT` the registration; the hub answers with a fresh tunnel token.
    pub(crate) async fn register(
        &self,
        registration: &proto::ParticipantRegistration,
        session: Option<&str>,
    ) -> Result<proto::UpsertParticipantResponse, HubError> {
        let request = self
            .http
            .put(self.participant_url.clone())
            .json(registration);
        call(with_session(request, session)).await
    }

    /// `POST …/heartbeat`.
    pub(crate) async fn heartbeat(
        &self,
        session: Option<&str>,
    ) -> Result<proto::HeartbeatResponse, HubError> {
        let mut url = self.participant_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push("heartbeat");
        }
        call(with_session(self.http.post(url), session)).await
    }

    /// `DELETE` the participant.
    pub(crate) async fn leave(&self, session: Option<&str>) -> Result<(), HubError> {
        let request = self.http.delete(self.participant_url.clone());
        call::<serde_json::Value>(with_session(request, session))
            .await
            .map(drop)
    }
}

fn with_session(
    request: reqwest::RequestBuilder,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    match session {
        Some(token) => request.header(proto::SESSION_HEADER, token),
        None => request,
    }
}

async fn call<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, HubError> {
    let response = request
        .timeout(HUB_TIMEOUT)
        .send()
        .await
        .map_err(|error| HubError::Unreachable(error_chain(&error.without_url())))?;
    let status = response.status();
    let body = read_body(response)
        .await
        .map_err(|error| HubError::Unreachable(error_chain(&error.without_url())))?;
    decode(status, &body)
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Decodes a management response: `{data}` on success, `{error}` otherwise.
fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, HubError> {
    if status.is_success() {
        return serde_json::from_slice::<proto::Envelope<T>>(body)
            .map(|envelope| envelope.data)
            .map_err(|error| HubError::InvalidResponse {
                status: status.as_u16(),
                detail: error.to_string(),
            });
    }
    let Ok(envelope) = serde_json::from_slice::<proto::ErrorEnvelope>(body) else {
        return Err(HubError::InvalidResponse {
            status: status.as_u16(),
            detail: format!(
                "request failed: {}",
                status.canonical_reason().unwrap_or("unknown status")
            ),
        });
    };
    let proto::ApiErrorBody {
        code,
        message,
        hint,
        ..
    } = envelope.error;
    Err(match code {
        proto::ErrorCode::RoomNotFound => HubError::RoomNotFound { message },
        proto::ErrorCode::ParticipantNotFound => HubError::ParticipantNotFound { message },
        proto::ErrorCode::InvalidPassword => HubError::InvalidPassword { message },
        proto::ErrorCode::InvalidRequest if status.is_client_error() && status != 401 => {
            HubError::InvalidRequest { message, hint }
        }
        proto::ErrorCode::ParticipantConflict => HubError::Conflict { message },
        code => HubError::Rejected {
            status: status.as_u16(),
            code,
            message,
        },
    })
}

/// An error and its causes, joined with `: `.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error_body(code: &str, message: &str) -> Vec<u8> {
        json!({"error": {"code": code, "message": message, "hint": "try again"},
               "meta": {"requestId": "r"}})
        .to_string()
        .into_bytes()
    }

    fn check(status: u16, body: &[u8], expected: HubError) {
        let status = StatusCode::from_u16(status).expect("valid status");
        assert_eq!(
            decode::<serde_json::Value>(status, body).expect_err("an error"),
            expected
        );
    }

    #[test]
    fn error_envelopes_map_to_typed_errors() {
        check(
            404,
            &error_body("ROOM_NOT_FOUND", "Room not found."),
            HubError::RoomNotFound {
                message: "Room not found.".into(),
            },
        );
        check(
            401,
            &error_body("INVALID_PASSWORD", "Invalid password."),
            HubError::InvalidPassword {
                message: "Invalid password.".into(),
            },
        );
        check(
            400,
            &error_body("INVALID_REQUEST", "Missing required fields."),
            HubError::InvalidRequest {
                message: "Missing required fields.".into(),
                hint: Some("try again".into()),
            },
        );
        check(
            404,
            &error_body("PARTICIPANT_NOT_FOUND", "Participant not found."),
            HubError::ParticipantNotFound {
                message: "Participant not found.".into(),
            },
        );
        check(
            409,
            &error_body("PARTICIPANT_CONFLICT", "Held."),
            HubError::Conflict {
                message: "Held.".into(),
            },
        );
        check(
            401,
            &error_body("INVALID_REQUEST", "Tunnel token is invalid or expired."),
            HubError::Rejected {
                status: 401,
                code: proto::ErrorCode::InvalidRequest,
                message: "Tunnel token is invalid or expired.".into(),
            },
        );
        check(
            500,
            &error_body("SOMETHING_NEW", "Boom."),
            HubError::Rejected {
                status: 500,
                code: proto::ErrorCode::Other("SOMETHING_NEW".into()),
                message: "Boom.".into(),
            },
        );
        check(
            502,
            b"<html>Bad Gateway</html>",
            HubError::InvalidResponse {
                status: 502,
                detail: "request failed: Bad Gateway".into(),
            },
        );
    }

    #[test]
    fn success_envelopes_yield_data() {
        let body = json!({"data": {"success": true, "status": "online", "lastSeen": 5},
                          "meta": {"requestId": "r"}});
        let heartbeat: proto::HeartbeatResponse =
            decode(StatusCode::OK, body.to_string().as_bytes()).expect("decodes");
        assert_eq!(heartbeat.last_seen, 5);
        assert!(matches!(
            decode::<proto::HeartbeatResponse>(StatusCode::OK, b"{}"),
            Err(HubError::InvalidResponse { status: 200, .. })
        ));
    }

    #[test]
    fn fatal_and_reregistration_classes() {
        let room = HubError::RoomNotFound {
            message: String::new(),
        };
        let gone = HubError::ParticipantNotFound {
            message: String::new(),
        };
        let down = HubError::Unreachable("refused".into());
        let password = HubError::InvalidPassword {
            message: String::new(),
        };
        let unauthorized = HubError::Rejected {
            status: 401,
            code: proto::ErrorCode::Unauthorized,
            message: String::new(),
        };
        assert!(room.is_fatal() && room.needs_registration());
        assert!(!gone.is_fatal() && gone.needs_registration());
        assert!(!down.is_fatal() && !down.needs_registration());
        assert!(password.is_fatal() && !password.needs_registration());
        assert!(!unauthorized.is_fatal() && !unauthorized.needs_registration());
    }

    #[test]
    fn participant_urls_are_built_per_segment() {
        let client = HubClient::new(
            reqwest::Client::new(),
            &Url::parse("http://127.0.0.1:3000/").expect("url"),
            "ABC123",
            "a b/c",
        )
        .expect("http hub");
        assert_eq!(
            client.participant_url.as_str(),
            "http://127.0.0.1:3000/v1/rooms/ABC123/participants/a%20b%2Fc"
        );
        assert!(
            HubClient::new(
                reqwest::Client::new(),
                &Url::parse("mailto:x@y").expect("url"),
                "A",
                "b"
            )
            .is_none()
        );
    }
}
