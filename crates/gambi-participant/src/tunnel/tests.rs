//! The tunnel loop's writing and admission rules, on a recording sink instead of a socket.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use url::Url;

use super::*;
use crate::auth::AuthHeaders;

/// What the fake socket saw, in order.
#[derive(Debug, PartialEq)]
enum Written {
    Frame(String),
    Flush,
}

/// A sink that records frames and flushes instead of writing to a socket.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Written>>>);

impl Recorder {
    fn take(&self) -> Vec<Written> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl Sink<Message> for Recorder {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        let text = message.into_text().expect("text frames only").to_string();
        self.0.lock().expect("lock").push(Written::Frame(text));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.0.lock().expect("lock").push(Written::Flush);
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Poll::Ready(Ok(()))
    }
}

fn end(id: &str) -> proto::ParticipantToHub {
    proto::ParticipantToHub::ResponseEnd {
        request_id: id.into(),
    }
}

fn frame(written: &proto::ParticipantToHub) -> Written {
    Written::Frame(written.to_json())
}

/// A frame as a forward task queues it.
fn outgoing(frame: &proto::ParticipantToHub) -> Outgoing {
    Outgoing {
        request_id: Arc::from(frame.request_id().expect("a request's frame")),
        last: matches!(
            frame,
            proto::ParticipantToHub::ResponseEnd { .. }
                | proto::ParticipantToHub::ResponseError { .. }
        ),
        message: Message::text(frame.to_json()),
    }
}

#[tokio::test]
async fn queued_frames_go_out_in_one_flush_and_cancelled_ones_never() {
    let url = Url::parse("http://127.0.0.1:9").expect("url");
    let provider = Arc::new(Provider::new(&url, AuthHeaders::new()).expect("provider"));
    let membership =
        Membership::new(reqwest::Client::new(), &url, "ROOM", "me").expect("membership");
    let (events, _events_rx) = mpsc::channel(4);
    let events = EventSender::new(events);
    let shutdown = CancellationToken::new();
    let cx = ConnectionContext {
        provider: &provider,
        membership: &membership,
        session_token: None,
        max_concurrency: 4,
        timing: Timing::default(),
        extensions: proto::TunnelExtensions::default(),
        events: &events,
        shutdown: &shutdown,
    };
    let one_slot = ConnectionContext {
        max_concurrency: 1,
        ..cx
    };
    let recorder = Recorder::default();
    let (frames_tx, mut frames_rx) = mpsc::channel(FRAME_CHANNEL_CAPACITY);
    let mut tunnel = Tunnel {
        cx: &cx,
        sink: recorder.clone(),
        frames_tx: frames_tx.clone(),
        in_flight: HashMap::new(),
        lifecycle: HashSet::new(),
        task_requests: HashMap::new(),
        tasks: JoinSet::new(),
        heartbeats: JoinSet::new(),
        last_heard: Instant::now(),
    };
    for id in ["a", "b"] {
        let task = tunnel.tasks.spawn(std::future::pending());
        tunnel
            .in_flight
            .insert(id.to_owned(), InFlight { task, credit: None });
    }

    let chunk_a = proto::ParticipantToHub::chunk("a", b"1");
    let chunk_b = proto::ParticipantToHub::chunk("b", b"2");
    let stray = proto::ParticipantToHub::chunk("cancelled", b"3");
    for queued in [stray.clone(), chunk_b.clone(), end("a")] {
        frames_tx
            .send(outgoing(&queued))
            .await
            .expect("room in the channel");
    }
    tunnel
        .write_queued(outgoing(&chunk_a), &mut frames_rx)
        .await
        .expect("written");
    assert_eq!(
        recorder.take(),
        [
            frame(&chunk_a),
            frame(&chunk_b),
            frame(&end("a")),
            Written::Flush
        ]
    );
    assert!(!tunnel.in_flight.contains_key("a"), "a's last frame is out");

    // Frames of a request that already ended are dropped too.
    tunnel
        .write_queued(
            outgoing(&proto::ParticipantToHub::chunk("a", b"late")),
            &mut frames_rx,
        )
        .await
        .expect("written");
    assert_eq!(recorder.take(), [Written::Flush]);

    // A request beyond the slot count is refused at once, without a task.
    tunnel.cx = &one_slot;
    let request = proto::TunnelRequest {
        request_id: "c".into(),
        operation: "chat.completions.create".into(),
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        headers: Default::default(),
        body: None,
        stream: false,
        metadata: None,
    };
    tunnel.on_request(request).await.expect("answered");
    let written = recorder.take();
    let Some(Written::Frame(refusal)) = written.first() else {
        panic!("expected a refusal, got {written:?}");
    };
    assert_eq!(
        proto::ParticipantToHub::from_json(refusal).expect("a frame"),
        proto::ParticipantToHub::ResponseError {
            request_id: "c".into(),
            stage: STAGE_BUSY.into(),
            message: "participant is busy: 1 of 1 slots in use".into(),
        }
    );
    assert_eq!(tunnel.tasks.len(), 2);
}
