//! Leases: however a request ends, its slot comes back and the next request is served.

use futures::StreamExt;
use gambi_test_support::cluster::Link;
use gambi_test_support::sse::EventReader;
use gambi_test_support::{Cluster, ParticipantSpec, Reply, StreamFailure};
use serde_json::Value;

use crate::common::{
    Events, active, assert_slots_free, chat, first_token, next_request_succeeds, prompts,
    read_chat_stream, spawn_post,
};

async fn one_participant(slots: u32) -> Cluster {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").slots(slots))
        .await;
    cluster
}

#[tokio::test]
async fn completed_requests_free_their_slots() {
    let cluster = one_participant(1).await;
    let provider = &cluster.member("alice").provider;
    provider.set_default_reply(Reply::text("all done"));

    let response = cluster
        .post("/chat/completions", &chat("llama3", "plain", false))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "all done");
    assert_slots_free(&cluster);

    let response = cluster
        .post("/chat/completions", &chat("llama3", "streamed", true))
        .await;
    assert_eq!(
        read_chat_stream(response).await,
        ("all done".to_owned(), false)
    );
    assert_slots_free(&cluster);
    next_request_succeeds(&cluster).await;
}

/// With the client and the hub on different threads, a client that has read a whole stream
/// finds its slot already free: its next request never queues behind its last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_frees_its_slot_before_its_client_sees_the_end() {
    let cluster = one_participant(1).await;
    let provider = &cluster.member("alice").provider;
    provider.set_default_reply(Reply::text("quick"));
    for round in 0..50 {
        let response = cluster
            .post("/chat/completions", &chat("llama3", "again", true))
            .await;
        assert_eq!(
            read_chat_stream(response).await,
            ("quick".to_owned(), false)
        );
        assert_eq!(active(&cluster, "alice"), 0, "round {round}");
    }
}

#[tokio::test]
async fn provider_errors_free_their_slots() {
    let cluster = one_participant(1).await;
    let provider = &cluster.member("alice").provider;
    let mut events = Events::open(&cluster).await;

    // Before the first byte: the provider's error is the answer.
    provider.push_reply(Reply::server_error());
    let response = cluster
        .post("/chat/completions", &chat("llama3", "fail", false))
        .await;
    assert_eq!(response.status(), 500);
    let request = events.until("llm.request", |_| true).await;
    let (kind, error) = events.next_of(request["requestId"].as_str().unwrap()).await;
    assert_eq!(
        (kind.as_str(), &error["stage"]),
        ("llm.error", &"dispatch".into())
    );
    assert_slots_free(&cluster);

    // In the middle of a stream: the client gets what came and an error.
    provider.push_reply(Reply::text("one two three four").fail_after(2, StreamFailure::Disconnect));
    let response = cluster
        .post("/chat/completions", &chat("llama3", "break", true))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        read_chat_stream(response).await,
        ("one two".to_owned(), true)
    );
    let request = events.until("llm.request", |_| true).await;
    let (kind, error) = events.next_of(request["requestId"].as_str().unwrap()).await;
    assert_eq!(
        (kind.as_str(), &error["stage"]),
        ("llm.error", &"stream".into())
    );
    assert_slots_free(&cluster);
    next_request_succeeds(&cluster).await;
}

#[tokio::test]
async fn a_client_leaving_mid_stream_frees_its_slot_and_cancels_the_provider() {
    let cluster = one_participant(1).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("one two three").stall_after(1));
    let mut events = Events::open(&cluster).await;

    let response = cluster
        .post("/chat/completions", &chat("llama3", "leave", true))
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("data:"),
        "{first:?}"
    );
    drop(body);

    provider.wait_for_abort().await;
    let request = events.until("llm.request", |_| true).await;
    let (kind, error) = events.next_of(request["requestId"].as_str().unwrap()).await;
    assert_eq!(
        (kind.as_str(), &error["stage"]),
        ("llm.error", &"cancelled".into())
    );
    assert_slots_free(&cluster);
    next_request_succeeds(&cluster).await;
}

#[tokio::test]
async fn a_client_leaving_the_queue_gives_up_its_place() {
    let cluster = one_participant(1).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("held").stall_after(1));
    provider.set_default_reply(Reply::text("served"));
    let mut events = Events::open(&cluster).await;

    let held = cluster
        .post("/chat/completions", &chat("llama3", "hold", true))
        .await;
    assert_eq!(held.status(), 200);
    let waiting = spawn_post(&cluster, "client", chat("llama3", "gives up", false));
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 1)
        .await;

    // The client closes its connection while it waits: it leaves the queue at once, and
    // the room hears that it gave up.
    waiting.abort();
    let _ = waiting.await;
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 0)
        .await;
    let gave_up = events
        .until("llm.error", |data| data["stage"] == "cancelled")
        .await;
    assert!(gave_up.get("participantId").is_none(), "{gave_up}");
    assert_eq!(gave_up["model"], "llama3");

    drop(held);
    provider.wait_for_abort().await;
    next_request_succeeds(&cluster).await;
    assert_eq!(
        prompts(provider),
        ["hold", "again"],
        "the one that left never ran"
    );
    assert_slots_free(&cluster);
}

#[tokio::test]
async fn a_lost_tunnel_frees_every_slot_it_held() {
    let mut cluster = Cluster::start().await;
    let link = Link::start(cluster.hub.addr()).await;
    cluster
        .join(
            ParticipantSpec::new("alice", "llama3")
                .slots(2)
                .through(&link),
        )
        .await;
    let provider = &cluster.member("alice").provider;
    provider.push_replies([
        Reply::text("one two").stall_after(1),
        Reply::text("one two").stall_after(1),
    ]);
    provider.set_default_reply(Reply::text("back again"));
    let mut events = Events::open(&cluster).await;

    // Two streams, each read up to its first token.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let response = cluster
            .post("/chat/completions", &chat("llama3", "hold", true))
            .await;
        assert_eq!(response.status(), 200);
        let mut reader = EventReader::new(response);
        assert_eq!(first_token(&mut reader).await, "one");
        streams.push(reader);
    }

    link.cut();
    for mut reader in streams {
        let mut failed = false;
        while let Some(frame) = reader.next_event().await {
            failed |= frame.json().get("error").is_some();
        }
        assert!(failed, "the client is told the stream broke");
    }
    for _ in 0..2 {
        let error = events.until("llm.error", |_| true).await;
        assert_eq!(error["stage"], "stream", "{error}");
    }
    provider.wait_for_aborts(2).await;
    assert_slots_free(&cluster);

    // The runtime reconnects through the link, and serves again.
    cluster.wait_routable("alice").await;
    next_request_succeeds(&cluster).await;
    assert_slots_free(&cluster);
}
