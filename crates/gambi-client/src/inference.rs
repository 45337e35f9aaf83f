//! Helpers for the inference plane (`/rooms/{code}/v1/...`).
//!
//! The hub speaks the OpenAI wire format there, so any OpenAI SDK works: give it
//! [`crate::Client::inference_base_url`] as base URL, the room password (if any) as API key,
//! and one of the `model` strings below to choose who answers.

use gambi_protocol as proto;

/// The two OpenAI APIs a room serves. Responses is the default; Chat Completions is there
/// for compatibility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The Responses API (`POST .../v1/responses`).
    #[default]
    Responses,
    /// The Chat Completions API (`POST .../v1/chat/completions`).
    ChatCompletions,
}

impl Protocol {
    /// The route below the room's `/v1`, e.g. `chat/completions`.
    pub fn path(self) -> &'static str {
        match self {
            Self::Responses => "responses",
            Self::ChatCompletions => "chat/completions",
        }
    }
}

/// The `model` string that sends a request to the participant with this id.
pub fn participant(id: &str) -> String {
    proto::ModelSelector::IdOrModel(id.to_owned()).to_model_string()
}

/// The `model` string that sends a request to any participant serving this model:
/// `model:<name>`.
pub fn model(name: &str) -> String {
    proto::ModelSelector::Model(name.to_owned()).to_model_string()
}

/// The `model` string that sends a request to any participant: `*`.
pub fn any() -> String {
    proto::ModelSelector::Any.to_model_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_strings() {
        assert_eq!(participant("alice"), "alice");
        assert_eq!(model("llama3"), "model:llama3");
        assert_eq!(any(), "*");
        assert_eq!(Protocol::default(), Protocol::Responses);
        assert_eq!(Protocol::ChatCompletions.path(), "chat/completions");
    }
}
