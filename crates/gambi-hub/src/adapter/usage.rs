//! Token usage, first-content detection and per-request metrics.
//!
//! The hub reports `llm.complete` metrics for every request, adapted or native. Adapted streams
//! expose usage themselves; native traffic is scanned here. Usage arrives near the end of a
//! stream (the last Chat Completions chunk, or `response.completed`), so the scanner avoids
//! JSON-parsing every chunk: it looks for a `"usage"` object first and parses only the events
//! that carry one. Time to first token is measured at the first content delta (text, refusal,
//! reasoning or tool call: the first token the model generated), not at the first byte, which
//! for a stream is only the response header or a `response.created` event.

use gambi_protocol::LlmProtocol;
use serde_json::Value;

use super::sse::{SseEvent, SseParser};

/// Token counts of one request, each known or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
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
    pub fn from_usage_object(usage: &Value) -> Option<Self> {
        let count = |keys: [&str; 2]| keys.iter().find_map(|k| usage.get(*k)?.as_u64());
        let parsed = Self {
            input_tokens: count(["input_tokens", "prompt_tokens"]),
            output_tokens: count(["output_tokens", "completion_tokens"]),
            total_tokens: usage.get("total_tokens").and_then(Value::as_u64),
        };
        (parsed != Self::default()).then_some(parsed)
    }

    /// The total, or input + output when the provider gave no total.
    pub fn total(&self) -> Option<u64> {
        self.total_tokens
            .or(match (self.input_tokens, self.output_tokens) {
                (Some(i), Some(o)) => Some(i + o),
                _ => None,
            })
    }
}

/// Usage from a JSON body of either protocol: a Chat Completion, a Response object, or a
/// Responses stream event that wraps one (`{"response": {... "usage": ...}}`).
pub fn usage_from_body(body: &Value) -> Option<TokenUsage> {
    body.get("usage")
        .filter(|u| u.is_object())
        .or_else(|| body.get("response")?.get("usage").filter(|u| u.is_object()))
        .and_then(TokenUsage::from_usage_object)
}

/// Usage from raw JSON bytes of either protocol; `None` when they are not JSON or carry none.
pub fn usage_from_bytes(body: &[u8]) -> Option<TokenUsage> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .and_then(usage_from_body)
}

/// Watches a native stream on its way to the client, without changing it, for usage, the
/// first content delta, the response id and provider errors.
#[derive(Debug)]
pub struct NativeStreamScanner {
    protocol: LlmProtocol,
    parser: SseParser,
    usage: Option<TokenUsage>,
    first_content: bool,
    response_id: Option<String>,
    error: bool,
    parsed_events: u64,
    events: u64,
}

impl NativeStreamScanner {
    /// A scanner for a stream of `protocol`.
    pub fn new(protocol: LlmProtocol) -> Self {
        Self {
            protocol,
            parser: SseParser::new(),
            usage: None,
            first_content: false,
            response_id: None,
            error: false,
            parsed_events: 0,
            events: 0,
        }
    }

    /// Looks at the next bytes of the stream (cut anywhere).
    pub fn feed(&mut self, chunk: &[u8]) {
        for event in self.parser.push(chunk) {
            self.scan(&event);
        }
    }

    /// The stream ended: looks at a last event that lacked its blank line.
    pub fn finish(&mut self) {
        if let Some(event) = self.parser.finish() {
            self.scan(&event);
        }
    }

    /// The most recent usage the stream reported.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    /// Whether a content delta (text, refusal, reasoning, tool call) has been seen.
    pub fn first_content_seen(&self) -> bool {
        self.first_content
    }

    /// The Response id the stream announced (Responses streams only).
    pub fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }

    /// Whether the provider reported an error in the stream.
    pub fn error_seen(&self) -> bool {
        self.error
    }

    /// How many events were JSON-parsed so far (the rest were skipped cheaply).
    pub fn parsed_events(&self) -> u64 {
        self.parsed_events
    }

    /// How many events were seen so far. In a Responses stream this is the
    /// `sequence_number` an event appended by the hub carries, as events are numbered from 0.
    pub fn events_seen(&self) -> u64 {
        self.events
    }

    fn parse(&mut self, data: &str) -> Option<Value> {
        self.parsed_events += 1;
        serde_json::from_str(data).ok()
    }

    fn scan(&mut self, event: &SseEvent) {
        self.events += 1;
        match self.protocol {
            LlmProtocol::ChatCompletions => self.scan_chat(event),
            LlmProtocol::OpenResponses => self.scan_responses(event),
        }
    }

    fn scan_chat(&mut self, event: &SseEvent) {
        let data = event.data.as_str();
        if data.starts_with("[DONE]") {
            return;
        }
        // Before the first content every chunk may be the one; after it, only chunks that
        // carry a usage object or an error are worth parsing.
        let wanted = !self.first_content
            || has_object_key(data, "usage")
            || data.contains("\"error\"")
            || event.event.as_deref() == Some("error");
        if !wanted {
            return;
        }
        let Some(value) = self.parse(data) else {
            return;
        };
        if event.event.as_deref() == Some("error") || super::error::provider_error(&value).is_some()
        {
            self.error = true;
        }
        if let Some(usage) = usage_from_body(&value) {
            self.usage = Some(usage);
        }
        if !self.first_content && chat_chunk_has_content(&value) {
            self.first_content = true;
        }
    }

    fn scan_responses(&mut self, event: &SseEvent) {
        let kind = event.event.as_deref();
        match kind {
            Some(kind) if is_content_delta(kind) => self.first_content = true,
            Some(
                "response.created"
                | "response.completed"
                | "response.incomplete"
                | "response.failed"
                | "error",
            )
            | None => {
                let Some(value) = self.parse(&event.data) else {
                    return;
                };
                let kind = kind.or_else(|| value.get("type").and_then(Value::as_str));
                match kind {
                    Some(kind) if is_content_delta(kind) => self.first_content = true,
                    Some("response.failed" | "error") => self.error = true,
                    _ => {}
                }
                if self.response_id.is_none() {
                    let id = value.get("response").and_then(|r| r.get("id"));
                    if let Some(id) = id.and_then(Value::as_str) {
                        self.response_id = Some(id.to_owned());
                    }
                }
                if let Some(usage) = usage_from_body(&value) {
                    self.usage = Some(usage);
                }
            }
            Some(_) => {}
        }
    }
}

/// Whether a Chat Completions chunk carries content: non-empty text, refusal, reasoning or
/// tool calls.
pub(crate) fn chat_chunk_has_content(chunk: &Value) -> bool {
    let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
        return false;
    };
    choices.iter().any(|choice| {
        let Some(delta) = choice.get("delta") else {
            return false;
        };
        let non_empty = |key: &str| match delta.get(key) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(_)) => true,
            _ => false,
        };
        [
            "content",
            "refusal",
            "reasoning_content",
            "reasoning",
            "tool_calls",
            "function_call",
        ]
        .into_iter()
        .any(non_empty)
    })
}

/// Whether `data` contains `"key"` followed by `:` and an object, without parsing it: a chunk
/// with `"usage":null` (sent on every chunk when usage is requested) does not count.
pub(crate) fn has_object_key(data: &str, key: &str) -> bool {
    let needle = format!("\"{key}\"");
    let mut rest = data;
    while let Some(pos) = rest.find(&needle) {
        rest = &rest[pos + needle.len()..];
        let after = rest.trim_start();
        if let Some(value) = after.strip_prefix(':') {
            if value.trim_start().starts_with('{') {
                return true;
            }
        }
    }
    false
}

/// Whether a Responses stream event of type `kind` carries content (text, refusal,
/// reasoning or tool-call arguments), the moment time to first token is measured at.
fn is_content_delta(kind: &str) -> bool {
    matches!(
        kind,
        "response.output_text.delta"
            | "response.refusal.delta"
            | "response.reasoning_text.delta"
            | "response.reasoning_summary_text.delta"
            | "response.function_call_arguments.delta"
    )
}

/// Metrics of one request as `llm.complete` reports them; unknown values are `None` and are
/// omitted on the wire by the protocol type the hub copies them into.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// Time from the start of the request to the first content delta.
    pub ttft_ms: Option<u64>,
    /// Time from the start of the request to its end.
    pub duration_ms: u64,
    /// Prompt tokens.
    pub input_tokens: Option<u64>,
    /// Generated tokens.
    pub output_tokens: Option<u64>,
    /// Total tokens: the reported total, else input + output.
    pub total_tokens: Option<u64>,
    /// Generation speed in output tokens per second.
    pub tokens_per_second: Option<f64>,
}

impl Metrics {
    /// Computes metrics from three instants in milliseconds (any common origin) and the usage.
    ///
    /// `tokens_per_second` divides output tokens by the generation time, `duration − ttft`,
    /// which measures how fast the participant generates. The original divided by the whole
    /// duration, so a long queue or prompt-processing time made a fast model look slow. For a
    /// non-streamed request there is no first-content instant, so `ttft_ms` is `None` and the
    /// whole duration is the generation time. The speed is omitted when the output token count
    /// is unknown or the generation time is zero.
    pub fn compute(
        started_ms: u64,
        first_content_ms: Option<u64>,
        completed_ms: u64,
        usage: Option<TokenUsage>,
    ) -> Self {
        let duration_ms = completed_ms.saturating_sub(started_ms);
        let ttft_ms = first_content_ms.map(|t| t.saturating_sub(started_ms).min(duration_ms));
        let usage = usage.unwrap_or_default();
        let generation_ms = duration_ms - ttft_ms.unwrap_or(0);
        let tokens_per_second = match usage.output_tokens {
            Some(out) if generation_ms > 0 => Some(out as f64 * 1000.0 / generation_ms as f64),
            _ => None,
        };
        Self {
            ttft_ms,
            duration_ms,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            total_tokens: usage.total(),
            tokens_per_second,
        }
    }
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

    fn scan(protocol: LlmProtocol, stream: &[u8]) -> NativeStreamScanner {
        let mut whole = NativeStreamScanner::new(protocol);
        whole.feed(stream);
        whole.finish();
        let mut bytewise = NativeStreamScanner::new(protocol);
        for b in stream {
            bytewise.feed(std::slice::from_ref(b));
        }
        bytewise.finish();
        assert_eq!(whole.usage(), bytewise.usage());
        assert_eq!(whole.first_content_seen(), bytewise.first_content_seen());
        whole
    }

    #[test]
    fn chat_stream_usage_in_trailing_chunk_and_few_parses() {
        let stream = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
            "data: [DONE]\n\n",
        );
        let s = scan(LlmProtocol::ChatCompletions, stream.as_bytes());
        assert_eq!(s.usage(), u(Some(9), Some(2), Some(11)));
        assert!(s.first_content_seen());
        assert!(!s.error_seen());
        // The role chunk, the first content chunk and the usage chunk.
        assert_eq!(s.parsed_events(), 3);
    }

    #[test]
    fn chat_stream_first_content_cases() {
        let cases: [(&str, bool); 7] = [
            (
                r#"{"choices":[{"delta":{"reasoning_content":"Hmm"}}]}"#,
                true,
            ),
            (r#"{"choices":[{"delta":{"reasoning":""}}]}"#, false),
            (
                r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
                false,
            ),
            (r#"{"choices":[{"delta":{"content":null}}]}"#, false),
            (r#"{"choices":[{"delta":{"content":"x"}}]}"#, true),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]}}]}"#,
                true,
            ),
            (r#"{"choices":[{"delta":{"refusal":"no"}}]}"#, true),
        ];
        for (chunk, expected) in cases {
            let s = scan(
                LlmProtocol::ChatCompletions,
                format!("data: {chunk}\n\n").as_bytes(),
            );
            assert_eq!(s.first_content_seen(), expected, "{chunk}");
        }
    }

    #[test]
    fn chat_stream_error_is_seen() {
        let s = scan(
            LlmProtocol::ChatCompletions,
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
        );
        assert!(s.error_seen());
    }

    #[test]
    fn responses_stream_usage_id_and_first_content() {
        let stream = concat!(
            "event: response.created\n",
            "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"usage\":null}}\n\n",
            "event: response.in_progress\n",
            "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_1\"}}\n\n",
            "event: response.output_text.delta\n",
            "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,\"delta\":\"Hi\"}\n\n",
            "event: response.completed\n",
            "data: {\"type\":\"response.completed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":4,\"output_tokens\":1,\"total_tokens\":5}}}\n\n",
        );
        let s = scan(LlmProtocol::OpenResponses, stream.as_bytes());
        assert_eq!(s.usage(), u(Some(4), Some(1), Some(5)));
        assert_eq!(s.response_id(), Some("resp_1"));
        assert!(s.first_content_seen());
        assert_eq!(s.parsed_events(), 2);
        assert_eq!(s.events_seen(), 4);
    }

    #[test]
    fn responses_stream_reasoning_is_first_content() {
        let stream = "event: response.reasoning_text.delta\ndata: {\"delta\":\"Hmm\"}\n\n";
        assert!(scan(LlmProtocol::OpenResponses, stream.as_bytes()).first_content_seen());
    }

    #[test]
    fn responses_stream_without_event_names_is_parsed() {
        let stream = concat!(
            "data: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{\"}\n\n",
            "data: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_2\",\"usage\":null}}\n\n",
        );
        let s = scan(LlmProtocol::OpenResponses, stream.as_bytes());
        assert!(s.first_content_seen());
        assert!(s.error_seen());
        assert_eq!(s.response_id(), Some("resp_2"));
        assert_eq!(s.usage(), None);
    }

    #[test]
    fn object_key_detection() {
        assert!(has_object_key(r#"{"usage":{"a":1}}"#, "usage"));
        assert!(has_object_key(r#"{"usage" :  {"a":1}}"#, "usage"));
        assert!(!has_object_key(r#"{"usage":null}"#, "usage"));
        assert!(!has_object_key(r#"{"content":"usage"}"#, "usage"));
        assert!(has_object_key(r#"{"x":"\"usage\"","usage":{}}"#, "usage"));
    }

    #[test]
    fn metrics() {
        let cases = [
            // Stream: ttft 200 ms, generation 800 ms for 40 tokens -> 50 tok/s.
            (
                (1_000, Some(1_200), 2_000, u(Some(10), Some(40), None)),
                Metrics {
                    ttft_ms: Some(200),
                    duration_ms: 1_000,
                    input_tokens: Some(10),
                    output_tokens: Some(40),
                    total_tokens: Some(50),
                    tokens_per_second: Some(50.0),
                },
            ),
            // Non-stream: no ttft, the whole duration generates.
            (
                (0, None, 500, u(None, Some(10), Some(30))),
                Metrics {
                    ttft_ms: None,
                    duration_ms: 500,
                    input_tokens: None,
                    output_tokens: Some(10),
                    total_tokens: Some(30),
                    tokens_per_second: Some(20.0),
                },
            ),
            // Content arrived at the very end: no generation time, no speed.
            (
                (0, Some(500), 500, u(Some(1), Some(1), None)),
                Metrics {
                    ttft_ms: Some(500),
                    duration_ms: 500,
                    input_tokens: Some(1),
                    output_tokens: Some(1),
                    total_tokens: Some(2),
                    tokens_per_second: None,
                },
            ),
            // Unknown usage; clock went backwards.
            (
                (900, Some(950), 800, None),
                Metrics {
                    ttft_ms: Some(0),
                    duration_ms: 0,
                    ..Metrics::default()
                },
            ),
        ];
        for ((start, first, end, usage), expected) in cases {
            assert_eq!(Metrics::compute(start, first, end, usage), expected);
        }
    }
}
