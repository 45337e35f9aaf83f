//! Shapes of the inference plane (`/rooms/{code}/v1/*`) that are ours to define: the
//! OpenAI-style error body, the model list with its `gambi` extension, and the routing
//! selector carried in a request's `model` field.

use serde::{Deserialize, Serialize};

use crate::{Millis, ParticipantCapabilities, ParticipantConnection, ParticipantStatus};

/// An error in the shape every OpenAI SDK understands:
/// `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiError {
    /// The error.
    pub error: OpenAiErrorBody,
}

/// The `error` member of an [`OpenAiError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiErrorBody {
    /// What went wrong, for people.
    pub message: String,
    /// OpenAI's error class, e.g. `invalid_request_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// Our error code (e.g. `MODEL_NOT_FOUND`), for programs.
    #[serde(default)]
    pub code: Option<String>,
}

/// `GET /rooms/{code}/v1/models`: OpenAI's list shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// One entry per routable participant.
    pub data: Vec<ModelEntry>,
}

/// One entry of a [`ModelList`]: a participant, addressed by its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// The participant id (use it as `model` to target this participant).
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Registration time, in seconds.
    pub created: i64,
    /// The participant's nickname.
    pub owned_by: String,
    /// Gambi's extension describing the participant.
    pub gambi: ModelEntryInfo,
}

/// The `gambi` member of a [`ModelEntry`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelEntryInfo {
    /// Display name.
    pub nickname: String,
    /// Model name as the provider knows it.
    pub model: String,
    /// Provider endpoint (informational).
    pub endpoint: String,
    /// Probed protocol support.
    pub capabilities: ParticipantCapabilities,
    /// Tunnel state.
    pub connection: ParticipantConnection,
    /// Routing status.
    #[serde(default)]
    pub status: ParticipantStatus,
    /// Requests served at once.
    #[serde(default = "one")]
    pub max_concurrency: u32,
    /// Requests being served right now.
    #[serde(default)]
    pub active_requests: u32,
    /// Last heartbeat.
    #[serde(default)]
    pub last_seen: Millis,
}

fn one() -> u32 {
    1
}

/// How a request's `model` field picks a participant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelSelector {
    /// `*` or `any`: any participant.
    Any,
    /// `model:<name>`: a participant serving exactly that model.
    Model(String),
    /// Anything else: a participant with that id, else one serving a model of that name.
    IdOrModel(String),
}

impl ModelSelector {
    /// Interprets a request's `model` string.
    pub fn parse(model: &str) -> Self {
        match model {
            "*" | "any" => Self::Any,
            _ => match model.strip_prefix("model:") {
                Some(name) => Self::Model(name.to_owned()),
                None => Self::IdOrModel(model.to_owned()),
            },
        }
    }

    /// The `model` string that selects exactly this.
    pub fn to_model_string(&self) -> String {
        match self {
            Self::Any => "*".into(),
            Self::Model(name) => format!("model:{name}"),
            Self::IdOrModel(value) => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selector_forms() {
        let cases = [
            ("*", ModelSelector::Any),
            ("any", ModelSelector::Any),
            ("model:llama3", ModelSelector::Model("llama3".into())),
            ("model:", ModelSelector::Model(String::new())),
            ("alice", ModelSelector::IdOrModel("alice".into())),
            (
                "llama3:latest",
                ModelSelector::IdOrModel("llama3:latest".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(ModelSelector::parse(input), expected, "{input}");
        }
        assert_eq!(
            ModelSelector::Model("m".into()).to_model_string(),
            "model:m"
        );
    }

    #[test]
    fn openai_error_wire_shape() {
        let error = OpenAiError {
            error: OpenAiErrorBody {
                message: "No participant serves model 'x'.".into(),
                kind: "invalid_request_error".into(),
                param: Some("model".into()),
                code: Some("MODEL_NOT_FOUND".into()),
            },
        };
        assert_eq!(
            serde_json::to_value(&error).expect("serializable"),
            json!({"error": {"message": "No participant serves model 'x'.",
                             "type": "invalid_request_error", "param": "model",
                             "code": "MODEL_NOT_FOUND"}})
        );
    }

    #[test]
    fn model_list_wire_shape() {
        let list = ModelList {
            object: "list".into(),
            data: vec![ModelEntry {
                id: "alice".into(),
                object: "model".into(),
                created: 1_700_000_000,
                owned_by: "Alice".into(),
                gambi: ModelEntryInfo {
                    nickname: "Alice".into(),
                    model: "llama3".into(),
                    endpoint: "http://localhost:11434".into(),
                    capabilities: ParticipantCapabilities::default(),
                    connection: ParticipantConnection::default(),
                    status: ParticipantStatus::Online,
                    max_concurrency: 2,
                    active_requests: 1,
                    last_seen: 5,
                },
            }],
        };
        assert_eq!(
            serde_json::to_value(&list).expect("serializable"),
            json!({"object": "list", "data": [{
                "id": "alice", "object": "model", "created": 1_700_000_000, "owned_by": "Alice",
                "gambi": {
                    "nickname": "Alice", "model": "llama3", "endpoint": "http://localhost:11434",
                    "capabilities": {"openResponses": "unknown", "chatCompletions": "unknown"},
                    "connection": {"kind": "tunnel", "connected": false, "lastTunnelSeenAt": null},
                    "status": "online", "maxConcurrency": 2, "activeRequests": 1, "lastSeen": 5
                }
            }]})
        );
    }
}
