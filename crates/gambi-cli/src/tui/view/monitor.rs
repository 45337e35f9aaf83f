//! The monitor: one tab per watched room, with the room's totals, a card per participant
//! (status, model, tunnel, slots, specs, a tokens-per-second sparkline) and the live
//! request log, newest first, failures in red.

use gambi_protocol::{Millis, ParticipantStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize as _};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table, Tabs};

use super::format::{ago, clock, count, fit, gib, millis};
use super::{accent, dim};
use crate::latency;
use crate::tui::state::{
    App, Card, Entry, JoinRun, LogEntry, Outcome, Presence, RequestRow, RoomMonitor, StreamState,
};

/// Height of a participant card, borders included.
const CARD_HEIGHT: u16 = 6;

/// Narrowest participant card.
const CARD_WIDTH: u16 = 30;

/// Fewest log lines kept visible below the cards.
const MIN_LOG_HEIGHT: u16 = 6;

/// From this width on, the log shows every column.
const WIDE: u16 = 110;
/// From this width on, the request log also says where each request's time went (the
/// latency breakdown of its `llm.complete`), after its metrics.
const DETAILED: u16 = 150;

pub(super) fn monitor(frame: &mut Frame<'_>, area: Rect, app: &App, now: Millis) {
    let Some(room) = app.current_tab() else {
        frame.render_widget(
            Paragraph::new("No room is watched: a adds one.")
                .block(Block::bordered().title(" Monitor ").title_style(accent())),
            area,
        );
        return;
    };
    let [tabs_area, summary_area, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(area);
    tabs(frame, tabs_area, app);
    frame.render_widget(summary(room, now), summary_area);

    let per_row = (rest.width / CARD_WIDTH).max(1);
    let card_rows = u16::try_from(room.cards.len())
        .unwrap_or(u16::MAX)
        .div_ceil(per_row);
    let room_for_cards = rest.height.saturating_sub(MIN_LOG_HEIGHT) / CARD_HEIGHT;
    let shown_rows = card_rows.min(room_for_cards);
    let [cards_area, log_area] = Layout::vertical([
        Constraint::Length(shown_rows * CARD_HEIGHT),
        Constraint::Fill(1),
    ])
    .areas(rest);
    let own = own_participant(app, &room.code);
    let card_width = rest.width / per_row;
    for (index, card) in room
        .cards
        .iter()
        .take(usize::from(shown_rows * per_row))
        .enumerate()
    {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        let slot = Rect {
            x: cards_area.x + (index % per_row) * card_width,
            y: cards_area.y + (index / per_row) * CARD_HEIGHT,
            width: card_width,
            height: CARD_HEIGHT,
        };
        draw_card(
            frame,
            slot,
            card,
            own == Some(card.summary.id.as_str()),
            now,
        );
    }
    let hidden = room
        .cards
        .len()
        .saturating_sub(usize::from(shown_rows * per_row));
    log(frame, log_area, room, hidden);
}

/// The participant id this window runs in room `code`, if any.
fn own_participant<'a>(app: &'a App, code: &str) -> Option<&'a str> {
    match &app.join.run {
        JoinRun::Running {
            room,
            participant_id,
            ..
        } if room == code => Some(participant_id),
        _ => None,
    }
}

fn tabs(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let titles = app.tabs.iter().map(|tab| {
        let (glyph, color) = stream_glyph(&tab.stream);
        let name = tab.room.as_ref().map_or("", |room| room.name.as_str());
        Line::from(vec![
            Span::styled(glyph, Style::new().fg(color)),
            Span::raw(format!(" {} {}", tab.code, fit(name, 20))),
        ])
    });
    frame.render_widget(
        Tabs::new(titles)
            .select(app.tab)
            .highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan))
            .divider("│"),
        area,
    );
}

fn stream_glyph(stream: &StreamState) -> (&'static str, Color) {
    match stream {
        StreamState::Live => ("●", Color::Green),
        StreamState::Connecting { .. } => ("◌", Color::DarkGray),
        StreamState::Retrying { .. } => ("◌", Color::Yellow),
        StreamState::NeedsPassword | StreamState::Failed { .. } => ("○", Color::Red),
    }
}

fn summary(room: &RoomMonitor, now: Millis) -> Line<'static> {
    let (glyph, color) = stream_glyph(&room.stream);
    let state = match &room.stream {
        StreamState::Live => "live".to_owned(),
        StreamState::Connecting { attempt: 0 } => "connecting".to_owned(),
        StreamState::Connecting { attempt } => format!("reconnecting (attempt {attempt})"),
        StreamState::Retrying { error, retry_at } => {
            let seconds = ((retry_at - now).max(0) + 999) / 1000;
            format!("lost ({}); retrying in {seconds} s", fit(error, 40))
        }
        StreamState::NeedsPassword => "password needed: press p".to_owned(),
        StreamState::Failed { error } => fit(error, 60),
    };
    let totals = &room.totals;
    let mut spans = vec![
        Span::styled(format!(" {glyph} "), Style::new().fg(color)),
        Span::styled(state, Style::new().fg(color)),
    ];
    if room
        .room
        .as_ref()
        .is_some_and(|room| room.password_protected)
    {
        spans.push(Span::styled(" · protected", dim()));
    }
    let errors = Style::new().fg(if totals.errors > 0 {
        Color::Red
    } else {
        Color::Reset
    });
    spans.extend([
        Span::raw(format!(" · {} participants", room.cards.len())),
        Span::raw(" · requests "),
        Span::raw(count(totals.requests)).bold(),
        Span::raw(" · errors "),
        Span::styled(count(totals.errors), errors.bold()),
        Span::raw(" · tokens "),
        Span::raw(count(totals.tokens)).bold(),
        Span::raw(" · p50 TTFT "),
        Span::raw(
            totals
                .p50_ttft()
                .map_or_else(|| "–".to_owned(), |ms| millis(ms as f64)),
        )
        .bold(),
    ]);
    if totals.cancelled > 0 {
        spans.push(Span::raw(format!(
            " · cancelled {}",
            count(totals.cancelled)
        )));
    }
    Line::from(spans)
}

fn draw_card(frame: &mut Frame<'_>, area: Rect, card: &Card, own: bool, now: Millis) {
    let summary = &card.summary;
    let (glyph, color) = match card.status() {
        ParticipantStatus::Online => ("●", Color::Green),
        ParticipantStatus::Busy => ("◐", Color::Yellow),
        ParticipantStatus::Offline => ("○", Color::DarkGray),
    };
    let mut title = vec![
        Span::styled(format!("{glyph} "), Style::new().fg(color)),
        Span::raw(summary.nickname.clone()).bold(),
    ];
    if own {
        title.push(Span::styled(" (you)", accent()));
    }
    let block = Block::bordered()
        .title(Line::from(title))
        .border_style(Style::new().fg(color));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);

    let slots = format!("{}/{}", card.in_use(), summary.max_concurrency);
    let model = fit(&summary.model, width.saturating_sub(slots.len() + 1));
    let gap = width.saturating_sub(model.chars().count() + slots.len());
    let tunnel = if summary.connection.connected {
        Span::styled("tunnel up", Style::new().fg(Color::Green))
    } else {
        Span::styled("tunnel down", Style::new().fg(Color::Red))
    };
    let lines = vec![
        Line::from(vec![
            Span::raw(model),
            Span::raw(" ".repeat(gap)),
            Span::styled(slots, Style::new().fg(color)),
        ]),
        Line::from(vec![
            tunnel,
            Span::styled(format!(" · seen {}", ago(now, card.last_heard())), dim()),
        ]),
        Line::styled(fit(&specs(card), width), dim()),
    ];
    let [text_area, speed_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Length(1)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), text_area);

    let Some(last) = card.last_speed() else {
        frame.render_widget(Line::styled("no requests yet", dim()), speed_area);
        return;
    };
    let label = format!(" {last} tok/s");
    let label_width = u16::try_from(label.len()).unwrap_or(u16::MAX);
    let [spark_area, label_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(label_width)])
            .areas(speed_area);
    let samples: Vec<u64> = card
        .speeds
        .iter()
        .rev()
        .take(usize::from(spark_area.width))
        .rev()
        .copied()
        .collect();
    frame.render_widget(
        Sparkline::default()
            .data(&samples)
            .style(Style::new().fg(Color::Cyan)),
        spark_area,
    );
    frame.render_widget(Line::from(label), label_area);
}

/// The specs a participant shares, in one line.
fn specs(card: &Card) -> String {
    let specs = &card.summary.specs;
    let mut parts = Vec::new();
    match (&specs.gpu, specs.vram) {
        (Some(gpu), Some(vram)) => parts.push(format!("{gpu} {}", gib(vram))),
        (Some(gpu), None) => parts.push(gpu.clone()),
        (None, Some(vram)) => parts.push(format!("GPU {}", gib(vram))),
        (None, None) => {}
    }
    if let Some(ram) = specs.ram {
        parts.push(format!("{} RAM", gib(ram)));
    }
    if parts.is_empty() {
        if let Some(cpu) = &specs.cpu {
            parts.push(cpu.clone());
        }
    }
    let config = &card.summary.config;
    if config.has_instructions || config.temperature.is_some() || config.max_tokens.is_some() {
        parts.push("own defaults".to_owned());
    }
    if parts.is_empty() {
        "specs not shared".to_owned()
    } else {
        parts.join(" · ")
    }
}

fn log(frame: &mut Frame<'_>, area: Rect, room: &RoomMonitor, hidden_cards: usize) {
    let mut title = vec![Span::styled(" Requests and events ", accent())];
    title.push(Span::styled(format!("(last {}) ", room.log.len()), dim()));
    if hidden_cards > 0 {
        title.push(Span::styled(
            format!("· {hidden_cards} more participants: enlarge the window "),
            dim(),
        ));
    }
    let block = Block::bordered().title(Line::from(title));
    let wide = area.width >= WIDE;
    let detailed = area.width >= DETAILED;
    let visible = usize::from(area.height.saturating_sub(3));
    let rows = room
        .log
        .iter()
        .rev()
        .take(visible)
        .map(|entry| log_row(room, entry, wide, detailed));
    let mut header = vec!["Time", "Status"];
    let mut widths = vec![Constraint::Length(8), Constraint::Length(9)];
    if wide {
        header.push("Request");
        widths.push(Constraint::Length(8));
    }
    let name_width = if wide { 14 } else { 12 };
    header.extend(["Participant", "Model"]);
    widths.extend([
        Constraint::Length(name_width),
        Constraint::Length(name_width),
    ]);
    if wide {
        header.extend(["Adapted", "Queue"]);
        widths.extend([Constraint::Length(7), Constraint::Length(7)]);
    }
    let mut rest = metrics_columns("TTFT", "Duration", "Tokens", "Tok/s");
    if detailed {
        rest.push_str("  Where the time went (ms)");
    }
    let mut header: Vec<Cell<'_>> = header.into_iter().map(Cell::from).collect();
    header.push(Cell::from(rest));
    widths.push(Constraint::Fill(1));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().bold()))
        .block(block);
    frame.render_widget(table, area);
}

/// The last column of the log: a request's metrics, aligned under their headings.
fn metrics_columns(ttft: &str, duration: &str, tokens: &str, speed: &str) -> String {
    format!("{ttft:>7} {duration:>8} {tokens:>6} {speed:>6}")
}

fn log_row<'a>(room: &'a RoomMonitor, entry: &'a LogEntry, wide: bool, detailed: bool) -> Row<'a> {
    let time = clock(entry.at);
    let (status, style, request, participant, row, rest) = match &entry.entry {
        Entry::Request(row) => {
            let (status, style, rest) = request_outcome(row, detailed);
            let participant = row
                .participant_id
                .as_deref()
                .map_or_else(|| "–".to_owned(), |id| room.name_of(id).to_owned());
            (
                status,
                style,
                fit(&row.request_id, 8),
                participant,
                Some(row),
                rest,
            )
        }
        Entry::Participant { id, what } => {
            let (status, color) = match what {
                Presence::Joined => ("joined", Color::Green),
                Presence::Back => ("back", Color::Green),
                Presence::Left => ("left", Color::Yellow),
                Presence::Offline => ("offline", Color::Yellow),
            };
            let name = room.name_of(id).to_owned();
            (
                status,
                Style::new().fg(color),
                String::new(),
                name,
                None,
                String::new(),
            )
        }
        Entry::Notice(text) => (
            "notice",
            Style::new().fg(Color::Yellow),
            String::new(),
            String::new(),
            None,
            text.clone(),
        ),
    };
    let mut cells = vec![Cell::from(time), Cell::from(status)];
    if wide {
        cells.push(Cell::from(request));
    }
    let name_width = if wide { 14 } else { 12 };
    cells.push(Cell::from(fit(&participant, name_width)));
    cells.push(Cell::from(fit(
        row.map_or("", |row| row.model.as_str()),
        name_width,
    )));
    if wide {
        cells.push(Cell::from(if row.is_some_and(|row| row.adapted) {
            "yes"
        } else {
            ""
        }));
        cells.push(Cell::from(
            row.and_then(|row| row.queue_ms)
                .map(|ms| millis(ms as f64))
                .unwrap_or_default(),
        ));
    }
    cells.push(Cell::from(rest));
    Row::new(cells).style(style)
}

/// A request's status word, style, and last column: metrics (`detailed`: and where its
/// time went), or what failed.
fn request_outcome(row: &RequestRow, detailed: bool) -> (&'static str, Style, String) {
    match &row.outcome {
        Outcome::Running if row.attempt > 1 => {
            ("running", Style::new(), format!("retry {}", row.attempt))
        }
        Outcome::Running => ("running", Style::new(), String::new()),
        Outcome::Done(metrics) => {
            let tokens = metrics.total_tokens.or_else(|| {
                match (metrics.input_tokens, metrics.output_tokens) {
                    (None, None) => None,
                    (input, output) => Some(input.unwrap_or(0) + output.unwrap_or(0)),
                }
            });
            let mut rest = metrics_columns(
                &metrics.ttft_ms.map(millis).unwrap_or_default(),
                &millis(metrics.duration_ms),
                &tokens.map(count).unwrap_or_default(),
                &metrics
                    .tokens_per_second
                    .map(|speed| format!("{speed:.1}"))
                    .unwrap_or_default(),
            );
            if row.attempt > 1 {
                rest.push_str(&format!("  retry {}", row.attempt));
            }
            if let Some(breakdown) = detailed
                .then(|| latency::breakdown_after_queue(metrics))
                .flatten()
            {
                rest.push_str("  ");
                rest.push_str(&breakdown);
            }
            ("done", Style::new(), rest)
        }
        Outcome::Failed { stage, error, .. } => {
            let status = if stage == gambi_protocol::event::stage::CANCELLED {
                "cancelled"
            } else {
                "error"
            };
            (
                status,
                Style::new().fg(Color::Red),
                format!("{stage}: {error}"),
            )
        }
    }
}
