//! Create requests (`POST …/chat/completions`, `POST …/responses`): routing, failover and
//! protocol fallback.
//!
//! A request gets a lease on a participant from the room's scheduler and is tried there
//! ([`attempt`]). What the try comes to decides what happens next: a response that started
//! is answered ([`Exchange`]); a provider that lacks the client's protocol is asked again in
//! the other one, on the same lease; a participant that failed before answering is replaced
//! by another (once, when failover is on), and if none is left the client gets what the
//! failed one said.
//!
//! Each wait for a lease runs in a `queue` span and each try in a `dispatch` span, children
//! of the exchange's `request` span, so that a trace shows where a request's time went
//! before its answer started (the runtime's `forward` span continues the `dispatch` one).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use gambi_protocol as proto;
use http::StatusCode;
use proto::LlmProtocol;
use proto::event::stage;
use serde_json::Value;
use tracing::Instrument as _;

use super::answer::{Exchange, gambi_headers};
use super::attempt::{self, Failure, Outcome};
use super::error::InferenceError;
use super::log::{self, RequestLog};
use super::request::{ClientRequest, Outbound, choose_protocol};
use crate::adapter::history::expand_previous;
use crate::adapter::ids::IdGen;
use crate::hub::{Hub, InFlightGuard};
use crate::responses::Located;
use crate::room::{Room, Target};
use crate::scheduler::{ClientKey, Lease, LeaseRequest};

/// What the create flow knows about the client's request.
pub(super) struct Create {
    pub(super) hub: Hub,
    pub(super) room: Arc<Room>,
    pub(super) protocol: LlmProtocol,
    pub(super) client: ClientKey,
    pub(super) request: ClientRequest,
    /// Counts the request in flight, for shutdown; a streamed answer carries it along.
    pub(super) in_flight: Arc<InFlightGuard>,
    /// Since when the hub works on the request, and how long its body took to arrive.
    pub(super) hub_time: log::HubTime,
}

/// How a request served by one participant ended.
enum Served {
    /// The client has its answer.
    Answered(Response),
    /// The participant failed before answering; another may do better.
    Failed(Failure),
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
        let request_id = uuid::Uuid::new_v4().to_string();
        let ids = IdGen::random();
        let (body, selector) = self.resolve_previous(&ids)?;
        let unrouted = log::Unrouted {
            room: &self.room,
            request_id: &request_id,
            requested_model: &self.request.model,
            client_protocol: self.protocol,
        };
        let attempts = if self.hub.config().failover { 2 } else { 1 };
        let mut tried: Vec<String> = Vec::new();
        let mut failure: Option<Failure> = None;
        let mut hub_time = self.hub_time;
        for attempt in 1..=attempts {
            if attempt > 1 {
                hub_time = log::HubTime {
                    since: tokio::time::Instant::now(),
                    waited: std::time::Duration::ZERO,
                };
            }
            let lease_request = LeaseRequest::new(selector.clone(), self.client.clone())
                .excluding(tried.iter().cloned());
            let waiting = log::Waiting::new(unrouted);
            let acquired = self
                .room
                .scheduler()
                .acquire(lease_request)
                .instrument(tracing::info_span!("queue", attempt))
                .await;
            waiting.done();
            let lease = match (acquired, failure) {
                (Ok(lease), _) => lease,
                // A failover attempt that finds no other participant (none left, or none
                // free before the queue timeout) answers with what actually failed.
                (Err(_), Some(failure)) => return Ok(failure.into_response()),
                (Err(error), None) => {
                    let error = InferenceError::from(error);
                    unrouted.fail(stage::ROUTING, error.message(), None);
                    return Err(error);
                }
            };
            let participant_id = lease.participant_id().to_owned();
            tracing::Span::current()
                .record("participant", tracing::field::display(&participant_id));
            tracing::debug!(attempt, "participant chosen");
            tried.push(participant_id.clone());
            let Some(target) = self.room.target(&participant_id) else {
                // The tunnel closed between the lease and now.
                let error = InferenceError::upstream(
                    proto::ErrorCode::ParticipantTunnelNotConnected,
                    "Participant tunnel is not connected.",
                );
                unrouted.fail(stage::DISPATCH, error.message(), Some(&participant_id));
                let mut lease = lease;
                lease.fail_fast();
                failure = Some(Failure::Error(error));
                continue;
            };
            let exchange = Exchange {
                hub: self.hub.clone(),
                room: self.room.clone(),
                protocol: self.protocol,
                provider: self.protocol,
                original: &self.request.body,
                body: &body,
                stream: self.request.stream,
                strip_usage: false,
                request_id: &request_id,
                target: &target,
                ids: &ids,
                in_flight: self.in_flight.clone(),
            };
            let hub_time = log::HubTime {
                waited: hub_time.waited + lease.queued(),
                ..hub_time
            };
            match self.serve_on(exchange, lease, attempt, hub_time).await? {
                Served::Answered(response) => return Ok(response),
                Served::Failed(failed) => failure = Some(failed),
            }
        }
        Ok(failure.map_or_else(
            || {
                InferenceError::upstream(
                    proto::ErrorCode::ProviderError,
                    "No participant could serve the request.",
                )
                .into_response()
            },
            IntoResponse::into_response,
        ))
    }

    /// Serves the request on the participant of `exchange` (which holds `lease`): in the
    /// client's protocol, or in the other one when the provider turns out to lack it.
    async fn serve_on(
        &self,
        mut exchange: Exchange<'_>,
        mut lease: Lease,
        attempt: u32,
        hub_time: log::HubTime,
    ) -> Result<Served, InferenceError> {
        let target = exchange.target;
        let mut provider = choose_protocol(self.protocol, &target.capabilities);
        let mut log = RequestLog::start(
            self.room.clone(),
            exchange.request_id,
            &self.request.model,
            self.protocol,
            provider,
            target.into(),
            lease.queued(),
            attempt,
            hub_time,
        );
        loop {
            let outbound = match Outbound::build(
                exchange.body,
                self.protocol,
                provider,
                target,
                self.request.stream,
            ) {
                Ok(outbound) => outbound,
                Err(error) => {
                    log.fail(stage::DISPATCH, error.message());
                    return Err(error);
                }
            };
            let headers = gambi_headers(exchange.request_id, target, &lease);
            let request = tunnel_request(provider, outbound.body, self.request.stream);
            let span = dispatch_span(&target.id, attempt, provider);
            let outcome = attempt::run(self.hub.config(), target, request, headers.clone())
                .instrument(span)
                .await;
            match outcome {
                Outcome::Started(upstream) => {
                    lease.succeed();
                    exchange.provider = provider;
                    exchange.strip_usage = outbound.strip_usage;
                    return Ok(Served::Answered(
                        exchange.respond(upstream, lease, log).await,
                    ));
                }
                Outcome::RouteMissing(..)
                    if provider == self.protocol && can_fall_back(target, provider) =>
                {
                    self.room.learn_unsupported(&target.id, provider);
                    provider = provider.other();
                    log.set_provider_protocol(provider);
                }
                Outcome::Answered(answer, marks) | Outcome::RouteMissing(answer, marks) => {
                    lease.succeed();
                    log.record_dispatch(marks);
                    log.answered();
                    log.complete(answer.status, None);
                    return Ok(Served::Answered(answer.into_response(headers)));
                }
                Outcome::Retry(failure) => {
                    lease.fail_fast();
                    log.fail(stage::DISPATCH, &failure.describe());
                    return Ok(Served::Failed(failure));
                }
                Outcome::Fail(error) => {
                    log.fail(stage::DISPATCH, error.message());
                    return Err(error);
                }
            }
        }
    }

    /// The body to send and the participant to ask, once `previous_response_id` is
    /// resolved: an adapted previous response is expanded into the input, a native one
    /// pins the request to the participant that holds it.
    fn resolve_previous(
        &self,
        ids: &IdGen,
    ) -> Result<(Value, proto::ModelSelector), InferenceError> {
        let body = self.request.body.clone();
        let selector = proto::ModelSelector::parse(&self.request.model);
        if self.protocol != LlmProtocol::OpenResponses {
            return Ok((body, selector));
        }
        let Some(previous) = body.get("previous_response_id").and_then(Value::as_str) else {
            return Ok((body, selector));
        };
        let now = u64::try_from(self.hub.clock().now_ms()).unwrap_or_default();
        let located = self
            .hub
            .responses()
            .locate(&self.room.record().id, previous, now);
        match located {
            Some(Located::Adapted(entry)) => {
                let output = entry.response["output"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let body = expand_previous(&entry.input_items, &output, &body, ids);
                Ok((body, selector))
            }
            Some(Located::Native { participant_id }) => {
                Ok((body, proto::ModelSelector::IdOrModel(participant_id)))
            }
            None => Err(InferenceError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                proto::ErrorCode::ResponseNotFound,
                format!("Previous response with id '{previous}' not found."),
            )
            .param("previous_response_id")),
        }
    }
}

/// The span of one try, from sending the request down the tunnel to its response head (or
/// its failure): the hub's side of the tunnel round trip and of the provider's wait.
fn dispatch_span(participant: &str, attempt: u32, provider: LlmProtocol) -> tracing::Span {
    let span = tracing::info_span!(
        "dispatch",
        participant = %participant,
        attempt,
        protocol = provider.as_str(),
        otel.kind = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    span.record("otel.kind", "client");
    span
}

/// Whether `target` may speak the protocol other than `provider`.
fn can_fall_back(target: &Target, provider: LlmProtocol) -> bool {
    target.capabilities.get(provider.other()) != proto::Capability::Unsupported
}

/// The `tunnel.request` of a create request in `provider`'s protocol.
fn tunnel_request(provider: LlmProtocol, body: Value, stream: bool) -> proto::TunnelRequest {
    proto::TunnelRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        operation: provider.operation().to_owned(),
        method: "POST".into(),
        path: provider.path().to_owned(),
        headers: BTreeMap::from([("Content-Type".to_owned(), "application/json".to_owned())]),
        body: Some(body),
        stream,
        metadata: None,
    }
}
