//! Starting and closing a session against a mock hub and a mock provider.

mod common;

use std::num::NonZeroU32;

use common::{HubCall, MockHub, MockProvider, dead_addr, http_url};
use gambi_participant::{
    AuthHeaders, CloseOutcome, CloseReason, ErrorKind, ModelUnavailable, ParticipantSession,
    SessionEvent, StartError,
};
use gambi_protocol as proto;
use serde_json::json;

#[tokio::test]
async fn start_registers_resolves_the_ollama_tag_and_opens_the_tunnel() {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["llama3:latest", "qwen2:7b"]).await;
    let mut options = hub.options(&provider.url(), "llama3");
    options.password = Some("room-pass".into());
    options.max_concurrency = NonZeroU32::new(3).expect("non-zero");
    options.specs = Some(proto::MachineSpecs {
        ram: Some(16.0),
        ..Default::default()
    });
    options.auth_headers =
        AuthHeaders::from_pairs([("x-api-key", "provider-secret")]).expect("valid");

    let mut session = ParticipantSession::start(options)
        .await
        .expect("session starts");

    let HubCall::Put {
        body,
        raw,
        session: token,
    } = hub.next_call().await
    else {
        panic!("expected the registration first");
    };
    assert_eq!(
        token, None,
        "no session credential before the first registration"
    );
    assert_eq!(
        body,
        json!({
            "nickname": "Alice",
            "model": "llama3:latest",
            "endpoint": provider.url().as_str().trim_end_matches('/'),
            "password": "room-pass",
            "specs": {"ram": 16},
            "capabilities": {"openResponses": "supported", "chatCompletions": "supported"},
            "maxConcurrency": 3,
            "tunnelExtensions": {"binaryChunks": true, "flowControl": true, "timing": true}
        })
    );
    assert!(!raw.contains("provider-secret") && !raw.contains("x-api-key"));

    let tunnel = hub.next_tunnel().await;
    assert_eq!(tunnel.token, "tok-1");
    let registration = session.registration().clone();
    assert_eq!(registration.room_id, "room-1");
    assert_eq!(registration.participant.model, "llama3:latest");
    assert_eq!(registration.participant.max_concurrency, 3);
    assert_eq!(
        registration.tunnel_url,
        format!(
            "ws://{}/v1/rooms/ABC123/participants/alice/tunnel",
            hub.addr
        )
    );
    assert_eq!(session.probe().models, ["llama3:latest", "qwen2:7b"]);

    let mut events = session.take_events().expect("first take");
    assert!(session.take_events().is_none());
    assert_eq!(
        events.recv().await,
        Some(SessionEvent::Registered(Box::new(registration)))
    );
    assert_eq!(events.recv().await, Some(SessionEvent::TunnelConnected));
    assert_eq!(session.outcome(), None);
    let debug = format!("{session:?}");
    assert!(!debug.contains("provider-secret") && !debug.contains("sess-1"));
}

#[tokio::test]
async fn capability_override_replaces_the_probe() {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    let mut options = hub.options(&provider.url(), "m");
    let announced = proto::ParticipantCapabilities {
        open_responses: proto::Capability::Unsupported,
        chat_completions: proto::Capability::Supported,
    };
    options.capabilities = Some(announced);
    let _session = ParticipantSession::start(options).await.expect("starts");
    let HubCall::Put { body, .. } = hub.next_call().await else {
        panic!("expected a registration");
    };
    assert_eq!(
        body["capabilities"],
        json!({"openResponses": "unsupported", "chatCompletions": "supported"})
    );
    assert_eq!(body["maxConcurrency"], 1);
}

#[tokio::test]
async fn model_not_offered_lists_the_available_models_and_never_registers() {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["llama3:latest", "qwen2:7b"]).await;
    let error = ParticipantSession::start(hub.options(&provider.url(), "mistral"))
        .await
        .expect_err("model is missing");
    let StartError::Model(ModelUnavailable::NotFound {
        model, available, ..
    }) = &error
    else {
        panic!("expected ModelNotFound, got {error:?}");
    };
    assert_eq!(model, "mistral");
    assert_eq!(available, &["llama3:latest", "qwen2:7b"]);
    assert!(
        error
            .to_string()
            .ends_with("Available models: llama3:latest, qwen2:7b")
    );
    assert!(hub.drain_calls().is_empty());
}

#[tokio::test]
async fn unreachable_provider_fails_the_start() {
    let hub = MockHub::start().await;
    let endpoint = http_url(dead_addr().await);
    let error = ParticipantSession::start(hub.options(&endpoint, "m"))
        .await
        .expect_err("provider is down");
    assert!(
        matches!(
            error,
            StartError::Model(ModelUnavailable::Unreachable { .. })
        ),
        "{error:?}"
    );
}

/// Starts a session against a hub that answers the registration with `reply`.
async fn start_error(reply: (u16, &'static str, &'static str)) -> StartError {
    let hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    hub.set(|behaviour| behaviour.put_error = Some(reply));
    ParticipantSession::start(hub.options(&provider.url(), "m"))
        .await
        .expect_err("registration refused")
}

#[tokio::test]
async fn registration_errors_are_typed() {
    let cases = [
        (
            (404, "ROOM_NOT_FOUND", "Room not found."),
            ErrorKind::RoomNotFound,
            "room not found: Room not found.",
        ),
        (
            (401, "INVALID_PASSWORD", "Invalid password."),
            ErrorKind::InvalidPassword,
            "invalid password: Invalid password.",
        ),
        (
            (400, "INVALID_REQUEST", "Missing required fields."),
            ErrorKind::InvalidRequest,
            "invalid request: Missing required fields. (A hint.)",
        ),
        (
            (409, "PARTICIPANT_CONFLICT", "Held by a live session."),
            ErrorKind::Conflict,
            "participant id in use: Held by a live session.",
        ),
    ];
    for (reply, kind, text) in cases {
        match start_error(reply).await {
            StartError::Hub(error) => {
                assert_eq!(error.kind, kind, "{reply:?}");
                assert_eq!(error.message, reply.2);
                assert_eq!(StartError::Hub(error).to_string(), text);
            }
            other => panic!("expected a hub error for {reply:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_hub_is_its_own_error() {
    let provider = MockProvider::start(&["m"]).await;
    let hub_url = http_url(dead_addr().await);
    let options = gambi_participant::SessionOptions::new(
        hub_url,
        "ABC123",
        "alice",
        "Alice",
        "m",
        provider.url(),
    );
    let error = ParticipantSession::start(options)
        .await
        .expect_err("hub is down");
    assert!(
        matches!(&error, StartError::Hub(hub) if hub.kind == ErrorKind::Unreachable),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("failed to reach hub"));
}

#[tokio::test]
async fn close_fails_pending_requests_closes_the_tunnel_and_leaves() {
    let mut hub = MockHub::start().await;
    let mut provider = MockProvider::start(&["m"]).await;
    let mut session = ParticipantSession::start(hub.options(&provider.url(), "m"))
        .await
        .expect("starts");
    let mut events = session.take_events().expect("events");
    let mut tunnel = hub.next_tunnel().await;
    tunnel.send(&common::chat_request("p1", true));
    let _pending = provider.next_request().await;

    let outcome = session.close().await;
    assert_eq!(
        outcome,
        CloseOutcome {
            reason: CloseReason::Closed,
            error: None
        }
    );
    assert_eq!(session.close().await, outcome, "close is idempotent");
    assert_eq!(session.wait().await, outcome);
    assert_eq!(session.outcome(), Some(outcome));

    let frames = tunnel.until_closed().await;
    assert_eq!(
        frames,
        [proto::ParticipantToHub::ResponseError {
            request_id: "p1".into(),
            stage: "proxy".into(),
            message: "participant is leaving".into(),
        }]
    );
    let calls = hub.drain_calls();
    assert!(matches!(calls.first(), Some(HubCall::Put { .. })));
    let Some(HubCall::Delete { session: token }) = calls.last() else {
        panic!("expected a DELETE last, got {calls:?}");
    };
    assert_eq!(token.as_deref(), Some("sess-1"));

    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        kinds.push(event.kind());
    }
    assert_eq!(kinds, ["registered", "tunnel_connected", "leaving", "left"]);
}

#[tokio::test]
async fn the_shutdown_token_stops_the_session() {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    let options = hub.options(&provider.url(), "m");
    let shutdown = options.shutdown.clone();
    let session = ParticipantSession::start(options).await.expect("starts");
    let mut tunnel = hub.next_tunnel().await;
    shutdown.cancel();
    assert_eq!(session.wait().await.reason, CloseReason::Closed);
    assert!(tunnel.until_closed().await.is_empty());
    assert!(matches!(
        hub.drain_calls().last(),
        Some(HubCall::Delete { .. })
    ));
}

#[tokio::test]
async fn dropping_the_session_leaves_the_room() {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    let session = ParticipantSession::start(hub.options(&provider.url(), "m"))
        .await
        .expect("starts");
    let mut tunnel = hub.next_tunnel().await;
    drop(session);
    assert!(tunnel.until_closed().await.is_empty());
    assert!(matches!(hub.next_call().await, HubCall::Put { .. }));
    assert!(matches!(hub.next_call().await, HubCall::Delete { .. }));
}

#[tokio::test]
async fn a_cancelled_start_is_reported() {
    let hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    let options = hub.options(&provider.url(), "m");
    options.shutdown.cancel();
    assert!(matches!(
        ParticipantSession::start(options).await,
        Err(StartError::Cancelled)
    ));
}

#[tokio::test]
async fn invalid_options_are_refused_before_any_network_call() {
    let hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    let mut options = hub.options(&provider.url(), "m");
    options.max_concurrency = NonZeroU32::new(proto::MAX_CONCURRENCY_LIMIT + 1).expect("non-zero");
    assert!(matches!(
        ParticipantSession::start(options).await,
        Err(StartError::InvalidOptions(_))
    ));
    let mut options = hub.options(&provider.url(), "m");
    options.nickname = " ".into();
    assert!(matches!(
        ParticipantSession::start(options).await,
        Err(StartError::InvalidOptions(_))
    ));
}

#[tokio::test]
async fn a_probe_made_by_the_caller_is_not_repeated() {
    let mut hub = MockHub::start().await;
    // The provider lists nothing: had the session probed again, "m" would be missing.
    let provider = MockProvider::start(&[]).await;
    let mut options = hub.options(&provider.url(), "m");
    options.initial_probe = Some(gambi_participant::ProbeResult {
        models: vec!["m".into()],
        capabilities: proto::ParticipantCapabilities {
            open_responses: proto::Capability::Unknown,
            chat_completions: proto::Capability::Supported,
        },
        reachable: true,
        auth_rejections: vec![],
    });
    let session = ParticipantSession::start(options).await.expect("starts");
    let HubCall::Put { body, .. } = hub.next_call().await else {
        panic!("expected a registration");
    };
    assert_eq!(body["model"], "m");
    assert_eq!(
        body["capabilities"],
        json!({"openResponses": "unknown", "chatCompletions": "supported"})
    );
    assert_eq!(session.probe().models, ["m"]);
}
