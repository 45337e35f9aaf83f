//! Frames a participant sends to the hub ([`ParticipantToHub`]), with the runtime's
//! [`ResponseTiming`] and the base64 of `tunnel.response.chunk`. Parsing them is `parse`'s.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::error::FrameError;
use crate::Millis;

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

pub(super) const PARTICIPANT_TO_HUB_TYPES: &[&str] = &[
    "tunnel.ping",
    "tunnel.response.start",
    "tunnel.response.chunk",
    "tunnel.response.end",
    "tunnel.response.error",
];

impl ParticipantToHub {
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

/// Decodes the base64 payload of a `tunnel.response.chunk`.
pub fn decode_chunk(chunk: &str) -> Result<Vec<u8>, FrameError> {
    BASE64.decode(chunk).map_err(|error| FrameError::Invalid {
        kind: "tunnel.response.chunk".into(),
        reason: format!("chunk is not valid base64: {error}"),
    })
}
