//! The one place that writes to stdout and stderr.
//!
//! stdout carries only a command's result (text lines, one JSON document, or NDJSON
//! objects), so `--format json` can be piped into `jq`; errors go to stderr, and so do
//! logs (see `main.rs`). Writing through `std::io::Write` rather than `println!` lets a
//! closed pipe (`gambi events watch | head -1`) surface as an error the caller handles
//! instead of a panic, which is also why the workspace's `print_stdout`/`print_stderr`
//! lints need no exception here: nothing in this crate uses the print macros.
//!
//! Names, messages and ids come from the hub, and a hostile room could put terminal escape
//! sequences in them. Nothing is printed raw: text lines show every control character as
//! an escape (`\u{1b}`), and JSON escapes the ones `serde_json` leaves as they are (DEL
//! and the C1 range, which some terminals obey).

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use serde::Serialize;

use crate::error::CliError;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Lines for people.
    Text,
    /// One pretty-printed JSON document.
    Json,
    /// One compact JSON object per line (streaming commands).
    Ndjson,
}

impl Format {
    /// The format to use: `flag` (`--format`), else `env` (`GAMBI_FORMAT`, ignored when not
    /// a format name); a streaming command turns `json` into `ndjson`. Without either,
    /// text on a terminal and JSON (NDJSON when streaming) when stdout is piped.
    pub(crate) fn resolve(
        flag: Option<Self>,
        env: Option<&str>,
        streaming: bool,
        stdout_is_terminal: bool,
    ) -> Self {
        let chosen = flag.or_else(|| env.and_then(|value| Self::from_str(value.trim(), true).ok()));
        match chosen {
            Some(Self::Json) if streaming => Self::Ndjson,
            Some(format) => format,
            None if stdout_is_terminal => Self::Text,
            None if streaming => Self::Ndjson,
            None => Self::Json,
        }
    }
}

/// Writes a command's output in the chosen format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    format: Format,
    quiet: bool,
}

impl Output {
    /// Output in `format`; `quiet` drops non-essential text lines.
    pub(crate) fn new(format: Format, quiet: bool) -> Self {
        Self { format, quiet }
    }

    /// Whether stdout is a terminal (for format resolution).
    pub(crate) fn stdout_is_terminal() -> bool {
        io::stdout().is_terminal()
    }

    /// Whether the result is printed as text lines.
    pub(crate) fn is_text(&self) -> bool {
        self.format == Format::Text
    }

    /// A line of the command's result, control characters escaped.
    pub(crate) fn line(&self, line: &str) -> io::Result<()> {
        write_line(&escape_controls(line))
    }

    /// A line that is nice to have but not the result (e.g. "Press Ctrl+C to stop");
    /// `--quiet` drops it.
    pub(crate) fn note(&self, line: &str) -> io::Result<()> {
        if self.quiet { Ok(()) } else { self.line(line) }
    }

    /// A notice for people on stderr, whatever the format (e.g. a stream being
    /// reconnected); `--quiet` drops it.
    pub(crate) fn notice(&self, line: &str) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let mut stderr = io::stderr().lock();
        writeln!(stderr, "{line}")?;
        stderr.flush()
    }

    /// A JSON value: pretty in `json` (and `text`) format, one compact line in `ndjson`.
    pub(crate) fn value<T: Serialize>(&self, value: &T) -> io::Result<()> {
        let text = match self.format {
            Format::Ndjson => serde_json::to_string(value),
            Format::Json | Format::Text => serde_json::to_string_pretty(value),
        }
        .map_err(io::Error::other)?;
        write_line(&escape_json_controls(&text))
    }

    /// A lifecycle event of a long-running command: `{type, timestamp, data}`.
    pub(crate) fn event<T: Serialize>(&self, kind: &str, data: &T) -> io::Result<()> {
        self.value(&LifecycleEvent {
            kind,
            timestamp: now_ms(),
            data,
        })
    }

    /// Reports a failure on stderr: `Error:`, then `Hint:` and `request_id:` when known.
    pub(crate) fn error(error: &CliError) {
        let mut text = format!("Error: {}\n", escape_controls(&error.message));
        if let Some(hint) = &error.hint {
            text.push_str(&format!("Hint: {}\n", escape_controls(hint)));
        }
        if let Some(request_id) = &error.request_id {
            text.push_str(&format!("request_id: {}\n", escape_controls(request_id)));
        }
        // Nothing useful can be done when stderr itself is gone.
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

/// Writes `line` and a newline to stdout, and flushes.
fn write_line(line: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

/// `text` with every control character (C0, DEL, C1) written as a visible escape:
/// `\n`, `\r`, `\t`, or `\u{1b}` for the others.
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Serialized JSON with DEL and C1 characters written as `\u00XX` escapes (`serde_json`
/// escapes only the C0 range). Outside strings JSON has no such characters, so the layout
/// of pretty-printed output is untouched.
fn escape_json_controls(json: &str) -> Cow<'_, str> {
    let raw = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | ' ');
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut escaped = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if raw(c) {
            escaped.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// What [`Output::event`] prints; a struct so that `type` comes first.
#[derive(Serialize)]
struct LifecycleEvent<'a, T> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: i64,
    data: &'a T,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A wire timestamp (ms since the epoch) as ISO 8601 UTC with milliseconds, the way
/// JavaScript's `toISOString` writes it: `2026-08-22T10:00:00.000Z`.
pub(crate) fn iso_time(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_resolution() {
        use Format::*;
        let cases = [
            // flag, env, streaming, terminal, expected
            (Some(Text), None, false, false, Text),
            (Some(Json), Some("text"), false, true, Json),
            (Some(Json), None, true, true, Ndjson),
            (Some(Ndjson), None, false, true, Ndjson),
            (None, Some("json"), false, true, Json),
            (None, Some("JSON"), true, true, Ndjson),
            (None, Some("text"), false, false, Text),
            (None, Some("yaml"), false, true, Text),
            (None, Some("yaml"), false, false, Json),
            (None, None, false, true, Text),
            (None, None, true, true, Text),
            (None, None, false, false, Json),
            (None, None, true, false, Ndjson),
        ];
        for (flag, env, streaming, terminal, expected) in cases {
            assert_eq!(
                Format::resolve(flag, env, streaming, terminal),
                expected,
                "{flag:?} {env:?} streaming={streaming} terminal={terminal}"
            );
        }
    }

    #[test]
    fn control_characters_never_reach_the_terminal_raw() {
        let check = |text: &str, expected: &str| {
            assert_eq!(escape_controls(text), expected, "{text:?}");
        };
        check("Lab 7 — café", "Lab 7 — café");
        check("a\u{1b}[31mred", "a\\u{1b}[31mred");
        check("two\nlines\r\t", "two\\nlines\\r\\t");
        check("\u{7f}\u{9b}2J\u{7}", "\\u{7f}\\u{9b}2J\\u{7}");

        let json = serde_json::to_string_pretty(&serde_json::json!({
            "name": "x\u{1b}]0;t\u{7}\u{9b}\u{7f}"
        }))
        .expect("serializable");
        let escaped = escape_json_controls(&json);
        assert!(
            !escaped.chars().any(|c| c.is_control() && c != '\n'),
            "{escaped}"
        );
        let back: serde_json::Value = serde_json::from_str(&escaped).expect("still JSON");
        assert_eq!(back["name"], "x\u{1b}]0;t\u{7}\u{9b}\u{7f}");
        assert_eq!(escaped.lines().count(), 3, "the layout is kept");
    }

    #[test]
    fn iso_times_match_javascript() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_time(-5), "1970-01-01T00:00:00.000Z");
    }
}
