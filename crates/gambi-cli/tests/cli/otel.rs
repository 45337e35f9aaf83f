//! Traces (the `otel` feature): `hub serve --otlp-endpoint` and `participant join` with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` export one request's spans to an OTLP/HTTP collector on
//! loopback, as one trace.
//!
//! The collector here only keeps what it is sent. Without decoding the protobuf, the test
//! finds in it the strings it must hold (service and span names) and the raw bytes of the
//! trace id the client chose: found in the runtime's export, they prove the runtime's
//! spans joined the trace across the tunnel.

use std::sync::{Arc, Mutex, PoisonError};

use gambi_test_support::{DEFAULT_MODEL, FakeProvider};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

use super::{Running, Sandbox, create_room};

/// The trace id the client sends in `traceparent`.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// One OTLP export the collector received.
#[derive(Debug, Clone)]
struct Export {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

impl Export {
    fn holds(&self, needle: &[u8]) -> bool {
        self.body
            .windows(needle.len())
            .any(|window| window == needle)
    }
}

/// An OTLP/HTTP collector on 127.0.0.1 that answers every request `200` and keeps it.
struct Collector {
    url: String,
    exports: Arc<Mutex<Vec<Export>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let exports = Arc::new(Mutex::new(Vec::new()));
        let kept = exports.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, kept.clone()));
            }
        });
        Self { url, exports, task }
    }

    /// The exports that hold `needle`.
    fn holding(&self, needle: &str) -> Vec<Export> {
        self.exports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|export| export.holds(needle.as_bytes()))
            .cloned()
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads HTTP/1.1 requests with a `content-length` from `stream` (kept alive), keeps each
/// and answers `200` with an empty body (an empty OTLP response).
async fn serve(stream: tokio::net::TcpStream, exports: Arc<Mutex<Vec<Export>>>) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let (mut length, mut content_type) = (0, String::new());
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().expect("a length"),
                    "content-type" => value.trim().clone_into(&mut content_type),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.expect("the whole body");
        exports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Export {
                path,
                content_type,
                body,
            });
        stream
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
            .await
            .expect("answered");
    }
}

/// Reads NDJSON events until one of type `kind`, and returns its data.
async fn until_event(running: &mut Running, kind: &str) -> Value {
    loop {
        let event = running.json().await;
        if event["type"] == kind {
            return event["data"].clone();
        }
    }
}

/// Stops `running` with SIGTERM and checks that it exits 0; returns its stderr.
async fn stop(running: Running) -> String {
    running.signal(Signal::SIGTERM);
    let (status, _, stderr) = running.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    stderr
}

#[tokio::test]
async fn hub_and_runtime_export_one_trace_per_request() {
    let collector = Collector::start().await;
    let sandbox = Sandbox::new();
    let mut hub = sandbox.spawn(&[
        "hub",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ephemeral",
        "--format",
        "ndjson",
        "--otlp-endpoint",
        &collector.url,
    ]);
    let started = until_event(&mut hub, "started").await;
    let url = started["hubUrl"].as_str().expect("a URL").to_owned();
    let room = create_room(&url, "Traced", None).await;
    let provider = FakeProvider::start(Default::default()).await;
    let endpoint = provider.base_url();
    let mut join = sandbox.spawn_with_env(
        &[
            "participant",
            "join",
            "-H",
            &url,
            "--room",
            &room.code,
            "--participant-id",
            "alice",
            "--model",
            DEFAULT_MODEL,
            "--endpoint",
            &endpoint,
            "--no-specs",
            "--format",
            "ndjson",
        ],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)],
    );
    until_event(&mut join, "tunnel_connected").await;

    let response = reqwest::Client::new()
        .post(format!("{url}/rooms/{}/v1/chat/completions", room.code))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .json(&json!({
            "model": DEFAULT_MODEL, "stream": true,
            "messages": [{"role": "user", "content": "Hi"}],
        }))
        .send()
        .await
        .expect("the hub answers");
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("the whole answer");
    let forwarded = provider.last_request().expect("the provider was called");
    assert_eq!(
        forwarded.header("traceparent"),
        None,
        "never sent to a provider"
    );

    // Each exports what is left when it stops, before it exits.
    let join_log = stop(join).await;
    let hub_log = stop(hub).await;
    assert_eq!(join_log, "");
    assert_eq!(hub_log, "");

    let trace_id: Vec<u8> = (0..TRACE_ID.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&TRACE_ID[at..at + 2], 16).expect("hex"))
        .collect();
    for (service, spans) in [
        (
            "gambi-hub",
            &[
                "POST /rooms/{code}/v1/chat/completions",
                "queue",
                "dispatch",
            ][..],
        ),
        ("gambi-participant", &["forward", "provider"][..]),
    ] {
        let exports = collector.holding(service);
        assert!(!exports.is_empty(), "{service} exported");
        for export in &exports {
            assert_eq!(export.path, "/v1/traces");
            assert_eq!(export.content_type, "application/x-protobuf");
            assert!(
                !export.holds(b"token="),
                "no tunnel token in {service}'s traces"
            );
        }
        for span in spans {
            assert!(
                exports.iter().any(|export| export.holds(span.as_bytes())),
                "{service} exported a {span} span"
            );
        }
        assert!(
            exports.iter().any(|export| export.holds(&trace_id)),
            "{service}'s spans are in the client's trace"
        );
    }
    // Sessions and tunnels are not traced.
    assert!(collector.holding("tunnel_watch").is_empty());
}
