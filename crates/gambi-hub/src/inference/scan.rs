//! Watching a native stream on its way to the client.
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

use crate::adapter::sse::{SseEvent, SseParser};
use crate::adapter::usage::{TokenUsage, usage_from_body};

/// Watches a native stream on its way to the client, without changing it, for usage, the
/// first content delta, the response id and provider errors.
#[derive(Debug)]
pub(super) struct NativeStreamScanner {
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
    pub(super) fn new(protocol: LlmProtocol) -> Self {
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
    pub(super) fn feed(&mut self, chunk: &[u8]) {
        for event in self.parser.push(chunk) {
            self.scan(&event);
        }
    }

    /// The stream ended: looks at a last event that lacked its blank line.
    pub(super) fn finish(&mut self) {
        if let Some(event) = self.parser.finish() {
            self.scan(&event);
        }
    }

    /// The most recent usage the stream reported.
    pub(super) fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    /// Whether a content delta (text, refusal, reasoning, tool call) has been seen.
    pub(super) fn first_content_seen(&self) -> bool {
        self.first_content
    }

    /// The Response id the stream announced (Responses streams only).
    pub(super) fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }

    /// Whether the provider reported an error in the stream.
    pub(super) fn error_seen(&self) -> bool {
        self.error
    }

    /// How many events were JSON-parsed so far (the rest were skipped cheaply).
    #[cfg(test)]
    pub(super) fn parsed_events(&self) -> u64 {
        self.parsed_events
    }

    /// How many events were seen so far. In a Responses stream this is the
    /// `sequence_number` an event appended by the hub carries, as events are numbered from 0.
    pub(super) fn events_seen(&self) -> u64 {
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
        if event.event.as_deref() == Some("error")
            || crate::adapter::error::provider_error(&value).is_some()
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
pub(super) fn chat_chunk_has_content(chunk: &Value) -> bool {
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
pub(super) fn has_object_key(data: &str, key: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn u(i: Option<u64>, o: Option<u64>, t: Option<u64>) -> Option<TokenUsage> {
        Some(TokenUsage {
            input_tokens: i,
            output_tokens: o,
            total_tokens: t,
        })
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
}
