//! Error codes carried in management error envelopes and, as `code`, in OpenAI-shaped
//! inference errors.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A machine-readable error code.
///
/// The first group is the original system's; the second group is ours. Codes this build
/// does not know deserialize to [`ErrorCode::Other`] so that a newer peer never breaks an
/// older client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The room code matches no room.
    RoomNotFound,
    /// The participant id matches no participant of the room.
    ParticipantNotFound,
    /// The request is malformed: bad JSON, a missing or invalid field, an unknown route.
    InvalidRequest,
    /// The room password is missing or wrong.
    InvalidPassword,
    /// The hub failed for a reason the caller cannot fix.
    InternalError,
    /// The participant's provider could not be reached.
    EndpointNotReachable,
    /// The participant id is held by a live session of someone else.
    ParticipantConflict,
    /// Every slot of the targeted participant is taken.
    ParticipantBusy,
    /// The targeted participant has no open tunnel.
    ParticipantTunnelNotConnected,
    /// No participant serves the requested model.
    ModelNotFound,
    /// The room's wait queue is full.
    QueueFull,
    /// The request waited in the queue for longer than the hub allows.
    QueueTimeout,
    /// The caller is not authorised (admin token or room password required).
    Unauthorized,
    /// The response id is unknown to this room.
    ResponseNotFound,
    /// The request body is larger than the hub accepts.
    PayloadTooLarge,
    /// The provider failed while answering.
    ProviderError,
    /// The participant's tunnel dropped while the request was in flight.
    TunnelDisconnected,
    /// The request cannot be translated to a protocol the participant speaks.
    UnsupportedFeature,
    /// Participants serve the requested model, but none of them is online.
    NoParticipantOnline,
    /// An event stream already has as many subscribers as the hub allows.
    TooManySubscribers,
    /// The hub is shutting down: it takes no new requests, and ends those still running
    /// when its grace period is over.
    HubShuttingDown,
    /// A code this build does not know.
    Other(String),
}

impl ErrorCode {
    /// The wire spelling, e.g. `ROOM_NOT_FOUND`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::RoomNotFound => "ROOM_NOT_FOUND",
            Self::ParticipantNotFound => "PARTICIPANT_NOT_FOUND",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidPassword => "INVALID_PASSWORD",
            Self::InternalError => "INTERNAL_ERROR",
            Self::EndpointNotReachable => "ENDPOINT_NOT_REACHABLE",
            Self::ParticipantConflict => "PARTICIPANT_CONFLICT",
            Self::ParticipantBusy => "PARTICIPANT_BUSY",
            Self::ParticipantTunnelNotConnected => "PARTICIPANT_TUNNEL_NOT_CONNECTED",
            Self::ModelNotFound => "MODEL_NOT_FOUND",
            Self::QueueFull => "QUEUE_FULL",
            Self::QueueTimeout => "QUEUE_TIMEOUT",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::ResponseNotFound => "RESPONSE_NOT_FOUND",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::ProviderError => "PROVIDER_ERROR",
            Self::TunnelDisconnected => "TUNNEL_DISCONNECTED",
            Self::UnsupportedFeature => "UNSUPPORTED_FEATURE",
            Self::NoParticipantOnline => "NO_PARTICIPANT_ONLINE",
            Self::TooManySubscribers => "TOO_MANY_SUBSCRIBERS",
            Self::HubShuttingDown => "HUB_SHUTTING_DOWN",
            Self::Other(code) => code,
        }
    }

    /// Parses a wire spelling; unknown codes become [`ErrorCode::Other`].
    pub fn parse(code: &str) -> Self {
        match code {
            "ROOM_NOT_FOUND" => Self::RoomNotFound,
            "PARTICIPANT_NOT_FOUND" => Self::ParticipantNotFound,
            "INVALID_REQUEST" => Self::InvalidRequest,
            "INVALID_PASSWORD" => Self::InvalidPassword,
            "INTERNAL_ERROR" => Self::InternalError,
            "ENDPOINT_NOT_REACHABLE" => Self::EndpointNotReachable,
            "PARTICIPANT_CONFLICT" => Self::ParticipantConflict,
            "PARTICIPANT_BUSY" => Self::ParticipantBusy,
            "PARTICIPANT_TUNNEL_NOT_CONNECTED" => Self::ParticipantTunnelNotConnected,
            "MODEL_NOT_FOUND" => Self::ModelNotFound,
            "QUEUE_FULL" => Self::QueueFull,
            "QUEUE_TIMEOUT" => Self::QueueTimeout,
            "UNAUTHORIZED" => Self::Unauthorized,
            "RESPONSE_NOT_FOUND" => Self::ResponseNotFound,
            "PAYLOAD_TOO_LARGE" => Self::PayloadTooLarge,
            "PROVIDER_ERROR" => Self::ProviderError,
            "TUNNEL_DISCONNECTED" => Self::TunnelDisconnected,
            "UNSUPPORTED_FEATURE" => Self::UnsupportedFeature,
            "NO_PARTICIPANT_ONLINE" => Self::NoParticipantOnline,
            "TOO_MANY_SUBSCRIBERS" => Self::TooManySubscribers,
            "HUB_SHUTTING_DOWN" => Self::HubShuttingDown,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::parse(&code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips() {
        let codes = [
            ErrorCode::RoomNotFound,
            ErrorCode::ParticipantNotFound,
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidPassword,
            ErrorCode::InternalError,
            ErrorCode::EndpointNotReachable,
            ErrorCode::ParticipantConflict,
            ErrorCode::ParticipantBusy,
            ErrorCode::ParticipantTunnelNotConnected,
            ErrorCode::ModelNotFound,
            ErrorCode::QueueFull,
            ErrorCode::QueueTimeout,
            ErrorCode::Unauthorized,
            ErrorCode::ResponseNotFound,
            ErrorCode::PayloadTooLarge,
            ErrorCode::ProviderError,
            ErrorCode::TunnelDisconnected,
            ErrorCode::UnsupportedFeature,
            ErrorCode::NoParticipantOnline,
            ErrorCode::TooManySubscribers,
            ErrorCode::HubShuttingDown,
        ];
        for code in codes {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            assert!(!matches!(
                ErrorCode::parse(code.as_str()),
                ErrorCode::Other(_)
            ));
        }
    }

    #[test]
    fn unknown_codes_are_kept_verbatim() {
        let code: ErrorCode = serde_json::from_str("\"SOMETHING_NEW\"").expect("a string");
        assert_eq!(code, ErrorCode::Other("SOMETHING_NEW".into()));
        assert_eq!(
            serde_json::to_string(&code).expect("serializable"),
            "\"SOMETHING_NEW\""
        );
    }
}
