//! The fake provider driven over real HTTP on 127.0.0.1, the way the participant runtime and
//! the OpenAI SDKs talk to a real one.

#![allow(clippy::unwrap_used)] // Tests panic on any unexpected failure.

mod behaviour;
mod chat;
mod responses;

use gambi_test_support::FakeProvider;
use serde_json::Value;

/// A client that never goes through an environment proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// `POST {base}{path}` with a JSON body.
pub async fn post(provider: &FakeProvider, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", provider.base_url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `GET {base}{path}`.
pub async fn get(provider: &FakeProvider, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", provider.base_url()))
        .send()
        .await
        .unwrap()
}

/// The status and JSON body of a response.
pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// One server-sent event: its `event:` name, if any, and its `data:`.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: Option<String>,
    pub data: String,
}

impl Sse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Splits a whole SSE body into events.
pub fn parse_sse(body: &str) -> Vec<Sse> {
    assert!(
        body.ends_with("\n\n"),
        "the stream ends with a blank line: {body:?}"
    );
    body.split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let mut event = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "one data line per event: {frame:?}");
                    data = Some(value.to_owned());
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Sse {
                event,
                data: data.unwrap(),
            }
        })
        .collect()
}

/// Reads a whole streamed response as events, checking the SSE headers.
pub async fn read_sse(response: reqwest::Response) -> Vec<Sse> {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    parse_sse(&response.text().await.unwrap())
}

/// Replaces generated values (ids and timestamps) with `"*"`, after checking their shape, so
/// whole bodies can be compared exactly.
pub fn scrub(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match key.as_str() {
                    "created" | "created_at" => {
                        assert!(field.as_u64().unwrap() > 1_600_000_000, "{key}: {field}");
                        *field = "*".into();
                    }
                    "id" | "call_id" | "item_id" => {
                        let id = field.as_str().unwrap();
                        let prefix_ok = ["chatcmpl-", "resp_", "msg_", "fc_", "call_", "item_"]
                            .iter()
                            .any(|prefix| id.starts_with(prefix));
                        assert!(prefix_ok, "{key}: {id}");
                        *field = "*".into();
                    }
                    _ => scrub(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// `value` with [`scrub`] applied.
pub fn scrubbed(mut value: Value) -> Value {
    scrub(&mut value);
    value
}

/// Reads a streamed response until at least `count` whole events arrived, and returns them
/// (the response stays open).
pub async fn first_events(response: &mut reqwest::Response, count: usize) -> Vec<Sse> {
    let mut received = String::new();
    while received.matches("\n\n").count() < count {
        let chunk = response
            .chunk()
            .await
            .unwrap()
            .expect("the stream ended early");
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let whole = received.rfind("\n\n").unwrap() + 2;
    parse_sse(&received[..whole])
}
