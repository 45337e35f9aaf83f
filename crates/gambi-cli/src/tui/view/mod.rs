//! Drawing: turns an [`App`] into a frame. Pure: the same state and time draw the same
//! cells, which is what the snapshot tests check on ratatui's `TestBackend`.
//!
//! Every screen has a header (hub, its health, what runs in this window), a body, and a
//! footer listing the keys that work there. A terminal below [`MIN_WIDTH`] ×
//! [`MIN_HEIGHT`] gets a message instead of a squeezed layout.

mod format;
mod monitor;
mod screens;

use gambi_protocol::Millis;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize as _};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::state::{App, FieldKind, Form, Health, HubRun, JoinRun, Level, Modal, Screen};

/// Narrowest terminal the interface draws in.
pub(crate) const MIN_WIDTH: u16 = 70;

/// Shortest terminal the interface draws in.
pub(crate) const MIN_HEIGHT: u16 = 20;

/// Draws the whole interface at time `now`.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App, now: Millis) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let notice = u16::from(app.notice.is_some());
    let [header, body, notice_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(notice),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, app);
    match app.screen {
        Screen::Menu => screens::menu(frame, body, app),
        Screen::Serve => screens::serve(frame, body, app),
        Screen::Create => screens::create(frame, body, app),
        Screen::Join => screens::join(frame, body, app),
        Screen::Rooms => screens::rooms(frame, body, app),
        Screen::Monitor => monitor::monitor(frame, body, app, now),
    }
    if let Some((level, text)) = &app.notice {
        let style = match level {
            Level::Info => Style::new().fg(Color::Green),
            Level::Error => Style::new().fg(Color::Red),
        };
        frame.render_widget(Line::styled(format!(" {text}"), style), notice_area);
    }
    draw_footer(frame, footer, &keys(app));
    if let Some(modal) = &app.modal {
        draw_modal(frame, area, modal);
    }
}

/// What the screen says while the hub and the participant stop at exit.
pub(crate) fn draw_closing(frame: &mut Frame<'_>) {
    let area = frame.area();
    frame.render_widget(Clear, area);
    let text = "Stopping: leaving the room and shutting the hub down…";
    let [line] = Layout::vertical([Constraint::Length(1)])
        .flex(Flex::Center)
        .areas(area);
    frame.render_widget(Line::from(text).centered(), line);
}

fn too_small(frame: &mut Frame<'_>, area: Rect) {
    let text = vec![
        Line::from("Terminal too small").bold(),
        Line::from(format!(
            "{}×{}: Gambi needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
            area.width, area.height
        )),
        Line::from("Enlarge the window, or press Ctrl+C to quit."),
    ];
    let height = u16::try_from(text.len()).unwrap_or(u16::MAX);
    let [middle] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    frame.render_widget(
        Paragraph::new(text).centered().wrap(Wrap { trim: true }),
        middle,
    );
}

/// A status dot: green when up, red when down, grey when unknown.
fn dot(up: Option<bool>) -> Span<'static> {
    match up {
        Some(true) => Span::styled("●", Style::new().fg(Color::Green)),
        Some(false) => Span::styled("○", Style::new().fg(Color::Red)),
        None => Span::styled("◌", Style::new().fg(Color::DarkGray)),
    }
}

/// The hub's health as a dot and a word or two.
fn health(health: &Health) -> Vec<Span<'static>> {
    match health {
        Health::Unknown => vec![dot(None), Span::raw(" checking")],
        Health::Up { version } => {
            let mut spans = vec![dot(Some(true)), Span::raw(" up")];
            if let Some(version) = version {
                spans.push(Span::styled(format!(" v{version}"), dim()));
            }
            spans
        }
        Health::Down { .. } => vec![
            dot(Some(false)),
            Span::styled(" unreachable", Style::new().fg(Color::Red)),
        ],
    }
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut spans = vec![
        Span::styled(
            " Gambi ",
            Style::new().fg(Color::Black).bg(Color::Cyan).bold(),
        ),
        Span::raw(" hub "),
        Span::raw(app.hub_url.clone()).bold(),
        Span::raw(" "),
    ];
    spans.extend(health(&app.health));
    match &app.serve.run {
        HubRun::Running { .. } => spans.push(Span::styled(" · serving here", accent())),
        HubRun::Starting => spans.push(Span::styled(" · hub starting", dim())),
        HubRun::Stopping => spans.push(Span::styled(" · hub stopping", dim())),
        HubRun::Stopped | HubRun::Failed(_) => {}
    }
    match &app.join.run {
        JoinRun::Running {
            room,
            nickname,
            tunnel,
            ..
        } => {
            spans.push(Span::styled(
                format!(" · in {room} as {nickname} "),
                accent(),
            ));
            spans.push(dot(Some(*tunnel)));
        }
        JoinRun::Starting { room } => {
            spans.push(Span::styled(format!(" · joining {room}"), dim()));
        }
        JoinRun::Leaving => spans.push(Span::styled(" · leaving", dim())),
        JoinRun::Idle => {}
    }
    frame.render_widget(Line::from(spans), area);
}

/// The keys that work now: key, what it does.
fn keys(app: &App) -> Vec<(&'static str, &'static str)> {
    match &app.modal {
        Some(Modal::Quit) => return vec![("y", "quit and stop them"), ("n", "stay")],
        Some(Modal::Password { .. } | Modal::AddRoom { .. }) => {
            return vec![("Enter", "watch"), ("Esc", "cancel")];
        }
        None => {}
    }
    let form = [
        ("Tab/↑↓", "field"),
        ("Enter", "submit"),
        ("Esc", "back"),
        ("Ctrl+C", "quit"),
    ];
    match app.screen {
        Screen::Menu => vec![
            ("↑↓", "select"),
            ("Enter", "open"),
            ("h c j l m", "shortcuts"),
            ("q", "quit"),
        ],
        Screen::Serve if app.serve.editable() => vec![
            ("Tab/↑↓", "field"),
            ("Space", "toggle"),
            ("Enter", "start hub"),
            ("Esc", "back"),
            ("Ctrl+C", "quit"),
        ],
        Screen::Serve => vec![("s", "stop hub"), ("Esc", "back"), ("q", "quit")],
        Screen::Create if app.create.room.is_some() => vec![
            ("m", "monitor it"),
            ("j", "join it"),
            ("n", "another room"),
            ("Esc", "back"),
            ("q", "quit"),
        ],
        Screen::Create => form.to_vec(),
        Screen::Join if app.join.is_idle() => vec![
            ("Tab/↑↓", "field"),
            ("←→", "pick"),
            ("Space", "toggle"),
            ("Enter", "join"),
            ("Esc", "back"),
            ("Ctrl+C", "quit"),
        ],
        Screen::Join => vec![
            ("l", "leave the room"),
            ("m", "monitor it"),
            ("Esc", "back"),
            ("q", "quit"),
        ],
        Screen::Rooms => vec![
            ("↑↓", "select"),
            ("Enter/m", "monitor"),
            ("j", "join"),
            ("r", "refresh"),
            ("c", "create"),
            ("Esc", "back"),
            ("q", "quit"),
        ],
        Screen::Monitor => vec![
            ("Tab/←→", "room"),
            ("a", "add"),
            ("x", "close"),
            ("r", "reconnect"),
            ("p", "password"),
            ("j", "join"),
            ("Esc", "menu"),
            ("q", "quit"),
        ],
    }
}

fn draw_footer(frame: &mut Frame<'_>, area: Rect, keys: &[(&str, &str)]) {
    let mut spans = Vec::with_capacity(keys.len() * 3);
    for (key, what) in keys {
        spans.push(Span::styled(
            format!(" {key}"),
            Style::new().fg(Color::Cyan).bold(),
        ));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Line::from(spans).style(Style::new().bg(Color::Black)), area);
}

fn draw_modal(frame: &mut Frame<'_>, area: Rect, modal: &Modal) {
    let (title, lines): (&str, Vec<Line<'_>>) = match modal {
        Modal::Quit => (
            " Quit? ",
            vec![
                Line::from("A hub or a participant runs in this window."),
                Line::from("Quitting stops the hub and leaves the room."),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y", accent()),
                    Span::raw(" quit   "),
                    Span::styled("n", accent()),
                    Span::raw(" stay"),
                ]),
            ],
        ),
        Modal::Password { room, field, error } => {
            let mut lines = vec![
                Line::from(format!("Room {room} is password protected.")),
                Line::from(""),
                input_line(field.label, &field.shown(), true),
            ];
            if let Some(error) = error {
                lines.push(Line::styled(error.clone(), Style::new().fg(Color::Red)));
            }
            (" Password ", lines)
        }
        Modal::AddRoom { field } => (
            " Watch a room ",
            vec![
                Line::from("Which room? Its events will show in a new tab."),
                Line::from(""),
                input_line(field.label, &field.shown(), true),
            ],
        ),
    };
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2;
    let [middle] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [boxed] = Layout::horizontal([Constraint::Length(52)])
        .flex(Flex::Center)
        .areas(middle);
    frame.render_widget(Clear, boxed);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title).border_style(accent())),
        boxed,
    );
}

/// `label  value▏`, highlighted when focused.
fn input_line<'a>(label: &'a str, value: &str, focused: bool) -> Line<'a> {
    let marker = if focused { "› " } else { "  " };
    let mut spans = vec![
        Span::styled(marker, accent()),
        Span::styled(
            format!("{label:<20}"),
            if focused { accent() } else { Style::new() },
        ),
        Span::raw(value.to_owned()),
    ];
    if focused {
        spans.push(Span::styled("▏", accent()));
    }
    Line::from(spans)
}

/// A form's fields, the focused one's help, and the last error.
fn form_lines<'a>(form: &'a Form, editable: bool) -> Vec<Line<'a>> {
    let mut lines = Vec::with_capacity(form.fields.len() + 3);
    for (index, field) in form.fields.iter().enumerate() {
        let focused = editable && index == form.focus;
        let mut line = input_line(
            field.label,
            &field.shown(),
            focused && field.kind != FieldKind::Toggle,
        );
        if focused && field.kind == FieldKind::Toggle {
            line = Line::from(vec![
                Span::styled("› ", accent()),
                Span::styled(format!("{:<20}", field.label), accent()),
                Span::styled(field.shown(), accent()),
            ]);
        }
        if field.kind == FieldKind::Choice && !field.options.is_empty() {
            line.push_span(Span::styled(
                format!("  ◂ {} ▸", field.options.len()),
                dim(),
            ));
        }
        if !editable {
            line = line.style(dim());
        }
        lines.push(line);
    }
    if editable {
        lines.push(Line::from(""));
        lines.push(Line::styled(form.field(form.focus).help, dim()));
    }
    if let Some(error) = &form.error {
        lines.push(Line::styled(error.clone(), Style::new().fg(Color::Red)));
    }
    lines
}

fn accent() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

#[cfg(test)]
mod tests;
