//! Helpers for the inference plane (`/rooms/{code}/v1/...`).
//!
//! The hub speaks the OpenAI wire format there, so any OpenAI SDK works: give it
//! [`crate::Client::inference_base_url`] as base URL, the room password (if any) as API key,
//! and one of the `model` strings below to choose who answers ([`crate::Room`] bundles
//! all three).
//!
//! ```
//! use gambi_client::inference;
//!
//! assert_eq!(inference::any(), "*");
//! assert_eq!(inference::model("llama3"), "model:llama3");
//! assert_eq!(inference::participant("alice-laptop"), "alice-laptop");
//! ```

use gambi_protocol as proto;

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
    }
}
