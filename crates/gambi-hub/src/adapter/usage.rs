//! Token usage as either protocol reports it.

use serde_json::Value;

/// Token counts of one request, each known or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TokenUsage {
    /// Prompt tokens (`prompt_tokens` or `input_tokens`).
    pub input_tokens: Option<u64>,
    /// Generated tokens (`completion_tokens` or `output_tokens`).
    pub output_tokens: Option<u64>,
    /// Total tokens as the provider reported them.
    pub total_tokens: Option<u64>,
}

impl TokenUsage {
    /// Reads a `usage` object of either protocol: `prompt_tokens`/`completion_tokens` (Chat
    /// Completions) or `input_tokens`/`output_tokens` (Responses). `None` when it names no
    /// count at all.
    pub(crate) fn from_usage_object(usage: &Value) -> Option<Self> {
        let count = |keys: [&str; 2]| keys.iter().find_map(|k| usage.get(*k)?.as_u64());
        let parsed = Self {
            input_tokens: count(["input_tokens", "prompt_tokens"]),
            output_tokens: count(["output_tokens", "completion_tokens"]),
            total_tokens: usage.get("total_tokens").and_then(Value::as_u64),
        };
        (parsed != Self::default()).then_some(parsed)
    }

    /// The total, or input + output when the provider gave no total.
    pub(crate) fn total(&self) -> Option<u64> {
        self.total_tokens
            .or(match (self.input_tokens, self.output_tokens) {
                (Some(i), Some(o)) => Some(i + o),
                _ => None,
            })
    }
}

/// Usage from a JSON body of either protocol: a Chat Completion, a Response object, or a
/// Responses stream event that wraps one (`{"response": {... "usage": ...}}`).
pub(crate) fn usage_from_body(body: &Value) -> Option<TokenUsage> {
    body.get("usage")
        .filter(|u| u.is_object())
        .or_else(|| body.get("response")?.get("usage").filter(|u| u.is_object()))
        .and_then(TokenUsage::from_usage_object)
}

/// Usage from raw JSON bytes of either protocol; `None` when they are not JSON or carry none.
pub(crate) fn usage_from_bytes(body: &[u8]) -> Option<TokenUsage> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .and_then(usage_from_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn u(i: Option<u64>, o: Option<u64>, t: Option<u64>) -> Option<TokenUsage> {
        Some(TokenUsage {
            input_tokens: i,
            output_tokens: o,
            total_tokens: t,
        })
    }

    #[test]
    fn usage_from_bodies_of_both_protocols() {
        let cases = [
            (
                json!({"object": "chat.completion", "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}),
                u(Some(5), Some(7), Some(12)),
            ),
            (
                json!({"object": "response", "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}),
                u(Some(3), Some(4), Some(7)),
            ),
            (
                json!({"type": "response.completed", "response": {"usage": {"input_tokens": 1, "output_tokens": 2}}}),
                u(Some(1), Some(2), None),
            ),
            (json!({"usage": null}), None),
            (json!({"usage": {}}), None),
            (json!({"choices": []}), None),
        ];
        for (body, expected) in cases {
            assert_eq!(usage_from_body(&body), expected, "{body}");
        }
        assert_eq!(usage_from_bytes(b"not json"), None);
        assert_eq!(
            usage_from_bytes(br#"{"usage":{"total_tokens":9}}"#),
            u(None, None, Some(9))
        );
    }

    #[test]
    fn total_falls_back_to_sum() {
        assert_eq!(u(Some(2), Some(3), None).and_then(|u| u.total()), Some(5));
        assert_eq!(u(Some(2), None, None).and_then(|u| u.total()), None);
        assert_eq!(
            u(Some(2), Some(3), Some(9)).and_then(|u| u.total()),
            Some(9)
        );
    }
}
