//! Builders of participants and room events for tests, shared with the state's and the
//! views' tests.

use gambi_protocol as proto;
use proto::event::{LlmCompleteEvent, LlmErrorEvent, LlmRequestEvent, stage};
use proto::{
    LlmMetrics, LlmProtocol, Millis, ParticipantConnection, ParticipantStatus, ParticipantSummary,
    RoomEvent, RoomEventPayload,
};

pub(crate) const T0: Millis = 1_767_225_600_000; // 2026-01-01T00:00:00Z
pub(crate) const HUB: &str = "http://localhost:3000";

pub(crate) fn summary(id: &str, slots: u32) -> ParticipantSummary {
    ParticipantSummary {
        id: id.into(),
        nickname: format!("{id}-laptop"),
        model: "llama3:latest".into(),
        endpoint: "http://localhost:11434".into(),
        config: Default::default(),
        specs: Default::default(),
        capabilities: Default::default(),
        connection: ParticipantConnection {
            kind: "tunnel".into(),
            connected: true,
            last_tunnel_seen_at: Some(T0),
        },
        status: ParticipantStatus::Online,
        joined_at: T0,
        last_seen: T0,
        updated_at: T0,
        max_concurrency: slots,
        active_requests: 0,
    }
}

pub(crate) fn event(at: Millis, payload: RoomEventPayload) -> RoomEvent {
    RoomEvent {
        timestamp: at,
        room_code: "ROOM01".into(),
        payload,
    }
}

pub(crate) fn request(id: &str, who: &str) -> RoomEventPayload {
    RoomEventPayload::LlmRequest(LlmRequestEvent {
        request_id: id.into(),
        participant_id: who.into(),
        model: "*".into(),
        protocol: LlmProtocol::OpenResponses,
        adapted: false,
        queue_ms: Some(3),
        attempt: None,
    })
}

pub(crate) fn complete(
    id: &str,
    who: &str,
    ttft: u64,
    tokens: u64,
    speed: f64,
) -> RoomEventPayload {
    RoomEventPayload::LlmComplete(LlmCompleteEvent {
        request_id: id.into(),
        participant_id: who.into(),
        model: "llama3:latest".into(),
        protocol: LlmProtocol::OpenResponses,
        client_protocol: Some(LlmProtocol::OpenResponses),
        adapted: false,
        status: Some(200),
        metrics: LlmMetrics {
            ttft_ms: Some(ttft as f64),
            duration_ms: (ttft * 4) as f64,
            input_tokens: Some(tokens / 2),
            output_tokens: Some(tokens - tokens / 2),
            total_tokens: Some(tokens),
            tokens_per_second: Some(speed),
            queue_ms: Some(3.0),
            hub_ms: Some(0.4),
            tunnel_ms: Some(1.2),
            provider_ttfb_ms: Some(12.0),
            provider_ttft_ms: Some(ttft as f64 - 2.0),
            client_read_ms: Some(0.8),
        },
    })
}

pub(crate) fn failure(id: &str, who: Option<&str>, stage: &str) -> RoomEventPayload {
    RoomEventPayload::LlmError(LlmErrorEvent {
        request_id: id.into(),
        participant_id: who.map(str::to_owned),
        nickname: None,
        endpoint: None,
        model: "*".into(),
        protocol: LlmProtocol::OpenResponses,
        client_protocol: None,
        adapted: false,
        stage: stage.into(),
        error: if stage == stage::CANCELLED {
            "The client disconnected.".into()
        } else {
            "provider answered 500".into()
        },
        metrics: None,
        attempt: None,
    })
}
