//! How the hub reads a participant's text frame: [`ParticipantFrame`] borrows its strings
//! from the received text (one pass, no copy, for the per-token path), and
//! [`ParticipantToHub::from_json`] is built on it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::{FrameError, classify};
use super::to_hub::{PARTICIPANT_TO_HUB_TYPES, ParticipantToHub, ResponseTiming};
use crate::Millis;

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

impl ParticipantToHub {
    /// Parses a text frame received by the hub.
    pub fn from_json(text: &str) -> Result<Self, FrameError> {
        ParticipantFrame::parse(text).map(ParticipantFrame::into_owned)
    }
}
