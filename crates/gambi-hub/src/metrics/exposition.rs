//! `GET /metrics`: the hub's metrics as OpenMetrics text, on the main listener or on one of
//! its own ([`serve_metrics`]), behind an optional bearer token.

use std::fmt;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use indexmap::IndexMap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;

use super::histogram::{Histogram, HistogramValues};
use super::{Outcome, PROTOCOLS, RoomMetrics, Series, protocol_index};
use crate::hub::Hub;
use crate::password::constant_time_eq;
use crate::web::bearer;

/// The `content-type` of the exposition (OpenMetrics 1.0, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `/metrics` route.
pub(crate) fn routes() -> Router<Hub> {
    Router::new().route("/metrics", get(metrics))
}

/// Serves `/metrics` alone on `listener` until the hub's shutdown begins: for a hub whose
/// metrics are kept off its main listener ([`crate::MetricsConfig::on_main_listener`]).
pub async fn serve_metrics(listener: TcpListener, hub: Hub) -> std::io::Result<()> {
    let shutdown = hub.shutdown_token().clone();
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    axum::serve(listener, routes().with_state(hub))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(hub): State<Hub>, headers: HeaderMap) -> Response {
    let config = hub.config();
    let expected = config
        .metrics
        .token
        .as_deref()
        .or(config.admin_token.as_deref());
    if let Some(expected) = expected {
        let presented = bearer(&headers).unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
                "This hub's metrics need its metrics token (or, without one, its admin \
                 token): send 'Authorization: Bearer <token>'.\n",
            )
                .into_response();
        }
    }
    match render(&hub) {
        Ok(text) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(fmt::Error) => {
            tracing::warn!("could not encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The exposition of `hub`'s metrics as of now.
pub(crate) fn render(hub: &Hub) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix("gambi");
    registry.register_collector(Box::new(Scrape { hub: hub.clone() }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// Reads the hub at scrape time.
#[derive(Debug)]
struct Scrape {
    hub: Hub,
}

/// What a room label's gauges add up to at scrape time.
#[derive(Debug, Default)]
struct RoomGauges {
    queued: usize,
    slots_in_use: u64,
    slots: u64,
    online: usize,
    busy: usize,
    offline: usize,
    subscribers: usize,
}

impl Scrape {
    /// The gauges of every room label that has rooms, summed over its rooms.
    fn room_gauges(&self) -> IndexMap<String, RoomGauges> {
        let mut gauges: IndexMap<String, RoomGauges> = IndexMap::new();
        for room in self.hub.list_rooms() {
            let entry = gauges.entry(room.metrics().label().to_owned()).or_default();
            let scheduler = room.scheduler().snapshot();
            entry.queued += scheduler.queued;
            for participant in &scheduler.participants {
                entry.slots_in_use += u64::from(participant.active);
                if participant.available {
                    entry.slots += u64::from(participant.max_concurrency);
                }
            }
            for participant in room.participants() {
                match participant.summary.status {
                    gambi_protocol::ParticipantStatus::Online => entry.online += 1,
                    gambi_protocol::ParticipantStatus::Busy => entry.busy += 1,
                    gambi_protocol::ParticipantStatus::Offline => entry.offline += 1,
                }
            }
            entry.subscribers += room.subscriber_count();
        }
        gauges
    }
}

/// Writes one metric family's descriptor, then its samples.
fn family<'a>(
    encoder: &'a mut DescriptorEncoder<'_>,
    name: &'a str,
    help: &str,
    unit: Option<&'a Unit>,
    kind: MetricType,
) -> Result<prometheus_client::encoding::MetricEncoder<'a>, fmt::Error> {
    encoder.encode_descriptor(name, help, unit, kind)
}

fn series_labels<'a>(room: &'a RoomMetrics, series: &'a Series) -> [(&'static str, &'a str); 3] {
    [
        ("room", room.label()),
        ("participant", &series.participant),
        ("model", &series.model),
    ]
}

fn completed(series: &Series) -> u64 {
    series
        .requests
        .iter()
        .map(|by_outcome| by_outcome[Outcome::Complete.index()].load(Ordering::Relaxed))
        .sum()
}

fn attempts(series: &Series) -> u64 {
    series
        .requests
        .iter()
        .flatten()
        .map(|count| count.load(Ordering::Relaxed))
        .sum()
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let seconds = Unit::Seconds;
        let rooms = self.hub.metrics().all_rooms();
        let series: Vec<(&RoomMetrics, Vec<std::sync::Arc<Series>>)> = rooms
            .iter()
            .map(|room| (room.as_ref(), room.all_series()))
            .collect();
        let used = || {
            series.iter().flat_map(|(room, all)| {
                all.iter()
                    .filter(|series| attempts(series) > 0)
                    .map(move |series| (*room, series.as_ref()))
            })
        };

        let mut requests = family(
            &mut encoder,
            "requests",
            "Inference request attempts (one per llm.complete or llm.error event), by the \
             client's protocol and how they ended.",
            None,
            MetricType::Counter,
        )?;
        for (room, series) in used() {
            for protocol in PROTOCOLS {
                for outcome in Outcome::ALL {
                    let count = series.requests[protocol_index(protocol)][outcome.index()]
                        .load(Ordering::Relaxed);
                    if count == 0 {
                        continue;
                    }
                    let [room, participant, model] = series_labels(room, series);
                    let labels = [
                        room,
                        participant,
                        model,
                        ("protocol", protocol.as_str()),
                        ("outcome", outcome.label()),
                    ];
                    requests
                        .encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
                }
            }
        }

        for (name, help, tokens) in [
            (
                "input_tokens",
                "Prompt tokens of completed requests, as their providers reported them.",
                (|series: &Series| series.input_tokens.load(Ordering::Relaxed))
                    as fn(&Series) -> u64,
            ),
            (
                "output_tokens",
                "Generated tokens of completed requests, as their providers reported them.",
                |series: &Series| series.output_tokens.load(Ordering::Relaxed),
            ),
        ] {
            let mut counter = family(&mut encoder, name, help, None, MetricType::Counter)?;
            for (room, series) in used().filter(|(_, series)| completed(series) > 0) {
                counter
                    .encode_family(&series_labels(room, series))?
                    .encode_counter::<NoLabelSet, _, u64>(&tokens(series), None)?;
            }
        }

        for (name, help, histogram) in [
            (
                "ttft",
                "Time to first token of completed requests (ttftMs): from the hub choosing \
                 a participant to the first content (a non-streamed answer: the answer).",
                (|series: &Series| &series.ttft) as fn(&Series) -> &Histogram,
            ),
            (
                "request_duration",
                "Duration of completed requests (durationMs): from the hub choosing a \
                 participant to the end of the response.",
                |series: &Series| &series.duration,
            ),
        ] {
            let mut metric = family(
                &mut encoder,
                name,
                help,
                Some(&seconds),
                MetricType::Histogram,
            )?;
            for (room, series) in used() {
                let values = histogram(series).values();
                if values.count == 0 {
                    continue;
                }
                encode_histogram(metric.encode_family(&series_labels(room, series))?, &values)?;
            }
        }

        let mut queue_wait = family(
            &mut encoder,
            "queue_wait",
            "Time requests waited for a free slot (0 for those that found one at once).",
            Some(&seconds),
            MetricType::Histogram,
        )?;
        for room in &rooms {
            let values = room.queue_wait.values();
            if values.count > 0 {
                encode_histogram(
                    queue_wait.encode_family(&[("room", room.label())])?,
                    &values,
                )?;
            }
        }

        let mut reconnects = family(
            &mut encoder,
            "tunnel_reconnects",
            "Tunnels a participant opened after an earlier one of the same registration.",
            None,
            MetricType::Counter,
        )?;
        let gauges = self.room_gauges();
        for room in &rooms {
            let count = room.tunnel_reconnects.load(Ordering::Relaxed);
            if count > 0 || gauges.contains_key(room.label()) {
                reconnects
                    .encode_family(&[("room", room.label())])?
                    .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }

        type Gauge = fn(&RoomGauges) -> u64;
        let room_gauges: [(&str, &str, Gauge); 4] = [
            (
                "queue_depth",
                "Requests waiting for a free slot now.",
                |g| g.queued as u64,
            ),
            ("slots_in_use", "Slots serving a request now.", |g| {
                g.slots_in_use
            }),
            (
                "slots",
                "Slots of the participants that take requests now (tunnel up, heartbeats \
                 fresh).",
                |g| g.slots,
            ),
            (
                "event_subscribers",
                "Subscribers of the room's event stream now.",
                |g| g.subscribers as u64,
            ),
        ];
        for (name, help, value) in room_gauges {
            let mut gauge = family(&mut encoder, name, help, None, MetricType::Gauge)?;
            for (label, room) in &gauges {
                gauge
                    .encode_family(&[("room", label.as_str())])?
                    .encode_gauge(&value(room))?;
            }
        }

        let mut participants = family(
            &mut encoder,
            "participants",
            "Participants by state: online (a free slot), busy (every slot taken), offline.",
            None,
            MetricType::Gauge,
        )?;
        for (label, room) in &gauges {
            for (state, count) in [
                ("online", room.online),
                ("busy", room.busy),
                ("offline", room.offline),
            ] {
                participants
                    .encode_family(&[("room", label.as_str()), ("state", state)])?
                    .encode_gauge(&(count as u64))?;
            }
        }

        let hub = &self.hub;
        family(
            &mut encoder,
            "rooms",
            "Rooms the hub keeps.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&(hub.list_rooms().len() as u64))?;
        family(
            &mut encoder,
            "hub_event_subscribers",
            "Subscribers of the hub-wide event stream now.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&(hub.hub_subscriber_count() as u64))?;
        family(
            &mut encoder,
            "requests_in_flight",
            "Inference requests the hub is serving now.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&(hub.requests_in_flight() as u64))?;
        family(
            &mut encoder,
            "buffered_bytes",
            "Response body bytes held for clients that have not read them yet.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&(hub.buffered_bytes().held() as u64))?;
        family(
            &mut encoder,
            "malformed_frames",
            "Tunnel frames the hub could not parse (and ignored).",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&hub.malformed_frames(), None)?;
        Ok(())
    }
}

fn encode_histogram(
    mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    values: &HistogramValues,
) -> Result<(), fmt::Error> {
    encoder.encode_histogram::<NoLabelSet>(values.sum, values.count, &values.buckets, None)
}
