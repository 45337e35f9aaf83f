//! Backpressure: a client that stops reading is cut off without slowing anyone else, and
//! an event subscriber that falls behind skips ahead instead of holding the room up.

use std::time::Duration;

use gambi_hub::HubConfig;
use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::{Value, json};

use crate::common::{
    Events, assert_slots_free, chat, header, http_request, next_request_succeeds, read_chat_stream,
    read_until, stalled_client,
};

/// Far more than every buffer between the provider and a stalled client holds (socket
/// buffers of a few MiB, a few hundred queued chunks): 32 MiB in 4 KiB tokens.
fn flood() -> Reply {
    Reply::tokens(std::iter::repeat_n("x".repeat(4096), 8 * 1024))
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_its_neighbour_streams_on() {
    let config = HubConfig {
        slow_client_grace: Duration::from_secs(2),
        ..HubConfig::default()
    };
    let mut cluster = Cluster::with(config, json!({"name": "Backpressure"})).await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").slots(2))
        .await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(flood());
    let words: Vec<String> = (0..200).map(|n| format!(" w{n}")).collect();
    provider.set_default_reply(Reply::tokens(words.clone()));
    let mut events = Events::open(&cluster).await;

    tokio::time::pause();
    let addr = cluster.hub.addr();
    let path = format!("/rooms/{}/v1/chat/completions", cluster.code);
    let request = http_request("POST", addr, &path, Some(&chat("llama3", "flood", true)));
    let slow = stalled_client(addr, &request).await;
    let slow_request = events.until("llm.request", |_| true).await;
    let slow_id = slow_request["requestId"].as_str().unwrap().to_owned();
    provider.wait_for_in_flight(1).await;

    // A second stream on the same participant, and the same tunnel, goes through whole.
    let response = cluster
        .post("/chat/completions", &chat("llama3", "fast", true))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-gambi-participant").as_deref(),
        Some("alice")
    );
    assert_eq!(read_chat_stream(response).await, (words.concat(), false));

    // The stalled one is cut off: its provider request is aborted and the room is told.
    provider.wait_for_abort().await;
    let error = events
        .until("llm.error", |data| data["requestId"] == slow_id)
        .await;
    assert_eq!(error["stage"], "stream", "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("stopped reading"),
        "{error}"
    );
    assert_slots_free(&cluster);
    next_request_succeeds(&cluster).await;
    drop(slow);
}

#[tokio::test]
async fn an_event_subscriber_that_falls_behind_is_told_and_not_waited_for() {
    let config = HubConfig {
        event_buffer: 8,
        ..HubConfig::default()
    };
    let mut cluster = Cluster::with(config, json!({"name": "Lagging"})).await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;

    let addr = cluster.hub.addr();
    let path = format!("/v1/rooms/{}/events", cluster.code);
    let mut watcher = stalled_client(addr, &http_request("GET", addr, &path, None)).await;
    read_until(&mut watcher, "event: connected", Duration::from_secs(60)).await;

    // Events of half a MiB each (a refused request repeats the model name it asked for):
    // 48 of them are far more than the socket buffers between the hub and the stuck
    // watcher hold, and the room keeps only the last 8.
    let model = format!("ghost-{}", "x".repeat(256 * 1024));
    for _ in 0..48 {
        let refused = cluster
            .post("/chat/completions", &chat(&model, "hi", false))
            .await;
        assert_eq!(refused.status(), 404);
    }
    // Requests are served meanwhile.
    next_request_succeeds(&cluster).await;

    // Reading again, the watcher learns how much it missed, then sees the latest events.
    let seen = read_until(&mut watcher, "event: lagged", Duration::from_secs(60)).await;
    let tail = read_until(&mut watcher, "event: llm.complete", Duration::from_secs(60)).await;
    let lagged = seen.rsplit("event: lagged").next().unwrap().to_owned() + &tail;
    let data = lagged
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap();
    let lagged: Value = serde_json::from_str(data).unwrap();
    assert!(lagged["data"]["skipped"].as_u64().unwrap() > 0, "{lagged}");
}
