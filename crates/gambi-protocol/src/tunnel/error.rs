//! Why a received frame was not understood, and how a parse failure is told apart: broken,
//! of an unknown type, or of a known type with invalid fields.

use serde::Deserialize;

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

/// Explains why `text` failed to parse as one of `known` frame types.
pub(super) fn classify(text: &str, known: &[&str], error: &serde_json::Error) -> FrameError {
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
