//! `gambi events watch`: print a room's events as they happen.
//!
//! Text: one line per event for people: the time, the event, the participant and the
//! model, then what matters for that event (for `llm.complete`: TTFT, duration, tokens
//! and tokens per second, then where the time went when the hub says: queue, hub, tunnel,
//! the provider's time to first byte and token, the client's reading; for `llm.error`: the
//! stage and the error). Structured: each
//! event as the hub sent it, one JSON object per line.
//!
//! When the stream drops after it was open (the hub restarts, a proxy closes an idle
//! connection: the original hub cuts quiet streams after 10 s), the command says so on
//! stderr and reconnects with capped, jittered backoff; the hub's `connected` event marks
//! each new subscription. It ends with exit 0 on SIGINT/SIGTERM. A subscription the hub
//! refuses (unknown room, wrong password) ends it as any hub failure does, and so does
//! a first connection that fails. `--no-reconnect` keeps the original's behaviour: exit 0
//! when the hub closes the stream.

use std::time::Duration;

use futures::StreamExt;
use gambi_client::{ClientError, ErrorKind};
use gambi_participant::{Backoff, BackoffPolicy};
use gambi_protocol as proto;
use proto::RoomEventPayload as Payload;
use rand::Rng as _;
use tokio::time::Instant;

use super::{Context, discover};
use crate::cli::WatchArgs;
use crate::error::CliError;
use crate::latency::breakdown;
use crate::output::iso_time;
use crate::signal::Signals;

/// Reconnection: quick at first, never slower than every 15 s; a stream that stayed up
/// for 30 s starts over.
const RECONNECT: BackoffPolicy = BackoffPolicy {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(15),
    stable_after: Duration::from_secs(30),
};

/// Runs `gambi events watch`.
pub(crate) async fn watch(args: WatchArgs, ctx: &Context) -> anyhow::Result<()> {
    let discovered;
    let (ctx, room) = match (&args.room, &args.room_name) {
        (Some(room), _) => (ctx, room.clone()),
        (None, Some(name)) => {
            let target = discover::resolve_room_name(ctx, name).await?;
            discovered = ctx.with_hub(&target.hub.hub_url);
            (&discovered, target.room.room.code)
        }
        (None, None) => {
            return Err(CliError::usage("Room code is required.", "Pass --room <CODE>.").into());
        }
    };
    let client = ctx.client(args.password.as_deref())?;
    let mut signals = Signals::new()?;
    let mut backoff = Backoff::new(RECONNECT);
    let mut subscribed = false;
    loop {
        let opened = Instant::now();
        let mut events = client.events().watch_room(&room);
        let lost = loop {
            let next = tokio::select! {
                next = events.next() => next,
                _ = signals.recv() => return Ok(()),
            };
            match next {
                Some(Ok(event)) => {
                    subscribed |= matches!(event.payload, Payload::Connected(_));
                    print_event(ctx, &event)?;
                }
                Some(Err(error)) => break Some(error),
                None => break None,
            }
        };
        let reason = match lost {
            None if args.no_reconnect => return Ok(()),
            None => "the hub closed it".to_owned(),
            Some(error) if args.no_reconnect || !subscribed || is_refusal(&error) => {
                return Err(error.into());
            }
            Some(error) => match error.cause() {
                Some(cause) => format!("{} ({cause})", error.message),
                None => error.message,
            },
        };
        backoff.connection_ended(opened.elapsed());
        let delay = backoff.next_delay(rand::rng().random());
        ctx.out.notice(&format!(
            "Event stream lost: {reason}. Reconnecting in {:.1} s (attempt {}).",
            delay.as_secs_f64(),
            backoff.attempt()
        ))?;
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = signals.recv() => return Ok(()),
        }
    }
}

/// A refusal that reconnecting cannot fix: unknown room, wrong password, bad request.
fn is_refusal(error: &ClientError) -> bool {
    matches!(
        error.kind,
        ErrorKind::RoomNotFound | ErrorKind::InvalidPassword | ErrorKind::InvalidRequest
    ) || matches!(error.status, 401 | 403 | 404)
}

fn print_event(ctx: &Context, event: &proto::RoomEvent) -> anyhow::Result<()> {
    if ctx.out.is_text() {
        ctx.out.line(&describe(event))?;
    } else {
        ctx.out.value(event)?;
    }
    Ok(())
}

/// Width of the event column, for the longest common event (`participant.offline`).
const KIND_WIDTH: usize = 19;

/// One line for people: `<time>  <event>  <participant>  <model>  <details>`.
fn describe(event: &proto::RoomEvent) -> String {
    let (participant, model, details) = columns(&event.payload);
    let mut line = format!(
        "{}  {:<KIND_WIDTH$}  {:<14}  {:<20}",
        iso_time(event.timestamp),
        event.payload.kind(),
        participant,
        model
    );
    if !details.is_empty() {
        line.push_str("  ");
        line.push_str(&details);
    }
    line.trim_end().to_owned()
}

/// Participant, model and details of an event.
fn columns(payload: &Payload) -> (String, String, String) {
    match payload {
        Payload::Connected(_) => (String::new(), String::new(), "watching".to_owned()),
        Payload::RoomCreated(room) => (
            String::new(),
            String::new(),
            format!("{} \"{}\"", room.code, room.name),
        ),
        Payload::ParticipantJoined(participant) | Payload::ParticipantUpdated(participant) => (
            participant.id.clone(),
            participant.model.clone(),
            format!(
                "\"{}\" {}",
                participant.nickname,
                participant.status.as_str()
            ),
        ),
        Payload::ParticipantLeft(who) | Payload::ParticipantOffline(who) => {
            (who.participant_id.clone(), String::new(), String::new())
        }
        Payload::LlmRequest(request) => {
            let mut details = vec![protocol_word(request.protocol).to_owned()];
            if request.adapted {
                details.push("adapted".to_owned());
            }
            if let Some(queue) = request.queue_ms.filter(|queue| *queue > 0) {
                details.push(format!("queued {queue} ms"));
            }
            details.push(format!("request {}", short_id(&request.request_id)));
            (
                request.participant_id.clone(),
                request.model.clone(),
                details.join(" · "),
            )
        }
        Payload::LlmComplete(complete) => (
            complete.participant_id.clone(),
            complete.model.clone(),
            metrics(&complete.metrics),
        ),
        Payload::LlmError(error) => (
            error.participant_id.clone().unwrap_or_default(),
            error.model.clone(),
            format!("{}: {}", error.stage, error.error),
        ),
        Payload::Lagged(lagged) => (
            String::new(),
            String::new(),
            format!(
                "missed {} events (this watcher fell behind)",
                lagged.skipped
            ),
        ),
        Payload::Unknown { data, .. } => (String::new(), String::new(), data.to_string()),
    }
}

/// `TTFT 182 ms · 728 ms · 120 tokens · 52.0 tok/s`: what is known of it.
fn metrics(metrics: &proto::LlmMetrics) -> String {
    let mut parts = Vec::new();
    if let Some(ttft) = metrics.ttft_ms {
        parts.push(format!("TTFT {ttft} ms"));
    }
    parts.push(format!("{} ms", metrics.duration_ms));
    let tokens = metrics.output_tokens.or(metrics.total_tokens);
    if let Some(tokens) = tokens {
        parts.push(format!("{tokens} tokens"));
    }
    if let Some(rate) = metrics.tokens_per_second {
        parts.push(format!("{rate:.1} tok/s"));
    }
    if let Some(breakdown) = breakdown(metrics) {
        parts.push(breakdown);
    }
    parts.join(" · ")
}

fn protocol_word(protocol: proto::LlmProtocol) -> &'static str {
    match protocol {
        proto::LlmProtocol::ChatCompletions => "chat",
        _ => "responses",
    }
}

/// The first 8 characters of a request id: enough to match it in the hub's log.
fn short_id(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(at, _)| &id[..at])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, data: serde_json::Value) -> proto::RoomEvent {
        serde_json::from_value(json!({
            "type": kind, "timestamp": 1_700_000_000_123_i64, "roomCode": "ABC123", "data": data
        }))
        .expect("a room event")
    }

    fn check(kind: &str, data: serde_json::Value, expected: &str) {
        assert_eq!(describe(&event(kind, data)), expected, "{kind}");
    }

    #[test]
    fn one_line_per_event() {
        let t = "2023-11-14T22:13:20.123Z";
        check(
            "connected",
            json!({"clientId": "c1"}),
            &format!(
                "{t}  connected{}watching",
                " ".repeat(10 + 2 + 14 + 2 + 20 + 2)
            ),
        );
        check(
            "llm.complete",
            json!({"requestId": "r1", "participantId": "alice", "model": "llama3:latest",
                   "protocol": "chatCompletions",
                   "metrics": {"ttftMs": 182, "durationMs": 728, "outputTokens": 120,
                               "totalTokens": 150, "tokensPerSecond": 164.835}}),
            &format!(
                "{t}  llm.complete         alice           llama3:latest         \
                 TTFT 182 ms · 728 ms · 120 tokens · 164.8 tok/s"
            ),
        );
        check(
            "llm.request",
            json!({"requestId": "0123456789abcdef", "participantId": "alice", "model": "*",
                   "protocol": "openResponses", "adapted": true, "queueMs": 40}),
            &format!(
                "{t}  llm.request          alice           *                     \
                 responses · adapted · queued 40 ms · request 01234567"
            ),
        );
        check(
            "llm.error",
            json!({"requestId": "r", "participantId": "bob", "model": "qwen3",
                   "protocol": "chatCompletions", "stage": "stream",
                   "error": "provider answered 500"}),
            &format!(
                "{t}  llm.error            bob             qwen3                 \
                 stream: provider answered 500"
            ),
        );
        check(
            "llm.complete",
            json!({"requestId": "r1", "participantId": "alice", "model": "llama3:latest",
                   "protocol": "chatCompletions",
                   "metrics": {"ttftMs": 182.4, "durationMs": 728, "outputTokens": 120,
                               "tokensPerSecond": 164.835, "queueMs": 3, "hubMs": 0.21,
                               "tunnelMs": 1.05, "providerTtfbMs": 40, "providerTtftMs": 180.2,
                               "clientReadMs": 0}}),
            &format!(
                "{t}  llm.complete         alice           llama3:latest         \
                 TTFT 182.4 ms · 728 ms · 120 tokens · 164.8 tok/s · \
                 ms: queue 3, hub 0.2, tunnel 1.1, provider TTFB 40 TTFT 180, client 0"
            ),
        );
        check(
            "llm.complete",
            json!({"requestId": "r1", "participantId": "bob", "model": "m",
                   "protocol": "chatCompletions",
                   "metrics": {"durationMs": 12, "queueMs": 0, "hubMs": 0.5,
                               "clientReadMs": 12.6}}),
            &format!(
                "{t}  llm.complete         bob             m                     \
                 12 ms · ms: hub 0.5, client 13"
            ),
        );
        check(
            "participant.left",
            json!({"participantId": "carol"}),
            &format!("{t}  participant.left     carol"),
        );
        check(
            "llm.complete",
            json!({"requestId": "r", "participantId": "a", "model": "m",
                   "protocol": "chatCompletions", "metrics": {"durationMs": 5}}),
            &format!("{t}  llm.complete         a               m                     5 ms"),
        );
    }
}
