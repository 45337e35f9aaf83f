//! Frames exchanged over a participant tunnel (a WebSocket of JSON text frames).
//!
//! Messages are typed by direction: [`HubToParticipant`] and [`ParticipantToHub`]. Each is
//! a JSON object tagged by `type`. Response bodies travel as standard base64 in
//! `tunnel.response.chunk`, as in the original protocol.
//!
//! Extensions, which a participant that does not know them ignores as it ignores every
//! unknown type: `tunnel.cancel` (the hub aborts a request), and, once negotiated at
//! registration ([`crate::TunnelExtensions`]), `tunnel.credit` (flow control),
//! [`BinaryChunk`] messages carrying body bytes without JSON or base64, and the runtime's
//! [`ResponseTiming`] on `tunnel.response.start`. A `tunnel.request` may also carry W3C
//! trace context in its `metadata` ([`TRACE_CONTEXT`]), which the original runtime never
//! reads.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Millis;

/// Names of `tunnel.request` operations.
pub mod operation {
    /// `POST /v1/responses`.
    pub const RESPONSES_CREATE: &str = "responses.create";
    /// `POST /v1/chat/completions`.
    pub const CHAT_COMPLETIONS_CREATE: &str = "chat.completions.create";
    /// `GET /v1/responses/{id}`.
    pub const RESPONSES_GET: &str = "responses.get";
    /// `DELETE /v1/responses/{id}`.
    pub const RESPONSES_DELETE: &str = "responses.delete";
    /// `POST /v1/responses/{id}/cancel`.
    pub const RESPONSES_CANCEL: &str = "responses.cancel";
    /// `GET /v1/responses/{id}/input_items`.
    pub const RESPONSES_INPUT_ITEMS: &str = "responses.input_items";
}

/// A frame the hub sends to a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum HubToParticipant {
    /// Forward an HTTP request to the provider.
    #[serde(rename = "tunnel.request")]
    Request(TunnelRequest),
    /// Reply to a `tunnel.ping`.
    #[serde(rename = "tunnel.pong")]
    Pong {
        /// The hub's clock.
        timestamp: Millis,
    },
    /// Abort a forwarded request: its client went away (Gambi extension).
    #[serde(rename = "tunnel.cancel")]
    Cancel {
        /// The request to abort.
        #[serde(rename = "requestId")]
        request_id: String,
    },
    /// The request may send `bytes` more body bytes: its client has read that much
    /// (Gambi extension, with flow control negotiated).
    #[serde(rename = "tunnel.credit")]
    Credit {
        /// The request granted.
        #[serde(rename = "requestId")]
        request_id: String,
        /// Body bytes granted, on top of what was granted before.
        bytes: u64,
    },
}

/// An HTTP request for the participant to send to its provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelRequest {
    /// Correlates the response frames with this request.
    pub request_id: String,
    /// What the request does, e.g. `chat.completions.create` (see [`operation`]).
    pub operation: String,
    /// HTTP method: `GET`, `POST` or `DELETE`.
    pub method: String,
    /// Path to append to the provider endpoint, including any query string.
    pub path: String,
    /// Headers to send; provider credentials are added by the participant, never here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body, absent when the request has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Whether the client asked for a streamed response.
    #[serde(default)]
    pub stream: bool,
    /// Free-form metadata. The original hub never sets it and the original runtime never
    /// reads it; our hub may put W3C trace context under [`TRACE_CONTEXT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Key of a `tunnel.request`'s `metadata` under which a hub sends the W3C trace context of
/// the span that dispatched the request (Gambi extension): an object of strings,
/// `traceparent` and, when there is one, `tracestate`, as the HTTP headers of those names
/// would carry them.
///
/// It travels in `metadata` rather than in `headers` because the original runtime sends
/// every entry of `headers` to its provider and ignores `metadata`: trace context reaches
/// only a runtime that asks for it, never a provider.
pub const TRACE_CONTEXT: &str = "traceContext";

/// Longest trace context value kept ([`TunnelRequest::trace_context`]); W3C asks that 512
/// characters of `tracestate` be propagated, and allows dropping more.
pub const MAX_TRACE_CONTEXT_VALUE: usize = 512;

impl TunnelRequest {
    /// The trace context in `metadata` ([`TRACE_CONTEXT`]): its string entries no longer
    /// than [`MAX_TRACE_CONTEXT_VALUE`]; empty when there is none.
    pub fn trace_context(&self) -> BTreeMap<String, String> {
        let Some(Value::Object(entries)) = self
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get(TRACE_CONTEXT))
        else {
            return BTreeMap::new();
        };
        entries
            .iter()
            .filter_map(|(key, value)| Some((key, value.as_str()?)))
            .filter(|(_, value)| value.len() <= MAX_TRACE_CONTEXT_VALUE)
            .map(|(key, value)| (key.clone(), value.to_owned()))
            .collect()
    }

    /// Puts `entries` in `metadata` as the trace context, next to any other metadata;
    /// nothing changes when `entries` is empty or `metadata` is not an object.
    pub fn set_trace_context(&mut self, entries: BTreeMap<String, String>) {
        if entries.is_empty() {
            return;
        }
        let metadata = self
            .metadata
            .get_or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(metadata) = metadata {
            let entries = entries
                .into_iter()
                .map(|(key, value)| (key, Value::String(value)))
                .collect();
            metadata.insert(TRACE_CONTEXT.to_owned(), Value::Object(entries));
        }
    }
}

/// A frame a participant sends to the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ParticipantToHub {
    /// Keep-alive; the hub answers with `tunnel.pong`.
    #[serde(rename = "tunnel.ping")]
    Ping {
        /// The participant's clock.
        timestamp: Millis,
    },
    /// The provider answered: status and headers.
    #[serde(rename = "tunnel.response.start", rename_all = "camelCase")]
    ResponseStart {
        /// The request this answers.
        request_id: String,
        /// HTTP status, 100 to 599.
        status: u16,
        /// Provider response headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// How long the runtime and its provider took (Gambi extension, with `timing`
        /// negotiated).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timing: Option<ResponseTiming>,
    },
    /// A piece of the response body, standard base64.
    #[serde(rename = "tunnel.response.chunk", rename_all = "camelCase")]
    ResponseChunk {
        /// The request this belongs to.
        request_id: String,
        /// The bytes, base64-encoded.
        chunk: String,
    },
    /// The response body is complete.
    #[serde(rename = "tunnel.response.end", rename_all = "camelCase")]
    ResponseEnd {
        /// The request that finished.
        request_id: String,
    },
    /// The request failed on the participant's side.
    #[serde(rename = "tunnel.response.error", rename_all = "camelCase")]
    ResponseError {
        /// The request that failed.
        request_id: String,
        /// Where it failed (the original runtime sends `proxy`).
        stage: String,
        /// What failed, in words.
        message: String,
    },
}

/// What a runtime with the `timing` extension reports on `tunnel.response.start`: times in
/// milliseconds measured on its own clock, so the two clocks never need to agree.
///
/// With the hub's own times (when it dispatched the request, when the head arrived) they
/// split a request's time between the tunnel and the provider: the tunnel's round trip is
/// the hub's dispatch-to-head time less `runtime_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseTiming {
    /// From the runtime taking the `tunnel.request` to it sending this frame.
    #[serde(serialize_with = "crate::number::value")]
    pub runtime_ms: f64,
    /// From the runtime sending the request to its provider to the provider's response
    /// head: the provider's time to first byte.
    #[serde(serialize_with = "crate::number::value")]
    pub provider_ttfb_ms: f64,
}

impl ResponseTiming {
    /// The same timing with every value a finite, non-negative number (a peer's values are
    /// not trusted), and `provider_ttfb_ms` no longer than `runtime_ms`.
    pub fn sanitized(self) -> Self {
        let clean = |ms: f64| if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        let runtime_ms = clean(self.runtime_ms);
        Self {
            runtime_ms,
            provider_ttfb_ms: clean(self.provider_ttfb_ms).min(runtime_ms),
        }
    }
}

/// Why a received frame was not understood. The receiver ignores such frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame is not a JSON object with a string `type`.
    #[error("frame is not a JSON object with a type: {0}")]
    Malformed(String),
    /// The frame's `type` is not one this side handles.
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    /// The frame has a known type but invalid fields.
    #[error("invalid {kind} frame: {reason}")]
    Invalid {
        /// The frame type.
        kind: String,
        /// What is wrong.
        reason: String,
    },
}

impl FrameError {
    /// True for frames of a type this side does not know, which peers may legitimately
    /// send (newer extensions); false for frames that are broken.
    pub fn is_unknown_type(&self) -> bool {
        matches!(self, Self::UnknownType(_))
    }
}

const PARTICIPANT_TO_HUB_TYPES: &[&str] = &[
    "tunnel.ping",
    "tunnel.response.start",
    "tunnel.response.chunk",
    "tunnel.response.end",
    "tunnel.response.error",
];

const HUB_TO_PARTICIPANT_TYPES: &[&str] = &[
    "tunnel.request",
    "tunnel.pong",
    "tunnel.cancel",
    "tunnel.credit",
];

/// Explains why `text` failed to parse as one of `known` frame types.
fn classify(text: &str, known: &[&str], error: &serde_json::Error) -> FrameError {
    #[derive(Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        kind: String,
    }
    match serde_json::from_str::<Tag>(text) {
        Err(_) => FrameError::Malformed(error.to_string()),
        Ok(tag) if known.contains(&tag.kind.as_str()) => FrameError::Invalid {
            kind: tag.kind,
            reason: error.to_string(),
        },
        Ok(tag) => FrameError::UnknownType(tag.kind),
    }
}

impl ParticipantToHub {
    /// Parses a text frame received by the hub.
    pub fn from_json(text: &str) -> Result<Self, FrameError> {
        ParticipantFrame::parse(text).map(ParticipantFrame::into_owned)
    }

    /// Serializes the frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("frames always serialize"))
    }

    /// A `tunnel.response.chunk` carrying `bytes`.
    pub fn chunk(request_id: impl Into<String>, bytes: &[u8]) -> Self {
        Self::ResponseChunk {
            request_id: request_id.into(),
            chunk: BASE64.encode(bytes),
        }
    }

    /// The request id the frame belongs to, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Ping { .. } => None,
            Self::ResponseStart { request_id, .. }
            | Self::ResponseChunk { request_id, .. }
            | Self::ResponseEnd { request_id }
            | Self::ResponseError { request_id, .. } => Some(request_id),
        }
    }
}

/// A [`ParticipantToHub`] frame that borrows its strings from the received text, for the
/// hub's per-token path: parsing it is one pass over the JSON with no intermediate
/// buffering, and a chunk's base64 is decoded straight from the frame.
#[derive(Debug, Clone, PartialEq)]
pub enum ParticipantFrame<'a> {
    /// `tunnel.ping`.
    Ping {
        /// The participant's clock.
        timestamp: Millis,
    },
    /// `tunnel.response.start`.
    ResponseStart {
        /// The request this answers.
        request_id: Cow<'a, str>,
        /// HTTP status, 100 to 599.
        status: u16,
        /// Provider response headers.
        headers: BTreeMap<String, String>,
        /// The runtime's timing, when it sent one.
        timing: Option<ResponseTiming>,
    },
    /// `tunnel.response.chunk`.
    ResponseChunk {
        /// The request this belongs to.
        request_id: Cow<'a, str>,
        /// The bytes, base64-encoded.
        chunk: Cow<'a, str>,
    },
    /// `tunnel.response.end`.
    ResponseEnd {
        /// The request that finished.
        request_id: Cow<'a, str>,
    },
    /// `tunnel.response.error`.
    ResponseError {
        /// The request that failed.
        request_id: Cow<'a, str>,
        /// Where it failed.
        stage: Cow<'a, str>,
        /// What failed.
        message: Cow<'a, str>,
    },
}

/// Every field any participant frame has, all optional: one flat pass over the JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlatFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    timestamp: Option<Millis>,
    #[serde(default, borrow)]
    request_id: Option<Text<'a>>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, borrow)]
    chunk: Option<Text<'a>>,
    #[serde(default, borrow)]
    stage: Option<Text<'a>>,
    #[serde(default, borrow)]
    message: Option<Text<'a>>,
    #[serde(default)]
    timing: Option<ResponseTiming>,
}

/// A string borrowed from the frame when it has no escapes. (`Option<Cow<str>>` alone would
/// always copy: serde borrows only `Cow` fields it sees directly.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> ParticipantFrame<'a> {
    /// Parses a text frame received by the hub.
    pub fn parse(text: &'a str) -> Result<Self, FrameError> {
        let flat: FlatFrame<'a> = serde_json::from_str(text)
            .map_err(|error| classify(text, PARTICIPANT_TO_HUB_TYPES, &error))?;
        let kind = flat.kind.as_ref();
        let missing = |field: &str| FrameError::Invalid {
            kind: kind.to_owned(),
            reason: format!("missing field `{field}`"),
        };
        let text = |field: Option<Text<'a>>, name: &str| {
            field.map(|text| text.0).ok_or_else(|| missing(name))
        };
        let frame = match kind {
            "tunnel.ping" => Self::Ping {
                timestamp: flat.timestamp.ok_or_else(|| missing("timestamp"))?,
            },
            "tunnel.response.start" => {
                let status = flat.status.ok_or_else(|| missing("status"))?;
                if !(100..=599).contains(&status) {
                    return Err(FrameError::Invalid {
                        kind: kind.to_owned(),
                        reason: format!("status {status} is not between 100 and 599"),
                    });
                }
                Self::ResponseStart {
                    request_id: text(flat.request_id, "requestId")?,
                    status,
                    headers: flat.headers.unwrap_or_default(),
                    timing: flat.timing,
                }
            }
            "tunnel.response.chunk" => Self::ResponseChunk {
                request_id: text(flat.request_id, "requestId")?,
                chunk: text(flat.chunk, "chunk")?,
            },
            "tunnel.response.end" => Self::ResponseEnd {
                request_id: text(flat.request_id, "requestId")?,
            },
            "tunnel.response.error" => Self::ResponseError {
                request_id: text(flat.request_id, "requestId")?,
                stage: text(flat.stage, "stage")?,
                message: text(flat.message, "message")?,
            },
            _ => return Err(FrameError::UnknownType(kind.to_owned())),
        };
        Ok(frame)
    }

    /// The same frame with owned strings.
    pub fn into_owned(self) -> ParticipantToHub {
        match self {
            Self::Ping { timestamp } => ParticipantToHub::Ping { timestamp },
            Self::ResponseStart {
                request_id,
                status,
                headers,
                timing,
            } => ParticipantToHub::ResponseStart {
                request_id: request_id.into_owned(),
                status,
                headers,
                timing,
            },
            Self::ResponseChunk { request_id, chunk } => ParticipantToHub::ResponseChunk {
                request_id: request_id.into_owned(),
                chunk: chunk.into_owned(),
            },
            Self::ResponseEnd { request_id } => ParticipantToHub::ResponseEnd {
                request_id: request_id.into_owned(),
            },
            Self::ResponseError {
                request_id,
                stage,
                message,
            } => ParticipantToHub::ResponseError {
                request_id: request_id.into_owned(),
                stage: stage.into_owned(),
                message: message.into_owned(),
            },
        }
    }
}

/// Decodes the base64 payload of a `tunnel.response.chunk`.
pub fn decode_chunk(chunk: &str) -> Result<Vec<u8>, FrameError> {
    BASE64.decode(chunk).map_err(|error| FrameError::Invalid {
        kind: "tunnel.response.chunk".into(),
        reason: format!("chunk is not valid base64: {error}"),
    })
}

/// A piece of a response body as a binary WebSocket message (Gambi extension, with
/// `binaryChunks` negotiated): the same thing as `tunnel.response.chunk`, without JSON and
/// base64.
///
/// Layout: one byte [`BinaryChunk::KIND`], one byte `n` (1 to 255), `n` bytes of request
/// id (UTF-8), then the body bytes, to the end of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryChunk<'a> {
    /// The request this belongs to.
    pub request_id: &'a str,
    /// Where the body bytes start in the message.
    pub body_offset: usize,
}

impl<'a> BinaryChunk<'a> {
    /// The first byte of a binary chunk message. It can never start a JSON text frame, so a
    /// receiver tells the two apart by it.
    pub const KIND: u8 = 0x01;

    /// The message carrying `body` for `request_id`; `None` when the id is empty or longer
    /// than 255 bytes.
    pub fn encode(request_id: &str, body: &[u8]) -> Option<bytes::Bytes> {
        let id_len = u8::try_from(request_id.len()).ok().filter(|n| *n > 0)?;
        let mut message = bytes::BytesMut::with_capacity(2 + request_id.len() + body.len());
        message.extend_from_slice(&[Self::KIND, id_len]);
        message.extend_from_slice(request_id.as_bytes());
        message.extend_from_slice(body);
        Some(message.freeze())
    }

    /// Reads the header of a binary chunk message; the body is `&message[body_offset..]`.
    pub fn decode(message: &'a [u8]) -> Result<Self, FrameError> {
        let invalid = |reason: &str| FrameError::Invalid {
            kind: "binary chunk".into(),
            reason: reason.into(),
        };
        match message {
            [Self::KIND, id_len, rest @ ..] => {
                let id_len = usize::from(*id_len);
                if id_len == 0 || rest.len() < id_len {
                    return Err(invalid("request id length out of range"));
                }
                let request_id = std::str::from_utf8(&rest[..id_len])
                    .map_err(|_| invalid("request id is not UTF-8"))?;
                Ok(Self {
                    request_id,
                    body_offset: 2 + id_len,
                })
            }
            [] | [Self::KIND] => Err(invalid("message too short")),
            _ => Err(FrameError::Malformed(
                "binary message is not a chunk".into(),
            )),
        }
    }
}

impl HubToParticipant {
    /// Parses a text frame received by a participant.
    pub fn from_json(text: &str) -> Result<Self, FrameError> {
        serde_json::from_str(text).map_err(|error| classify(text, HUB_TO_PARTICIPANT_TYPES, &error))
    }

    /// Serializes the frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("frames always serialize"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_hub(frame: HubToParticipant, expected: Value) {
        assert_eq!(
            serde_json::to_value(&frame).expect("serializable"),
            expected
        );
        assert_eq!(
            HubToParticipant::from_json(&expected.to_string()).expect("parses back"),
            frame
        );
    }

    fn check_participant(frame: ParticipantToHub, expected: Value) {
        assert_eq!(
            serde_json::to_value(&frame).expect("serializable"),
            expected
        );
        assert_eq!(
            ParticipantToHub::from_json(&expected.to_string()).expect("parses back"),
            frame
        );
    }

    #[test]
    fn hub_to_participant_frames() {
        check_hub(
            HubToParticipant::Request(TunnelRequest {
                request_id: "r1".into(),
                operation: operation::CHAT_COMPLETIONS_CREATE.into(),
                method: "POST".into(),
                path: "/v1/chat/completions".into(),
                headers: BTreeMap::from([("Content-Type".into(), "application/json".into())]),
                body: Some(json!({"model": "llama3", "messages": []})),
                stream: true,
                metadata: None,
            }),
            json!({
                "type": "tunnel.request", "requestId": "r1",
                "operation": "chat.completions.create", "method": "POST",
                "path": "/v1/chat/completions",
                "headers": {"Content-Type": "application/json"},
                "body": {"model": "llama3", "messages": []}, "stream": true
            }),
        );
        check_hub(
            HubToParticipant::Pong { timestamp: 42 },
            json!({"type": "tunnel.pong", "timestamp": 42}),
        );
        check_hub(
            HubToParticipant::Cancel {
                request_id: "r1".into(),
            },
            json!({"type": "tunnel.cancel", "requestId": "r1"}),
        );
    }

    #[test]
    fn trace_context_travels_in_metadata() {
        let mut request = TunnelRequest {
            request_id: "r1".into(),
            operation: operation::RESPONSES_CREATE.into(),
            method: "POST".into(),
            path: "/v1/responses".into(),
            headers: BTreeMap::new(),
            body: None,
            stream: false,
            metadata: None,
        };
        assert!(request.trace_context().is_empty());
        request.set_trace_context(BTreeMap::new());
        assert_eq!(request.metadata, None, "no context, no metadata");

        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        request.set_trace_context(BTreeMap::from([("traceparent".into(), parent.into())]));
        check_hub(
            HubToParticipant::Request(request.clone()),
            json!({
                "type": "tunnel.request", "requestId": "r1", "operation": "responses.create",
                "method": "POST", "path": "/v1/responses", "headers": {}, "stream": false,
                "metadata": {"traceContext": {"traceparent": parent}}
            }),
        );
        assert!(request.headers.is_empty(), "never a header");
        assert_eq!(
            request.trace_context(),
            BTreeMap::from([("traceparent".to_owned(), parent.to_owned())])
        );

        // Other metadata is kept; what is not a string, or too long, is not context.
        request.metadata = Some(json!({"other": 1, "traceContext": {
            "traceparent": parent, "tracestate": "x".repeat(MAX_TRACE_CONTEXT_VALUE + 1),
            "number": 7,
        }}));
        assert_eq!(request.trace_context().len(), 1);
        request.set_trace_context(BTreeMap::from([("tracestate".into(), "k=v".into())]));
        assert_eq!(
            request.metadata,
            Some(json!({"other": 1, "traceContext": {"tracestate": "k=v"}}))
        );
        request.metadata = Some(json!({"traceContext": "00-…"}));
        assert!(request.trace_context().is_empty());
        request.metadata = Some(json!([1]));
        request.set_trace_context(BTreeMap::from([("traceparent".into(), parent.into())]));
        assert_eq!(
            request.metadata,
            Some(json!([1])),
            "not an object: left alone"
        );
    }

    #[test]
    fn participant_to_hub_frames() {
        check_participant(
            ParticipantToHub::Ping { timestamp: 7 },
            json!({"type": "tunnel.ping", "timestamp": 7}),
        );
        check_participant(
            ParticipantToHub::ResponseStart {
                request_id: "r1".into(),
                status: 200,
                headers: BTreeMap::from([("content-type".into(), "text/event-stream".into())]),
                timing: None,
            },
            json!({"type": "tunnel.response.start", "requestId": "r1", "status": 200,
                   "headers": {"content-type": "text/event-stream"}}),
        );
        check_participant(
            ParticipantToHub::ResponseStart {
                request_id: "r1".into(),
                status: 200,
                headers: BTreeMap::new(),
                timing: Some(ResponseTiming {
                    runtime_ms: 41.5,
                    provider_ttfb_ms: 40.0,
                }),
            },
            json!({"type": "tunnel.response.start", "requestId": "r1", "status": 200,
                   "headers": {}, "timing": {"runtimeMs": 41.5, "providerTtfbMs": 40}}),
        );
        check_participant(
            ParticipantToHub::chunk("r1", b"data: hi\n\n"),
            json!({"type": "tunnel.response.chunk", "requestId": "r1", "chunk": "ZGF0YTogaGkKCg=="}),
        );
        check_participant(
            ParticipantToHub::ResponseEnd {
                request_id: "r1".into(),
            },
            json!({"type": "tunnel.response.end", "requestId": "r1"}),
        );
        check_participant(
            ParticipantToHub::ResponseError {
                request_id: "r1".into(),
                stage: "proxy".into(),
                message: "connection refused".into(),
            },
            json!({"type": "tunnel.response.error", "requestId": "r1", "stage": "proxy",
                   "message": "connection refused"}),
        );
    }

    #[test]
    fn original_frames_with_defaults_and_extra_fields_parse() {
        let start = ParticipantToHub::from_json(
            r#"{"type":"tunnel.response.start","requestId":"r","status":201,"extra":1}"#,
        )
        .expect("headers default to empty, unknown fields ignored");
        assert_eq!(
            start,
            ParticipantToHub::ResponseStart {
                request_id: "r".into(),
                status: 201,
                headers: BTreeMap::new(),
                timing: None,
            }
        );
        let request = HubToParticipant::from_json(
            r#"{"type":"tunnel.request","requestId":"r","operation":"responses.get","method":"GET","path":"/v1/responses/x","headers":{}}"#,
        )
        .expect("body, stream and metadata are optional");
        let HubToParticipant::Request(request) = request else {
            panic!("expected a request, got {request:?}");
        };
        assert!(!request.stream && request.body.is_none());
    }

    #[test]
    fn borrowed_frames_borrow_and_agree_with_owned_ones() {
        let text = r#"{"type":"tunnel.response.chunk","requestId":"r1","chunk":"aGk="}"#;
        let frame = ParticipantFrame::parse(text).expect("a chunk frame");
        let ParticipantFrame::ResponseChunk { request_id, chunk } = &frame else {
            panic!("expected a chunk, got {frame:?}");
        };
        assert!(matches!(request_id, Cow::Borrowed("r1")));
        assert!(matches!(chunk, Cow::Borrowed("aGk=")));
        assert_eq!(
            frame.into_owned(),
            ParticipantToHub::chunk("r1", b"hi"),
            "same frame as the owned parser builds"
        );
        let escaped = ParticipantFrame::parse(
            r#"{"type":"tunnel.response.error","requestId":"r\u0031","stage":"proxy","message":"a\nb"}"#,
        )
        .expect("escapes are decoded");
        assert_eq!(
            escaped.into_owned(),
            ParticipantToHub::ResponseError {
                request_id: "r1".into(),
                stage: "proxy".into(),
                message: "a\nb".into()
            }
        );
        assert!(matches!(
            ParticipantFrame::parse(r#"{"type":"tunnel.ping"}"#),
            Err(FrameError::Invalid { .. })
        ));
        assert!(matches!(
            ParticipantFrame::parse(
                r#"{"type":"tunnel.response.start","requestId":"r","status":"ok"}"#
            ),
            Err(FrameError::Invalid { .. })
        ));
    }

    #[test]
    fn chunk_round_trips_bytes() {
        let bytes = [0_u8, 159, 146, 150, 255];
        let ParticipantToHub::ResponseChunk { chunk, .. } = ParticipantToHub::chunk("r", &bytes)
        else {
            panic!("chunk builds a chunk frame");
        };
        assert_eq!(decode_chunk(&chunk).expect("valid base64"), bytes);
        assert!(decode_chunk("not base64!").is_err());
    }

    #[test]
    fn unknown_and_malformed_frames_are_classified() {
        assert_eq!(
            ParticipantToHub::from_json(r#"{"type":"tunnel.hello","v":2}"#),
            Err(FrameError::UnknownType("tunnel.hello".into()))
        );
        assert_eq!(
            HubToParticipant::from_json(r#"{"type":"tunnel.future"}"#),
            Err(FrameError::UnknownType("tunnel.future".into()))
        );
        assert!(matches!(
            ParticipantToHub::from_json("not json"),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            ParticipantToHub::from_json(r#"{"no":"type"}"#),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            ParticipantToHub::from_json(r#"{"type":"tunnel.response.end"}"#),
            Err(FrameError::Invalid { .. })
        ));
        assert!(matches!(
            ParticipantToHub::from_json(
                r#"{"type":"tunnel.response.start","requestId":"r","status":42}"#
            ),
            Err(FrameError::Invalid { .. })
        ));
    }

    #[test]
    fn timing_from_a_peer_is_sanitized() {
        let odd = ResponseTiming {
            runtime_ms: 5.0,
            provider_ttfb_ms: 9.0,
        };
        assert_eq!(
            odd.sanitized(),
            ResponseTiming {
                runtime_ms: 5.0,
                provider_ttfb_ms: 5.0
            }
        );
        let broken = ResponseTiming {
            runtime_ms: f64::NAN,
            provider_ttfb_ms: -3.0,
        };
        assert_eq!(broken.sanitized(), ResponseTiming::default());
    }

    #[test]
    fn credit_frames() {
        check_hub(
            HubToParticipant::Credit {
                request_id: "r1".into(),
                bytes: 65_536,
            },
            json!({"type": "tunnel.credit", "requestId": "r1", "bytes": 65_536}),
        );
    }

    #[test]
    fn binary_chunks_round_trip_and_refuse_what_they_must() {
        let message = BinaryChunk::encode("req-1", b"data: {}\n\n").expect("encodes");
        assert_eq!(&message[..7], b"\x01\x05req-1");
        let chunk = BinaryChunk::decode(&message).expect("decodes");
        assert_eq!(chunk.request_id, "req-1");
        assert_eq!(&message[chunk.body_offset..], b"data: {}\n\n");
        // An empty body is a valid (if useless) chunk.
        let empty = BinaryChunk::encode("r", b"").expect("encodes");
        assert_eq!(BinaryChunk::decode(&empty).expect("decodes").body_offset, 3);

        assert_eq!(BinaryChunk::encode("", b"x"), None);
        assert_eq!(BinaryChunk::encode(&"x".repeat(256), b"x"), None);
        assert!(BinaryChunk::encode(&"x".repeat(255), b"x").is_some());
        for broken in [
            &b""[..],
            b"\x01",
            b"\x01\x00",
            b"\x01\x05abc",
            b"\x01\x01\xff",
        ] {
            assert!(BinaryChunk::decode(broken).is_err(), "{broken:?}");
        }
        assert!(matches!(
            BinaryChunk::decode(br#"{"type":"tunnel.ping"}"#),
            Err(FrameError::Malformed(_))
        ));
    }
}
