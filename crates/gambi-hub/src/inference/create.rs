//! Create requests (`POST …/chat/completions`, `POST …/responses`): routing, dispatch,
//! failover, protocol fallback, and the answer to the client.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gambi_protocol as proto;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use proto::LlmProtocol;
use proto::event::stage;
use serde_json::Value;

use super::error::InferenceError;
use super::filter::UsageChunkFilter;
use super::log::{self, RequestLog};
use super::registry::Located;
use super::relay::{Conversion, Relay, Remember};
use super::request::{
    ClientRequest, apply_defaults, choose_protocol, request_stream_usage, route_missing,
};
use super::upstream::{DispatchError, Upstream, dispatch};
use super::{Target, learn_unsupported, target};
use crate::adapter::history::{expand_previous, normalize_input};
use crate::adapter::ids::IdGen;
use crate::adapter::store::AdaptedResponse;
use crate::adapter::usage::{NativeStreamScanner, usage_from_bytes};
use crate::adapter::{
    ChatContext, ChatToResponsesStream, ResponseContext, ResponsesToChatStream,
    chat_completion_to_response, chat_to_responses, response_to_chat_completion, responses_to_chat,
};
use crate::hub::Hub;
use crate::room::Room;
use crate::scheduler::{ClientKey, Lease, LeaseRequest};

/// The request body as it goes to the provider.
struct Outbound {
    body: Value,
    /// The hub asked for stream usage on the client's behalf and must hide it.
    strip_usage: bool,
}

/// Translates (if needed), applies defaults and names the participant's model.
fn outbound(
    body: &Value,
    client: LlmProtocol,
    provider: LlmProtocol,
    target: &Target,
    stream: bool,
) -> Result<Outbound, InferenceError> {
    let mut body = match (client, provider) {
        (LlmProtocol::OpenResponses, LlmProtocol::ChatCompletions) => responses_to_chat(body)?,
        (LlmProtocol::ChatCompletions, LlmProtocol::OpenResponses) => chat_to_responses(body)?,
        _ => body.clone(),
    };
    apply_defaults(&mut body, provider, &target.defaults);
    if let Some(fields) = body.as_object_mut() {
        fields.insert("model".into(), Value::String(target.model.clone()));
    }
    let injected =
        provider == LlmProtocol::ChatCompletions && stream && request_stream_usage(&mut body);
    Ok(Outbound {
        body,
        strip_usage: injected && client == provider,
    })
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What the create flow knows about the client's request.
pub(super) struct Create {
    pub hub: Hub,
    pub room: Arc<Room>,
    pub protocol: LlmProtocol,
    pub client: ClientKey,
    pub request: ClientRequest,
}

impl Create {
    /// Serves the request; every failure becomes an OpenAI-shaped error response.
    pub(super) async fn run(self) -> Response {
        match self.serve().await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn serve(self) -> Result<Response, InferenceError> {
        let Create {
            hub,
            room,
            protocol,
            client,
            request,
        } = self;
        let request_id = uuid::Uuid::new_v4().to_string();
        let ids = IdGen::random();
        let mut body = request.body.clone();
        let mut selector = proto::ModelSelector::parse(&request.model);

        if protocol == LlmProtocol::OpenResponses
            && let Some(previous) = body.get("previous_response_id").and_then(Value::as_str)
        {
            let now = u64::try_from(hub.clock().now_ms()).unwrap_or_default();
            let located = hub.responses().locate(&room.record().id, previous, now);
            match located {
                Some(Located::Adapted(entry)) => {
                    let output = entry.response["output"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    body = expand_previous(&entry.input_items, &output, &body, &ids);
                }
                Some(Located::Native { participant_id }) => {
                    selector = proto::ModelSelector::IdOrModel(participant_id);
                }
                None => {
                    return Err(InferenceError::new(
                        StatusCode::NOT_FOUND,
                        "invalid_request_error",
                        proto::ErrorCode::ResponseNotFound,
                        format!("Previous response with id '{previous}' not found."),
                    )
                    .param("previous_response_id"));
                }
            }
        }

        let unrouted = log::Unrouted {
            room: &room,
            request_id: &request_id,
            requested_model: &request.model,
            client_protocol: protocol,
        };
        let config = hub.config().clone();
        let attempts = if config.failover { 2 } else { 1 };
        let mut tried: Vec<String> = Vec::new();
        let mut last_failure: Option<Response> = None;
        'attempts: for attempt in 1..=attempts {
            let lease_request = LeaseRequest::new(selector.clone(), client.clone())
                .excluding(tried.iter().cloned());
            let waiting = log::Waiting::new(unrouted);
            let acquired = room.scheduler().acquire(lease_request).await;
            waiting.done();
            let mut lease = match acquired {
                Ok(lease) => lease,
                // A failover attempt that finds no other participant (none left, or none
                // free before the queue timeout) answers with what actually failed.
                Err(_) if last_failure.is_some() => {
                    return Ok(
                        last_failure.unwrap_or_else(|| StatusCode::BAD_GATEWAY.into_response())
                    );
                }
                Err(error) => {
                    let error = InferenceError::from(error);
                    unrouted.fail(stage::ROUTING, error.message(), None);
                    return Err(error);
                }
            };
            let participant_id = lease.participant_id().to_owned();
            let Some(target) = target(&room, &participant_id) else {
                // The tunnel closed between the lease and now.
                let error = InferenceError::upstream(
                    proto::ErrorCode::ParticipantTunnelNotConnected,
                    "Participant tunnel is not connected.",
                );
                unrouted.fail(stage::DISPATCH, error.message(), Some(&participant_id));
                lease.fail_fast();
                tried.push(participant_id);
                last_failure = Some(error.into_response());
                continue;
            };
            let mut provider = choose_protocol(protocol, &target.capabilities);
            let mut log = RequestLog::start(
                room.clone(),
                &request_id,
                &request.model,
                protocol,
                provider,
                target.served(),
                millis(lease.queued()),
                attempt,
            );
            loop {
                let outbound = match outbound(&body, protocol, provider, &target, request.stream) {
                    Ok(outbound) => outbound,
                    Err(error) => {
                        log.fail(stage::DISPATCH, error.message());
                        return Err(error);
                    }
                };
                let tunnel_request = proto::TunnelRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    operation: provider.operation().to_owned(),
                    method: "POST".into(),
                    path: provider.path().to_owned(),
                    headers: BTreeMap::from([(
                        "Content-Type".to_owned(),
                        "application/json".to_owned(),
                    )]),
                    body: Some(outbound.body),
                    stream: request.stream,
                    metadata: None,
                };
                let mut upstream = match dispatch(
                    &target.tunnel,
                    tunnel_request,
                    config.response_buffer,
                    config.response_start_timeout,
                    config.response_idle_timeout,
                )
                .await
                {
                    Ok(upstream) => upstream,
                    Err(DispatchError::Failed(message)) => {
                        lease.fail_fast();
                        log.fail(stage::DISPATCH, &message);
                        tried.push(participant_id);
                        last_failure = Some(
                            InferenceError::upstream(
                                proto::ErrorCode::ProviderError,
                                format!(
                                    "Participant '{}' failed before answering: {message}",
                                    target.id
                                ),
                            )
                            .into_response(),
                        );
                        continue 'attempts;
                    }
                    Err(DispatchError::Timeout(after)) => {
                        let error = InferenceError::timeout(format!(
                            "Participant '{}' did not start answering within {} s.",
                            target.id,
                            after.as_secs()
                        ));
                        log.fail(stage::DISPATCH, error.message());
                        return Err(error);
                    }
                };
                let status = upstream.status;
                if provider == protocol && matches!(status, 404 | 405 | 501) {
                    let bytes = upstream
                        .collect(config.max_response_body)
                        .await
                        .unwrap_or_default();
                    let other = provider.other();
                    if route_missing(status, &bytes)
                        && target.capabilities.get(other) != proto::Capability::Unsupported
                    {
                        learn_unsupported(&room, &target.id, provider);
                        provider = other;
                        log.set_provider_protocol(other);
                        continue;
                    }
                    lease.succeed();
                    log.complete(status, None);
                    return Ok(plain(
                        status,
                        upstream.content_type(),
                        bytes,
                        &request_id,
                        &target,
                        &lease,
                    ));
                }
                if status >= 500 && attempt < attempts {
                    let bytes = upstream
                        .collect(config.max_response_body)
                        .await
                        .unwrap_or_default();
                    lease.fail_fast();
                    log.fail(
                        stage::DISPATCH,
                        &format!("The provider answered {status} before any content."),
                    );
                    last_failure = Some(plain(
                        status,
                        upstream.content_type(),
                        bytes,
                        &request_id,
                        &target,
                        &lease,
                    ));
                    tried.push(participant_id);
                    continue 'attempts;
                }
                lease.succeed();
                let exchange = Exchange {
                    hub: hub.clone(),
                    room: room.clone(),
                    protocol,
                    provider,
                    original: &request.body,
                    body: &body,
                    stream: request.stream,
                    strip_usage: outbound.strip_usage,
                    request_id: &request_id,
                    target: &target,
                    ids,
                };
                return Ok(exchange.respond(upstream, lease, log).await);
            }
        }
        Ok(last_failure.unwrap_or_else(|| {
            InferenceError::upstream(
                proto::ErrorCode::ProviderError,
                "No participant could serve the request.",
            )
            .into_response()
        }))
    }
}

/// The parts of a request needed once its response has started.
struct Exchange<'a> {
    hub: Hub,
    room: Arc<Room>,
    protocol: LlmProtocol,
    provider: LlmProtocol,
    original: &'a Value,
    body: &'a Value,
    stream: bool,
    strip_usage: bool,
    request_id: &'a str,
    target: &'a Target,
    ids: IdGen,
}

impl Exchange<'_> {
    fn created_at(&self) -> u64 {
        u64::try_from(self.hub.clock().now_ms() / 1000).unwrap_or_default()
    }

    fn wants_storage(&self) -> bool {
        self.original.get("store").and_then(Value::as_bool) != Some(false)
    }

    async fn respond(self, mut upstream: Upstream, lease: Lease, mut log: RequestLog) -> Response {
        let status = upstream.status;
        let success = (200..300).contains(&status);
        if self.stream && success {
            return self.stream(upstream, lease, log);
        }
        let limit = self.hub.config().max_response_body;
        let bytes = match upstream.collect(limit).await {
            Ok(bytes) => bytes,
            Err(message) => {
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
            return plain(
                status,
                upstream.content_type(),
                bytes,
                self.request_id,
                self.target,
                &lease,
            );
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
                let bytes = Bytes::from(serde_json::to_vec(&converted).unwrap_or_default());
                plain(
                    status,
                    Some("application/json"),
                    bytes,
                    self.request_id,
                    self.target,
                    &lease,
                )
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
                        input_items: normalize_input(self.body, &self.ids),
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
                        scanner: Box::new(NativeStreamScanner::new(protocol)),
                        filter: self.strip_usage.then(UsageChunkFilter::default),
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
        let relay = Relay {
            hub: self.hub,
            upstream,
            lease,
            log,
            conversion,
            remember,
        };
        (status, headers, relay.spawn()).into_response()
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
            input_items: normalize_input(self.body, &self.ids),
            created_at_ms: now,
        };
        self.hub.responses().insert_adapted(id, entry, now);
    }
}

/// Headers telling the client who served it and how long it waited.
fn gambi_headers(request_id: &str, target: &Target, lease: &Lease) -> HeaderMap {
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

/// A complete (non-streamed) response with the provider's status and body.
fn plain(
    status: u16,
    content_type: Option<&str>,
    body: Bytes,
    request_id: &str,
    target: &Target,
    lease: &Lease,
) -> Response {
    let mut headers = gambi_headers(request_id, target, lease);
    let content_type = content_type
        .and_then(|value| HeaderValue::from_str(value).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/json"));
    headers.insert(header::CONTENT_TYPE, content_type);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, headers, Body::from(body)).into_response()
}
