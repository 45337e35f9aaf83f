//! The data path end to end: a stream is never cut while its client reads, memory stays
//! bounded when a client stops reading, and flow control keeps one slow reader from holding
//! up the other requests on its participant's tunnel. Each test that can runs with both
//! kinds of runtime: ours (binary chunk frames, flow control) and one that speaks only the
//! original protocol (JSON text frames with base64 chunks, which the hub can only slow down
//! by pausing the whole tunnel).
#![allow(clippy::unwrap_used)] // Tests fail loudly.

use std::net::SocketAddr;
use std::time::Duration;

use gambi_hub::HubConfig;
use gambi_test_support::sse::{EventReader, Frame};
use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// Which runtime the participant runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    /// Ours, with every extension.
    Ours,
    /// One that speaks only the original protocol.
    Original,
}

fn participant(runtime: Runtime, slots: u32) -> ParticipantSpec {
    let spec = ParticipantSpec::new("alice", "llama3").slots(slots);
    match runtime {
        Runtime::Ours => spec,
        Runtime::Original => spec.original_protocol(),
    }
}

fn chat(prompt: &str) -> Value {
    json!({
        "model": "alice",
        "messages": [{"role": "user", "content": prompt}],
        "stream": true,
    })
}

/// `n` small tokens, `" t0"` to `" t{n-1}"`, so a reader can check each arrived in order.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!(" t{i}")).collect()
}

/// 100 MiB in 4 KiB tokens: far more than every buffer between the provider and a stalled
/// client holds.
fn flood() -> Reply {
    Reply::tokens(std::iter::repeat_n("x".repeat(4096), 25 * 1024))
}

/// Every content delta of a Chat Completions stream, read a frame at a time with the reader
/// handing its thread over between frames, so it reads steadily but slower than an unpaced
/// provider writes; and whether the stream ended with `[DONE]` and no error.
async fn read_slowly(response: reqwest::Response) -> (Vec<String>, bool) {
    let mut reader = EventReader::new(response);
    let mut tokens = Vec::new();
    let mut clean = false;
    while let Some(frame) = reader.next_event().await {
        let Frame::Event { data, .. } = &frame else {
            continue;
        };
        if data == "[DONE]" {
            clean = true;
            continue;
        }
        let data = frame.json();
        if data.get("error").is_some() {
            return (tokens, false);
        }
        match data["choices"][0]["delta"]["content"].as_str() {
            Some(token) if !token.is_empty() => tokens.push(token.to_owned()),
            _ => {}
        }
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
    (tokens, clean)
}

/// A client that sends a streaming request on a connection with a tiny receive buffer and
/// then reads nothing: the hub's writes to it soon block.
async fn stalled_client(addr: SocketAddr, path: &str, body: &Value) -> TcpStream {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

async fn fast_stream_reaches_a_slow_reader_whole(runtime: Runtime) {
    // A small buffer, so that the reader's pace, not the buffer, decides when the
    // participant may send more.
    let config = HubConfig {
        stream_buffer: 16 * 1024,
        ..HubConfig::default()
    };
    let mut cluster = Cluster::with(config, json!({"name": "Slow reader"})).await;
    cluster.join(participant(runtime, 1)).await;
    let tokens = numbered(100_000);
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::tokens(tokens.clone()));

    let response = cluster.post("/chat/completions", &chat("many")).await;
    assert_eq!(response.status(), 200);
    let (received, clean) = read_slowly(response).await;
    assert!(clean, "the stream ends with [DONE] and no error");
    assert_eq!(received.len(), tokens.len(), "every event arrives");
    assert!(received == tokens, "in order and unchanged");

    let gauge = cluster.hub.hub().buffered_bytes();
    assert!(
        gauge.peak() <= 16 * 1024 + 4096,
        "the hub held at most its buffer (and one frame): {}",
        gauge.peak()
    );
    assert_eq!(gauge.held(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_stream_reaches_a_slow_steady_reader_whole() {
    fast_stream_reaches_a_slow_reader_whole(Runtime::Ours).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_stream_reaches_a_slow_steady_reader_whole_from_an_original_runtime() {
    fast_stream_reaches_a_slow_reader_whole(Runtime::Original).await;
}

async fn stalled_reader_is_cut_and_memory_stays_bounded(runtime: Runtime) {
    let config = HubConfig {
        slow_client_grace: Duration::from_secs(2),
        ..HubConfig::default()
    };
    let bound = config.stream_buffer;
    let mut cluster = Cluster::with(config, json!({"name": "Stalled"})).await;
    cluster.join(participant(runtime, 2)).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(flood());
    let mut events = cluster.events().await;

    tokio::time::pause();
    let path = format!("/rooms/{}/v1/chat/completions", cluster.code);
    let stalled = stalled_client(cluster.hub.addr(), &path, &chat("flood")).await;
    let request_id = loop {
        let event = events.next_event().await.unwrap();
        if event.event() == Some("llm.request") {
            break event.json()["data"]["requestId"]
                .as_str()
                .unwrap()
                .to_owned();
        }
    };
    let error = loop {
        let event = events.next_event().await.unwrap();
        let data = event.json()["data"].clone();
        if event.event() == Some("llm.error") && data["requestId"] == request_id.as_str() {
            break data;
        }
    };
    assert_eq!(error["stage"], "stream", "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("stopped reading"),
        "{error}"
    );
    provider.wait_for_abort().await;

    let gauge = cluster.hub.hub().buffered_bytes();
    assert!(
        gauge.peak() <= bound + 256 * 1024,
        "the hub held at most its buffer (and one frame): {} of {bound}",
        gauge.peak()
    );
    assert_eq!(gauge.held(), 0, "what the cut-off client left is freed");
    let sent = provider.body_bytes_sent();
    assert!(
        sent < 32 * 1024 * 1024,
        "the provider was held back long before its 100 MiB: {sent} bytes sent"
    );
    drop(stalled);

    // The participant serves the next request.
    provider.push_reply(Reply::text("after"));
    let response = cluster.post("/chat/completions", &chat("next")).await;
    let (tokens, clean) = read_slowly(response).await;
    assert!(clean);
    assert_eq!(tokens.concat(), "after");
}

#[tokio::test]
async fn a_reader_that_stops_is_cut_after_the_grace_and_memory_stays_bounded() {
    stalled_reader_is_cut_and_memory_stays_bounded(Runtime::Ours).await;
}

#[tokio::test]
async fn a_reader_that_stops_is_cut_after_the_grace_and_memory_stays_bounded_with_an_original_runtime()
 {
    stalled_reader_is_cut_and_memory_stays_bounded(Runtime::Original).await;
}

/// With flow control, a client that reads nothing holds back only its own request: a
/// second stream on the same participant, over the same tunnel, goes through whole while
/// the first is still stalled (the grace here is far longer than the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_flow_control_a_stalled_reader_does_not_hold_up_its_neighbour() {
    let config = HubConfig {
        slow_client_grace: Duration::from_secs(3600),
        ..HubConfig::default()
    };
    let window = config.stream_buffer / 2;
    let mut cluster = Cluster::with(config, json!({"name": "Neighbours"})).await;
    cluster.join(participant(Runtime::Ours, 2)).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(flood());
    let tokens = numbered(20_000);
    provider.set_default_reply(Reply::tokens(tokens.clone()));

    let path = format!("/rooms/{}/v1/chat/completions", cluster.code);
    let stalled = stalled_client(cluster.hub.addr(), &path, &chat("flood")).await;
    provider.wait_for_in_flight(1).await;
    // The stalled request has used up its credit: the provider is held back.
    let gauge = cluster.hub.hub().buffered_bytes();
    while gauge.held() < window / 2 {
        tokio::task::yield_now().await;
    }

    let response = cluster.post("/chat/completions", &chat("neighbour")).await;
    assert_eq!(response.status(), 200);
    let (received, clean) = read_slowly(response).await;
    assert!(clean, "the neighbour's stream ends with [DONE]");
    assert!(
        received == tokens,
        "every event of the neighbour arrives in order"
    );

    assert!(
        gauge.peak() <= window + 256 * 1024,
        "the stalled request held at most its window: {} of {window}",
        gauge.peak()
    );
    assert!(
        provider.body_bytes_sent() < 32 * 1024 * 1024,
        "the stalled request's provider was held back"
    );
    assert_eq!(
        provider.stats().aborted,
        0,
        "the stalled request is still open"
    );
    drop(stalled);
    provider.wait_for_abort().await;
}
