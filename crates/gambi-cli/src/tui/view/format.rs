//! Numbers and times as the interface writes them.

use std::time::{Duration, UNIX_EPOCH};

use gambi_protocol::Millis;

/// `HH:MM:SS` (UTC) of a wire timestamp.
pub(super) fn clock(at: Millis) -> String {
    let seconds = at.max(0) / 1000;
    let day = seconds % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// `YYYY-MM-DD HH:MM` (UTC) of a wire timestamp.
pub(super) fn date_time(at: Millis) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(at).unwrap_or(0));
    let text = humantime::format_rfc3339_seconds(at).to_string();
    text.get(..16).unwrap_or(&text).replacen('T', " ", 1)
}

/// A duration in milliseconds: `0.4 ms`, `230 ms`, `1.2 s`, `75 s`.
pub(super) fn millis(ms: f64) -> String {
    if ms < 10.0 && ms.fract() != 0.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{:.0} s", (ms / 1000.0).floor())
    }
}

/// How long ago `then` was, at `now`: `now`, `12 s ago`, `3 min ago`, `2 h ago`.
pub(super) fn ago(now: Millis, then: Millis) -> String {
    let seconds = (now - then).max(0) / 1000;
    match seconds {
        0 => "now".to_owned(),
        1..120 => format!("{seconds} s ago"),
        120..7200 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

/// An integer with thousands separators: `12,345`.
pub(super) fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A size in GiB: `24 GB`, `7.5 GB`.
pub(super) fn gib(size: f64) -> String {
    if size >= 10.0 || size.fract() == 0.0 {
        format!("{size:.0} GB")
    } else {
        format!("{size:.1} GB")
    }
}

/// `text` cut to `width` characters, with `…` when cut.
pub(super) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = 1_767_225_600_000 + 3_723_000; // 2026-01-01T01:02:03Z
        assert_eq!(clock(t), "01:02:03");
        assert_eq!(date_time(t), "2026-01-01 01:02");
        assert_eq!(millis(230.0), "230 ms");
        assert_eq!(millis(0.4), "0.4 ms");
        assert_eq!(millis(1_250.0), "1.2 s");
        assert_eq!(millis(75_000.0), "75 s");
        assert_eq!(ago(t, t + 5), "now");
        assert_eq!(ago(t + 12_000, t), "12 s ago");
        assert_eq!(ago(t + 180_000, t), "3 min ago");
        assert_eq!(ago(t + 7_200_000, t), "2 h ago");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(gib(24.0), "24 GB");
        assert_eq!(gib(7.5), "7.5 GB");
        assert_eq!(gib(15.6), "16 GB");
        assert_eq!(fit("llama3:latest", 20), "llama3:latest");
        assert_eq!(fit("llama3:latest", 6), "llama…");
    }
}
