//! Helpers shared by the adaptation tests: participants by protocol, reading streams and room
//! events, and looking at what the fake providers received.

use std::future::Future;
use std::time::Duration;

use gambi_protocol as proto;
use gambi_test_support::sse::{EventReader, Frame};
use gambi_test_support::{Cluster, ParticipantSpec, Protocols, RecordedRequest};
use serde_json::Value;

/// How long any single wait may take before the test fails instead of hanging. Generous:
/// nothing here should take more than a fraction of a second.
const PATIENCE: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test (instead of hanging) if it takes longer than `PATIENCE`.
pub(crate) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A participant `id` serving `model` from a provider that speaks `protocols`.
pub(crate) fn speaking(id: &str, model: &str, protocols: Protocols) -> ParticipantSpec {
    ParticipantSpec::new(id, model).provider(|config| config.protocols = protocols)
}

/// Capabilities as announced at registration.
pub(crate) fn capabilities(
    open_responses: proto::Capability,
    chat_completions: proto::Capability,
) -> proto::ParticipantCapabilities {
    proto::ParticipantCapabilities {
        open_responses,
        chat_completions,
    }
}

/// A cluster with one participant `id` serving `model`; the probe requests its provider
/// received are forgotten, so `requests()` shows only what the test sends.
pub(crate) async fn cluster_with(spec: ParticipantSpec) -> Cluster {
    let mut cluster = Cluster::start().await;
    let id = spec.id.clone();
    within("the participant to join", cluster.join(spec)).await;
    cluster.member(&id).provider.clear_requests();
    cluster
}

/// The generation requests (create routes) the provider of `id` received, in order.
pub(crate) fn generations(cluster: &Cluster, id: &str) -> Vec<RecordedRequest> {
    cluster
        .member(id)
        .provider
        .requests()
        .into_iter()
        .filter(|request| request.method == "POST")
        .collect()
}

/// The paths of the requests the provider of `id` received, in order.
pub(crate) fn paths(cluster: &Cluster, id: &str) -> Vec<String> {
    cluster
        .member(id)
        .provider
        .requests()
        .into_iter()
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

/// The JSON body of a recorded request.
pub(crate) fn body(request: &RecordedRequest) -> Value {
    request.body.clone().expect("a JSON body")
}

/// Sends `body` to `path` and returns the status and the JSON answer.
pub(crate) async fn post_json(cluster: &Cluster, path: &str, body: &Value) -> (u16, Value) {
    let response = within("the hub to answer", cluster.post(path, body)).await;
    let status = response.status().as_u16();
    let text = within("the answer's body", response.text()).await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer: {text}"));
    (status, json)
}

/// `GET` `path` and returns the status and the JSON answer.
pub(crate) async fn get_json(cluster: &Cluster, path: &str) -> (u16, Value) {
    let response = within("the hub to answer", cluster.get(path)).await;
    let status = response.status().as_u16();
    let text = within("the answer's body", response.text()).await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer: {text}"));
    (status, json)
}

/// `DELETE` `path` and returns the status and the JSON answer.
pub(crate) async fn delete_json(cluster: &Cluster, path: &str) -> (u16, Value) {
    let response = within("the hub to answer", cluster.delete(path)).await;
    let status = response.status().as_u16();
    let text = within("the answer's body", response.text()).await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer: {text}"));
    (status, json)
}

/// One server-sent event of an answer: its `event:` name (empty when absent) and its data.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    pub(crate) event: String,
    pub(crate) data: String,
}

impl Sse {
    /// The data as JSON (`Null` when it is not JSON, e.g. `[DONE]`).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Sends a streamed request to `path`; checks the status and the content type, and returns
/// every event until the stream ends.
pub(crate) async fn stream(cluster: &Cluster, path: &str, body: &Value) -> Vec<Sse> {
    let response = within("the hub to answer", cluster.post(path, body)).await;
    assert_eq!(response.status(), 200, "streamed answer to {body}");
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "content type {content_type}"
    );
    let mut reader = EventReader::new(response);
    let mut events = Vec::new();
    while let Some(frame) = within("the next event", reader.next_event()).await {
        if let Frame::Event { event, data } = frame {
            events.push(Sse { event, data });
        }
    }
    events
}

/// The room's event stream, read on demand.
pub(crate) struct RoomEvents {
    reader: EventReader,
}

impl std::fmt::Debug for RoomEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomEvents").finish_non_exhaustive()
    }
}

impl RoomEvents {
    /// Subscribes to `cluster`'s room.
    pub(crate) async fn subscribe(cluster: &Cluster) -> Self {
        Self {
            reader: within("the event stream", cluster.events()).await,
        }
    }

    /// Every event (`{"type", "timestamp", "roomCode", "data"}`) up to and including the
    /// first one of type `kind`.
    pub(crate) async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let frame = within(kind, self.reader.next_event())
                .await
                .unwrap_or_else(|| panic!("the event stream ended before {kind}: {seen:?}"));
            let event = frame.json();
            let done = event["type"] == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// The events of one request: everything up to its terminal `llm.complete` or
    /// `llm.error`, keeping only `llm.*` and `participant.updated` events.
    pub(crate) async fn request(&mut self) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let frame = within("llm.* events", self.reader.next_event())
                .await
                .unwrap_or_else(|| panic!("the event stream ended: {seen:?}"));
            let event = frame.json();
            let kind = event["type"].as_str().unwrap_or_default().to_owned();
            if kind.starts_with("llm.") || kind == "participant.updated" {
                seen.push(event);
            }
            if kind == "llm.complete" || kind == "llm.error" {
                return seen;
            }
        }
    }
}

/// The `data` of the only event of type `kind` among `events`.
pub(crate) fn only<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let matching: Vec<&Value> = events.iter().filter(|e| e["type"] == kind).collect();
    assert_eq!(matching.len(), 1, "one {kind} in {events:#?}");
    &matching[0]["data"]
}

/// Checks that the `llm.request` and the terminal event of one request describe a client
/// speaking `client` served over `provider`.
pub(crate) fn assert_protocols(events: &[Value], client: &str, provider: &str) {
    let adapted = client != provider;
    let request = only(events, "llm.request");
    assert_eq!(request["protocol"], client, "{request}");
    assert_eq!(request["adapted"], adapted, "{request}");
    let terminal = events.last().expect("a terminal event");
    let data = &terminal["data"];
    assert_eq!(terminal["type"], "llm.complete", "{terminal}");
    assert_eq!(data["protocol"], provider, "{data}");
    assert_eq!(data["clientProtocol"], client, "{data}");
    assert_eq!(data["adapted"], adapted, "{data}");
}
