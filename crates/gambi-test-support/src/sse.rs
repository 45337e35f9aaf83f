//! A small reader for `text/event-stream` bodies, for tests.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde_json::Value;

/// One server-sent event, or a comment line.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// An event with its `event:` name (empty when absent) and joined `data:` lines.
    Event {
        /// The `event:` field.
        event: String,
        /// The `data:` lines, joined with `\n`.
        data: String,
    },
    /// A comment (`: text`), e.g. a keep-alive.
    Comment(String),
}

impl Frame {
    /// The event name, or `None` for comments.
    pub fn event(&self) -> Option<&str> {
        match self {
            Self::Event { event, .. } => Some(event),
            Self::Comment(_) => None,
        }
    }

    /// The data parsed as JSON (`Null` for comments or non-JSON data).
    pub fn json(&self) -> Value {
        match self {
            Self::Event { data, .. } => serde_json::from_str(data).unwrap_or(Value::Null),
            Self::Comment(_) => Value::Null,
        }
    }
}

/// Reads frames from a byte stream as they arrive.
pub struct EventReader {
    body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, ()>> + Send>>,
    buffer: BytesMut,
    /// How much of `buffer` is known to hold no frame end, so large frames arriving in
    /// many reads are not searched again from the start.
    searched: usize,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl EventReader {
    /// Reads the body of `response`.
    pub fn new(response: reqwest::Response) -> Self {
        Self::from_stream(response.bytes_stream())
    }

    /// Reads any stream of body bytes, e.g. one read straight off a socket.
    pub fn from_stream<S, E>(body: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    {
        Self {
            body: Box::pin(body.map(|item| item.map_err(|_| ()))),
            buffer: BytesMut::new(),
            searched: 0,
        }
    }

    /// The next frame (event or comment), or `None` when the stream ends.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Some(frame);
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.buffer.extend_from_slice(&bytes),
                Some(Err(())) | None => return None,
            }
        }
    }

    /// The next event, skipping comments.
    pub async fn next_event(&mut self) -> Option<Frame> {
        loop {
            match self.next_frame().await? {
                Frame::Comment(_) => {}
                frame => return Some(frame),
            }
        }
    }

    /// Splits the first complete frame off the buffer. Frames are cut on the raw bytes
    /// so that a multi-byte character split across reads never hides a complete frame.
    fn take_frame(&mut self) -> Option<Frame> {
        let from = self.searched.saturating_sub(1);
        let Some(found) = self.buffer[from..]
            .windows(2)
            .position(|pair| pair == b"\n\n")
        else {
            self.searched = self.buffer.len();
            return None;
        };
        let end = from + found;
        let block = self.buffer.split_to(end + 2);
        self.searched = 0;
        let text = String::from_utf8_lossy(&block[..end]);
        let mut event = String::new();
        let mut data: Vec<String> = Vec::new();
        let mut comment = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(':') {
                comment = Some(rest.trim_start().to_owned());
            } else if let Some(rest) = line.strip_prefix("event:") {
                event = rest.trim_start().to_owned();
            } else if let Some(rest) = line.strip_prefix("data:") {
                data.push(rest.strip_prefix(' ').unwrap_or(rest).to_owned());
            }
        }
        Some(match (data.is_empty() && event.is_empty(), comment) {
            (true, Some(comment)) => Frame::Comment(comment),
            _ => Frame::Event {
                event,
                data: data.join("\n"),
            },
        })
    }
}
