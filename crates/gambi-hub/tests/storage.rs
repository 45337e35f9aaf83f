//! Rooms on a database file: they survive a restart with their codes, names, defaults and
//! passwords; participants, which belong to live connections, do not.

mod common;

use common::{Api, TempDir, code_of, registration};
use gambi_hub::{Hub, HubConfig, Storage};
use gambi_test_support::TestHub;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn on_file(path: std::path::PathBuf) -> HubConfig {
    HubConfig {
        storage: Storage::File(path),
        ..HubConfig::default()
    }
}

#[tokio::test]
async fn rooms_survive_a_restart() {
    let dir = TempDir::new();
    let path = dir.path().join("hub.db");

    let hub = TestHub::with_config(on_file(path.clone())).await;
    let api = Api::new(&hub);
    let open = api
        .create_room_with(&json!({
            "name": "Open lab",
            "defaults": { "temperature": 0.3, "instructions": "Be brief." }
        }))
        .await;
    let locked = api
        .create_room_with(&json!({ "name": "Locked lab", "password": "hunter2" }))
        .await;
    api.join(&code_of(&open), "alice").await;
    let before = api.get("/v1/rooms").await.ok().clone();
    hub.stop().await;

    let hub = TestHub::with_config(on_file(path)).await;
    let api = Api::new(&hub);
    let after = api.get("/v1/rooms").await.ok().clone();
    let mut expected = before;
    for room in expected.as_array_mut().expect("a list") {
        // Participants are live state; they register again after a restart.
        room["participantCount"] = json!(0);
    }
    assert_eq!(after, expected);
    assert_eq!(after[0]["code"], open["room"]["code"]);
    assert_eq!(
        after[0]["defaults"],
        json!({ "temperature": 0.3, "hasInstructions": true })
    );
    assert_eq!(after[1]["code"], locked["room"]["code"]);
    assert_eq!(after[1]["name"], "Locked lab");
    assert_eq!(after[1]["passwordProtected"], true);

    // The password still verifies.
    let code = code_of(&locked);
    let mut body = registration("Alice");
    body["password"] = json!("hunter3");
    api.put_participant(&code, "alice", &body).await.error(
        StatusCode::UNAUTHORIZED,
        "INVALID_PASSWORD",
        "Invalid password.",
    );
    body["password"] = json!("hunter2");
    api.put_participant(&code.to_ascii_lowercase(), "alice", &body)
        .await
        .data(StatusCode::CREATED);

    // New rooms get new codes and come after the old ones.
    let third = api.create_room("Third").await;
    let codes: Vec<Value> = api
        .get("/v1/rooms")
        .await
        .ok()
        .as_array()
        .expect("a list")
        .iter()
        .map(|room| room["code"].clone())
        .collect();
    assert_eq!(
        codes,
        vec![
            open["room"]["code"].clone(),
            locked["room"]["code"].clone(),
            json!(third)
        ]
    );
}

#[tokio::test]
async fn the_database_directory_is_created_when_missing() {
    let dir = TempDir::new();
    let path = dir.path().join("data").join("gambi").join("hub.db");
    let hub = Hub::open(on_file(path.clone()), CancellationToken::new());
    assert!(hub.is_ok(), "{hub:?}");
    assert!(path.exists());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_at_start() {
    let dir = TempDir::new();
    let path = dir.path().join("hub.db");
    std::fs::write(&path, b"this is not a SQLite database, just some text.").expect("writable");
    let error = Hub::open(on_file(path), CancellationToken::new()).expect_err("not a database");
    assert!(
        error
            .to_string()
            .starts_with("could not open the room database: "),
        "{error}"
    );
}
