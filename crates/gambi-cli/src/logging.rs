//! Logs: to stderr (or, for `gambi tui`, which owns the terminal, to its `--log-file` or
//! nowhere), filtered by `--verbose` or `RUST_LOG`, with secrets masked.
//!
//! The participant's tunnel URL carries its single-use bootstrap token as `?token=…`, as
//! the original protocol wants, and the WebSocket and HTTP libraries log the URLs they
//! contact at `debug` and `trace` (tungstenite writes the whole handshake request). Our own
//! code never logs the token, but theirs cannot be told not to, so every log line passes
//! through [`redact`] on its way to stderr.
//!
//! With the `otel` feature, `hub serve` and `participant join` also export the spans of
//! each inference request as OpenTelemetry traces ([`otel`]), filtered apart from the logs.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[cfg(feature = "otel")]
pub(crate) mod otel;

/// Where log lines go.
#[derive(Debug)]
pub(crate) enum Destination<'a> {
    /// Standard error.
    Stderr,
    /// Appended to this file.
    File(&'a Path),
    /// Nowhere.
    Nowhere,
}

/// Starts logging lines that pass `filter` ([`filter`]) to `destination`.
pub(crate) fn init(filter: &str, destination: Destination<'_>) -> io::Result<()> {
    if let Some((writer, ansi)) = writer(destination)? {
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(filter))
            .with_writer(writer)
            .with_ansi(ansi)
            .init();
    }
    Ok(())
}

/// Starts logging as [`init`] does, and exporting the spans `traces` takes as traces.
#[cfg(feature = "otel")]
pub(crate) fn init_with_traces(
    filter: &str,
    destination: Destination<'_>,
    traces: otel::TraceLayer,
) -> io::Result<()> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let logs = writer(destination)?.map(|(writer, ansi)| {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_filter(EnvFilter::new(filter))
    });
    tracing_subscriber::registry()
        .with(traces)
        .with(logs)
        .init();
    Ok(())
}

/// The writer of log lines to `destination`, and whether they may be coloured; `None`
/// when they go nowhere.
fn writer(destination: Destination<'_>) -> io::Result<Option<(RedactingSink, bool)>> {
    Ok(match destination {
        Destination::Stderr => Some((RedactingSink(Sink::Stderr), io::stderr().is_terminal())),
        Destination::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            Some((RedactingSink(Sink::File(Arc::new(Mutex::new(file)))), false))
        }
        Destination::Nowhere => None,
    })
}

/// Debug details of everything but the HTTP, TLS and mDNS plumbing underneath.
const VERBOSE: &str = "debug,hyper=info,hyper_util=info,h2=info,rustls=info,mio=info";

/// Debug details of Gambi's own crates (and of the hub's HTTP exchanges), warnings of
/// the rest.
const GAMBI_DEBUG: &str = "warn,gambi=debug,gambi_hub=debug,gambi_client=debug,\
                           gambi_participant=debug,gambi_protocol=debug,tower_http=debug";

/// What to log: `RUST_LOG` when set; else debug details for `--verbose` or a `DEBUG`
/// that names everything (`*`) or Gambi (`gambi*`, `gambi`, `gambi:*`), as the
/// `debug` convention of Node tools has it (a comma- or space-separated list, `-name`
/// excludes); else warnings.
pub(crate) fn filter(rust_log: Option<&str>, debug: Option<&str>, verbose: bool) -> String {
    if let Some(directives) = rust_log.filter(|directives| !directives.trim().is_empty()) {
        return directives.to_owned();
    }
    let patterns: Vec<&str> = debug
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|pattern| !pattern.is_empty() && !pattern.starts_with('-'))
        .collect();
    if verbose || patterns.contains(&"*") {
        VERBOSE.to_owned()
    } else if patterns
        .iter()
        .any(|pattern| pattern.to_ascii_lowercase().starts_with("gambi"))
    {
        GAMBI_DEBUG.to_owned()
    } else {
        "warn".to_owned()
    }
}

/// Query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 1] = ["token="];

/// What a secret's value is replaced with.
const MASK: &str = "[redacted]";

/// `line` with the value of every `token=` parameter masked. A value ends where a URL
/// query value or a quoted log field would: at `&`, `#`, whitespace, a quote, a
/// backslash or a closing bracket.
pub(crate) fn redact(line: &str) -> std::borrow::Cow<'_, str> {
    let lower = line.to_ascii_lowercase();
    if !SECRET_PARAMS.iter().any(|param| lower.contains(param)) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(found) = SECRET_PARAMS
        .iter()
        .filter_map(|param| {
            lower[search..]
                .find(param)
                .map(|at| (search + at, param.len()))
        })
        .min()
    {
        let (at, len) = found;
        let value_start = at + len;
        let value_end = line[value_start..]
            .find(|c: char| {
                matches!(
                    c,
                    '&' | '#' | '"' | '\'' | '\\' | ')' | ']' | '>' | ',' | ';'
                ) || c.is_whitespace()
            })
            .map_or(line.len(), |end| value_start + end);
        out.push_str(&line[rest..value_start]);
        if value_end > value_start {
            out.push_str(MASK);
        }
        rest = value_end;
        search = value_end.max(value_start);
    }
    out.push_str(&line[rest..]);
    std::borrow::Cow::Owned(out)
}

/// Where a [`Redacting`] writer writes.
#[derive(Clone)]
enum Sink {
    Stderr,
    File(Arc<Mutex<File>>),
}

/// Makes [`Redacting`] writers to its sink.
struct RedactingSink(Sink);

impl<'a> MakeWriter<'a> for RedactingSink {
    type Writer = Redacting;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting(Vec::new(), self.0.clone())
    }
}

/// Collects one log event and writes it masked when dropped (the formatter writes each
/// event through a fresh writer).
struct Redacting(Vec<u8>, Sink);

impl Write for Redacting {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Redacting {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let line = redact(&text);
        // Nothing useful can be done when the log's own destination fails.
        let _ = match &self.1 {
            Sink::Stderr => io::stderr().lock().write_all(line.as_bytes()),
            Sink::File(file) => file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_all(line.as_bytes()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_wherever_they_appear() {
        let check = |line: &str, expected: &str| assert_eq!(redact(line), expected, "{line}");
        check("nothing to hide", "nothing to hide");
        check(
            "Trying to contact ws://h:3000/v1/rooms/A/participants/b/tunnel?token=1f2e-3d at 127.0.0.1:3000...",
            "Trying to contact ws://h:3000/v1/rooms/A/participants/b/tunnel?token=[redacted] at 127.0.0.1:3000...",
        );
        check(
            r#"Request: "GET /t?token=abc HTTP/1.1\r\nHost: h\r\n""#,
            r#"Request: "GET /t?token=[redacted] HTTP/1.1\r\nHost: h\r\n""#,
        );
        check(
            "u?a=1&token=x&TOKEN=y#f",
            "u?a=1&token=[redacted]&TOKEN=[redacted]#f",
        );
        check("url=\"/t?token=q\"", "url=\"/t?token=[redacted]\"");
        check("token=", "token=");
        check("end token=zz", "end token=[redacted]");
    }

    #[test]
    fn log_filters() {
        // (RUST_LOG, DEBUG, --verbose, filter)
        let cases = [
            (None, None, false, "warn"),
            (None, None, true, VERBOSE),
            (None, Some("*"), false, VERBOSE),
            (None, Some("gambi*"), false, GAMBI_DEBUG),
            (None, Some("gambi:*"), false, GAMBI_DEBUG),
            (None, Some("express,gambi"), false, GAMBI_DEBUG),
            (None, Some("express -gambi"), false, "warn"),
            (None, Some("express"), false, "warn"),
            (None, Some(""), false, "warn"),
            (Some("info"), Some("*"), true, "info"),
            (Some("  "), Some("gambi*"), false, GAMBI_DEBUG),
        ];
        for (rust_log, debug, verbose, expected) in cases {
            assert_eq!(
                filter(rust_log, debug, verbose),
                expected,
                "{rust_log:?} {debug:?} {verbose}"
            );
        }
        for filter in [VERBOSE, GAMBI_DEBUG] {
            assert!(EnvFilter::try_new(filter).is_ok(), "{filter}");
        }
    }
}
