//! The room event stream: what `GET /v1/rooms/{code}/events` sends as SSE.
//!
//! Every event travels as `event: <type>` plus one `data:` line holding
//! `{"type", "timestamp", "roomCode", "data"}`. Event types this build does not know parse
//! to [`RoomEventPayload::Unknown`] so that a newer hub never breaks an older watcher.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use crate::llm_protocol::LlmProtocol;
use crate::{Millis, ParticipantSummary, RoomSummary};

/// One event of a room's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomEvent {
    /// When the hub emitted it.
    pub timestamp: Millis,
    /// The room's canonical (upper-case) code.
    pub room_code: String,
    /// What happened.
    pub payload: RoomEventPayload,
}

/// What happened, by event type.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEventPayload {
    /// `connected`: first event of every subscription.
    Connected(ConnectedEvent),
    /// `room.created`.
    RoomCreated(RoomSummary),
    /// `participant.joined`: a new participant registered.
    ParticipantJoined(ParticipantSummary),
    /// `participant.updated`: a participant registered again.
    ParticipantUpdated(ParticipantSummary),
    /// `participant.left`: a participant was removed.
    ParticipantLeft(ParticipantRef),
    /// `participant.offline`: a participant missed its heartbeats.
    ParticipantOffline(ParticipantRef),
    /// `llm.request`: an inference request was routed.
    LlmRequest(LlmRequestEvent),
    /// `llm.complete`: an inference request finished.
    LlmComplete(LlmCompleteEvent),
    /// `llm.error`: an inference request failed.
    LlmError(LlmErrorEvent),
    /// `lagged` (Gambi extension): this subscriber fell behind and missed events.
    Lagged(LaggedEvent),
    /// An event type this build does not know.
    Unknown {
        /// The event type.
        kind: String,
        /// Its raw payload.
        data: Value,
    },
}

impl RoomEventPayload {
    /// The wire name of the event type.
    pub fn kind(&self) -> &str {
        match self {
            Self::Connected(_) => "connected",
            Self::RoomCreated(_) => "room.created",
            Self::ParticipantJoined(_) => "participant.joined",
            Self::ParticipantUpdated(_) => "participant.updated",
            Self::ParticipantLeft(_) => "participant.left",
            Self::ParticipantOffline(_) => "participant.offline",
            Self::LlmRequest(_) => "llm.request",
            Self::LlmComplete(_) => "llm.complete",
            Self::LlmError(_) => "llm.error",
            Self::Lagged(_) => "lagged",
            Self::Unknown { kind, .. } => kind,
        }
    }
}

/// Payload of `connected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedEvent {
    /// Id of this subscription.
    pub client_id: String,
}

/// Payload naming one participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantRef {
    /// The participant id.
    pub participant_id: String,
}

/// Payload of `lagged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaggedEvent {
    /// How many events this subscriber missed.
    pub skipped: u64,
}

/// Payload of `llm.request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmRequestEvent {
    /// Id of this inference request (also the tunnel request id).
    pub request_id: String,
    /// The participant chosen.
    pub participant_id: String,
    /// The `model` string the client sent.
    pub model: String,
    /// The protocol the client used.
    pub protocol: LlmProtocol,
    /// Whether the request is translated to the participant's other protocol.
    #[serde(default)]
    pub adapted: bool,
    /// Time spent waiting for a free slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_ms: Option<u64>,
    /// 1 for the first try, 2 for a failover retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// Timings and token counts of a finished request. Unknown values are omitted.
///
/// Times are milliseconds with microsecond precision: a fast local answer takes well under
/// a millisecond, and whole milliseconds would report it as `0` with no speed. A whole
/// number of milliseconds is still written as an integer (`25`, not `25.0`), so consumers
/// that expect integers keep working; every consumer reads a JSON number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmMetrics {
    /// Time from dispatch to the first content: the first content delta of a stream, or
    /// the answer itself for a non-streamed request.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub ttft_ms: Option<f64>,
    /// Time from dispatch to the end of the response.
    #[serde(serialize_with = "crate::number::value")]
    pub duration_ms: f64,
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt plus generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    /// Generated tokens per second of generation time (from the first content delta to the
    /// end for streams; the whole duration for non-streamed requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// Time spent waiting for a free slot.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub queue_ms: Option<f64>,
    /// The hub's own time before the request went down the tunnel: from its arrival to its
    /// dispatch, less the queue wait and the time its body took to arrive (Gambi extension).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub hub_ms: Option<f64>,
    /// The tunnel's round trip for this request: from dispatch to the response head, less
    /// the time the participant runtime held the request (Gambi extension; needs the
    /// runtime's `timing` extension).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub tunnel_ms: Option<f64>,
    /// The provider's time to first byte: from the runtime's request to the provider's
    /// response head, as the runtime measured it (Gambi extension; needs `timing`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub provider_ttfb_ms: Option<f64>,
    /// The provider's time to first token: the hub's time from dispatch to the first
    /// content, less the tunnel's round trip and the runtime's own time (Gambi extension;
    /// needs `timing`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub provider_ttft_ms: Option<f64>,
    /// How long the client took to read the end of a stream: from the last byte the hub
    /// received to the last byte the client took (Gambi extension; streams only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub client_read_ms: Option<f64>,
}

/// Payload of `llm.complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmCompleteEvent {
    /// Id of the inference request.
    pub request_id: String,
    /// The participant that answered.
    pub participant_id: String,
    /// The participant's model.
    pub model: String,
    /// The protocol spoken with the participant.
    pub protocol: LlmProtocol,
    /// The protocol the client used (Gambi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_protocol: Option<LlmProtocol>,
    /// Whether the answer was translated between protocols.
    #[serde(default)]
    pub adapted: bool,
    /// HTTP status the provider answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Timings and token counts.
    pub metrics: LlmMetrics,
}

/// Payload of `llm.error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmErrorEvent {
    /// Id of the inference request.
    pub request_id: String,
    /// The participant involved, when one was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    /// Its nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Its endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The requested model, or the participant's once the stream started.
    pub model: String,
    /// The protocol in use when it failed.
    pub protocol: LlmProtocol,
    /// The protocol the client used (Gambi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_protocol: Option<LlmProtocol>,
    /// Whether the request was being translated between protocols.
    #[serde(default)]
    pub adapted: bool,
    /// Where it failed: see [`stage`].
    pub stage: String,
    /// What failed, in words.
    pub error: String,
    /// Timings up to the failure (Gambi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<LlmMetrics>,
    /// 1 for the first try, 2 for a failover retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// Values of [`LlmErrorEvent::stage`].
pub mod stage {
    /// No participant could be chosen (queue full, wait timed out, nothing can serve it).
    pub const ROUTING: &str = "routing";
    /// The request failed before the response started (tunnel gone, provider unreachable).
    pub const DISPATCH: &str = "dispatch";
    /// The response failed after it started.
    pub const STREAM: &str = "stream";
    /// The client went away before the response was complete.
    pub const CANCELLED: &str = "cancelled";
}

impl Serialize for RoomEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("type", self.payload.kind())?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("roomCode", &self.room_code)?;
        match &self.payload {
            RoomEventPayload::Connected(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::RoomCreated(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::ParticipantJoined(data)
            | RoomEventPayload::ParticipantUpdated(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::ParticipantLeft(data)
            | RoomEventPayload::ParticipantOffline(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::LlmRequest(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::LlmComplete(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::LlmError(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::Lagged(data) => map.serialize_entry("data", data)?,
            RoomEventPayload::Unknown { data, .. } => map.serialize_entry("data", data)?,
        }
        map.end()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoomEvent {
    #[serde(rename = "type")]
    kind: String,
    timestamp: Millis,
    room_code: String,
    #[serde(default)]
    data: Value,
}

impl<'de> Deserialize<'de> for RoomEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawRoomEvent::deserialize(deserializer)?;
        fn typed<T: serde::de::DeserializeOwned, E: serde::de::Error>(data: Value) -> Result<T, E> {
            serde_json::from_value(data).map_err(E::custom)
        }
        let payload = match raw.kind.as_str() {
            "connected" => RoomEventPayload::Connected(typed(raw.data)?),
            "room.created" => RoomEventPayload::RoomCreated(typed(raw.data)?),
            "participant.joined" => RoomEventPayload::ParticipantJoined(typed(raw.data)?),
            "participant.updated" => RoomEventPayload::ParticipantUpdated(typed(raw.data)?),
            "participant.left" => RoomEventPayload::ParticipantLeft(typed(raw.data)?),
            "participant.offline" => RoomEventPayload::ParticipantOffline(typed(raw.data)?),
            "llm.request" => RoomEventPayload::LlmRequest(typed(raw.data)?),
            "llm.complete" => RoomEventPayload::LlmComplete(typed(raw.data)?),
            "llm.error" => RoomEventPayload::LlmError(typed(raw.data)?),
            "lagged" => RoomEventPayload::Lagged(typed(raw.data)?),
            "" => return Err(D::Error::custom("event type is empty")),
            _ => RoomEventPayload::Unknown {
                kind: raw.kind,
                data: raw.data,
            },
        };
        Ok(Self {
            timestamp: raw.timestamp,
            room_code: raw.room_code,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(event: RoomEvent, expected: Value) {
        assert_eq!(
            serde_json::to_value(&event).expect("serializable"),
            expected
        );
        let parsed: RoomEvent = serde_json::from_value(expected).expect("parses back");
        assert_eq!(parsed, event);
    }

    fn event(payload: RoomEventPayload) -> RoomEvent {
        RoomEvent {
            timestamp: 10,
            room_code: "ABC123".into(),
            payload,
        }
    }

    #[test]
    fn connected_left_offline_lagged() {
        check(
            event(RoomEventPayload::Connected(ConnectedEvent {
                client_id: "c1".into(),
            })),
            json!({"type": "connected", "timestamp": 10, "roomCode": "ABC123", "data": {"clientId": "c1"}}),
        );
        check(
            event(RoomEventPayload::ParticipantLeft(ParticipantRef {
                participant_id: "p1".into(),
            })),
            json!({"type": "participant.left", "timestamp": 10, "roomCode": "ABC123", "data": {"participantId": "p1"}}),
        );
        check(
            event(RoomEventPayload::ParticipantOffline(ParticipantRef {
                participant_id: "p1".into(),
            })),
            json!({"type": "participant.offline", "timestamp": 10, "roomCode": "ABC123", "data": {"participantId": "p1"}}),
        );
        check(
            event(RoomEventPayload::Lagged(LaggedEvent { skipped: 7 })),
            json!({"type": "lagged", "timestamp": 10, "roomCode": "ABC123", "data": {"skipped": 7}}),
        );
    }

    #[test]
    fn llm_events() {
        check(
            event(RoomEventPayload::LlmRequest(LlmRequestEvent {
                request_id: "r1".into(),
                participant_id: "p1".into(),
                model: "*".into(),
                protocol: LlmProtocol::OpenResponses,
                adapted: true,
                queue_ms: Some(3),
                attempt: None,
            })),
            json!({"type": "llm.request", "timestamp": 10, "roomCode": "ABC123", "data": {
                "requestId": "r1", "participantId": "p1", "model": "*",
                "protocol": "openResponses", "adapted": true, "queueMs": 3
            }}),
        );
        check(
            event(RoomEventPayload::LlmComplete(LlmCompleteEvent {
                request_id: "r1".into(),
                participant_id: "p1".into(),
                model: "llama3".into(),
                protocol: LlmProtocol::ChatCompletions,
                client_protocol: Some(LlmProtocol::OpenResponses),
                adapted: true,
                status: Some(200),
                metrics: LlmMetrics {
                    ttft_ms: Some(5.0),
                    duration_ms: 25.0,
                    input_tokens: Some(10),
                    output_tokens: Some(20),
                    total_tokens: Some(30),
                    tokens_per_second: Some(1000.0),
                    ..LlmMetrics::default()
                },
            })),
            json!({"type": "llm.complete", "timestamp": 10, "roomCode": "ABC123", "data": {
                "requestId": "r1", "participantId": "p1", "model": "llama3",
                "protocol": "chatCompletions", "clientProtocol": "openResponses",
                "adapted": true, "status": 200,
                "metrics": {"ttftMs": 5, "durationMs": 25, "inputTokens": 10,
                            "outputTokens": 20, "totalTokens": 30, "tokensPerSecond": 1000.0}
            }}),
        );
        // Below a millisecond: fractions, and whole values stay integers.
        let fast = LlmMetrics {
            ttft_ms: Some(0.125),
            duration_ms: 0.4,
            output_tokens: Some(2),
            tokens_per_second: Some(7272.727),
            queue_ms: Some(0.0),
            ..LlmMetrics::default()
        };
        let wire = serde_json::to_string(&fast).expect("serializable");
        assert_eq!(
            wire,
            r#"{"ttftMs":0.125,"durationMs":0.4,"outputTokens":2,"tokensPerSecond":7272.727,"queueMs":0}"#
        );
        let back: LlmMetrics = serde_json::from_str(&wire).expect("parses");
        assert_eq!(back, fast);
        let whole: LlmMetrics =
            serde_json::from_str(r#"{"durationMs":25,"ttftMs":5}"#).expect("integers parse");
        assert_eq!((whole.duration_ms, whole.ttft_ms), (25.0, Some(5.0)));
        // The latency breakdown: additive, fractions kept, omitted when unknown.
        let breakdown = LlmMetrics {
            duration_ms: 30.0,
            queue_ms: Some(2.0),
            hub_ms: Some(0.125),
            tunnel_ms: Some(1.5),
            provider_ttfb_ms: Some(12.0),
            provider_ttft_ms: Some(20.25),
            client_read_ms: Some(0.0),
            ..LlmMetrics::default()
        };
        let wire = serde_json::to_string(&breakdown).expect("serializable");
        assert_eq!(
            wire,
            r#"{"durationMs":30,"queueMs":2,"hubMs":0.125,"tunnelMs":1.5,"providerTtfbMs":12,"providerTtftMs":20.25,"clientReadMs":0}"#
        );
        let back: LlmMetrics = serde_json::from_str(&wire).expect("parses");
        assert_eq!(back, breakdown);
        check(
            event(RoomEventPayload::LlmError(LlmErrorEvent {
                request_id: "r1".into(),
                participant_id: Some("p1".into()),
                nickname: Some("Alice".into()),
                endpoint: Some("http://localhost:11434".into()),
                model: "llama3".into(),
                protocol: LlmProtocol::ChatCompletions,
                client_protocol: None,
                adapted: false,
                stage: stage::STREAM.into(),
                error: "Participant tunnel disconnected.".into(),
                metrics: None,
                attempt: None,
            })),
            json!({"type": "llm.error", "timestamp": 10, "roomCode": "ABC123", "data": {
                "requestId": "r1", "participantId": "p1", "nickname": "Alice",
                "endpoint": "http://localhost:11434", "model": "llama3",
                "protocol": "chatCompletions", "adapted": false, "stage": "stream",
                "error": "Participant tunnel disconnected."
            }}),
        );
    }

    #[test]
    fn original_llm_events_parse() {
        let parsed: RoomEvent = serde_json::from_value(json!({
            "type": "llm.complete", "timestamp": 1, "roomCode": "ABC123",
            "data": {"requestId": "r", "participantId": "p", "model": "m",
                     "protocol": "openResponses", "metrics": {"ttftMs": 1, "durationMs": 1}}
        }))
        .expect("original shape parses");
        assert_eq!(parsed.payload.kind(), "llm.complete");
    }

    #[test]
    fn unknown_event_types_are_kept() {
        check(
            event(RoomEventPayload::Unknown {
                kind: "room.renamed".into(),
                data: json!({"name": "x"}),
            }),
            json!({"type": "room.renamed", "timestamp": 10, "roomCode": "ABC123", "data": {"name": "x"}}),
        );
    }

    #[test]
    fn malformed_known_events_are_errors() {
        let result: Result<RoomEvent, _> = serde_json::from_value(json!({
            "type": "participant.left", "timestamp": 1, "roomCode": "A", "data": {"nope": 1}
        }));
        assert!(result.is_err());
    }
}
