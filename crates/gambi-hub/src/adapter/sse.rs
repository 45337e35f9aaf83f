//! A tolerant server-sent-events parser and the frame writer used by the stream adapters.
//!
//! Providers frame SSE in every way the standard allows and some it does not: LF, CRLF or CR
//! line endings, multi-line `data:` fields, comments used as keep-alives, `event:`/`id:`/`retry:`
//! fields, a last event without its trailing blank line. The parser follows the WHATWG
//! event-stream rules, accepts bytes cut at any boundary (even inside a CRLF or a UTF-8
//! sequence), and bounds what it buffers so a provider cannot make the hub grow without limit.

use bytes::Bytes;
use serde_json::Value;

/// The largest event (its line and data buffers together) the parser keeps; a bigger one is
/// dropped whole and counted in [`SseParser::oversized_events`]. Generous enough for a
/// `response.completed` event that repeats a long answer.
pub(crate) const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The final frame of a Chat Completions stream.
pub(crate) const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id seen on the stream (it persists across events, as the standard says).
    pub id: Option<String>,
    /// The `retry:` field, if the event had a valid one.
    pub retry: Option<u64>,
}

/// Incremental SSE parser: push bytes as they arrive, get the complete events back.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended with CR, so a leading LF in the next one belongs to it.
    pending_cr: bool,
    /// Whether the stream's first bytes (and a possible BOM) have been looked at.
    started: bool,
    /// Fields of the event being assembled.
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
    retry: Option<u64>,
    /// The current event grew past [`MAX_EVENT_BYTES`]; skip to its end.
    discarding: bool,
    /// The line being skipped has not ended yet, so its terminator is not a blank line.
    in_oversized_line: bool,
    oversized: u64,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream and returns the events they complete, in order.
    pub(crate) fn push(&mut self, mut chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.started && !chunk.is_empty() {
            // A UTF-8 byte order mark may only appear at the very start; it can be split too,
            // so wait for three bytes before deciding.
            self.line.extend_from_slice(chunk);
            if self.line.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.line) {
                return out;
            }
            self.started = true;
            let buffered = std::mem::take(&mut self.line);
            let rest = buffered.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buffered);
            self.push_started(rest, &mut out);
            return out;
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        self.push_started(chunk, &mut out);
        out
    }

    /// Ends the stream: a last line without its newline and a last event without its blank
    /// line are still delivered.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let buffered = std::mem::take(&mut self.line);
            self.push_started(&buffered, &mut out);
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.pending_cr = false;
        self.in_oversized_line = false;
        if std::mem::take(&mut self.discarding) {
            return None;
        }
        self.dispatch(&mut out);
        out.pop()
    }

    #[cfg(test)]
    /// How many events were dropped for being larger than [`MAX_EVENT_BYTES`].
    pub(crate) fn oversized_events(&self) -> u64 {
        self.oversized
    }

    fn push_started(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = chunk.split_at(pos);
            let is_cr = tail.first() == Some(&b'\r');
            let mut rest = &tail[1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
            if self.in_oversized_line {
                self.in_oversized_line = false;
            } else if self.line.is_empty() {
                self.process_line(head, out);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out);
            }
            chunk = rest;
        }
        if !chunk.is_empty() {
            if self.in_oversized_line {
                return;
            }
            self.line.extend_from_slice(chunk);
            if self.line.len() + self.data.len() > MAX_EVENT_BYTES {
                self.start_discarding();
                self.in_oversized_line = true;
            }
        }
    }

    fn start_discarding(&mut self) {
        if !self.discarding {
            self.oversized += 1;
        }
        self.discarding = true;
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.event = None;
        self.retry = None;
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.discarding {
                self.discarding = false;
            } else {
                self.dispatch(out);
            }
            return;
        }
        if self.discarding || line.first() == Some(&b':') {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
                if self.data.len() > MAX_EVENT_BYTES {
                    self.start_discarding();
                }
            }
            b"event" => self.event = Some(value.into_owned()),
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        let retry = self.retry.take();
        if !self.has_data {
            // The standard drops an event without data; only its event name is reset.
            self.data.clear();
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
            retry,
        });
    }
}

/// A named frame: `event: <name>\ndata: <json>\n\n`, as the Responses API sends them.
pub(crate) fn event_frame(name: &str, data: &Value) -> Bytes {
    let mut out = Vec::with_capacity(name.len() + 64);
    write_event_frame(&mut out, name, data);
    Bytes::from(out)
}

/// An unnamed frame: `data: <json>\n\n`, as the Chat Completions API sends them.
pub(crate) fn data_frame(data: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    write_data_frame(&mut out, data);
    Bytes::from(out)
}

/// Appends a named frame to `out`.
pub(crate) fn write_event_frame(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    write_data_frame(out, data);
}

/// Appends an unnamed frame to `out`. JSON text never contains a raw newline (serde_json
/// escapes them), so one `data:` line always suffices.
pub(crate) fn write_data_frame(out: &mut Vec<u8>, data: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: None,
            retry: None,
        }
    }

    fn parse_whole(input: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = p.push(input);
        out.extend(p.finish());
        out
    }

    fn parse_bytewise(input: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for b in input {
            out.extend(p.push(std::slice::from_ref(b)));
        }
        out.extend(p.finish());
        out
    }

    /// Checks one input parsed whole, byte by byte, and split at every position in two.
    fn check(input: &[u8], expected: &[SseEvent]) {
        let text = String::from_utf8_lossy(input);
        assert_eq!(parse_whole(input), expected, "whole: {text:?}");
        assert_eq!(parse_bytewise(input), expected, "bytewise: {text:?}");
        for cut in 0..=input.len() {
            let mut p = SseParser::new();
            let mut out = p.push(&input[..cut]);
            out.extend(p.push(&input[cut..]));
            out.extend(p.finish());
            assert_eq!(out, expected, "cut at {cut}: {text:?}");
        }
    }

    #[test]
    fn line_endings() {
        let two = [ev(None, "a"), ev(None, "b")];
        check(b"data: a\n\ndata: b\n\n", &two);
        check(b"data: a\r\n\r\ndata: b\r\n\r\n", &two);
        check(b"data: a\r\rdata: b\r\r", &two);
        check(b"data: a\r\n\ndata: b\n\r\n", &two);
    }

    #[test]
    fn fields_and_comments() {
        check(
            b": keep-alive\n\nevent: response.created\ndata: {\"x\":1}\n\n",
            &[ev(Some("response.created"), "{\"x\":1}")],
        );
        check(b"data:no-space\n\n", &[ev(None, "no-space")]);
        check(b"data:  two-spaces\n\n", &[ev(None, " two-spaces")]);
        check(b"data\n\n", &[ev(None, "")]);
        check(b"unknown: x\ndata: y\n\n", &[ev(None, "y")]);
        check(b"event: only-name\n\ndata: z\n\n", &[ev(None, "z")]);
        check(b"\n\n\n", &[]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newline() {
        check(b"data: a\ndata: b\ndata:\n\n", &[ev(None, "a\nb\n")]);
    }

    #[test]
    fn id_persists_and_retry_is_per_event() {
        let got = parse_whole(b"id: 7\nretry: 1500\ndata: a\n\nretry: x\ndata: b\n\n");
        assert_eq!(
            got,
            vec![
                SseEvent {
                    event: None,
                    data: "a".into(),
                    id: Some("7".into()),
                    retry: Some(1500)
                },
                SseEvent {
                    event: None,
                    data: "b".into(),
                    id: Some("7".into()),
                    retry: None
                },
            ]
        );
    }

    #[test]
    fn last_event_without_blank_line_is_delivered_on_finish() {
        check(b"data: a\n\ndata: b", &[ev(None, "a"), ev(None, "b")]);
        check(b"data: a\n\ndata: b\n", &[ev(None, "a"), ev(None, "b")]);
        check(b"data: a\r", &[ev(None, "a")]);
    }

    #[test]
    fn bom_and_utf8_split_across_chunks() {
        check(
            "\u{feff}data: héllo → 世界\n\n".as_bytes(),
            &[ev(None, "héllo → 世界")],
        );
        check(b"\xEF\xBB", &[]);
    }

    #[test]
    fn oversized_event_is_dropped_and_parsing_recovers() {
        let mut p = SseParser::new();
        let big = vec![b'x'; MAX_EVENT_BYTES / 4 + 1];
        let mut out = p.push(b"data: ");
        for _ in 0..5 {
            out.extend(p.push(&big));
        }
        out.extend(p.push(b"\nevent: same-event\ndata: more\n\ndata: next\n\n"));
        assert_eq!(out, vec![ev(None, "next")]);
        assert_eq!(p.oversized_events(), 1);
    }

    #[test]
    fn frames() {
        assert_eq!(
            event_frame("response.created", &json!({"a": "x\ny"})),
            Bytes::from_static(b"event: response.created\ndata: {\"a\":\"x\\ny\"}\n\n")
        );
        assert_eq!(
            data_frame(&json!({"a": 1})),
            Bytes::from_static(b"data: {\"a\":1}\n\n")
        );
    }
}
