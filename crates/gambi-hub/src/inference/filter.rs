//! Removes the usage-only chunk the hub asked for from a Chat Completions stream.
//!
//! To report token counts, the hub asks Chat Completions providers for
//! `stream_options.include_usage`. A client that did not ask for it must not see the extra
//! final chunk (its `choices` is empty, and code that reads `choices[0]` would break), so
//! this filter drops events whose `choices` is empty and that carry `usage`, passing every
//! other byte through unchanged.

use bytes::{Bytes, BytesMut};

/// Longest event the filter holds while waiting for its end; a longer one is passed on
/// as it is (it is certainly not a usage-only chunk).
const MAX_HELD_EVENT: usize = 1024 * 1024;

/// A streaming filter over SSE bytes cut anywhere.
#[derive(Debug, Default)]
pub(crate) struct UsageChunkFilter {
    held: BytesMut,
}

impl UsageChunkFilter {
    /// Filters the next bytes; returns what may go to the client now.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Bytes {
        self.held.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        while let Some(end) = event_end(&self.held) {
            let event = self.held.split_to(end);
            if !is_usage_only(&event) {
                out.extend_from_slice(&event);
            }
        }
        if self.held.len() > MAX_HELD_EVENT {
            out.extend_from_slice(&self.held.split());
        }
        out.freeze()
    }

    /// The stream ended: returns whatever is still held.
    pub(crate) fn finish(&mut self) -> Bytes {
        let rest = self.held.split();
        if is_usage_only(&rest) {
            Bytes::new()
        } else {
            rest.freeze()
        }
    }
}

/// The index just past the first event's terminating blank line, if complete.
fn event_end(buffer: &[u8]) -> Option<usize> {
    let mut index = 0;
    while index < buffer.len() {
        if buffer[index] == b'\n' {
            match buffer.get(index + 1) {
                Some(b'\n') => return Some(index + 2),
                Some(b'\r') if buffer.get(index + 2) == Some(&b'\n') => return Some(index + 3),
                _ => {}
            }
        }
        index += 1;
    }
    None
}

fn is_usage_only(event: &[u8]) -> bool {
    // Every chunk of such a stream may carry `"usage":null`; only one whose usage is an
    // object can be the usage-only chunk, so only that one is parsed.
    let Ok(text) = std::str::from_utf8(event) else {
        return false;
    };
    if !super::scan::has_object_key(text, "usage") {
        return false;
    }
    let data: String = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str::<serde_json::Value>(&data).is_ok_and(|chunk| {
        chunk
            .get("choices")
            .and_then(serde_json::Value::as_array)
            .is_some_and(Vec::is_empty)
            && chunk.get("usage").is_some_and(|usage| !usage.is_null())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n",
        "data: [DONE]\n\n",
    );

    const FILTERED: &str = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn drops_the_usage_chunk_whole_or_byte_by_byte() {
        let mut filter = UsageChunkFilter::default();
        let mut out = filter.feed(STREAM.as_bytes()).to_vec();
        out.extend_from_slice(&filter.finish());
        assert_eq!(String::from_utf8(out).expect("utf8"), FILTERED);

        let mut filter = UsageChunkFilter::default();
        let mut out = Vec::new();
        for byte in STREAM.as_bytes() {
            out.extend_from_slice(&filter.feed(&[*byte]));
        }
        out.extend_from_slice(&filter.finish());
        assert_eq!(String::from_utf8(out).expect("utf8"), FILTERED);
    }

    #[test]
    fn keeps_crlf_events_and_unterminated_tails() {
        let mut filter = UsageChunkFilter::default();
        let out = filter.feed(b"data: {\"choices\":[{}]}\r\n\r\ndata: [DO");
        assert_eq!(&out[..], b"data: {\"choices\":[{}]}\r\n\r\n");
        assert_eq!(&filter.finish()[..], b"data: [DO");
    }
}
