//! Load generators: the same client code against the provider directly and through the hub.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};

/// The token the streamed answers of the throughput runs are made of.
pub(crate) const TOKEN: &str = "qz";

/// Where requests go: a Chat Completions URL and the `model` to ask for.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
    pub(crate) model: String,
}

impl Endpoint {
    fn request(&self, stream: bool) -> reqwest::RequestBuilder {
        let body = json!({
            "model": self.model,
            "messages": [{"role": "user", "content": "Say something."}],
            "stream": stream,
        });
        self.http.post(&self.url).json(&body)
    }

    /// One non-streamed request, read whole; returns how long it took.
    pub(crate) async fn complete(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = self.request(false).send().await.context("sending")?;
        let status = response.status();
        let body = response.bytes().await.context("reading the body")?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("status {status}: {}", String::from_utf8_lossy(&body));
        }
        let parsed: Value = serde_json::from_slice(&body).context("a JSON completion")?;
        if !parsed["choices"][0]["message"]["content"].is_string() {
            bail!("no content in {parsed}");
        }
        Ok(took)
    }

    /// One streamed request, read to the end. Returns the time to the first token and the
    /// number of tokens; fails unless the stream ends properly.
    pub(crate) async fn stream(&self) -> anyhow::Result<(Duration, u64)> {
        let started = Instant::now();
        let response = self.request(true).send().await.context("sending")?;
        let status = response.status();
        if !status.is_success() {
            bail!("status {status}");
        }
        let mut counter = TokenCounter::default();
        let mut first = None;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.context("reading the stream")?;
            counter.feed(&chunk);
            if first.is_none() && counter.tokens > 0 {
                first = Some(started.elapsed());
            }
        }
        if !counter.done {
            bail!("the stream ended without [DONE]");
        }
        Ok((first.context("no token arrived")?, counter.tokens))
    }
}

/// Counts token events (content deltas that are not empty) and notices `[DONE]`, in a
/// byte stream cut anywhere.
#[derive(Debug, Default)]
struct TokenCounter {
    carry: Vec<u8>,
    tokens: u64,
    done: bool,
}

impl TokenCounter {
    fn feed(&mut self, chunk: &[u8]) {
        const MARKER: &[u8] = b"\"content\":\"";
        self.carry.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(at) = find(&self.carry[start..], MARKER) {
            let after = start + at + MARKER.len();
            match self.carry.get(after) {
                // The content's first character is not here yet: look again next time.
                None => break,
                Some(b'"') => {}
                Some(_) => self.tokens += 1,
            }
            start = after;
        }
        if find(&self.carry, b"data: [DONE]").is_some() {
            self.done = true;
        }
        // Keep just enough to complete a marker split across chunks.
        let from = self.carry.len().saturating_sub(MARKER.len()).max(start);
        let from = match find(&self.carry[start..], MARKER) {
            Some(at) => start + at,
            None => from,
        };
        self.carry.drain(..from);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Latency samples of `count` requests to each of two endpoints, alternating between
/// them so that a change in machine load affects both alike.
pub(crate) async fn paired<F, Fut>(
    count: usize,
    direct: &Endpoint,
    hub: &Endpoint,
    measure: F,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)>
where
    F: Fn(Endpoint) -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    let (mut a, mut b) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for _ in 0..count {
        a.push(measure(direct.clone()).await?);
        b.push(measure(hub.clone()).await?);
    }
    Ok((a, b))
}

/// What a streaming run delivered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Delivered {
    pub(crate) streams: u64,
    pub(crate) tokens: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
}

impl Delivered {
    pub(crate) fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// `concurrency` clients each streaming answers back to back for `duration`; every stream
/// must bring exactly `expected` tokens. Tokens of streams still running at the end count.
pub(crate) async fn streams(
    endpoint: &Endpoint,
    concurrency: usize,
    duration: Duration,
    expected: u64,
) -> Delivered {
    let started = Instant::now();
    let deadline = started + duration;
    let clients = (0..concurrency).map(|_| {
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let mut delivered = Delivered::default();
            while Instant::now() < deadline {
                match endpoint.stream().await {
                    Ok((_, tokens)) => {
                        delivered.streams += 1;
                        delivered.tokens += tokens;
                        if tokens != expected {
                            delivered.errors += 1;
                        }
                    }
                    Err(_) => delivered.errors += 1,
                }
            }
            delivered
        })
    });
    let mut total = Delivered::default();
    for client in futures::future::join_all(clients).await {
        let delivered = client.unwrap_or(Delivered {
            errors: 1,
            ..Delivered::default()
        });
        total.streams += delivered.streams;
        total.tokens += delivered.tokens;
        total.errors += delivered.errors;
    }
    total.elapsed = started.elapsed();
    total
}

/// The `q` quantile (0..=1) of `samples`.
pub(crate) fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
