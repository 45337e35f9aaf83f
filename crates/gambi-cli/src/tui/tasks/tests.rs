use gambi_test_support::TestHub;
use gambi_test_support::cluster::Link;

use super::*;

/// The next update of the watcher, skipping periodic participant lists.
async fn next(updates: &mut mpsc::Receiver<Msg>) -> StreamUpdate {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("the watcher reports in time")
            .expect("the watcher runs");
        match msg {
            Msg::Stream {
                update: StreamUpdate::Participants(_),
                ..
            } => {}
            Msg::Stream { update, .. } => return update,
            other => panic!("{other:?}"),
        }
    }
}

fn is_connected(update: &StreamUpdate) -> bool {
    matches!(update, StreamUpdate::Event(event) if matches!(event.payload, RoomEventPayload::Connected(_)))
}

#[tokio::test]
async fn a_watcher_reconnects_after_losing_its_stream_and_stops_on_a_refusal() {
    let hub = TestHub::start().await;
    let client = Client::new(&hub.url()).expect("a client");
    let request = proto::CreateRoomRequest {
        name: "Lab".into(),
        password: Some("pw".into()),
        defaults: None,
    };
    let code = client
        .rooms()
        .create(&request)
        .await
        .expect("created")
        .data
        .room
        .code;
    let link = Link::start(hub.addr()).await;
    let through_link = Client::new(&link.url()).expect("a client").with_token("pw");
    let (tx, mut updates) = mpsc::channel(64);
    let token = CancellationToken::new();
    let task = tokio::spawn(watch(through_link, code.clone(), tx, token.clone()));

    assert!(matches!(
        next(&mut updates).await,
        StreamUpdate::Connecting { attempt: 0 }
    ));
    assert!(is_connected(&next(&mut updates).await));
    assert!(matches!(next(&mut updates).await, StreamUpdate::Room(room) if room.code == code));

    link.cut();
    assert!(matches!(
        next(&mut updates).await,
        StreamUpdate::Retrying { .. }
    ));
    assert!(matches!(
        next(&mut updates).await,
        StreamUpdate::Connecting { attempt: 1 }
    ));
    assert!(
        is_connected(&next(&mut updates).await),
        "back through the link"
    );
    token.cancel();
    task.await.expect("the watcher stops when cancelled");

    // A wrong password and an unknown room end the watcher: retrying cannot help.
    let (tx, mut updates) = mpsc::channel(64);
    let wrong = Client::new(&hub.url())
        .expect("a client")
        .with_token("nope");
    watch(wrong, code, tx.clone(), CancellationToken::new()).await;
    assert!(matches!(
        next(&mut updates).await,
        StreamUpdate::Connecting { .. }
    ));
    assert!(matches!(
        next(&mut updates).await,
        StreamUpdate::Unauthorized
    ));
    watch(client, "NOROOM".into(), tx, CancellationToken::new()).await;
    assert!(matches!(
        next(&mut updates).await,
        StreamUpdate::Connecting { .. }
    ));
    assert!(matches!(next(&mut updates).await, StreamUpdate::Failed(_)));
}

#[test]
fn local_urls() {
    assert_eq!(local_url("0.0.0.0", 3000), "http://localhost:3000");
    assert_eq!(local_url("::", 3000), "http://localhost:3000");
    assert_eq!(local_url("127.0.0.1", 4000), "http://127.0.0.1:4000");
    assert_eq!(local_url("::1", 4000), "http://[::1]:4000");
}
