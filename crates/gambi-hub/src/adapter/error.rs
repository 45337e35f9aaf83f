//! The one error type of the adapter, shaped so the hub can answer in OpenAI's error format.
//!
//! A conversion fails for one of two reasons: the client asked for something the participant
//! cannot do once translated (a 400 naming the offending field, so the client can fix its
//! request), or the provider answered with something that is not a result (an error body, no
//! choices), which the hub reports as a bad gateway instead of panicking or inventing output.

use serde_json::Value;

/// Why a request or an answer could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AdaptError {
    /// The request cannot be bridged as written; answered with HTTP 400.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, in words the caller can act on.
        message: String,
        /// The offending field, as a JSON path such as `input[2].content[0]`.
        param: Option<String>,
        /// OpenAI-style machine code: `unsupported_parameter`, `invalid_value`, ...
        code: &'static str,
    },
    /// The provider's answer is not a result that can be converted; answered with HTTP 502.
    #[error("{message}")]
    Upstream {
        /// The provider's own error message when it gave one.
        message: String,
        /// The provider's error code when it gave one.
        code: Option<String>,
    },
}

impl AdaptError {
    /// A 400 for a field the participant cannot honour once translated.
    pub(crate) fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: "unsupported_parameter",
        }
    }

    /// A 400 for a field whose value is malformed.
    pub(crate) fn invalid_value(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: "invalid_value",
        }
    }

    /// A 400 for a request that lacks something it needs.
    pub(crate) fn missing(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: "missing_required_parameter",
        }
    }

    /// A 502 for a provider answer that is not a convertible result.
    pub(crate) fn upstream(message: impl Into<String>, code: Option<String>) -> Self {
        Self::Upstream {
            message: message.into(),
            code,
        }
    }

    /// The HTTP status the hub answers with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest { .. } => 400,
            Self::Upstream { .. } => 502,
        }
    }

    /// The offending field, if the error is about one.
    pub(crate) fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { param, .. } => param.as_deref(),
            Self::Upstream { .. } => None,
        }
    }

    #[cfg(test)]
    /// The body in OpenAI's error shape: `{"error":{"message","type","param","code"}}`.
    pub(crate) fn to_openai_json(&self) -> Value {
        match self {
            Self::InvalidRequest {
                message,
                param,
                code,
            } => serde_json::json!({
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": param,
                    "code": code,
                }
            }),
            Self::Upstream { message, code } => serde_json::json!({
                "error": {
                    "message": message,
                    "type": "upstream_error",
                    "param": null,
                    "code": code.as_deref().unwrap_or("upstream_error"),
                }
            }),
        }
    }

    /// Reads an error out of a provider body (`{"error": {...}}`, `{"error": "text"}`, or
    /// vLLM's `{"object":"error","message":...}`), with `fallback` when it names none.
    pub(crate) fn from_provider_body(body: &Value, fallback: &str) -> Self {
        match provider_error(body) {
            Some((message, code)) => Self::upstream(message, code),
            None => Self::upstream(fallback, None),
        }
    }
}

/// The message and code of an error a provider put in a body or a stream event, if any.
pub(crate) fn provider_error(body: &Value) -> Option<(String, Option<String>)> {
    let code_of = |v: &Value| match v.get("code") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match body.get("error") {
        Some(Value::String(message)) => return Some((message.clone(), None)),
        Some(err @ Value::Object(_)) => {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the provider reported an error")
                .to_owned();
            return Some((message, code_of(err)));
        }
        _ => {}
    }
    if body.get("object").and_then(Value::as_str) == Some("error") {
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the provider reported an error")
            .to_owned();
        return Some((message, code_of(body)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_request_has_openai_shape() {
        let err = AdaptError::unsupported("tools[0]", "web_search tools are not supported");
        assert_eq!(err.status(), 400);
        assert_eq!(err.param(), Some("tools[0]"));
        assert_eq!(
            err.to_openai_json(),
            json!({"error": {
                "message": "web_search tools are not supported",
                "type": "invalid_request_error",
                "param": "tools[0]",
                "code": "unsupported_parameter",
            }})
        );
    }

    #[test]
    fn upstream_error_keeps_provider_message_and_code() {
        let cases = [
            (
                json!({"error": {"message": "model not loaded", "code": "model_not_found"}}),
                ("model not loaded", Some("model_not_found")),
            ),
            (json!({"error": "boom"}), ("boom", None)),
            (
                json!({"object": "error", "message": "bad", "code": 400}),
                ("bad", Some("400")),
            ),
            (json!({"weird": true}), ("no choices", None)),
        ];
        for (body, (message, code)) in cases {
            let err = AdaptError::from_provider_body(&body, "no choices");
            assert_eq!(
                err,
                AdaptError::upstream(message, code.map(str::to_owned)),
                "{body}"
            );
            assert_eq!(err.status(), 502);
        }
    }
}
