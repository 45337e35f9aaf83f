//! The answer to a create request once its response has started: streamed through a
//! [`Relay`], or read whole and converted when the participant speaks the other protocol.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gambi_protocol as proto;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use proto::LlmProtocol;
use proto::event::stage;
use serde_json::Value;

use super::attempt::ProviderAnswer;
use super::error::InferenceError;
use super::log::RequestLog;
use super::relay::{Conversion, Relay, Remember};
use super::tap::StreamTap;
use super::upstream::Upstream;
use crate::adapter::history::normalize_input;
use crate::adapter::ids::IdGen;
use crate::adapter::usage::usage_from_bytes;
use crate::adapter::{
    ChatContext, ChatToResponsesStream, ResponseContext, ResponsesToChatStream,
    chat_completion_to_response, response_to_chat_completion,
};
use crate::hub::{Hub, InFlightGuard};
use crate::responses::AdaptedResponse;
use crate::room::{Room, Target};
use crate::scheduler::Lease;

/// The parts of a request needed once its response has started.
pub(super) struct Exchange<'a> {
    pub(super) hub: Hub,
    pub(super) room: Arc<Room>,
    pub(super) protocol: LlmProtocol,
    pub(super) provider: LlmProtocol,
    pub(super) original: &'a Value,
    pub(super) body: &'a Value,
    pub(super) stream: bool,
    pub(super) strip_usage: bool,
    pub(super) request_id: &'a str,
    pub(super) target: &'a Target,
    pub(super) ids: &'a IdGen,
    /// Counts the request in flight until its answer is over.
    pub(super) in_flight: Arc<InFlightGuard>,
}

impl Exchange<'_> {
    fn created_at(&self) -> u64 {
        u64::try_from(self.hub.clock().now_ms() / 1000).unwrap_or_default()
    }

    fn wants_storage(&self) -> bool {
        self.original.get("store").and_then(Value::as_bool) != Some(false)
    }

    /// Answers the client from a started response: streamed through a relay, or read whole
    /// and converted if needed.
    pub(super) async fn respond(
        self,
        mut upstream: Upstream,
        lease: Lease,
        mut log: RequestLog,
    ) -> Response {
        let status = upstream.status;
        let success = (200..300).contains(&status);
        log.dispatched(&upstream);
        if self.stream && success {
            return self.stream(upstream, lease, log);
        }
        let limit = self.hub.config().max_response_body;
        let bytes = match upstream.collect(limit).await {
            Ok(bytes) => bytes,
            Err(error) => {
                let message = error.to_string();
                log.fail(stage::STREAM, &message);
                return InferenceError::upstream(proto::ErrorCode::ProviderError, message)
                    .into_response();
            }
        };
        log.answered();
        if success && bytes.is_empty() {
            let message = "The participant's answer was empty.";
            log.fail(stage::STREAM, message);
            return InferenceError::upstream(proto::ErrorCode::ProviderError, message)
                .into_response();
        }
        let usage = usage_from_bytes(&bytes);
        if !success || self.protocol == self.provider {
            if success && self.protocol == LlmProtocol::OpenResponses {
                self.remember_native(&bytes);
            }
            log.complete(status, usage);
            let answer = ProviderAnswer {
                status,
                content_type: upstream.content_type().map(str::to_owned),
                body: bytes,
            };
            return answer.into_response(gambi_headers(self.request_id, self.target, &lease));
        }
        let Ok(answer) = serde_json::from_slice::<Value>(&bytes) else {
            let message = "The provider's answer is not JSON.";
            log.fail(stage::STREAM, message);
            return InferenceError::upstream(proto::ErrorCode::ProviderError, message)
                .into_response();
        };
        let converted = match self.protocol {
            LlmProtocol::OpenResponses => {
                let context = ResponseContext::with_ids(
                    self.original.clone(),
                    &self.target.model,
                    self.created_at(),
                    IdGen::random(),
                );
                chat_completion_to_response(&answer, &context).inspect(|response| {
                    self.remember_adapted(&context.id, response);
                })
            }
            LlmProtocol::ChatCompletions => {
                let context = ChatContext::with_ids(
                    self.original,
                    &self.target.model,
                    self.created_at(),
                    IdGen::random(),
                );
                response_to_chat_completion(&answer, &context)
            }
        };
        match converted {
            Ok(converted) => {
                log.complete(status, usage);
                let answer = ProviderAnswer {
                    status,
                    content_type: None,
                    body: Bytes::from(serde_json::to_vec(&converted).unwrap_or_default()),
                };
                answer.into_response(gambi_headers(self.request_id, self.target, &lease))
            }
            Err(error) => {
                log.fail(stage::STREAM, &error.to_string());
                InferenceError::from(error).into_response()
            }
        }
    }

    fn stream(self, upstream: Upstream, lease: Lease, log: RequestLog) -> Response {
        let room_id = self.room.record().id.clone();
        let participant_id = self.target.id.clone();
        let (conversion, remember) = match (self.protocol, self.provider) {
            (LlmProtocol::OpenResponses, LlmProtocol::ChatCompletions) => {
                let context = ResponseContext::with_ids(
                    self.original.clone(),
                    &self.target.model,
                    self.created_at(),
                    IdGen::random(),
                );
                let remember = if self.wants_storage() {
                    Remember::Adapted {
                        room_id,
                        participant_id,
                        input_items: normalize_input(self.body, self.ids),
                    }
                } else {
                    Remember::Nothing
                };
                (
                    Conversion::ToResponses(Box::new(ChatToResponsesStream::new(context))),
                    remember,
                )
            }
            (LlmProtocol::ChatCompletions, LlmProtocol::OpenResponses) => {
                let context = ChatContext::with_ids(
                    self.original,
                    &self.target.model,
                    self.created_at(),
                    IdGen::random(),
                );
                (
                    Conversion::ToChat(Box::new(ResponsesToChatStream::new(context))),
                    Remember::Nothing,
                )
            }
            (protocol, _) => {
                let remember = match protocol {
                    LlmProtocol::OpenResponses => Remember::NativeOwner {
                        room_id,
                        participant_id,
                    },
                    LlmProtocol::ChatCompletions => Remember::Nothing,
                };
                (
                    Conversion::Native {
                        tap: Box::new(StreamTap::new(protocol, self.strip_usage)),
                        protocol,
                    },
                    remember,
                )
            }
        };
        let mut headers = gambi_headers(self.request_id, self.target, &lease);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        let status = StatusCode::from_u16(upstream.status).unwrap_or(StatusCode::OK);
        let relay = Relay::new(
            self.hub,
            upstream,
            lease,
            log,
            conversion,
            remember,
            self.in_flight,
        );
        (status, headers, relay.into_body()).into_response()
    }

    fn remember_native(&self, bytes: &[u8]) {
        let id = serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|value| value.get("id").and_then(Value::as_str).map(str::to_owned));
        if let Some(id) = id {
            self.hub
                .responses()
                .insert_native(&id, &self.room.record().id, &self.target.id);
        }
    }

    fn remember_adapted(&self, id: &str, response: &Value) {
        if !self.wants_storage() {
            return;
        }
        let now = u64::try_from(self.hub.clock().now_ms()).unwrap_or_default();
        let entry = AdaptedResponse {
            room_id: self.room.record().id.clone(),
            participant_id: self.target.id.clone(),
            response: response.clone(),
            input_items: normalize_input(self.body, self.ids),
            created_at_ms: now,
        };
        self.hub.responses().insert_adapted(id, entry, now);
    }
}

/// Headers telling the client who served it and how long it waited.
pub(super) fn gambi_headers(request_id: &str, target: &Target, lease: &Lease) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-gambi-request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&target.id) {
        headers.insert("x-gambi-participant", value);
    }
    if let Ok(value) = HeaderValue::from_str(&millis(lease.queued()).to_string()) {
        headers.insert("x-gambi-queue-ms", value);
    }
    headers
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
