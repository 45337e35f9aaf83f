//! The management plane's response envelopes: `{data, meta}` and `{error, meta}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ErrorCode;

/// Metadata attached to every management response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// A fresh id for this HTTP exchange, also logged by the hub.
    pub request_id: String,
}

/// A successful management response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The payload.
    pub data: T,
    /// Exchange metadata.
    pub meta: Meta,
}

/// A failed management response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// What went wrong.
    pub error: ApiErrorBody,
    /// Exchange metadata.
    pub meta: Meta,
}

/// The `error` member of an [`ErrorEnvelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// One sentence saying what was wrong.
    pub message: String,
    /// What the caller can do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Structured detail, e.g. the fields that failed validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn error_envelope_wire_shape() {
        let envelope = ErrorEnvelope {
            error: ApiErrorBody {
                code: ErrorCode::RoomNotFound,
                message: "Room not found.".into(),
                hint: Some("Run 'gambi room list' to inspect available rooms.".into()),
                details: None,
            },
            meta: Meta {
                request_id: "r1".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&envelope).expect("serializable"),
            json!({
                "error": {
                    "code": "ROOM_NOT_FOUND",
                    "message": "Room not found.",
                    "hint": "Run 'gambi room list' to inspect available rooms."
                },
                "meta": {"requestId": "r1"}
            })
        );
    }

    #[test]
    fn success_envelope_wire_shape_and_unknown_fields() {
        let envelope = Envelope {
            data: json!({"status": "ok"}),
            meta: Meta {
                request_id: "r2".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&envelope).expect("serializable"),
            json!({"data": {"status": "ok"}, "meta": {"requestId": "r2"}})
        );
        let parsed: Envelope<Value> = serde_json::from_value(
            json!({"data": 1, "meta": {"requestId": "x", "extra": true}, "more": 2}),
        )
        .expect("unknown fields are tolerated");
        assert_eq!(parsed.meta.request_id, "x");
    }
}
