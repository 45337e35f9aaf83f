//! A native stream on its way to the client: one pass that watches it for metrics and, when
//! the hub asked for usage on the client's behalf, hides the usage-only chunk.
//!
//! The hub reports `llm.complete` metrics for every request. Usage arrives near the end of
//! a stream (the last Chat Completions chunk, or `response.completed`), so the tap never
//! JSON-parses every event: it finds each event's end and its `event:` and `data:` lines
//! in the bytes as they are, looks for a `"usage"` object or an `"error"` with finders
//! built once, and parses only the few events that can matter. Time to first token is
//! measured at the first content delta (text, refusal, reasoning or tool call), not at the
//! first byte, which for a stream is only the response header or `response.created`.
//!
//! Bytes pass through untouched and without a copy when nothing is hidden. To report token
//! counts the hub asks Chat Completions providers for `stream_options.include_usage`; a
//! client that did not ask for it must not see the extra final chunk (its `choices` is
//! empty, and code that reads `choices[0]` would break), so in that case the tap holds back
//! an event until it is complete and drops the one whose `choices` is empty and that
//! carries `usage`.
//!
//! Events end at a blank line, whatever the line endings (LF, CRLF or CR).

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use gambi_protocol::LlmProtocol;
use memchr::memmem::Finder;
use serde_json::Value;

use crate::adapter::usage::{TokenUsage, usage_from_body};

/// Longest event the tap holds while waiting for its end; past it, the event's bytes go to
/// the client as they are (it is certainly not a usage-only chunk) and it is not looked at.
const MAX_HELD_EVENT: usize = 1024 * 1024;

static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static ERROR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"error\""));

/// Watches (and, with `strip_usage`, filters) one native stream.
#[derive(Debug)]
pub(super) struct StreamTap {
    protocol: LlmProtocol,
    strip_usage: bool,
    /// The unfinished event at the end of what was fed: its bytes so far.
    partial: BytesMut,
    /// The unfinished event grew past [`MAX_HELD_EVENT`]: skip to its end.
    skipping: bool,
    usage: Option<TokenUsage>,
    first_content: bool,
    response_id: Option<String>,
    error: bool,
    parsed_events: u64,
    events: u64,
}

/// An event's `event:` name and its data, the `data:` lines joined with `\n`.
struct Fields<'a> {
    name: Option<&'a [u8]>,
    data: Data<'a>,
}

enum Data<'a> {
    None,
    One(&'a [u8]),
    Many(Vec<u8>),
}

impl Data<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::None => b"",
            Self::One(line) => line,
            Self::Many(joined) => joined,
        }
    }
}

impl StreamTap {
    /// A tap for a stream of `protocol`; with `strip_usage`, the usage-only chunk is hidden.
    pub(super) fn new(protocol: LlmProtocol, strip_usage: bool) -> Self {
        Self {
            protocol,
            strip_usage,
            partial: BytesMut::new(),
            skipping: false,
            usage: None,
            first_content: false,
            response_id: None,
            error: false,
            parsed_events: 0,
            events: 0,
        }
    }

    /// Looks at the next bytes of the stream (cut anywhere); returns what goes to the
    /// client now.
    pub(super) fn feed(&mut self, chunk: Bytes) -> Bytes {
        let buffer = if self.partial.is_empty() {
            chunk.clone()
        } else {
            // An event spans the chunks: join them (rare, providers write whole events).
            self.partial.extend_from_slice(&chunk);
            std::mem::take(&mut self.partial).freeze()
        };
        if self.strip_usage {
            self.filter(buffer)
        } else {
            self.scan_all(&buffer);
            // Without a filter nothing is held back: the earlier bytes of a held event
            // already went out.
            chunk
        }
    }

    /// The stream ended: looks at a last event that lacked its blank line and returns
    /// whatever is still held.
    pub(super) fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.partial).freeze();
        if rest.is_empty() || self.skipping {
            return if self.strip_usage { rest } else { Bytes::new() };
        }
        // The last line lacks its terminator too: end it, to read the event's fields.
        let mut terminated = Vec::with_capacity(rest.len() + 2);
        terminated.extend_from_slice(&rest);
        terminated.extend_from_slice(b"\n\n");
        let fields = fields(&terminated);
        self.scan(&fields);
        if !self.strip_usage {
            return Bytes::new();
        }
        if is_usage_only(&fields) {
            Bytes::new()
        } else {
            rest
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

    /// How many events were seen so far. In a Responses stream this is the
    /// `sequence_number` an event appended by the hub carries, as events are numbered from 0.
    pub(super) fn events_seen(&self) -> u64 {
        self.events
    }

    /// How many events were JSON-parsed so far (the rest were skipped cheaply).
    #[cfg(test)]
    fn parsed_events(&self) -> u64 {
        self.parsed_events
    }

    /// Scans every complete event of `buffer` and holds the unfinished rest, for scanning
    /// once it is complete.
    fn scan_all(&mut self, buffer: &[u8]) {
        let mut start = 0;
        while let Some(end) = event_end(buffer, start) {
            if !std::mem::take(&mut self.skipping) {
                let fields = fields(&buffer[start..end]);
                self.scan(&fields);
            }
            start = end;
        }
        if !self.skipping {
            self.hold(&buffer[start..]);
        }
    }

    /// Passes `buffer`'s complete events but the usage-only one; holds the unfinished rest.
    fn filter(&mut self, buffer: Bytes) -> Bytes {
        let mut out: Option<BytesMut> = None;
        let mut start = 0;
        let mut kept_until = 0;
        while let Some(end) = event_end(&buffer, start) {
            let skipped = std::mem::take(&mut self.skipping);
            let drop_it = !skipped && {
                let fields = fields(&buffer[start..end]);
                self.scan(&fields);
                is_usage_only(&fields)
            };
            if drop_it {
                let kept = out.get_or_insert_with(BytesMut::new);
                kept.extend_from_slice(&buffer[kept_until..start]);
                kept_until = end;
            }
            start = end;
        }
        let rest = &buffer[start..];
        let passed_now = if self.skipping || rest.len() > MAX_HELD_EVENT {
            // Too long to be the usage chunk: let it through as it comes.
            self.skipping = true;
            buffer.len()
        } else {
            self.partial.extend_from_slice(rest);
            start
        };
        match out {
            None => buffer.slice(..passed_now),
            Some(mut kept) => {
                kept.extend_from_slice(&buffer[kept_until..passed_now]);
                kept.freeze()
            }
        }
    }

    /// Keeps the start of an unfinished event for scanning, unless it is too long to care.
    fn hold(&mut self, rest: &[u8]) {
        if rest.len() > MAX_HELD_EVENT {
            self.skipping = true;
        } else {
            self.partial.extend_from_slice(rest);
        }
    }

    fn parse(&mut self, data: &[u8]) -> Option<Value> {
        self.parsed_events += 1;
        serde_json::from_slice(data).ok()
    }

    fn scan(&mut self, fields: &Fields<'_>) {
        if matches!(fields.data, Data::None) && fields.name.is_none() {
            // Comments and keep-alives are not events.
            return;
        }
        self.events += 1;
        match self.protocol {
            LlmProtocol::ChatCompletions => self.scan_chat(fields),
            LlmProtocol::OpenResponses => self.scan_responses(fields),
        }
    }

    fn scan_chat(&mut self, fields: &Fields<'_>) {
        let data = fields.data.bytes();
        if data.starts_with(b"[DONE]") {
            return;
        }
        let named_error = fields.name == Some(b"error");
        // Before the first content every chunk may be the one; after it, only chunks that
        // carry a usage object or an error are worth parsing.
        let wanted = !self.first_content
            || named_error
            || has_object_value(data, &USAGE)
            || ERROR.find(data).is_some();
        if !wanted {
            return;
        }
        let Some(value) = self.parse(data) else {
            return;
        };
        if named_error || crate::adapter::error::provider_error(&value).is_some() {
            self.error = true;
        }
        if let Some(usage) = usage_from_body(&value) {
            self.usage = Some(usage);
        }
        if !self.first_content && chat_chunk_has_content(&value) {
            self.first_content = true;
        }
    }

    fn scan_responses(&mut self, fields: &Fields<'_>) {
        let kind = fields.name.and_then(|name| std::str::from_utf8(name).ok());
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
                let Some(value) = self.parse(fields.data.bytes()) else {
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

/// Where the line starting at `from` ends: the index of its terminator and the index just
/// past it. `None` when no terminator is in `buffer` yet, or when it ends with a CR that an
/// LF may still follow.
fn line_end(buffer: &[u8], from: usize) -> Option<(usize, usize)> {
    let at = from + memchr::memchr2(b'\n', b'\r', &buffer[from..])?;
    if buffer[at] == b'\n' {
        return Some((at, at + 1));
    }
    match buffer.get(at + 1) {
        Some(b'\n') => Some((at, at + 2)),
        Some(_) => Some((at, at + 1)),
        None => None,
    }
}

/// The index just past the blank line that ends the event starting at `start`, if the
/// event is complete.
fn event_end(buffer: &[u8], start: usize) -> Option<usize> {
    let mut line = start;
    loop {
        let (terminator, next) = line_end(buffer, line)?;
        if terminator == line {
            return Some(next);
        }
        line = next;
    }
}

/// The `event:` name and the data of one complete event (its blank line included).
fn fields(event: &[u8]) -> Fields<'_> {
    let mut name = None;
    let mut data = Data::None;
    let mut line = 0;
    while let Some((terminator, next)) = line_end(event, line) {
        let text = &event[line..terminator];
        line = next;
        let (field, value) = match memchr::memchr(b':', text) {
            Some(0) => continue,
            Some(colon) => {
                let value = &text[colon + 1..];
                (&text[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (text, &b""[..]),
        };
        match field {
            b"data" => {
                data = match data {
                    Data::None => Data::One(value),
                    Data::One(first) => {
                        let mut joined = first.to_vec();
                        joined.push(b'\n');
                        joined.extend_from_slice(value);
                        Data::Many(joined)
                    }
                    Data::Many(mut joined) => {
                        joined.push(b'\n');
                        joined.extend_from_slice(value);
                        Data::Many(joined)
                    }
                };
            }
            b"event" => name = Some(value),
            _ => {}
        }
    }
    Fields { name, data }
}

/// Whether the event is the usage-only Chat Completions chunk: `choices` empty, `usage` an
/// object. Only an event with a usage object is parsed: when usage is requested, providers
/// put `"usage":null` in every chunk.
fn is_usage_only(fields: &Fields<'_>) -> bool {
    let data = fields.data.bytes();
    if !has_object_value(data, &USAGE) {
        return false;
    }
    serde_json::from_slice::<Value>(data).is_ok_and(|chunk| {
        chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
            && chunk.get("usage").is_some_and(Value::is_object)
    })
}

/// Whether `data` holds the key `finder` looks for (`"key"`, quotes included) with an object
/// as its value, without parsing it.
fn has_object_value(data: &[u8], finder: &Finder<'_>) -> bool {
    let mut rest = data;
    while let Some(at) = finder.find(rest) {
        rest = &rest[at + finder.needle().len()..];
        let after = rest.trim_ascii_start();
        if let Some(value) = after.strip_prefix(b":")
            && value.trim_ascii_start().starts_with(b"{")
        {
            return true;
        }
    }
    false
}

/// Whether a Chat Completions chunk carries content: non-empty text, refusal, reasoning or
/// tool calls.
fn chat_chunk_has_content(chunk: &Value) -> bool {
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
mod tests;
