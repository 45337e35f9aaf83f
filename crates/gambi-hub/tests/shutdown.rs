//! Shutdown, from the HTTP side: once it begins, new inference requests are refused at once
//! with `HUB_SHUTTING_DOWN` (the end to end behaviour, with requests in flight finishing
//! within the grace, is tested in gambi-e2e).
#![allow(clippy::unwrap_used)] // Tests fail loudly.

use axum::body::Body;
use gambi_hub::{Hub, HubConfig};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

#[tokio::test]
async fn a_hub_shutting_down_refuses_new_inference_requests() {
    let shutdown = CancellationToken::new();
    let hub = Hub::open(HubConfig::default(), shutdown.clone()).unwrap();
    let app = gambi_hub::router(hub);
    shutdown.cancel();
    for path in [
        "/rooms/ABC123/v1/chat/completions",
        "/rooms/ABC123/v1/responses",
    ] {
        let body = json!({"model": "*", "input": "hi", "messages": []});
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let error: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(error["error"]["code"], "HUB_SHUTTING_DOWN", "{error}");
        assert_eq!(error["error"]["type"], "server_error", "{error}");
    }
}
