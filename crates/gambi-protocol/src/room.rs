//! Room DTOs of the management plane.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Millis, RuntimeConfigPublic};

/// What everyone may see of a room. Returned by every room route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    /// Stable internal id (21 URL-safe characters).
    pub id: String,
    /// The 6-character code people type to join.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Random id generated at creation; informational.
    pub host_id: String,
    /// Creation time.
    pub created_at: Millis,
    /// Room-wide runtime defaults, without the instructions text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<RuntimeConfigPublic>,
    /// Whether joining (and, in Gambi, using) the room needs a password.
    pub password_protected: bool,
    /// Registered participants, whatever their status.
    pub participant_count: u32,
}

/// Body of `POST /v1/rooms`.
///
/// The hub validates the raw JSON itself (to name the failing field); this type is what
/// clients send.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateRoomRequest {
    /// Display name (required, non-blank).
    pub name: String,
    /// Optional password; empty means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Optional runtime defaults, validated as a `RuntimeConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Value>,
}

impl std::fmt::Debug for CreateRoomRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateRoomRequest")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("defaults", &self.defaults)
            .finish()
    }
}

/// Payload of a successful `POST /v1/rooms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomResponse {
    /// The new room.
    pub room: RoomSummary,
    /// The room's host id (also in the summary).
    pub host_id: String,
}

/// Payload of `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always `ok` when the hub answers.
    pub status: String,
    /// The hub's clock.
    pub timestamp: Millis,
    /// The hub's version (Gambi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn room_summary_wire_shape() {
        let summary = RoomSummary {
            id: "V1StGXR8_Z5jdHi6B-myT".into(),
            code: "ABC123".into(),
            name: "Lab".into(),
            host_id: "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d".into(),
            created_at: 1_700_000_000_000,
            defaults: Some(RuntimeConfigPublic {
                temperature: Some(0.5),
                has_instructions: true,
                ..RuntimeConfigPublic::default()
            }),
            password_protected: true,
            participant_count: 2,
        };
        let expected = json!({
            "id": "V1StGXR8_Z5jdHi6B-myT",
            "code": "ABC123",
            "name": "Lab",
            "hostId": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
            "createdAt": 1_700_000_000_000_i64,
            "defaults": {"temperature": 0.5, "hasInstructions": true},
            "passwordProtected": true,
            "participantCount": 2
        });
        assert_eq!(
            serde_json::to_value(&summary).expect("serializable"),
            expected
        );
        let mut with_unknown = expected;
        with_unknown["futureField"] = json!("ignored");
        let parsed: RoomSummary = serde_json::from_value(with_unknown).expect("tolerant");
        assert_eq!(parsed, summary);
    }

    #[test]
    fn create_room_request_omits_absent_fields_and_redacts_debug() {
        let request = CreateRoomRequest {
            name: "Lab".into(),
            password: Some("hunter2".into()),
            defaults: None,
        };
        assert_eq!(
            serde_json::to_value(&request).expect("serializable"),
            json!({"name": "Lab", "password": "hunter2"})
        );
        assert!(!format!("{request:?}").contains("hunter2"));
    }
}
