//! The management plane over HTTP: health, rooms, participants, heartbeats, the envelopes
//! every reply is wrapped in, CORS, the admin token, and the hijack protection of live
//! participants.

mod common;

use common::{
    Api, closed_with, code_of, connect, participant_path, ping, registration, session_of,
};
use gambi_hub::HubConfig;
use gambi_test_support::TestHub;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CODE_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

#[tokio::test]
async fn health_reports_ok() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let reply = api.get("/v1/health").await;
    let data = reply.ok();
    assert_eq!(data["status"], "ok");
    assert!(
        data["timestamp"]
            .as_i64()
            .is_some_and(|ms| ms > 1_600_000_000_000)
    );
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn creating_a_room_returns_its_summary_and_host_id() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let reply = api.post("/v1/rooms", &json!({ "name": " Lab " })).await;
    let data = reply.data(StatusCode::CREATED);
    let room = &data["room"];
    let code = room["code"].as_str().expect("a code");
    assert_eq!(code.len(), 6);
    assert!(code.chars().all(|c| CODE_ALPHABET.contains(c)), "{code}");
    assert_eq!(room["name"], "Lab", "the name is trimmed");
    assert_eq!(room["id"].as_str().map(str::len), Some(21));
    assert_eq!(room["hostId"], data["hostId"]);
    assert_eq!(data["hostId"].as_str().map(str::len), Some(36), "a UUID");
    assert!(room["createdAt"].is_i64());
    assert_eq!(room["passwordProtected"], false);
    assert_eq!(room["participantCount"], 0);
    assert!(
        room.get("defaults").is_none(),
        "absent without defaults: {room}"
    );
    assert_eq!(data.as_object().map(serde_json::Map::len), Some(2));
}

#[tokio::test]
async fn a_password_protects_the_room_without_leaking() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let reply = api
        .post(
            "/v1/rooms",
            &json!({ "name": "Lab", "password": "hunter2" }),
        )
        .await;
    let room = &reply.data(StatusCode::CREATED)["room"];
    assert_eq!(room["passwordProtected"], true);
    let text = reply.body.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("argon2"),
        "{text}"
    );

    // An empty password means none.
    let open = api
        .create_room_with(&json!({ "name": "Open", "password": "" }))
        .await;
    assert_eq!(open["room"]["passwordProtected"], false);
}

#[tokio::test]
async fn room_defaults_are_projected_without_the_instructions() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let defaults = json!({
        "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "seed": 7,
        "instructions": "  Secret system prompt.  ", "unknownKey": true
    });
    let data = api
        .create_room_with(&json!({ "name": "Lab", "defaults": defaults }))
        .await;
    let expected = json!({
        "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "seed": 7, "hasInstructions": true
    });
    assert_eq!(data["room"]["defaults"], expected);
    let code = code_of(&data);
    let fetched = api.get(&format!("/v1/rooms/{code}")).await;
    assert_eq!(fetched.ok()["defaults"], expected);
    assert!(!fetched.body.to_string().contains("Secret"));
}

/// Posts `body` (raw text) to `/v1/rooms` and checks a `400 INVALID_REQUEST` with
/// `message`; returns the error object.
async fn check_create_error(api: &Api, body: &str, message: &str) -> Value {
    let reply = api
        .send(
            api.request(Method::POST, "/v1/rooms")
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await;
    reply
        .error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
        .clone()
}

#[tokio::test]
async fn room_creation_rejects_invalid_bodies() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);

    for body in ["{not json", "", "{\"name\": \"x\""] {
        let error = check_create_error(&api, body, "Invalid JSON body.").await;
        assert_eq!(error["hint"], "Provide a valid JSON object and retry.");
        assert!(
            error["details"]["cause"]
                .as_str()
                .is_some_and(|cause| !cause.is_empty()),
            "{error}"
        );
    }
    for body in ["[]", "\"Lab\"", "42", "null"] {
        check_create_error(&api, body, "Request body must be a JSON object.").await;
    }
    for body in [
        r#"{}"#,
        r#"{"name": ""}"#,
        r#"{"name": "   "}"#,
        r#"{"name": null}"#,
    ] {
        let error = check_create_error(&api, body, "Name is required").await;
        assert!(
            error["hint"]
                .as_str()
                .is_some_and(|hint| hint.contains("name"))
        );
    }
    check_create_error(&api, r#"{"name": 5}"#, "Field \"name\" must be a string.").await;
    check_create_error(
        &api,
        r#"{"name": ["Lab"]}"#,
        "Field \"name\" must be a string.",
    )
    .await;
    check_create_error(
        &api,
        r#"{"name": "Lab", "password": 1234}"#,
        "Field \"password\" must be a string.",
    )
    .await;

    let error = check_create_error(
        &api,
        r#"{"name": "Lab", "defaults": {"top_p": 3, "temperature": 1}}"#,
        "Invalid room defaults: top_p: must be between 0 and 1, got 3.",
    )
    .await;
    assert_eq!(
        error["details"],
        json!({ "formErrors": [], "fieldErrors": { "top_p": ["must be between 0 and 1, got 3"] } })
    );
    let error = check_create_error(
        &api,
        r#"{"name": "Lab", "defaults": {"stop": "END", "instructions": " "}}"#,
        "Invalid room defaults: instructions: must not be empty, stop: must be an array of strings.",
    )
    .await;
    assert_eq!(
        error["details"]["fieldErrors"],
        json!({ "instructions": ["must not be empty"], "stop": ["must be an array of strings"] })
    );
    let error = check_create_error(
        &api,
        r#"{"name": "Lab", "defaults": "hot"}"#,
        "Invalid room defaults: expected an object, got a string.",
    )
    .await;
    assert_eq!(
        error["details"],
        json!({ "formErrors": ["expected an object, got a string"], "fieldErrors": {} })
    );

    // Nothing was created by any of these.
    assert_eq!(api.get("/v1/rooms").await.ok(), &json!([]));
}

#[tokio::test]
async fn room_creation_bounds_the_body() {
    let hub = TestHub::with_config(HubConfig {
        max_management_body: 1024,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let reply = api
        .post("/v1/rooms", &json!({ "name": "x".repeat(2048) }))
        .await;
    reply.error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "Request body is larger than the hub accepts (1024 bytes).",
    );
}

#[tokio::test]
async fn rooms_are_listed_in_creation_order_with_participant_counts() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let mut codes = Vec::new();
    for name in ["first", "second", "third"] {
        codes.push(api.create_room(name).await);
    }
    api.join(&codes[1], "alice").await;
    api.join(&codes[1], "bob").await;
    api.join(&codes[2], "carol").await;

    let reply = api.get("/v1/rooms").await;
    let rooms = reply.ok().as_array().expect("a list").clone();
    let listed: Vec<(&str, &str, i64)> = rooms
        .iter()
        .map(|room| {
            (
                room["code"].as_str().expect("code"),
                room["name"].as_str().expect("name"),
                room["participantCount"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (codes[0].as_str(), "first", 0),
            (codes[1].as_str(), "second", 2),
            (codes[2].as_str(), "third", 1),
        ]
    );
}

#[tokio::test]
async fn rooms_are_found_by_code_in_any_case() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let created = api.create_room_with(&json!({ "name": "Lab" })).await;
    let code = code_of(&created);
    for spelling in [code.clone(), code.to_ascii_lowercase()] {
        let reply = api.get(&format!("/v1/rooms/{spelling}")).await;
        assert_eq!(reply.ok(), &created["room"]);
    }

    let missing = api.get("/v1/rooms/ZZZZZZ").await;
    let error = missing.error(StatusCode::NOT_FOUND, "ROOM_NOT_FOUND", "Room not found.");
    assert_eq!(
        error["hint"],
        "Run 'gambi room list' to inspect available rooms."
    );
    for path in [
        "/v1/rooms/ZZZZZZ/participants",
        "/v1/rooms/ZZZZZZ/events",
        "/rooms/ZZZZZZ/events",
    ] {
        api.get(path)
            .await
            .error(StatusCode::NOT_FOUND, "ROOM_NOT_FOUND", "Room not found.");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_404_route_not_found() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let cases = [
        (Method::GET, "/".to_owned()),
        (Method::GET, "/nope".to_owned()),
        (Method::GET, "/v1".to_owned()),
        (Method::GET, "/v1/health/".to_owned()),
        (Method::GET, "/v1/rooms/".to_owned()),
        (Method::POST, "/v1/health".to_owned()),
        (Method::DELETE, "/v1/rooms".to_owned()),
        (Method::PUT, format!("/v1/rooms/{code}")),
        (Method::DELETE, format!("/v1/rooms/{code}")),
        (Method::GET, participant_path(&code, "alice")),
        (
            Method::GET,
            format!("{}/heartbeat", participant_path(&code, "alice")),
        ),
        (Method::POST, format!("/v1/rooms/{code}/events")),
        (Method::PATCH, "/v1/rooms".to_owned()),
    ];
    for (method, path) in cases {
        let reply = api.send(api.request(method.clone(), &path)).await;
        let error = reply.error(StatusCode::NOT_FOUND, "INVALID_REQUEST", "Route not found.");
        assert_eq!(
            error["hint"], "Check the requested path and HTTP method.",
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn options_answers_204_with_cors_headers() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    for path in [
        "/v1/rooms".to_owned(),
        participant_path(&code, "alice"),
        format!("/rooms/{code}/v1/chat/completions"),
        "/anything/at/all".to_owned(),
    ] {
        // A browser's preflight, with the headers the OpenAI JS SDK sends.
        let requested = "authorization, content-type, x-stainless-os, x-stainless-retry-count";
        let reply = api
            .send(
                api.request(Method::OPTIONS, &path)
                    .header("origin", "http://app.example")
                    .header("access-control-request-method", "POST")
                    .header("access-control-request-headers", requested),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{path}");
        assert_eq!(reply.body, Value::Null);
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"));
        assert_eq!(
            header("access-control-allow-methods").as_deref(),
            Some("GET,POST,PUT,DELETE,OPTIONS")
        );
        assert_eq!(
            header("access-control-allow-headers").as_deref(),
            Some(requested),
            "the requested headers are allowed as asked"
        );
        assert!(
            !reply.request_id_header().is_empty(),
            "every reply has a request id"
        );

        // A bare OPTIONS (no preflight) gets the same status.
        let reply = api.send(api.request(Method::OPTIONS, &path)).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{path}");
    }

    // Scripts may read the request id and the hub's own headers.
    let reply = api
        .send(
            api.request(Method::GET, "/v1/health")
                .header("origin", "http://app.example"),
        )
        .await;
    let exposed = reply
        .headers
        .get("access-control-expose-headers")
        .and_then(|value| value.to_str().ok())
        .expect("exposed headers");
    for name in ["x-request-id", "retry-after", "x-gambi-participant"] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[tokio::test]
async fn configured_origins_are_the_only_ones_browsers_may_use() {
    let hub = TestHub::with_config(HubConfig {
        cors_origins: gambi_hub::CorsOrigins::parse([
            "http://app.example",
            "http://127.0.0.1:5173",
        ])
        .expect("valid origins"),
        ..HubConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let allowed_origin = |origin: &'static str, method: Method| {
        let request = client
            .request(method.clone(), hub.url_for("/v1/health"))
            .header("origin", origin);
        let request = if method == Method::OPTIONS {
            request
                .header("access-control-request-method", "GET")
                .header(
                    "access-control-request-headers",
                    "authorization, x-stainless-os",
                )
        } else {
            request
        };
        async move {
            let response = request.send().await.expect("the hub answers");
            let allowed = response
                .headers()
                .get("access-control-allow-origin")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let vary = response
                .headers()
                .get_all("vary")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .any(|value| value.to_ascii_lowercase().contains("origin"));
            (allowed, vary)
        }
    };
    for method in [Method::OPTIONS, Method::GET] {
        for origin in ["http://app.example", "http://127.0.0.1:5173"] {
            let (allowed, vary) = allowed_origin(origin, method.clone()).await;
            assert_eq!(allowed.as_deref(), Some(origin), "{method} from {origin}");
            assert!(vary, "caches must keep answers per origin");
        }
        let (allowed, _) = allowed_origin("http://evil.example", method.clone()).await;
        assert_eq!(allowed, None, "{method} from an origin not listed");
    }
}

#[tokio::test]
async fn every_reply_carries_its_own_request_id() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    // `Reply::ok` and `Reply::error` check that meta.requestId equals the header.
    let first = api.get("/v1/health").await;
    first.ok();
    let second = api.get("/v1/rooms/NOPE00").await;
    second.error(StatusCode::NOT_FOUND, "ROOM_NOT_FOUND", "Room not found.");
    assert_ne!(first.request_id_header(), second.request_id_header());
    assert_eq!(first.request_id_header().len(), 36, "a UUID");

    // A caller's own id is kept, so logs on both sides correlate.
    let reply = api
        .send(
            api.request(Method::GET, "/v1/health")
                .header("x-request-id", "trace-42"),
        )
        .await;
    reply.ok();
    assert_eq!(reply.request_id_header(), "trace-42");
}

#[tokio::test]
async fn the_admin_token_guards_creating_and_listing_rooms() {
    let hub = TestHub::with_config(HubConfig {
        admin_token: Some("s3cret".into()),
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let message = "This hub requires its admin token to create or list rooms.";
    let body = json!({ "name": "Lab" });

    let requests = [
        api.request(Method::POST, "/v1/rooms").json(&body),
        api.request(Method::POST, "/v1/rooms")
            .json(&body)
            .bearer_auth("wrong"),
        api.request(Method::POST, "/v1/rooms")
            .json(&body)
            .header("authorization", "s3cret"),
        api.request(Method::GET, "/v1/rooms"),
        api.request(Method::GET, "/v1/rooms").bearer_auth("s3cre"),
        api.request(Method::GET, "/v1/events"),
    ];
    for request in requests {
        let reply = api.send(request).await;
        reply.error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    }

    let created = api
        .send(
            api.request(Method::POST, "/v1/rooms")
                .json(&body)
                .bearer_auth("s3cret"),
        )
        .await;
    let code = code_of(created.data(StatusCode::CREATED));
    let listed = api
        .send(api.request(Method::GET, "/v1/rooms").bearer_auth("s3cret"))
        .await;
    assert_eq!(listed.ok().as_array().map(Vec::len), Some(1));

    // Rooms themselves stay reachable by code without the admin token.
    api.get(&format!("/v1/rooms/{code}")).await.ok();
    api.join(&code, "alice").await;
}

#[tokio::test]
async fn the_room_limit_is_enforced() {
    let hub = TestHub::with_config(HubConfig {
        max_rooms: 1,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    api.create_room("one").await;
    api.post("/v1/rooms", &json!({ "name": "two" }))
        .await
        .error(
            StatusCode::SERVICE_UNAVAILABLE,
            "INTERNAL_ERROR",
            "This hub already keeps 1 rooms.",
        );
}

// Participants.

#[tokio::test]
async fn registering_returns_the_participant_its_tunnel_and_a_session() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let created = api.create_room_with(&json!({ "name": "Lab" })).await;
    let code = code_of(&created);
    let body = json!({
        "nickname": "Alice", "model": "llama3", "endpoint": "http://10.0.0.2:11434",
        "specs": { "gpu": "RTX 4090", "vram": 24, "ram": 64, "cpu": "Ryzen 9" },
        "config": { "temperature": 0.2, "instructions": "Talk like a pirate." },
        "capabilities": { "openResponses": "unsupported", "chatCompletions": "supported" },
        "maxConcurrency": 4,
        "futureField": "ignored"
    });
    // Registered through the lower-case code: the tunnel URL still names the canonical one.
    let reply = api
        .put_participant(&code.to_ascii_lowercase(), "alice", &body)
        .await;
    let data = reply.data(StatusCode::CREATED);
    let participant = &data["participant"];
    let joined_at = participant["joinedAt"].as_i64().expect("joinedAt");
    assert_eq!(
        participant,
        &json!({
            "id": "alice", "nickname": "Alice", "model": "llama3",
            "endpoint": "http://10.0.0.2:11434",
            "config": { "temperature": 0.2, "hasInstructions": true },
            "specs": { "gpu": "RTX 4090", "vram": 24, "ram": 64, "cpu": "Ryzen 9" },
            "capabilities": { "openResponses": "unsupported", "chatCompletions": "supported" },
            "connection": { "kind": "tunnel", "connected": false, "lastTunnelSeenAt": null },
            "status": "offline",
            "joinedAt": joined_at, "lastSeen": joined_at, "updatedAt": joined_at,
            "maxConcurrency": 4, "activeRequests": 0
        })
    );
    assert_eq!(data["roomId"], created["room"]["id"]);
    assert_eq!(
        data["tunnel"]["url"],
        format!(
            "ws://{}/v1/rooms/{code}/participants/alice/tunnel",
            hub.addr()
        )
    );
    assert_eq!(data["tunnel"]["token"].as_str().map(str::len), Some(36));
    assert!(
        data["sessionToken"]
            .as_str()
            .is_some_and(|token| token.len() >= 32)
    );
    assert_eq!(data.as_object().map(serde_json::Map::len), Some(4));
    assert!(!reply.body.to_string().contains("pirate"));

    assert_eq!(api.participants(&code).await, json!([participant]));
    let room = api.get(&format!("/v1/rooms/{code}")).await;
    assert_eq!(room.ok()["participantCount"], 1);
}

#[tokio::test]
async fn registering_again_updates_in_place_and_keeps_joined_at() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let first = api.join(&code, "alice").await;
    api.join(&code, "bob").await;
    let session = session_of(&first);

    let mut changed = registration("Alice II");
    changed["model"] = json!("qwen3");
    let again = api
        .send(
            api.request(Method::PUT, &participant_path(&code, "alice"))
                .header("x-gambi-session", &session)
                .json(&changed),
        )
        .await;
    let data = again.ok();
    assert_eq!(data["participant"]["nickname"], "Alice II");
    assert_eq!(data["participant"]["model"], "qwen3");
    assert_eq!(
        data["participant"]["joinedAt"],
        first["participant"]["joinedAt"]
    );
    assert_ne!(
        data["tunnel"]["token"], first["tunnel"]["token"],
        "a fresh token"
    );
    assert_eq!(
        data["sessionToken"],
        session.as_str(),
        "its own session keeps its credential"
    );

    // Anyone may take over an id whose tunnel is not live; the old credential is retired.
    let reclaimed = api
        .put_participant(&code, "alice", &registration("Mallory"))
        .await;
    let data = reclaimed.ok();
    assert_eq!(
        data["participant"]["joinedAt"],
        first["participant"]["joinedAt"]
    );
    assert_ne!(data["sessionToken"], session.as_str());

    // Order stays first-registration order.
    let ids: Vec<Value> = api
        .participants(&code)
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|participant| participant["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("alice"), json!("bob")]);
}

/// PUTs `body` (raw text) as participant `alice` and checks a `400 INVALID_REQUEST`
/// with `message`; returns the error object.
async fn check_registration_error(api: &Api, code: &str, body: &str, message: &str) -> Value {
    let reply = api
        .send(
            api.request(Method::PUT, &participant_path(code, "alice"))
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await;
    reply
        .error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
        .clone()
}

/// A valid registration with `key` set to `value`, as JSON text.
fn with(key: &str, value: Value) -> String {
    let mut body = registration("Alice");
    body[key] = value;
    body.to_string()
}

#[tokio::test]
async fn registration_rejects_invalid_bodies_naming_the_field() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;

    let error = check_registration_error(&api, &code, "{oops", "Invalid JSON body.").await;
    assert!(error["details"]["cause"].is_string(), "{error}");
    check_registration_error(&api, &code, "[1]", "Request body must be a JSON object.").await;

    let error = check_registration_error(
        &api,
        &code,
        &with("authHeaders", json!({ "Authorization": "Bearer sk-live" })),
        "Participant auth headers are not accepted by the hub.",
    )
    .await;
    assert_eq!(error["details"], json!({ "forbidden": ["authHeaders"] }));
    assert!(!error.to_string().contains("sk-live"));
    // Any value counts, even an empty one.
    check_registration_error(
        &api,
        &code,
        &with("authHeaders", json!(null)),
        "Participant auth headers are not accepted by the hub.",
    )
    .await;

    let error = check_registration_error(
        &api,
        &code,
        "{}",
        "Missing required fields: nickname, model, endpoint.",
    )
    .await;
    assert_eq!(error["hint"], "Provide nickname, model, and endpoint.");
    assert_eq!(
        error["details"],
        json!({
            "required": ["nickname", "model", "endpoint"],
            "missing": ["nickname", "model", "endpoint"]
        })
    );
    let error = check_registration_error(
        &api,
        &code,
        &with("model", json!("  ")),
        "Missing required fields: model.",
    )
    .await;
    assert_eq!(error["details"]["missing"], json!(["model"]));

    let field_cases = [
        (
            with("endpoint", json!("localhost:11434")),
            "endpoint",
            "must be an absolute http(s) URL",
        ),
        (
            with("endpoint", json!("ftp://host")),
            "endpoint",
            "must be an absolute http(s) URL",
        ),
        (
            with("endpoint", json!("http://")),
            "endpoint",
            "must be an absolute http(s) URL",
        ),
        (with("nickname", json!(5)), "nickname", "must be a string"),
        (
            with("password", json!(1234)),
            "password",
            "must be a string",
        ),
        (
            with("config", json!({ "temperature": 7 })),
            "config.temperature",
            "must be between 0 and 2, got 7",
        ),
        (
            with("config", json!({ "max_tokens": -1 })),
            "config.max_tokens",
            "must be a positive integer, got -1",
        ),
        (
            with("config", json!([])),
            "config",
            "expected an object, got an array",
        ),
        (
            with("maxConcurrency", json!(0)),
            "maxConcurrency",
            "must be an integer from 1 to 1024",
        ),
        (
            with("maxConcurrency", json!(1025)),
            "maxConcurrency",
            "must be an integer from 1 to 1024",
        ),
        (
            with("maxConcurrency", json!(2.5)),
            "maxConcurrency",
            "must be an integer from 1 to 1024",
        ),
        (
            with("maxConcurrency", json!("4")),
            "maxConcurrency",
            "must be an integer from 1 to 1024",
        ),
        (
            with("capabilities", json!("all")),
            "capabilities",
            "must be an object",
        ),
        (
            with("capabilities", json!({ "chatCompletions": "maybe" })),
            "capabilities.chatCompletions",
            "must be \"supported\", \"unsupported\" or \"unknown\"",
        ),
    ];
    for (body, field, problem) in field_cases {
        let error = check_registration_error(
            &api,
            &code,
            &body,
            &format!("Invalid participant registration: {field}: {problem}."),
        )
        .await;
        assert_eq!(
            error["details"],
            json!({ "formErrors": [], "fieldErrors": { field: [problem] } }),
            "{body}"
        );
    }

    // Several problems are reported together.
    let mut body = registration("Alice");
    body["endpoint"] = json!("nope");
    body["maxConcurrency"] = json!(0);
    let error = check_registration_error(
        &api,
        &code,
        &body.to_string(),
        "Invalid participant registration: endpoint: must be an absolute http(s) URL, maxConcurrency: must be an integer from 1 to 1024.",
    )
    .await;
    assert_eq!(
        error["details"]["fieldErrors"]
            .as_object()
            .map(|fields| fields.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["endpoint".to_owned(), "maxConcurrency".to_owned()])
    );

    // An invalid participant id in the path.
    let reply = api
        .put_participant(&code, "a%20b", &registration("Alice"))
        .await;
    reply.error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "Participant id must not contain spaces or control characters.",
    );

    // None of this registered anyone.
    assert_eq!(api.participants(&code).await, json!([]));
}

#[tokio::test]
async fn registration_in_an_unknown_room_is_404_before_the_body_is_read() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let reply = api
        .send(
            api.request(Method::PUT, &participant_path("NOPE00", "alice"))
                .body("{not json"),
        )
        .await;
    reply.error(StatusCode::NOT_FOUND, "ROOM_NOT_FOUND", "Room not found.");
}

#[tokio::test]
async fn a_protected_room_requires_its_password_to_join() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = code_of(
        &api.create_room_with(&json!({ "name": "Lab", "password": "hunter2" }))
            .await,
    );
    for password in [None, Some(""), Some("hunter3"), Some("HUNTER2")] {
        let mut body = registration("Alice");
        if let Some(password) = password {
            body["password"] = json!(password);
        }
        let reply = api.put_participant(&code, "alice", &body).await;
        let error = reply.error(
            StatusCode::UNAUTHORIZED,
            "INVALID_PASSWORD",
            "Invalid password.",
        );
        assert_eq!(
            error["hint"],
            "Provide the correct room password and retry."
        );
    }
    assert_eq!(api.participants(&code).await, json!([]));

    let mut body = registration("Alice");
    body["password"] = json!("hunter2");
    let reply = api.put_participant(&code, "alice", &body).await;
    reply.data(StatusCode::CREATED);
    assert!(!reply.body.to_string().contains("hunter2"));
    // Again, through the remembered password.
    api.put_participant(&code, "alice", &body).await.ok();
    api.put_participant(&code, "bob", &body)
        .await
        .data(StatusCode::CREATED);
}

#[tokio::test]
async fn participants_leave_with_delete() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    api.join(&code, "alice").await;
    api.join(&code, "bob").await;

    let reply = api
        .delete(&participant_path(&code.to_ascii_lowercase(), "alice"))
        .await;
    assert_eq!(reply.ok(), &json!({ "success": true }));
    let ids: Vec<Value> = api
        .participants(&code)
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|participant| participant["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("bob")]);

    let again = api.delete(&participant_path(&code, "alice")).await;
    let error = again.error(
        StatusCode::NOT_FOUND,
        "PARTICIPANT_NOT_FOUND",
        "Participant not found.",
    );
    assert_eq!(error["hint"], "Check the participant id and retry.");
    api.delete(&participant_path("NOPE00", "bob")).await.error(
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
        "Room not found.",
    );
}

#[tokio::test]
async fn leaving_a_protected_room_needs_the_session_or_the_password() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = code_of(
        &api.create_room_with(&json!({ "name": "Lab", "password": "hunter2" }))
            .await,
    );
    let mut body = registration("Alice");
    body["password"] = json!("hunter2");
    let alice = api
        .put_participant(&code, "alice", &body)
        .await
        .data(StatusCode::CREATED)
        .clone();
    api.put_participant(&code, "bob", &body)
        .await
        .data(StatusCode::CREATED);
    let path = participant_path(&code, "alice");

    for request in [
        api.request(Method::DELETE, &path),
        api.request(Method::DELETE, &path).bearer_auth("wrong"),
        api.request(Method::DELETE, &path)
            .header("x-gambi-session", "forged"),
    ] {
        api.send(request).await.error(
            StatusCode::UNAUTHORIZED,
            "INVALID_PASSWORD",
            "Invalid password.",
        );
    }
    let by_session = api
        .send(
            api.request(Method::DELETE, &path)
                .header("x-gambi-session", session_of(&alice)),
        )
        .await;
    assert_eq!(by_session.ok(), &json!({ "success": true }));
    let by_password = api
        .send(
            api.request(Method::DELETE, &participant_path(&code, "bob"))
                .bearer_auth("hunter2"),
        )
        .await;
    assert_eq!(by_password.ok(), &json!({ "success": true }));
    assert_eq!(api.participants(&code).await, json!([]));
}

/// The original runtime leaves by closing its tunnel and sending `DELETE` without the room
/// password or a session credential. Right after the tunnel closed, that leave is
/// accepted, so no offline ghost stays listed; later, or while the tunnel is up, the
/// credential is needed again.
#[tokio::test(start_paused = true)]
async fn a_protected_room_accepts_the_original_runtimes_leave_right_after_its_tunnel_closes() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = code_of(
        &api.create_room_with(&json!({ "name": "Lab", "password": "hunter2" }))
            .await,
    );
    let mut events = api
        .subscribe(&format!("/v1/rooms/{code}/events"), Some("hunter2"))
        .await;
    common::expect_event(&mut events, "connected").await;
    let mut body = registration("Alice");
    body["password"] = json!("hunter2");
    for id in ["alice", "bob", "carol"] {
        let joined = api
            .put_participant(&code, id, &body)
            .await
            .data(StatusCode::CREATED)
            .clone();
        let ws = common::open_tunnel(&hub, &code, id, &common::token_of(&joined))
            .await
            .expect("opens");
        if id == "alice" {
            // Ctrl+C in the original runtime: close, then DELETE at once.
            let mut ws = ws;
            ws.close(None).await.expect("closes");
            let reply = api.delete(&participant_path(&code, "alice")).await;
            assert_eq!(reply.ok(), &json!({ "success": true }));
        } else if id == "bob" {
            // Bob's tunnel dropped long ago: his leave needs a credential again.
            drop(ws);
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            api.delete(&participant_path(&code, "bob")).await.error(
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSWORD",
                "Invalid password.",
            );
        } else {
            // Carol is live: nobody removes her without a credential.
            api.delete(&participant_path(&code, "carol")).await.error(
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSWORD",
                "Invalid password.",
            );
            drop(ws);
        }
    }
    let left = common::wait_for_event(&mut events, "participant.left").await;
    assert_eq!(left["data"], json!({ "participantId": "alice" }));
    let ids: Vec<Value> = api
        .participants(&code)
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|participant| participant["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("bob"), json!("carol")]);
}

#[tokio::test]
async fn heartbeats_answer_status_and_last_seen() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let joined = api.join(&code, "alice").await;

    let reply = api.heartbeat(&code.to_ascii_lowercase(), "alice").await;
    let data = reply.ok();
    let last_seen = data["lastSeen"].as_i64().expect("lastSeen");
    assert!(
        last_seen
            >= joined["participant"]["lastSeen"]
                .as_i64()
                .expect("lastSeen")
    );
    assert_eq!(
        data,
        &json!({ "success": true, "status": "offline", "lastSeen": last_seen }),
        "no tunnel yet, so offline"
    );
    assert_eq!(api.participant(&code, "alice").await["lastSeen"], last_seen);

    api.heartbeat(&code, "bob").await.error(
        StatusCode::NOT_FOUND,
        "PARTICIPANT_NOT_FOUND",
        "Participant not found.",
    );
    api.heartbeat("NOPE00", "alice").await.error(
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
        "Room not found.",
    );
}

#[tokio::test]
async fn a_room_holds_a_bounded_number_of_participants() {
    let hub = TestHub::with_config(HubConfig {
        max_participants_per_room: 2,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    api.join(&code, "alice").await;
    api.join(&code, "bob").await;
    api.put_participant(&code, "carol", &registration("Carol"))
        .await
        .error(
            StatusCode::CONFLICT,
            "INVALID_REQUEST",
            "This room already holds 2 participants.",
        );
    // Re-registering someone already there is not a new participant.
    api.put_participant(&code, "bob", &registration("Bob"))
        .await
        .ok();
}

// Hijack protection.

#[tokio::test]
async fn a_live_participant_cannot_be_replaced_or_removed_by_others() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, joined) = connect(&hub, &api, &code, "alice").await;
    let session = session_of(&joined);
    ping(&mut ws).await;
    let path = participant_path(&code, "alice");
    let conflict = "This participant id is in use by a connected session.";

    for header in [None, Some("forged"), Some("")] {
        let mut put = api
            .request(Method::PUT, &path)
            .json(&registration("Mallory"));
        let mut delete = api.request(Method::DELETE, &path);
        if let Some(value) = header {
            put = put.header("x-gambi-session", value);
            delete = delete.header("x-gambi-session", value);
        }
        api.send(put)
            .await
            .error(StatusCode::CONFLICT, "PARTICIPANT_CONFLICT", conflict);
        api.send(delete)
            .await
            .error(StatusCode::CONFLICT, "PARTICIPANT_CONFLICT", conflict);
    }
    let alice = api.participant(&code, "alice").await;
    assert_eq!(alice["nickname"], "alice", "untouched");
    assert_eq!(alice["connection"]["connected"], true);

    // Its own session may re-register without disturbing the tunnel...
    let again = api
        .send(
            api.request(Method::PUT, &path)
                .header("x-gambi-session", &session)
                .json(&registration("Alice")),
        )
        .await;
    let data = again.ok();
    assert_eq!(data["participant"]["nickname"], "Alice");
    assert_eq!(data["participant"]["connection"]["connected"], true);
    assert_eq!(data["participant"]["status"], "online");
    ping(&mut ws).await;

    // ...and leave, which closes the tunnel.
    let left = api
        .send(
            api.request(Method::DELETE, &path)
                .header("x-gambi-session", &session),
        )
        .await;
    assert_eq!(left.ok(), &json!({ "success": true }));
    assert_eq!(
        closed_with(&mut ws).await,
        (4004, "Participant removed from the room.".to_owned())
    );
    assert_eq!(api.participants(&code).await, json!([]));
}

#[tokio::test]
async fn the_room_password_does_not_override_a_live_session() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = code_of(
        &api.create_room_with(&json!({ "name": "Lab", "password": "hunter2" }))
            .await,
    );
    let mut body = registration("Alice");
    body["password"] = json!("hunter2");
    let joined = api
        .put_participant(&code, "alice", &body)
        .await
        .data(StatusCode::CREATED)
        .clone();
    let mut ws = common::open_tunnel(&hub, &code, "alice", &common::token_of(&joined))
        .await
        .expect("the tunnel opens");
    ping(&mut ws).await;

    api.put_participant(&code, "alice", &body).await.error(
        StatusCode::CONFLICT,
        "PARTICIPANT_CONFLICT",
        "This participant id is in use by a connected session.",
    );
    api.send(
        api.request(Method::DELETE, &participant_path(&code, "alice"))
            .bearer_auth("hunter2"),
    )
    .await
    .error(
        StatusCode::CONFLICT,
        "PARTICIPANT_CONFLICT",
        "This participant id is in use by a connected session.",
    );
    // Its session alone is enough, even without the password.
    let again = api
        .send(
            api.request(Method::PUT, &participant_path(&code, "alice"))
                .header("x-gambi-session", session_of(&joined))
                .json(&registration("Alice")),
        )
        .await;
    again.ok();
}

#[tokio::test]
async fn the_tunnel_url_follows_tls_and_forwarding_headers() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let path = participant_path(&code, "alice");
    let behind_proxy = api
        .send(
            api.request(Method::PUT, &path)
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", "gambi.example.org")
                .json(&registration("Alice")),
        )
        .await;
    assert_eq!(
        behind_proxy.data(StatusCode::CREATED)["tunnel"]["url"],
        format!("wss://gambi.example.org/v1/rooms/{code}/participants/alice/tunnel")
    );

    let tls = TestHub::with_config(HubConfig {
        tls: true,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&tls);
    let code = api.create_room("Lab").await;
    let joined = api.join(&code, "alice").await;
    assert_eq!(
        joined["tunnel"]["url"],
        format!(
            "wss://{}/v1/rooms/{code}/participants/alice/tunnel",
            tls.addr()
        )
    );
}

// Secrets and injection.

#[tokio::test]
async fn credentials_in_the_endpoint_are_neither_kept_nor_published() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = api
        .subscribe(&format!("/v1/rooms/{code}/events"), None)
        .await;
    common::expect_event(&mut events, "connected").await;
    let mut body = registration("Alice");
    body["endpoint"] = json!("http://user:s3cret@10.0.0.5:11434/v1?api_key=k3y#x");
    let joined = api
        .put_participant(&code, "alice", &body)
        .await
        .data(StatusCode::CREATED)
        .clone();
    assert_eq!(
        joined["participant"]["endpoint"],
        "http://10.0.0.5:11434/v1"
    );
    let event = common::expect_event(&mut events, "participant.joined").await;
    assert_eq!(event["data"]["endpoint"], "http://10.0.0.5:11434/v1");
    let listed = api.participants(&code).await.to_string();
    assert!(
        !listed.contains("s3cret") && !listed.contains("k3y") && !listed.contains("user"),
        "{listed}"
    );
}

#[tokio::test]
async fn names_and_ids_with_control_characters_are_refused() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let reply = api
        .post("/v1/rooms", &json!({ "name": "Lab\u{1b}[2J" }))
        .await;
    reply.error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "Field \"name\" must not contain control characters.",
    );
    let code = api.create_room("Lab").await;
    let mut body = registration("x");
    body["nickname"] = json!("Eve\u{1b}]0;owned\u{7}");
    let reply = api.put_participant(&code, "eve", &body).await;
    let error = reply.error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "Invalid participant registration: nickname: must not contain control characters.",
    );
    assert_eq!(
        error["details"]["fieldErrors"]["nickname"],
        json!(["must not contain control characters"])
    );
    api.put_participant(&code, "eve%1B%5B2J", &registration("Eve"))
        .await
        .error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "Participant id must not contain spaces or control characters.",
        );
    assert_eq!(api.participants(&code).await, json!([]));
}

#[tokio::test]
async fn a_path_that_is_not_utf8_gets_an_error_in_the_planes_shape() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    for path in [
        "/v1/rooms/%FF".to_owned(),
        format!("/v1/rooms/{code}/participants/%C3%28"),
        format!("/v1/rooms/{code}/participants/%FF/heartbeat"),
        "/nowhere/%FF".to_owned(),
    ] {
        let reply = api.get(&path).await;
        assert!(reply.status.is_client_error(), "{path}: {reply:#?}");
        assert_eq!(
            reply.body["error"]["code"], "INVALID_REQUEST",
            "{path}: {reply:#?}"
        );
        assert!(
            reply.body["meta"]["requestId"].is_string(),
            "{path}: {reply:#?}"
        );
    }
    let response = reqwest::get(hub.url_for(&format!("/rooms/{code}/v1/models/%FF")))
        .await
        .expect("the hub answers");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "INVALID_REQUEST", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
}
