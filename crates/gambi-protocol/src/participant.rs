//! Participant DTOs of the management plane.

use serde::{Deserialize, Serialize};

use crate::{DEFAULT_MAX_CONCURRENCY, Millis, RuntimeConfig, RuntimeConfigPublic};

/// Hardware a participant chose to share. Sizes are in GiB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineSpecs {
    /// GPU model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// GPU memory in GiB (an integer on the wire when whole, as the original sends it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub vram: Option<f64>,
    /// System memory in GiB (an integer on the wire when whole, as the original sends it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::number::option"
    )]
    pub ram: Option<f64>,
    /// CPU model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

/// Whether a provider speaks one protocol, as probed by the participant runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// The route exists.
    Supported,
    /// The route is missing (404/405/501) or forbidden.
    Unsupported,
    /// The probe could not tell.
    #[default]
    #[serde(other)]
    Unknown,
}

/// The two protocols a provider may speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantCapabilities {
    /// `POST /v1/responses`.
    #[serde(default)]
    pub open_responses: Capability,
    /// `POST /v1/chat/completions`.
    #[serde(default)]
    pub chat_completions: Capability,
}

impl ParticipantCapabilities {
    /// The known support for `protocol`.
    pub fn get(&self, protocol: crate::LlmProtocol) -> Capability {
        match protocol {
            crate::LlmProtocol::OpenResponses => self.open_responses,
            crate::LlmProtocol::ChatCompletions => self.chat_completions,
        }
    }

    /// The support for `protocol`, to change it.
    pub fn get_mut(&mut self, protocol: crate::LlmProtocol) -> &mut Capability {
        match protocol {
            crate::LlmProtocol::OpenResponses => &mut self.open_responses,
            crate::LlmProtocol::ChatCompletions => &mut self.chat_completions,
        }
    }
}

/// Tunnel connection state of a participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantConnection {
    /// Always `tunnel`.
    pub kind: String,
    /// Whether a tunnel is open right now.
    pub connected: bool,
    /// When the open tunnel last sent a valid frame; `null` without a tunnel.
    pub last_tunnel_seen_at: Option<Millis>,
}

impl Default for ParticipantConnection {
    fn default() -> Self {
        Self {
            kind: "tunnel".into(),
            connected: false,
            last_tunnel_seen_at: None,
        }
    }
}

/// Routing status of a participant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantStatus {
    /// Connected and with a free slot.
    Online,
    /// Connected and every slot taken.
    Busy,
    /// No tunnel, or no heartbeat for too long.
    #[default]
    #[serde(other)]
    Offline,
}

impl ParticipantStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Busy => "busy",
            Self::Offline => "offline",
        }
    }
}

/// What everyone may see of a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantSummary {
    /// Participant id, chosen by the participant (stable across restarts).
    pub id: String,
    /// Display name.
    pub nickname: String,
    /// Model name as the provider knows it.
    pub model: String,
    /// Provider endpoint (informational; the hub never connects to it).
    pub endpoint: String,
    /// Runtime defaults without the instructions text.
    #[serde(default)]
    pub config: RuntimeConfigPublic,
    /// Shared hardware specs.
    #[serde(default)]
    pub specs: MachineSpecs,
    /// Probed protocol support.
    #[serde(default)]
    pub capabilities: ParticipantCapabilities,
    /// Tunnel state.
    #[serde(default)]
    pub connection: ParticipantConnection,
    /// Routing status.
    #[serde(default)]
    pub status: ParticipantStatus,
    /// First registration time.
    pub joined_at: Millis,
    /// Last registration or heartbeat.
    pub last_seen: Millis,
    /// Last change of any kind.
    pub updated_at: Millis,
    /// Requests served at once (Gambi extension; 1 for original runtimes).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: u32,
    /// Requests being served right now (Gambi extension).
    #[serde(default)]
    pub active_requests: u32,
}

fn default_max_concurrency() -> u32 {
    DEFAULT_MAX_CONCURRENCY
}

/// Body of `PUT /v1/rooms/{code}/participants/{id}` as clients send it.
///
/// The hub validates the raw JSON itself so it can name the failing field; unknown keys
/// are ignored and `authHeaders` is refused outright (provider credentials stay on the
/// participant's machine).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantRegistration {
    /// Display name.
    pub nickname: String,
    /// Model name as the provider knows it.
    pub model: String,
    /// Provider endpoint, an absolute URL.
    pub endpoint: String,
    /// Room password, when the room has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Hardware specs to share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specs: Option<MachineSpecs>,
    /// Participant runtime defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RuntimeConfig>,
    /// Probed protocol support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<ParticipantCapabilities>,
    /// Requests the provider serves at once (Gambi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Tunnel extensions the runtime can speak (Gambi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_extensions: Option<TunnelExtensions>,
}

/// Tunnel extensions beyond the original protocol: offered by a runtime when it registers
/// (`tunnelExtensions` in the body) and granted by the hub in its answer
/// (`tunnel.extensions`), for the tunnel opened with that answer's token.
///
/// A runtime that speaks only the original protocol never offers them, and a hub that
/// speaks only the original protocol drops the offer and answers without `extensions`: both
/// sides then keep JSON text frames and no flow control.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelExtensions {
    /// Response chunks travel as binary WebSocket messages
    /// ([`crate::tunnel::BinaryChunk`]) instead of base64 in JSON.
    #[serde(default)]
    pub binary_chunks: bool,
    /// Per-request flow control: the runtime sends no more body bytes of a request than
    /// the hub has granted it (`tunnel.credit`), and stops reading that request's provider
    /// body when its credit is spent.
    #[serde(default)]
    pub flow_control: bool,
    /// In the hub's answer, with `flow_control`: the credit every request starts with,
    /// in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_window: Option<u32>,
    /// The runtime reports how long it held each request and how long its provider took
    /// to answer, in `timing` on `tunnel.response.start` ([`crate::tunnel::ResponseTiming`]),
    /// so that the hub can tell the tunnel's time from the provider's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timing: bool,
}

impl TunnelExtensions {
    /// Everything this crate's peers speak, as a runtime offers it.
    pub fn offer() -> Self {
        Self {
            binary_chunks: true,
            flow_control: true,
            credit_window: None,
            timing: true,
        }
    }

    /// The credit window, when flow control was granted with one.
    pub fn window(&self) -> Option<u32> {
        self.credit_window
            .filter(|window| self.flow_control && *window > 0)
    }
}

impl std::fmt::Debug for ParticipantRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantRegistration")
            .field("nickname", &self.nickname)
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("specs", &self.specs)
            .field("config", &self.config)
            .field("capabilities", &self.capabilities)
            .field("max_concurrency", &self.max_concurrency)
            .field("tunnel_extensions", &self.tunnel_extensions)
            .finish()
    }
}

/// Where and how to open the tunnel after registering.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelBootstrap {
    /// `ws://` or `wss://` URL of the tunnel route; the token goes in `?token=`.
    pub url: String,
    /// Single-use token, valid for `TUNNEL_TOKEN_TTL`.
    pub token: String,
    /// The tunnel extensions granted for this token (Gambi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<TunnelExtensions>,
}

impl std::fmt::Debug for TunnelBootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelBootstrap")
            .field("url", &self.url)
            .field("token", &"[redacted]")
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// Payload of a successful participant upsert.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertParticipantResponse {
    /// The participant as stored.
    pub participant: ParticipantSummary,
    /// The room's internal id.
    pub room_id: String,
    /// Tunnel bootstrap.
    pub tunnel: TunnelBootstrap,
    /// Secret proving ownership of this participant id while its tunnel is live (Gambi
    /// extension): send it as `x-gambi-session` to re-register or leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for UpsertParticipantResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpsertParticipantResponse")
            .field("participant", &self.participant)
            .field("room_id", &self.room_id)
            .field("tunnel", &self.tunnel)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Payload of a successful heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    /// Always true.
    pub success: bool,
    /// Status after the heartbeat.
    pub status: ParticipantStatus,
    /// The recorded heartbeat time.
    pub last_seen: Millis,
}

/// Payload of routes that only report success (`DELETE` participant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    /// Always true.
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn whole_sizes_stay_integers_on_the_wire() {
        let specs = MachineSpecs {
            gpu: Some("RTX 4090".into()),
            vram: Some(24.0),
            ram: Some(64.0),
            cpu: None,
        };
        assert_eq!(
            serde_json::to_string(&specs).expect("serializable"),
            r#"{"gpu":"RTX 4090","vram":24,"ram":64}"#
        );
        let half: MachineSpecs = serde_json::from_str(r#"{"ram": 7.5}"#).expect("parses");
        assert_eq!(
            serde_json::to_string(&half).expect("serializable"),
            r#"{"ram":7.5}"#
        );
    }

    fn summary() -> ParticipantSummary {
        ParticipantSummary {
            id: "alice".into(),
            nickname: "Alice".into(),
            model: "llama3".into(),
            endpoint: "http://localhost:11434".into(),
            config: RuntimeConfigPublic::default(),
            specs: MachineSpecs {
                ram: Some(16.0),
                cpu: Some("Ryzen".into()),
                ..MachineSpecs::default()
            },
            capabilities: ParticipantCapabilities {
                open_responses: Capability::Unsupported,
                chat_completions: Capability::Supported,
            },
            connection: ParticipantConnection::default(),
            status: ParticipantStatus::Offline,
            joined_at: 1,
            last_seen: 2,
            updated_at: 3,
            max_concurrency: 4,
            active_requests: 0,
        }
    }

    #[test]
    fn participant_summary_wire_shape() {
        assert_eq!(
            serde_json::to_value(summary()).expect("serializable"),
            json!({
                "id": "alice", "nickname": "Alice", "model": "llama3",
                "endpoint": "http://localhost:11434",
                "config": {"hasInstructions": false},
                "specs": {"ram": 16, "cpu": "Ryzen"},
                "capabilities": {"openResponses": "unsupported", "chatCompletions": "supported"},
                "connection": {"kind": "tunnel", "connected": false, "lastTunnelSeenAt": null},
                "status": "offline",
                "joinedAt": 1, "lastSeen": 2, "updatedAt": 3,
                "maxConcurrency": 4, "activeRequests": 0
            })
        );
    }

    #[test]
    fn original_summaries_without_extensions_parse() {
        let mut value = serde_json::to_value(summary()).expect("serializable");
        let object = value.as_object_mut().expect("object");
        object.remove("maxConcurrency");
        object.remove("activeRequests");
        object.insert("somethingNew".into(), Value::Bool(true));
        object.insert("status".into(), json!("sleeping"));
        let parsed: ParticipantSummary = serde_json::from_value(value).expect("tolerant");
        assert_eq!(parsed.max_concurrency, 1);
        assert_eq!(parsed.status, ParticipantStatus::Offline);
    }

    #[test]
    fn registration_wire_shape_and_redaction() {
        let registration = ParticipantRegistration {
            nickname: "Alice".into(),
            model: "llama3".into(),
            endpoint: "http://localhost:11434".into(),
            password: Some("hunter2".into()),
            max_concurrency: Some(2),
            ..ParticipantRegistration::default()
        };
        assert_eq!(
            serde_json::to_value(&registration).expect("serializable"),
            json!({
                "nickname": "Alice", "model": "llama3", "endpoint": "http://localhost:11434",
                "password": "hunter2", "maxConcurrency": 2
            })
        );
        assert!(!format!("{registration:?}").contains("hunter2"));
    }

    #[test]
    fn upsert_response_wire_shape_and_redaction() {
        let response = UpsertParticipantResponse {
            participant: summary(),
            room_id: "room-id".into(),
            tunnel: TunnelBootstrap {
                url: "ws://hub/v1/rooms/ABC123/participants/alice/tunnel".into(),
                token: "tok-secret".into(),
                extensions: None,
            },
            session_token: Some("sess-secret".into()),
        };
        let value = serde_json::to_value(&response).expect("serializable");
        assert_eq!(value["roomId"], "room-id");
        assert_eq!(
            value["tunnel"],
            json!({"url": "ws://hub/v1/rooms/ABC123/participants/alice/tunnel", "token": "tok-secret"})
        );
        assert_eq!(value["sessionToken"], "sess-secret");
        let debug = format!("{response:?}");
        assert!(!debug.contains("tok-secret") && !debug.contains("sess-secret"));
    }

    #[test]
    fn tunnel_extensions_offer_and_grant() {
        let offer = serde_json::to_value(TunnelExtensions::offer()).expect("serializable");
        assert_eq!(
            offer,
            json!({"binaryChunks": true, "flowControl": true, "timing": true})
        );
        // A grant without timing says nothing of it, as before the extension existed.
        let plain = TunnelExtensions {
            timing: false,
            ..TunnelExtensions::offer()
        };
        assert_eq!(
            serde_json::to_value(plain).expect("serializable"),
            json!({"binaryChunks": true, "flowControl": true})
        );
        let granted: TunnelExtensions = serde_json::from_value(
            json!({"binaryChunks": true, "flowControl": true, "creditWindow": 65536}),
        )
        .expect("parses");
        assert_eq!(granted.window(), Some(65_536));
        // A window without flow control, or a zero window, grants no flow control.
        let odd: TunnelExtensions =
            serde_json::from_value(json!({"creditWindow": 65536})).expect("parses");
        assert_eq!(odd.window(), None);
        assert!(!odd.binary_chunks);
        let registration: ParticipantRegistration = serde_json::from_value(json!({
            "nickname": "a", "model": "m", "endpoint": "http://x",
            "tunnelExtensions": {"binaryChunks": true}
        }))
        .expect("parses");
        assert_eq!(
            registration
                .tunnel_extensions
                .map(|offer| offer.binary_chunks),
            Some(true)
        );
    }

    #[test]
    fn heartbeat_and_success_wire_shapes() {
        let heartbeat = HeartbeatResponse {
            success: true,
            status: ParticipantStatus::Online,
            last_seen: 5,
        };
        assert_eq!(
            serde_json::to_value(heartbeat).expect("serializable"),
            json!({"success": true, "status": "online", "lastSeen": 5})
        );
        assert_eq!(
            serde_json::to_value(SuccessResponse { success: true }).expect("serializable"),
            json!({"success": true})
        );
    }
}
