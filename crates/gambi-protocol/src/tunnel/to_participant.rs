//! Frames the hub sends to a participant ([`HubToParticipant`]), and the trace context a
//! `tunnel.request` may carry in its `metadata`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{FrameError, classify};
use crate::Millis;

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
    /// What the request does, e.g. `chat.completions.create` (see [`operation`](super::operation)).
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

const HUB_TO_PARTICIPANT_TYPES: &[&str] = &[
    "tunnel.request",
    "tunnel.pong",
    "tunnel.cancel",
    "tunnel.credit",
];

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
