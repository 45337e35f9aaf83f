//! Forwarding tunnel requests to the provider, over real sockets.

mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use common::{HubTunnel, MockHub, MockProvider, chat_request, chunk_bytes, http_url};
use gambi_participant::{AuthHeaders, ParticipantSession, SessionOptions};
use gambi_protocol as proto;
use proto::ParticipantToHub as Frame;
use serde_json::json;

const SECRET: &str = "sk-local-secret-123";

struct Setup {
    hub: MockHub,
    provider: MockProvider,
    session: ParticipantSession,
    tunnel: HubTunnel,
}

async fn setup(change: impl FnOnce(&mut SessionOptions)) -> Setup {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["llama3:latest"]).await;
    let mut options = hub.options(&provider.url(), "llama3");
    options.auth_headers =
        AuthHeaders::from_pairs([("Authorization", format!("Bearer {SECRET}"))]).expect("valid");
    change(&mut options);
    let session = ParticipantSession::start(options)
        .await
        .expect("session starts");
    let tunnel = hub.next_tunnel().await;
    Setup {
        hub,
        provider,
        session,
        tunnel,
    }
}

#[tokio::test]
async fn forwards_with_local_credentials_winning_and_never_leaks_them() {
    let Setup {
        mut hub,
        mut provider,
        session,
        mut tunnel,
    } = setup(|_| {}).await;
    let mut request = chat_request("r1", false);
    if let proto::HubToParticipant::Request(request) = &mut request {
        request
            .headers
            .insert("Authorization".into(), "Bearer from-the-hub".into());
        request.headers.insert("X-Trace".into(), "trace-1".into());
    }
    tunnel.send(&request);

    let incoming = provider.next_request().await;
    assert_eq!(incoming.method, "POST");
    assert_eq!(incoming.path, "/v1/chat/completions");
    assert_eq!(
        incoming.headers["authorization"],
        format!("Bearer {SECRET}")
    );
    assert_eq!(incoming.headers.get_all("authorization").iter().count(), 1);
    assert_eq!(incoming.headers["x-trace"], "trace-1");
    assert_eq!(incoming.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&incoming.body).expect("JSON body");
    assert_eq!(body["model"], "llama3:latest");
    incoming.respond(
        (
            [("content-type", "application/json"), ("x-provider", "p")],
            r#"{"choices":[]}"#,
        )
            .into_response(),
    );

    let Frame::ResponseStart {
        request_id,
        status,
        headers,
        timing,
    } = tunnel.next_frame().await
    else {
        panic!("expected response.start");
    };
    assert_eq!((request_id.as_str(), status), ("r1", 200));
    assert_eq!(timing, None, "a hub that granted no `timing` gets none");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-provider"], "p");
    let mut body = Vec::new();
    loop {
        let frame = tunnel.next_frame().await;
        if let Some(bytes) = chunk_bytes(&frame) {
            body.extend(bytes);
            continue;
        }
        assert_eq!(
            frame,
            Frame::ResponseEnd {
                request_id: "r1".into()
            }
        );
        break;
    }
    assert_eq!(body, br#"{"choices":[]}"#);

    let outcome = session.close().await;
    assert_eq!(outcome.reason, gambi_participant::CloseReason::Closed);
    let mut hub_saw = tunnel.raw_log.lock().expect("lock").join("\n");
    let calls = hub.drain_calls();
    assert!(matches!(calls.last(), Some(common::HubCall::Delete { .. })));
    hub_saw.push_str(&format!("{calls:?}"));
    assert!(hub_saw.contains("tunnel.response.end"));
    assert!(!hub_saw.contains(SECRET), "a secret reached the hub");
    assert!(!format!("{session:?}").contains(SECRET));
}

#[tokio::test]
async fn streams_each_provider_read_as_its_own_frame() {
    let Setup {
        mut provider,
        mut tunnel,
        session: _session,
        hub: _hub,
    } = setup(|_| {}).await;
    tunnel.send(&chat_request("s1", true));
    let mut stream = provider.next_request().await.respond_streaming();

    let Frame::ResponseStart {
        status: 200,
        headers,
        ..
    } = tunnel.next_frame().await
    else {
        panic!("expected response.start 200");
    };
    assert_eq!(headers["content-type"], "text/event-stream");
    for event in [
        "data: {\"a\":1}\n\n",
        "data: {\"b\":2}\n\n",
        "data: [DONE]\n\n",
    ] {
        stream.send(event);
        let frame = tunnel.next_frame().await;
        assert_eq!(
            chunk_bytes(&frame).as_deref(),
            Some(event.as_bytes()),
            "each event arrives on its own before the next is released"
        );
    }
    stream.finish();
    assert_eq!(
        tunnel.next_frame().await,
        Frame::ResponseEnd {
            request_id: "s1".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_requests_concurrently_up_to_the_slot_count() {
    let Setup {
        mut provider,
        mut tunnel,
        session: _session,
        hub: _hub,
    } = setup(|options| options.max_concurrency = NonZeroU32::new(2).expect("non-zero")).await;
    tunnel.send(&chat_request("c1", true));
    tunnel.send(&chat_request("c2", true));
    // Both reach the provider before either is answered.
    let first = provider.next_request().await;
    let second = provider.next_request().await;

    tunnel.send(&chat_request("c3", true));
    let Frame::ResponseError {
        request_id,
        stage,
        message,
    } = tunnel.next_frame().await
    else {
        panic!("expected a busy refusal");
    };
    assert_eq!((request_id.as_str(), stage.as_str()), ("c3", "busy"));
    assert!(message.contains("busy"), "{message}");

    let mut streams = [first.respond_streaming(), second.respond_streaming()];
    let mut started = BTreeMap::new();
    for _ in 0..2 {
        let Frame::ResponseStart { request_id, .. } = tunnel.next_frame().await else {
            panic!("expected response.start");
        };
        started.insert(request_id, ());
    }
    assert_eq!(started.len(), 2);
    for stream in &mut streams {
        stream.send("x");
        stream.finish();
    }
    let mut ended = Vec::new();
    while ended.len() < 2 {
        if let Frame::ResponseEnd { request_id } = tunnel.next_frame().await {
            ended.push(request_id);
        }
    }
    ended.sort();
    assert_eq!(ended, ["c1", "c2"]);

    // Slots are free again.
    tunnel.send(&chat_request("c4", false));
    provider.next_request().await.respond("ok".into_response());
    let frame = tunnel.next_frame().await;
    assert!(
        matches!(&frame, Frame::ResponseStart { request_id, .. } if request_id == "c4"),
        "{frame:?}"
    );
}

#[tokio::test]
async fn cancel_aborts_the_provider_request_and_silences_it() {
    let Setup {
        mut provider,
        mut tunnel,
        session: _session,
        hub: _hub,
    } = setup(|_| {}).await;
    tunnel.send(&chat_request("k1", true));
    let mut stream = provider.next_request().await.respond_streaming();
    assert!(matches!(
        tunnel.next_frame().await,
        Frame::ResponseStart { .. }
    ));
    stream.send("data: first\n\n");
    assert!(chunk_bytes(&tunnel.next_frame().await).is_some());

    tunnel.send(&proto::HubToParticipant::Cancel {
        request_id: "k1".into(),
    });
    common::within(&mut stream.dropped)
        .await
        .expect("the provider saw the client go away");

    // Nothing more for k1: the next frames all belong to k2.
    tunnel.send(&chat_request("k2", false));
    provider
        .next_request()
        .await
        .respond("done".into_response());
    loop {
        let frame = tunnel.next_frame().await;
        assert_eq!(frame.request_id(), Some("k2"), "{frame:?}");
        if matches!(frame, Frame::ResponseEnd { .. }) {
            break;
        }
    }
}

#[tokio::test]
async fn provider_refusing_connections_yields_a_proxy_error() {
    // Every answer closes its connection, so nothing stays pooled once the server stops.
    let router = Router::new()
        .route(
            "/api/tags",
            get(|| async {
                (
                    [("connection", "close")],
                    axum::Json(json!({"models": [{"name": "m"}]})),
                )
            }),
        )
        .fallback(|| async { ([("connection", "close")], StatusCode::BAD_REQUEST) });
    let (addr, server) = common::serve_abortable(router).await;
    let mut hub = MockHub::start().await;
    let _session = ParticipantSession::start(hub.options(&http_url(addr), "m"))
        .await
        .expect("session starts");
    let mut tunnel = hub.next_tunnel().await;
    server.abort();
    let _ = server.await;

    tunnel.send(&chat_request("e1", false));
    let Frame::ResponseError {
        request_id,
        stage,
        message,
    } = tunnel.next_frame().await
    else {
        panic!("expected response.error");
    };
    assert_eq!((request_id.as_str(), stage.as_str()), ("e1", "proxy"));
    assert!(message.contains("provider request failed"), "{message}");
    assert!(message.contains("Connection refused"), "{message}");
}

#[tokio::test]
async fn bad_requests_from_the_hub_are_answered_not_forwarded() {
    let Setup {
        mut tunnel,
        session: _session,
        hub: _hub,
        provider: _provider,
    } = setup(|_| {}).await;
    let mut request = chat_request("b1", false);
    if let proto::HubToParticipant::Request(request) = &mut request {
        request.path = "@evil.example/v1/chat/completions".into();
    }
    tunnel.send(&request);
    tunnel.send_raw(r#"{"type":"tunnel.future","x":1}"#);
    tunnel.send_raw("not json at all");
    let Frame::ResponseError {
        request_id, stage, ..
    } = tunnel.next_frame().await
    else {
        panic!("expected response.error");
    };
    assert_eq!((request_id.as_str(), stage.as_str()), ("b1", "proxy"));

    // The tunnel still works after frames it did not understand.
    tunnel.send(&proto::HubToParticipant::Cancel {
        request_id: "unknown".into(),
    });
    let mut request = chat_request("b2", false);
    if let proto::HubToParticipant::Request(request) = &mut request {
        request.method = "PATCH".into();
    }
    tunnel.send(&request);
    let Frame::ResponseError {
        request_id,
        message,
        ..
    } = tunnel.next_frame().await
    else {
        panic!("expected response.error");
    };
    assert_eq!(request_id, "b2");
    assert!(message.contains("PATCH"), "{message}");
}
