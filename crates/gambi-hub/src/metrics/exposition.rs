//! The exposition of the hub's metrics as OpenMetrics text, written by `prometheus-client`:
//! the counters and histograms kept here, and the gauges the caller read from the hub at
//! scrape time ([`Gauges`]). The `/metrics` route that serves it is `crate::scrape`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use indexmap::IndexMap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::histogram::{Histogram, HistogramValues};
use super::{HubMetrics, Outcome, PROTOCOLS, RoomMetrics, Series, protocol_index};

/// The `content-type` of the exposition (OpenMetrics 1.0, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the hub's state adds up to at scrape time: the gauges of the exposition.
#[derive(Debug)]
pub(crate) struct Gauges {
    /// Each room label that has rooms, its gauges summed over its rooms.
    pub(crate) rooms: IndexMap<String, RoomGauges>,
    /// Rooms the hub keeps.
    pub(crate) room_count: u64,
    /// Subscribers of the hub-wide event stream.
    pub(crate) hub_subscribers: u64,
    /// Inference requests the hub is serving.
    pub(crate) requests_in_flight: u64,
    /// Response body bytes held for clients that have not read them yet.
    pub(crate) buffered_bytes: u64,
    /// Tunnel frames the hub could not parse.
    pub(crate) malformed_frames: u64,
}

/// What a room label's gauges add up to at scrape time.
#[derive(Debug, Default)]
pub(crate) struct RoomGauges {
    pub(crate) queued: usize,
    pub(crate) slots_in_use: u64,
    pub(crate) slots: u64,
    pub(crate) online: usize,
    pub(crate) busy: usize,
    pub(crate) offline: usize,
    pub(crate) subscribers: usize,
}

/// The exposition of `metrics`, with the `gauges` read from the hub for it.
pub(crate) fn render(metrics: &HubMetrics, gauges: Gauges) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix("gambi");
    registry.register_collector(Box::new(Scrape {
        rooms: metrics.all_rooms(),
        gauges,
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// One scrape: every room label's metrics and the gauges read for it.
#[derive(Debug)]
struct Scrape {
    rooms: Vec<Arc<RoomMetrics>>,
    gauges: Gauges,
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
        let rooms = &self.rooms;
        let series: Vec<(&RoomMetrics, Vec<Arc<Series>>)> = rooms
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
        for room in rooms {
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
        let gauges = &self.gauges.rooms;
        for room in rooms {
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
            for (label, room) in gauges {
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
        for (label, room) in gauges {
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

        let hub = &self.gauges;
        family(
            &mut encoder,
            "rooms",
            "Rooms the hub keeps.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&hub.room_count)?;
        family(
            &mut encoder,
            "hub_event_subscribers",
            "Subscribers of the hub-wide event stream now.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&hub.hub_subscribers)?;
        family(
            &mut encoder,
            "requests_in_flight",
            "Inference requests the hub is serving now.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&hub.requests_in_flight)?;
        family(
            &mut encoder,
            "buffered_bytes",
            "Response body bytes held for clients that have not read them yet.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&hub.buffered_bytes)?;
        family(
            &mut encoder,
            "malformed_frames",
            "Tunnel frames the hub could not parse (and ignored).",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&hub.malformed_frames, None)?;
        Ok(())
    }
}

fn encode_histogram(
    mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    values: &HistogramValues,
) -> Result<(), fmt::Error> {
    encoder.encode_histogram::<NoLabelSet>(values.sum, values.count, &values.buckets, None)
}
