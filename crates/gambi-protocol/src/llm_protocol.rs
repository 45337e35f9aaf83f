//! Which of the two OpenAI APIs a request uses ([`LlmProtocol`]), and what each is called
//! on the wire: its name in events, its route, its provider path and its tunnel operation.
//! Events, participants' capabilities and the hub's routing all speak of it.

use serde::{Deserialize, Serialize};

/// The inference protocol of a request: one of the two OpenAI APIs a room serves.
/// Responses is the default; Chat Completions is there for compatibility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LlmProtocol {
    /// The Responses API (`/v1/responses`).
    #[serde(rename = "openResponses")]
    #[default]
    OpenResponses,
    /// The Chat Completions API (`/v1/chat/completions`).
    #[serde(rename = "chatCompletions")]
    ChatCompletions,
}

impl LlmProtocol {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenResponses => "openResponses",
            Self::ChatCompletions => "chatCompletions",
        }
    }

    /// The other one of the two APIs.
    pub fn other(self) -> Self {
        match self {
            Self::OpenResponses => Self::ChatCompletions,
            Self::ChatCompletions => Self::OpenResponses,
        }
    }

    /// The route of a create request below `/v1`: `responses` or `chat/completions`.
    pub fn route(self) -> &'static str {
        match self {
            Self::OpenResponses => "responses",
            Self::ChatCompletions => "chat/completions",
        }
    }

    /// The provider path of a create request: `/v1/responses` or `/v1/chat/completions`.
    pub fn path(self) -> &'static str {
        match self {
            Self::OpenResponses => "/v1/responses",
            Self::ChatCompletions => "/v1/chat/completions",
        }
    }

    /// The tunnel operation of a create request (`responses.create`,
    /// `chat.completions.create`).
    pub fn operation(self) -> &'static str {
        match self {
            Self::OpenResponses => crate::tunnel::operation::RESPONSES_CREATE,
            Self::ChatCompletions => crate::tunnel::operation::CHAT_COMPLETIONS_CREATE,
        }
    }
}
