//! Pure request logic of the inference plane: parsing the client's body, choosing the
//! protocol to speak with the participant, translating, and merging runtime defaults.

use gambi_protocol as proto;
use proto::LlmProtocol;
use serde_json::{Map, Value, json};

use super::error::InferenceError;
use crate::adapter::{chat_to_responses, responses_to_chat};
use crate::room::Target;

/// A client's create request, parsed just enough to route it.
#[derive(Debug, Clone)]
pub(crate) struct ClientRequest {
    /// The JSON body as the client sent it.
    pub body: Value,
    /// The `model` string (a selector).
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// Parses a create request body. Only `model` and `stream` are interpreted here.
pub(crate) fn parse(bytes: &[u8]) -> Result<ClientRequest, InferenceError> {
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|error| InferenceError::invalid(format!("Invalid JSON body: {error}.")))?;
    if !body.is_object() {
        return Err(InferenceError::invalid(
            "Request body must be a JSON object.",
        ));
    }
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.trim().to_owned(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(InferenceError::invalid(
                "Missing required parameter: 'model'. Use a participant id, a model name, 'model:<name>' or '*'.",
            )
            .param("model"));
        }
        Some(_) => {
            return Err(
                InferenceError::invalid("Parameter 'model' must be a string.").param("model"),
            );
        }
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => {
            return Err(
                InferenceError::invalid("Parameter 'stream' must be a boolean.").param("stream"),
            );
        }
    };
    Ok(ClientRequest {
        body,
        model,
        stream,
    })
}

/// The request body as it goes to the provider.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// The body, translated if needed, with defaults applied and the participant's model.
    pub(crate) body: Value,
    /// The hub asked for stream usage on the client's behalf and must hide it.
    pub(crate) strip_usage: bool,
}

impl Outbound {
    /// Translates `body` from `client`'s protocol to `provider`'s if they differ, applies
    /// the target's defaults and names its model.
    pub(crate) fn build(
        body: &Value,
        client: LlmProtocol,
        provider: LlmProtocol,
        target: &Target,
        stream: bool,
    ) -> Result<Self, InferenceError> {
        let mut body = match (client, provider) {
            (LlmProtocol::OpenResponses, LlmProtocol::ChatCompletions) => responses_to_chat(body)?,
            (LlmProtocol::ChatCompletions, LlmProtocol::OpenResponses) => chat_to_responses(body)?,
            _ => body.clone(),
        };
        apply_defaults(&mut body, provider, &target.defaults);
        if let Some(fields) = body.as_object_mut() {
            fields.insert("model".into(), Value::String(target.model.clone()));
        }
        let injected =
            provider == LlmProtocol::ChatCompletions && stream && request_stream_usage(&mut body);
        Ok(Self {
            body,
            strip_usage: injected && client == provider,
        })
    }
}

/// The protocol to speak with a participant for a client using `client`: its own when the
/// participant may support it, the other one when the participant is known to lack it and
/// may support the other, else its own anyway (the provider's answer will say what failed).
pub(crate) fn choose_protocol(
    client: LlmProtocol,
    capabilities: &proto::ParticipantCapabilities,
) -> LlmProtocol {
    let other = client.other();
    if capabilities.get(client) == proto::Capability::Unsupported
        && capabilities.get(other) != proto::Capability::Unsupported
    {
        other
    } else {
        client
    }
}

fn absent(body: &Map<String, Value>, key: &str) -> bool {
    body.get(key).is_none_or(Value::is_null)
}

fn set_if_absent(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value
        && absent(body, key)
    {
        body.insert(key.to_owned(), value);
    }
}

/// Applies runtime `defaults` to a request body in the provider's `protocol`: a field the
/// request sets (non-null) always wins.
///
/// Chat Completions gets every field, and the instructions as a leading system message
/// unless the conversation already has one. The Responses API gets the fields it defines
/// (`instructions`, `temperature`, `top_p`, `max_output_tokens`); stop sequences,
/// penalties and seed have no Responses equivalent and are not injected there, because
/// strict Responses providers reject unknown parameters (the original sent them as
/// non-standard fields).
pub(crate) fn apply_defaults(
    body: &mut Value,
    protocol: LlmProtocol,
    defaults: &proto::RuntimeConfig,
) {
    let Some(body) = body.as_object_mut() else {
        return;
    };
    let number = |value: Option<f64>| value.map(|v| json!(v));
    match protocol {
        LlmProtocol::ChatCompletions => {
            if let Some(instructions) = &defaults.instructions {
                let messages = body.entry("messages").or_insert_with(|| json!([]));
                if let Some(messages) = messages.as_array_mut()
                    && !messages.iter().any(|message| {
                        message.get("role").and_then(Value::as_str) == Some("system")
                    })
                {
                    messages.insert(0, json!({"role": "system", "content": instructions}));
                }
            }
            set_if_absent(body, "temperature", number(defaults.temperature));
            set_if_absent(body, "top_p", number(defaults.top_p));
            if absent(body, "max_completion_tokens") {
                set_if_absent(body, "max_tokens", defaults.max_tokens.map(|n| json!(n)));
            }
            set_if_absent(body, "stop", defaults.stop.as_ref().map(|stop| json!(stop)));
            set_if_absent(
                body,
                "frequency_penalty",
                number(defaults.frequency_penalty),
            );
            set_if_absent(body, "presence_penalty", number(defaults.presence_penalty));
            set_if_absent(body, "seed", defaults.seed.map(|n| json!(n)));
        }
        LlmProtocol::OpenResponses => {
            set_if_absent(
                body,
                "instructions",
                defaults.instructions.as_ref().map(|text| json!(text)),
            );
            set_if_absent(body, "temperature", number(defaults.temperature));
            set_if_absent(body, "top_p", number(defaults.top_p));
            set_if_absent(
                body,
                "max_output_tokens",
                defaults.max_tokens.map(|n| json!(n)),
            );
        }
    }
}

/// Asks a Chat Completions provider to report usage at the end of a stream, so metrics
/// never lack token counts. Returns whether the client had not asked for it itself (the
/// hub then removes the extra usage chunk before the client sees it).
pub(crate) fn request_stream_usage(body: &mut Value) -> bool {
    let Some(body) = body.as_object_mut() else {
        return false;
    };
    let options = body.entry("stream_options").or_insert_with(|| json!({}));
    let Some(options) = options.as_object_mut() else {
        return false;
    };
    if options.get("include_usage").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    options.insert("include_usage".into(), json!(true));
    true
}

/// Whether a provider's answer to a create request means the route itself is missing
/// (so the other protocol should be tried), as opposed to a missing model or a bad
/// request. A 404 whose body mentions the model is the provider saying the model is
/// unknown, not that it lacks the route.
pub(crate) fn route_missing(status: u16, body: &[u8]) -> bool {
    match status {
        405 | 501 => true,
        404 => {
            let text = String::from_utf8_lossy(body).to_ascii_lowercase();
            !text.contains("model")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> proto::RuntimeConfig {
        let room = proto::RuntimeConfig {
            instructions: Some("Room".into()),
            temperature: Some(0.2),
            max_tokens: Some(128),
            ..proto::RuntimeConfig::default()
        };
        let participant = proto::RuntimeConfig {
            instructions: Some("Participant".into()),
            temperature: Some(0.4),
            max_tokens: Some(256),
            stop: Some(vec!["END".into()]),
            seed: Some(7),
            ..proto::RuntimeConfig::default()
        };
        room.overlay(&participant)
    }

    #[test]
    fn responses_defaults_match_the_original_example() {
        let mut body = json!({"model": "m", "input": "hi", "temperature": 0.9});
        apply_defaults(&mut body, LlmProtocol::OpenResponses, &defaults());
        assert_eq!(
            body,
            json!({"model": "m", "input": "hi", "temperature": 0.9,
                   "instructions": "Participant", "max_output_tokens": 256})
        );
    }

    #[test]
    fn chat_defaults_prepend_a_system_message_unless_one_exists() {
        let mut body =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": null});
        apply_defaults(&mut body, LlmProtocol::ChatCompletions, &defaults());
        assert_eq!(
            body,
            json!({"model": "m", "messages": [
                    {"role": "system", "content": "Participant"},
                    {"role": "user", "content": "hi"}],
                   "temperature": 0.4, "max_tokens": 256, "stop": ["END"], "seed": 7})
        );
        let mut body = json!({"messages": [{"role": "system", "content": "Mine"}], "max_completion_tokens": 5});
        apply_defaults(&mut body, LlmProtocol::ChatCompletions, &defaults());
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
        assert!(body.get("max_tokens").is_none());
        let mut body = json!({"messages": [{"role": "developer", "content": "Dev"}]});
        apply_defaults(&mut body, LlmProtocol::ChatCompletions, &defaults());
        assert_eq!(body["messages"][0]["content"], "Participant");
    }

    #[test]
    fn parse_checks_model_and_stream() {
        let parsed = parse(br#"{"model": " m ", "stream": true}"#).expect("valid");
        assert_eq!((parsed.model.as_str(), parsed.stream), ("m", true));
        for (body, message) in [
            (&b"{"[..], "Invalid JSON body"),
            (b"[]", "Request body must be a JSON object."),
            (b"{}", "Missing required parameter: 'model'"),
            (br#"{"model": ""}"#, "Missing required parameter: 'model'"),
            (br#"{"model": 1}"#, "Parameter 'model' must be a string."),
            (
                br#"{"model": "m", "stream": "yes"}"#,
                "Parameter 'stream' must be a boolean.",
            ),
        ] {
            let error = parse(body).expect_err("invalid");
            assert!(error.message().starts_with(message), "{}", error.message());
            assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn protocol_choice() {
        use proto::Capability::{Supported, Unknown, Unsupported};
        let caps = |open_responses, chat_completions| proto::ParticipantCapabilities {
            open_responses,
            chat_completions,
        };
        let r = LlmProtocol::OpenResponses;
        let c = LlmProtocol::ChatCompletions;
        assert_eq!(choose_protocol(r, &caps(Supported, Supported)), r);
        assert_eq!(choose_protocol(r, &caps(Unknown, Supported)), r);
        assert_eq!(choose_protocol(r, &caps(Unsupported, Supported)), c);
        assert_eq!(choose_protocol(r, &caps(Unsupported, Unknown)), c);
        assert_eq!(choose_protocol(r, &caps(Unsupported, Unsupported)), r);
        assert_eq!(choose_protocol(c, &caps(Supported, Unsupported)), r);
    }

    #[test]
    fn route_missing_is_not_model_missing() {
        assert!(route_missing(404, b"404 page not found"));
        assert!(route_missing(404, br#"{"detail":"Not Found"}"#));
        assert!(route_missing(404, b""));
        assert!(route_missing(405, b"anything"));
        assert!(route_missing(501, b""));
        assert!(!route_missing(
            404,
            br#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#
        ));
        assert!(!route_missing(
            404,
            br#"{"error":"model \"x\" not found, try pulling it first"}"#
        ));
        assert!(!route_missing(400, b""));
        assert!(!route_missing(500, b""));
    }

    #[test]
    fn stream_usage_is_requested_once() {
        let mut body = json!({"stream": true});
        assert!(request_stream_usage(&mut body));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert!(!request_stream_usage(&mut body));
    }
}
