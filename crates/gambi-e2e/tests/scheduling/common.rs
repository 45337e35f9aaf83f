//! Helpers shared by the scheduling scenarios.

use std::net::SocketAddr;
use std::time::Duration;

use gambi_test_support::Cluster;
use gambi_test_support::sse::EventReader;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A Chat Completions body asking `model` to answer `prompt`.
pub(crate) fn chat(model: &str, prompt: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
    })
}

/// The status and our error code (`error.code`) of a failed response.
pub(crate) async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("an OpenAI error body");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

/// A header's value as text.
pub(crate) fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The text of a streamed Chat Completions answer, and whether an error object came in
/// it. Reads to the end of the stream.
pub(crate) async fn read_chat_stream(response: reqwest::Response) -> (String, bool) {
    let mut reader = EventReader::new(response);
    let mut text = String::new();
    let mut failed = false;
    while let Some(frame) = reader.next_event().await {
        let data = frame.json();
        if data.get("error").is_some() {
            failed = true;
        }
        if let Some(delta) = data["choices"][0]["delta"]["content"].as_str() {
            text.push_str(delta);
        }
    }
    (text, failed)
}

/// Reads a Chat Completions stream up to its first content delta, and returns it.
pub(crate) async fn first_token(reader: &mut EventReader) -> String {
    loop {
        let frame = reader.next_event().await.expect("a token before the end");
        let data = frame.json();
        if let Some(text) = data["choices"][0]["delta"]["content"].as_str()
            && !text.is_empty()
        {
            return text.to_owned();
        }
    }
}

/// Every slot of the room is free and nobody waits.
#[track_caller]
pub(crate) fn assert_slots_free(cluster: &Cluster) {
    let snapshot = cluster.snapshot();
    for participant in &snapshot.participants {
        assert_eq!(
            participant.active, 0,
            "participant {} still holds a slot: {snapshot:?}",
            participant.id
        );
    }
    assert_eq!(snapshot.queued, 0, "requests still wait: {snapshot:?}");
}

/// A plain request to any participant succeeds.
pub(crate) async fn next_request_succeeds(cluster: &Cluster) {
    let response = cluster
        .post("/chat/completions", &chat("*", "again", false))
        .await;
    assert_eq!(response.status(), 200, "the next request is served");
    let body: Value = response.json().await.expect("a completion");
    assert!(
        body["choices"][0]["message"]["content"].is_string(),
        "{body}"
    );
}

/// Slots of `id` in use right now.
pub(crate) fn active(cluster: &Cluster, id: &str) -> u32 {
    cluster
        .room()
        .scheduler()
        .participant(id)
        .map_or(0, |load| load.active)
}

/// The room's event stream, read event by event.
pub(crate) struct Events(EventReader);

impl Events {
    /// Subscribes to `cluster`'s room.
    pub(crate) async fn open(cluster: &Cluster) -> Self {
        Self(cluster.events().await)
    }

    /// Reads until an event of type `kind` whose data satisfies `matches`; returns its data.
    pub(crate) async fn until(
        &mut self,
        kind: &str,
        mut matches: impl FnMut(&Value) -> bool,
    ) -> Value {
        loop {
            let frame = self.0.next_event().await.expect("the event stream goes on");
            if frame.event() == Some(kind) {
                let data = frame.json()["data"].clone();
                if matches(&data) {
                    return data;
                }
            }
        }
    }

    /// Reads until `count` requests have completed; panics on any `llm.error` on the way.
    /// (A participant given more than its slots refuses the extra request as `busy`, and
    /// the hub would report that attempt as failed.)
    pub(crate) async fn expect_completions(&mut self, count: usize) {
        let mut completed = 0;
        while completed < count {
            let frame = self.0.next_event().await.expect("the event stream goes on");
            match frame.event() {
                Some("llm.complete") => completed += 1,
                Some("llm.error") => panic!("a request failed: {}", frame.json()),
                _ => {}
            }
        }
    }

    /// The next `llm.*` event of request `request_id`: `(type, data)`.
    pub(crate) async fn next_of(&mut self, request_id: &str) -> (String, Value) {
        loop {
            let frame = self.0.next_event().await.expect("the event stream goes on");
            let Some(kind) = frame.event().filter(|kind| kind.starts_with("llm.")) else {
                continue;
            };
            let data = frame.json()["data"].clone();
            if data["requestId"] == request_id {
                return (kind.to_owned(), data);
            }
        }
    }
}

/// The prompts of the generation requests `provider` received, in arrival order (probes
/// and other routes left out).
pub(crate) fn prompts(provider: &gambi_test_support::FakeProvider) -> Vec<String> {
    provider
        .requests()
        .iter()
        .filter_map(|request| {
            let body = request.body.as_ref()?;
            body["messages"][0]["content"].as_str().map(str::to_owned)
        })
        .collect()
}

/// A raw HTTP/1.1 request.
pub(crate) fn http_request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    body: Option<&Value>,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    let body = body.map(Value::to_string).unwrap_or_default();
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// A client that sends `request` on a connection with a tiny receive buffer and then
/// reads nothing until the test says so: the hub's writes to it soon block.
pub(crate) async fn stalled_client(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let mut stream = socket.connect(addr).await.expect("the hub accepts");
    stream
        .write_all(request)
        .await
        .expect("the request is sent");
    stream
}

/// Reads from `stream` until what was read contains `needle`; returns everything read.
/// Panics after `limit` of real time rather than hang.
pub(crate) async fn read_until(stream: &mut TcpStream, needle: &str, limit: Duration) -> String {
    let read = async {
        let mut seen = Vec::new();
        let mut buffer = vec![0_u8; 64 * 1024];
        loop {
            let read = stream.read(&mut buffer).await.expect("the stream reads");
            assert!(read > 0, "the stream ended before {needle:?}");
            // Only the new bytes, and the end of the old ones, can complete a match.
            let from = seen.len().saturating_sub(needle.len());
            seen.extend_from_slice(&buffer[..read]);
            if contains(&seen[from..], needle.as_bytes()) {
                return String::from_utf8_lossy(&seen).into_owned();
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| panic!("{needle:?} did not arrive"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Sends `body` as client `key` from a task of its own, so that the test can go on while it
/// waits, and abort it (which closes its connection) to cancel it.
pub(crate) fn spawn_post(
    cluster: &Cluster,
    key: &str,
    body: Value,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let request = cluster
        .http
        .post(format!("{}/chat/completions", cluster.base_url()))
        .bearer_auth(key)
        .json(&body);
    tokio::spawn(async move { request.send().await.expect("the hub answers") })
}

/// The room's participant summaries (`GET /v1/rooms/{code}/participants`), by id.
pub(crate) async fn summaries(cluster: &Cluster) -> std::collections::BTreeMap<String, Value> {
    let url = cluster
        .hub
        .url_for(&format!("/v1/rooms/{}/participants", cluster.code));
    let body: Value = cluster
        .http
        .get(url)
        .send()
        .await
        .expect("the hub answers")
        .json()
        .await
        .expect("an envelope");
    body["data"]
        .as_array()
        .expect("a list of participants")
        .iter()
        .map(|summary| {
            (
                summary["id"].as_str().unwrap_or_default().to_owned(),
                summary.clone(),
            )
        })
        .collect()
}

/// The room's `GET /models` entries, by id.
pub(crate) async fn models(cluster: &Cluster) -> std::collections::BTreeMap<String, Value> {
    let body: Value = cluster
        .get("/models")
        .await
        .json()
        .await
        .expect("a model list");
    body["data"]
        .as_array()
        .expect("a list of models")
        .iter()
        .map(|entry| {
            (
                entry["id"].as_str().unwrap_or_default().to_owned(),
                entry.clone(),
            )
        })
        .collect()
}
