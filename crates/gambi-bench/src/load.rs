//! Load generators: the same client code against the provider directly, through nginx
//! and through the hub.

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

    /// One non-streamed request, read whole; returns how long it took. Fails on an HTTP
    /// error or an answer without content.
    pub(crate) async fn complete(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = self.request(false).send().await.context("sending")?;
        let status = response.status();
        let body = response.bytes().await.context("reading the body")?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("status {status}: {}", clip(&String::from_utf8_lossy(&body)));
        }
        let parsed: Value = serde_json::from_slice(&body).context("a JSON completion")?;
        if !parsed["choices"][0]["message"]["content"].is_string() {
            bail!("no content in {}", clip(&parsed.to_string()));
        }
        Ok(took)
    }

    /// One streamed request, read to the end. Returns the time to the first token and the
    /// number of tokens. Fails on an HTTP error, an error event, a stream that does not end
    /// with `[DONE]` and one without a token.
    pub(crate) async fn stream(&self) -> anyhow::Result<(Duration, u64)> {
        let started = Instant::now();
        let response = self.request(true).send().await.context("sending")?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("status {status}: {}", clip(&body));
        }
        let mut check = StreamCheck::default();
        let mut first = None;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.context("reading the stream")?;
            check.feed(&chunk);
            if first.is_none() && check.tokens > 0 {
                first = Some(started.elapsed());
            }
        }
        let tokens = check.finish()?;
        Ok((first.context("no token arrived")?, tokens))
    }
}

/// Reads a Chat Completions event stream cut anywhere: counts token events (content deltas
/// that are not empty) and notices `[DONE]` and error events.
#[derive(Debug, Default)]
struct StreamCheck {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    tokens: u64,
    done: bool,
    error: Option<String>,
}

impl StreamCheck {
    fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(end) = chunk.iter().position(|&byte| byte == b'\n') {
            if self.partial.is_empty() {
                self.line(&chunk[..end]);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end]);
                self.line(&line);
            }
            chunk = &chunk[end + 1..];
        }
        self.partial.extend_from_slice(chunk);
    }

    fn line(&mut self, line: &[u8]) {
        const CONTENT: &[u8] = b"\"content\":\"";
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            self.done = true;
        } else if let Some(at) = find(data, CONTENT) {
            if data
                .get(at + CONTENT.len())
                .is_some_and(|&byte| byte != b'"')
            {
                self.tokens += 1;
            }
        } else if find(data, b"\"choices\"").is_none() && self.error.is_none() {
            // Not a chunk: an error event is a JSON object with an `error` member.
            let event: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
            if !event["error"].is_null() {
                self.error = Some(clip(&String::from_utf8_lossy(data)));
            }
        }
    }

    /// The number of tokens, or why the stream failed.
    fn finish(self) -> anyhow::Result<u64> {
        if let Some(error) = self.error {
            bail!("error event: {error}");
        }
        if !self.done {
            bail!(
                "the stream ended without [DONE] after {} tokens",
                self.tokens
            );
        }
        if self.tokens == 0 {
            bail!("no token in the stream");
        }
        Ok(self.tokens)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// At most 200 characters of `text`, for error messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// The failures of a run: how many, and what the first one said.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failures {
    pub(crate) count: u64,
    pub(crate) first: Option<String>,
}

impl Failures {
    fn record(&mut self, error: &anyhow::Error) {
        self.count += 1;
        self.first.get_or_insert_with(|| format!("{error:#}"));
    }

    fn absorb(&mut self, other: Self) {
        self.count += other.count;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

/// Durations of the requests of a latency measure that succeeded, and its failures.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    pub(crate) times: Vec<Duration>,
    pub(crate) failures: Failures,
}

impl Samples {
    /// The `q` quantile (0..=1).
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        quantile(&self.times, q)
    }
}

/// `count` requests to each endpoint, one at a time, taking the endpoints in turn so that
/// a change in machine load affects all alike. One [`Samples`] per endpoint, in order.
///
/// A request can still be slowed by the work the previous one left behind in the
/// processes it crossed (a hub finishing its bookkeeping, say), so the order alternates
/// between `0, 1, 2` and `0, 2, 1`: with two or three endpoints, each follows each other
/// one equally often.
pub(crate) async fn interleaved<F, Fut>(
    count: usize,
    endpoints: &[&Endpoint],
    measure: F,
) -> Vec<Samples>
where
    F: Fn(Endpoint) -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    let mut all = vec![Samples::default(); endpoints.len()];
    for round in 0..count {
        for at in turns(round, endpoints.len()) {
            match measure(endpoints[at].clone()).await {
                Ok(took) => all[at].times.push(took),
                Err(error) => all[at].failures.record(&error),
            }
        }
    }
    all
}

/// The order of the endpoints in round `round`: `0, 1, .., n-1` in even rounds and
/// `0, n-1, .., 1` in odd ones.
fn turns(round: usize, n: usize) -> Vec<usize> {
    if round % 2 == 0 || n == 0 {
        (0..n).collect()
    } else {
        std::iter::once(0).chain((1..n).rev()).collect()
    }
}

/// Non-streamed requests sent back to back by one client.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sequential {
    /// Requests that succeeded.
    pub(crate) requests: u64,
    pub(crate) failures: Failures,
    pub(crate) elapsed: Duration,
}

impl Sequential {
    pub(crate) fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// One client sending non-streamed requests back to back for `run` to each endpoint: in
/// `rounds` rounds, each endpoint in turn for its share of the round, so that a change in
/// machine load affects all alike. One [`Sequential`] per endpoint, in order.
pub(crate) async fn sequential(
    endpoints: &[&Endpoint],
    run: Duration,
    rounds: u32,
) -> Vec<Sequential> {
    let slice = run / rounds.max(1);
    let mut all = vec![Sequential::default(); endpoints.len()];
    for _ in 0..rounds.max(1) {
        for (endpoint, done) in endpoints.iter().zip(&mut all) {
            let started = Instant::now();
            while started.elapsed() < slice {
                match endpoint.complete().await {
                    Ok(_) => done.requests += 1,
                    Err(error) => done.failures.record(&error),
                }
            }
            done.elapsed += started.elapsed();
        }
    }
    all
}

/// What a streaming run delivered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delivered {
    /// Streams that completed properly.
    pub(crate) streams: u64,
    /// Tokens of the streams that completed properly.
    pub(crate) tokens: u64,
    /// Streams that failed or brought the wrong number of tokens.
    pub(crate) failures: Failures,
    pub(crate) elapsed: Duration,
}

impl Delivered {
    pub(crate) fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// `concurrency` clients each streaming answers back to back for `duration`; every stream
/// must bring exactly `expected` tokens. Streams still running at the deadline are read to
/// their end and count; the tokens of a failed stream do not.
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
                    Ok((_, tokens)) if tokens == expected => {
                        delivered.streams += 1;
                        delivered.tokens += tokens;
                    }
                    Ok((_, tokens)) => delivered
                        .failures
                        .record(&anyhow::anyhow!("{tokens} tokens instead of {expected}")),
                    Err(error) => delivered.failures.record(&error),
                }
            }
            delivered
        })
    });
    let mut total = Delivered::default();
    for client in futures::future::join_all(clients).await {
        let delivered = client.unwrap_or_else(|error| {
            let mut failed = Delivered::default();
            failed
                .failures
                .record(&anyhow::anyhow!("a client task failed: {error}"));
            failed
        });
        total.streams += delivered.streams;
        total.tokens += delivered.tokens;
        total.failures.absorb(delivered.failures);
    }
    total.elapsed = started.elapsed();
    total
}

/// The `q` quantile (0..=1) of `samples`.
fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: &str =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"qz\"}}]}\n\n";
    const ROLE: &str = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    /// Feeds `stream` cut into pieces of `piece` bytes.
    fn check(stream: &str, piece: usize) -> anyhow::Result<u64> {
        let mut check = StreamCheck::default();
        for part in stream.as_bytes().chunks(piece) {
            check.feed(part);
        }
        check.finish()
    }

    #[test]
    fn a_whole_stream_counts_its_tokens_however_it_is_cut() {
        let stream = format!("{ROLE}{}{DONE}", CHUNK.repeat(5));
        for piece in [1, 2, 7, 13, 64, stream.len()] {
            assert_eq!(
                check(&stream, piece).expect("a good stream"),
                5,
                "pieces of {piece}"
            );
        }
        let crlf = stream.replace('\n', "\r\n");
        assert_eq!(check(&crlf, 3).expect("a good stream"), 5);
    }

    #[test]
    fn a_stream_without_done_or_tokens_fails() {
        let error = check(&CHUNK.repeat(3), 5).expect_err("no [DONE]");
        assert!(
            format!("{error}").contains("without [DONE] after 3 tokens"),
            "{error}"
        );
        let error = check(&format!("{ROLE}{DONE}"), 5).expect_err("no token");
        assert!(format!("{error}").contains("no token"), "{error}");
    }

    #[test]
    fn an_error_event_fails_the_stream_even_with_done_after_it() {
        let error_event = "data: {\"error\":{\"message\":\"Response buffer overflowed\",\"code\":\"INTERNAL_ERROR\"}}\n\n";
        let stream = format!("{ROLE}{CHUNK}{error_event}{DONE}");
        for piece in [1, 9, stream.len()] {
            let error = check(&stream, piece).expect_err("an error event");
            assert!(
                format!("{error}").contains("Response buffer overflowed"),
                "{error}"
            );
        }
        // A token whose text mentions an error is still a token.
        let chunk = CHUNK.replace("\"qz\"", "\"error\"");
        assert_eq!(
            check(&format!("{chunk}{DONE}"), 4).expect("a good stream"),
            1
        );
    }

    #[test]
    fn with_two_or_three_endpoints_each_follows_each_other_equally_often() {
        for n in [2, 3] {
            let order: Vec<usize> = (0..12).flat_map(|round| turns(round, n)).collect();
            let mut pairs = std::collections::HashMap::new();
            for pair in order.windows(2) {
                *pairs.entry((pair[0], pair[1])).or_insert(0) += 1;
            }
            let counts: std::collections::HashSet<i32> = pairs.values().copied().collect();
            assert_eq!(
                pairs.len(),
                n * (n - 1),
                "every ordered pair occurs: {pairs:?}"
            );
            // The last request has no follower: one pair is short by one.
            assert!(counts.len() <= 2, "{pairs:?}");
            assert!(counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) <= 1);
        }
        assert_eq!(turns(1, 3), [0, 2, 1]);
        assert_eq!(turns(2, 3), [0, 1, 2]);
    }

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let ms = |n: u64| Duration::from_millis(n);
        let samples: Vec<Duration> = (1..=101).map(ms).collect();
        assert_eq!(quantile(&samples, 0.5), ms(51));
        assert_eq!(quantile(&samples, 0.99), ms(100));
        assert_eq!(quantile(&samples, 0.0), ms(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
