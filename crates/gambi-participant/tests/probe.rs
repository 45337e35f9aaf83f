//! Probing a provider over real sockets.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{dead_addr, http_url, serve};
use gambi_participant::{AuthHeaders, AuthRejection, ProbeResult, probe};
use gambi_protocol::Capability::{Supported, Unknown, Unsupported};
use gambi_protocol::ParticipantCapabilities;
use serde_json::json;

/// A provider whose protocol routes answer `status`, listing `models` on `/v1/models`
/// (and 404 on Ollama's `/api/tags`).
async fn provider(status: Arc<AtomicU16>, models: &'static [&'static str]) -> url::Url {
    let answer = move || {
        let status = Arc::clone(&status);
        async move { StatusCode::from_u16(status.load(Ordering::SeqCst)).expect("valid") }
    };
    let router = Router::new()
        .route(
            "/v1/models",
            get(move || async move {
                let data: Vec<_> = models.iter().map(|id| json!({"id": id})).collect();
                axum::Json(json!({"object": "list", "data": data}))
            }),
        )
        .route("/v1/chat/completions", post(answer.clone()))
        .route("/v1/responses", post(answer));
    http_url(serve(router).await)
}

#[tokio::test]
async fn capability_status_table() {
    let status = Arc::new(AtomicU16::new(200));
    let url = provider(Arc::clone(&status), &["gpt-x"]).await;
    let cases = [
        (200, Supported, false),
        (400, Supported, false),
        (422, Supported, false),
        (500, Supported, false),
        (404, Unsupported, false),
        (405, Unsupported, false),
        (501, Unsupported, false),
        (401, Unknown, true),
        (403, Unknown, true),
    ];
    for (code, expected, auth_problem) in cases {
        status.store(code, Ordering::SeqCst);
        let result = probe(&url, &AuthHeaders::new()).await.expect("probe runs");
        assert_eq!(
            result.capabilities,
            ParticipantCapabilities {
                open_responses: expected,
                chat_completions: expected,
            },
            "status {code}"
        );
        assert_eq!(result.auth_rejected(), auth_problem, "status {code}");
        assert_eq!(result.models, ["gpt-x"], "status {code}");
        assert!(result.reachable);
        if auth_problem {
            assert_eq!(
                result.auth_rejections,
                [
                    AuthRejection {
                        path: "/v1/chat/completions",
                        status: code
                    },
                    AuthRejection {
                        path: "/v1/responses",
                        status: code
                    },
                ]
            );
        }
    }
}

#[tokio::test]
async fn ollama_tags_come_first_and_credentials_go_on_every_probe() {
    let seen = Arc::new(Mutex::new(Vec::<(String, Option<String>)>::new()));
    let record = |path: &'static str| {
        let seen = Arc::clone(&seen);
        move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                let key = headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                seen.lock().expect("lock").push((path.to_owned(), key));
                match path {
                    "/api/tags" => axum::Json(
                        json!({"models": [{"name": "llama3:latest"}, {"name": "qwen2:7b"}]}),
                    )
                    .into_response(),
                    "/v1/responses" => StatusCode::NOT_FOUND.into_response(),
                    _ => StatusCode::BAD_REQUEST.into_response(),
                }
            }
        }
    };
    let router = Router::new()
        .route("/api/tags", get(record("/api/tags")))
        .route("/v1/models", get(record("/v1/models")))
        .route("/v1/chat/completions", post(record("/v1/chat/completions")))
        .route("/v1/responses", post(record("/v1/responses")));
    let url = http_url(serve(router).await);
    let auth = AuthHeaders::from_pairs([("X-Api-Key", "local-key")]).expect("valid");

    let result = probe(&url, &auth).await.expect("probe runs");

    assert_eq!(
        result,
        ProbeResult {
            models: vec!["llama3:latest".into(), "qwen2:7b".into()],
            capabilities: ParticipantCapabilities {
                open_responses: Unsupported,
                chat_completions: Supported,
            },
            reachable: true,
            auth_rejections: vec![],
        }
    );
    assert_eq!(
        result.resolve_model("llama3").as_deref(),
        Some("llama3:latest")
    );
    let mut seen = seen.lock().expect("lock").clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/api/tags".to_owned(), Some("local-key".to_owned())),
            (
                "/v1/chat/completions".to_owned(),
                Some("local-key".to_owned())
            ),
            ("/v1/responses".to_owned(), Some("local-key".to_owned())),
        ],
        "/v1/models is not needed once /api/tags listed models"
    );
}

#[tokio::test]
async fn model_listing_refused_is_an_auth_problem() {
    let router = Router::new()
        .route("/v1/models", get(|| async { StatusCode::UNAUTHORIZED }))
        .route(
            "/v1/chat/completions",
            post(|| async { StatusCode::UNAUTHORIZED }),
        )
        .route("/v1/responses", post(|| async { StatusCode::NOT_FOUND }));
    let url = http_url(serve(router).await);
    let result = probe(&url, &AuthHeaders::new()).await.expect("probe runs");
    assert!(result.models.is_empty());
    assert_eq!(
        result.capabilities,
        ParticipantCapabilities {
            open_responses: Unsupported,
            chat_completions: Unknown,
        }
    );
    assert_eq!(
        result.auth_rejections,
        [
            AuthRejection {
                path: "/v1/models",
                status: 401
            },
            AuthRejection {
                path: "/v1/chat/completions",
                status: 401
            },
        ]
    );
}

#[tokio::test]
async fn unreachable_provider() {
    let url = http_url(dead_addr().await);
    let result = probe(&url, &AuthHeaders::new()).await.expect("probe runs");
    assert_eq!(
        result,
        ProbeResult {
            models: vec![],
            capabilities: ParticipantCapabilities {
                open_responses: Unknown,
                chat_completions: Unknown,
            },
            reachable: false,
            auth_rejections: vec![],
        }
    );
}

#[tokio::test(start_paused = true)]
async fn timed_out_chat_probe_counts_as_supported_when_models_exist() {
    let router = Router::new()
        .route(
            "/api/tags",
            get(|| async { axum::Json(json!({"models": [{"name": "m"}]})) }),
        )
        .route(
            "/v1/chat/completions",
            post(std::future::pending::<StatusCode>),
        )
        .route("/v1/responses", post(std::future::pending::<StatusCode>));
    let url = http_url(serve(router).await);
    let result = probe(&url, &AuthHeaders::new()).await.expect("probe runs");
    assert_eq!(
        result.capabilities,
        ParticipantCapabilities {
            open_responses: Unknown,
            chat_completions: Supported,
        }
    );
}
