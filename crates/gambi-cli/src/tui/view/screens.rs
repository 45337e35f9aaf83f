//! The main menu, the form screens and the room list.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::format::{clock, date_time, fit};
use super::{accent, dim, dot, form_lines, health};
use crate::tui::state::{App, HubRun, JoinRun, JoinState, Level, MENU, Screen};

/// What each menu entry is for.
fn purpose(screen: Screen) -> &'static str {
    match screen {
        Screen::Serve => "run a hub in this window",
        Screen::Create => "make a room on the hub",
        Screen::Join => "lend a provider to a room",
        Screen::Rooms => "list the hub's rooms",
        Screen::Monitor => "watch rooms live",
        Screen::Menu => "",
    }
}

pub(super) fn menu(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut lines = vec![Line::from("")];
    for (index, (screen, key, label)) in MENU.iter().enumerate() {
        let selected = index == app.menu;
        let mut line = Line::from(vec![
            Span::styled(format!("  {key}  "), accent()),
            Span::raw(format!("{label:<13}")),
            Span::styled(purpose(*screen), dim()),
        ]);
        if selected {
            line = line.style(Style::new().bg(Color::DarkGray));
        }
        lines.push(line);
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("  q  ", accent()),
        Span::raw("Quit"),
    ]));
    lines.push(Line::from(""));
    let watched = match app.tabs.len() {
        0 => "no rooms watched".to_owned(),
        1 => "watching 1 room".to_owned(),
        n => format!("watching {n} rooms"),
    };
    lines.push(Line::styled(format!("  {watched}"), dim()));
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2;
    let [middle] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [boxed] = Layout::horizontal([Constraint::Length(56)])
        .flex(Flex::Center)
        .areas(middle);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Gambi ").title_style(accent())),
        boxed,
    );
}

pub(super) fn serve(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let state = &app.serve;
    let form = form_lines(&state.form, state.editable());
    let form_height = u16::try_from(form.len()).unwrap_or(u16::MAX) + 2;
    let [top, bottom] =
        Layout::vertical([Constraint::Length(form_height), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(form).block(Block::bordered().title(" Serve hub ").title_style(accent())),
        top,
    );
    let lines = match &state.run {
        HubRun::Stopped => vec![Line::from(
            "No hub runs in this window. Enter starts one with the settings above.",
        )],
        HubRun::Starting => vec![Line::from("Starting…")],
        HubRun::Stopping => vec![Line::from("Stopping: closing tunnels and event streams…")],
        HubRun::Failed(error) => vec![
            Line::styled(error.clone(), Style::new().fg(Color::Red)),
            Line::from("Change the settings and press Enter to try again."),
        ],
        HubRun::Running { url, db, mdns } => {
            let mut health_line = vec![
                Span::raw("Health    "),
                Span::raw(format!("{url}/v1/health ")),
            ];
            health_line.extend(health(&app.health));
            vec![
                Line::from(vec![
                    Span::raw("Running   "),
                    Span::styled(url.clone(), accent()),
                ]),
                Line::from(health_line),
                Line::from(format!(
                    "Rooms     {}",
                    db.as_ref()
                        .map_or_else(|| "kept in memory".to_owned(), |db| format!("kept in {db}"))
                )),
                match mdns {
                    None => Line::from("mDNS      off: clients need this hub's URL"),
                    Some(Ok(name)) => Line::from(vec![
                        Span::raw("mDNS      announced as "),
                        Span::styled(name.clone(), accent()),
                        Span::raw(" (gambi hub discover finds it)"),
                    ]),
                    Some(Err(error)) => Line::styled(
                        format!("mDNS      not announced: {error}"),
                        Style::new().fg(Color::Red),
                    ),
                },
                Line::from(format!(
                    "Apps      an OpenAI SDK with base URL {url}/rooms/<CODE>/v1"
                )),
                Line::from(format!(
                    "Providers gambi participant join --hub {url} --room <CODE>"
                )),
                Line::from(""),
                Line::styled(
                    "This window's menu now talks to this hub; s stops it.",
                    dim(),
                ),
            ]
        }
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Status ")),
        bottom,
    );
}

pub(super) fn create(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let state = &app.create;
    let editable = state.room.is_none() && !state.pending;
    let mut form = form_lines(&state.form, editable);
    if state.pending {
        form.push(Line::styled("Creating…", dim()));
    }
    let form_height = u16::try_from(form.len()).unwrap_or(u16::MAX) + 2;
    let [top, bottom] =
        Layout::vertical([Constraint::Length(form_height), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(form).block(
            Block::bordered()
                .title(" Create room ")
                .title_style(accent()),
        ),
        top,
    );
    let Some(room) = &state.room else {
        return;
    };
    let lines = vec![
        Line::from(vec![
            Span::raw("Room      "),
            Span::styled(room.code.clone(), accent()),
            Span::raw(format!("  {}", room.name)),
        ]),
        Line::from(format!(
            "Password  {}",
            if room.password_protected {
                "yes: apps send it as their API key"
            } else {
                "none: anyone on the network may use it"
            }
        )),
        Line::from(format!("Apps      {}/rooms/{}/v1", app.hub_url, room.code)),
        Line::from(format!(
            "Providers gambi participant join --hub {} --room {} --model <MODEL>",
            app.hub_url, room.code
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Created ")),
        bottom,
    );
}

pub(super) fn join(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let state = &app.join;
    if state.is_idle() {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(area);
        frame.render_widget(
            Paragraph::new(form_lines(&state.form, true))
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Join room ").title_style(accent())),
            left,
        );
        let [room, provider] =
            Layout::vertical([Constraint::Length(6), Constraint::Fill(1)]).areas(right);
        frame.render_widget(
            Paragraph::new(room_lines(state))
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Room ")),
            room,
        );
        frame.render_widget(
            Paragraph::new(provider_lines(state))
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Provider ")),
            provider,
        );
        return;
    }
    let [top, bottom] = Layout::vertical([Constraint::Length(5), Constraint::Fill(1)]).areas(area);
    let status = match &state.run {
        JoinRun::Running {
            room,
            participant_id,
            nickname,
            model,
            tunnel,
            heartbeat,
        } => vec![
            Line::from(vec![
                Span::raw("Serving   "),
                Span::styled(model.clone(), accent()),
                Span::raw(format!(" in room {room} as {nickname} ({participant_id})")),
            ]),
            Line::from(vec![
                Span::raw("Tunnel    "),
                dot(Some(*tunnel)),
                Span::raw(if *tunnel {
                    " connected"
                } else {
                    " reconnecting"
                }),
                Span::raw("   Heartbeat "),
                dot(Some(*heartbeat)),
                Span::raw(if *heartbeat { " ok" } else { " failing" }),
            ]),
            Line::styled(
                "Provider credentials and the password stay on this machine.",
                dim(),
            ),
        ],
        JoinRun::Starting { room } => vec![Line::from(format!(
            "Joining {room}: probing the provider, registering, opening the tunnel…"
        ))],
        JoinRun::Leaving => vec![Line::from("Leaving the room…")],
        JoinRun::Idle => Vec::new(),
    };
    frame.render_widget(
        Paragraph::new(status).block(
            Block::bordered()
                .title(" Participant ")
                .title_style(accent()),
        ),
        top,
    );
    let visible = usize::from(bottom.height.saturating_sub(2));
    let lines: Vec<Line<'_>> = state
        .log
        .iter()
        .rev()
        .take(visible)
        .rev()
        .map(|(at, level, text)| {
            let style = match level {
                Level::Info => Style::new(),
                Level::Error => Style::new().fg(Color::Red),
            };
            Line::from(vec![
                Span::styled(format!("{} ", clock(*at)), dim()),
                Span::styled(text.clone(), style),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Lifecycle ")),
        bottom,
    );
}

/// The room panel of *Join room*: where the room typed is, and what discovery found.
fn room_lines(state: &JoinState) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(found) = state.found_room() {
        lines.push(Line::from(vec![
            Span::styled(found.room.code.clone(), accent()),
            Span::raw(format!(
                " {} · {} participants{}",
                found.room.name,
                found.room.participant_count,
                if found.room.password_protected {
                    " · protected"
                } else {
                    ""
                }
            )),
        ]));
        lines.push(Line::from(format!("on {}", found.hub_url)));
    }
    if state.discovering {
        lines.push(Line::styled("Looking for rooms on the network…", dim()));
    } else {
        let hubs: std::collections::BTreeSet<&str> = state
            .found
            .iter()
            .map(|room| room.hub_url.as_str())
            .collect();
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        lines.push(Line::styled(
            format!(
                "{} found on {} (←/→ on Room)",
                count(state.found.len(), "room"),
                count(hubs.len(), "hub")
            ),
            dim(),
        ));
    }
    lines
}

/// The provider panel of *Join room*: reachability, models, credentials.
fn provider_lines(state: &JoinState) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match &state.probe {
        None => lines.push(Line::styled("Type an endpoint to check it.", dim())),
        Some(probe) => match &probe.result {
            None => lines.push(Line::from(vec![dot(None), Span::raw(" checking…")])),
            Some(Err(error)) => {
                lines.push(Line::from(vec![
                    dot(Some(false)),
                    Span::raw(" cannot check"),
                ]));
                lines.push(Line::styled(error.clone(), Style::new().fg(Color::Red)));
            }
            Some(Ok(found)) if !found.reachable => {
                lines.push(Line::from(vec![
                    dot(Some(false)),
                    Span::raw(" not reachable"),
                ]));
                lines.push(Line::styled(
                    "Start the provider, or fix the endpoint (no /v1).",
                    dim(),
                ));
            }
            Some(Ok(found)) => {
                lines.push(Line::from(vec![dot(Some(true)), Span::raw(" reachable")]));
                if let Some(rejection) = found.auth_rejections.first() {
                    lines.push(Line::styled(
                        format!(
                            "Credentials refused (HTTP {} on {}): add headers.",
                            rejection.status, rejection.path
                        ),
                        Style::new().fg(Color::Red),
                    ));
                }
                let protocols = [
                    ("responses", found.capabilities.open_responses),
                    ("chat", found.capabilities.chat_completions),
                ]
                .iter()
                .map(|(name, capability)| {
                    let mark = match capability {
                        gambi_protocol::Capability::Supported => "✓",
                        gambi_protocol::Capability::Unsupported => "✗",
                        gambi_protocol::Capability::Unknown => "?",
                    };
                    format!("{name} {mark}")
                })
                .collect::<Vec<_>>()
                .join("  ");
                lines.push(Line::styled(protocols, dim()));
                lines.push(Line::from(""));
                match found.models.len() {
                    0 => lines.push(Line::from("It lists no models.")),
                    n => lines.push(Line::from(format!(
                        "{n} model{}:",
                        if n == 1 { "" } else { "s" }
                    ))),
                }
                let chosen = state.form.text(JoinState::MODEL);
                for model in found.models.iter().take(12) {
                    let line = format!("  {}", fit(model, 36));
                    lines.push(if model == chosen {
                        Line::styled(line, accent())
                    } else {
                        Line::from(line)
                    });
                }
                if found.models.len() > 12 {
                    lines.push(Line::styled(
                        format!("  … and {} more", found.models.len() - 12),
                        dim(),
                    ));
                }
            }
        },
    }
    if !state.config_headers.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!("Config file headers: {}", state.config_headers.join(", ")),
            dim(),
        ));
    }
    lines
}

pub(super) fn rooms(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let state = &app.rooms;
    let mut title = vec![Span::styled(" Rooms ", accent())];
    if state.loading {
        title.push(Span::styled("loading… ", dim()));
    }
    let block = Block::bordered().title(Line::from(title));
    if let Some(error) = &state.error {
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled(error.clone(), Style::new().fg(Color::Red)),
                Line::from("r tries again."),
            ])
            .wrap(Wrap { trim: false })
            .block(block),
            area,
        );
        return;
    }
    if state.rooms.is_empty() && !state.loading {
        frame.render_widget(
            Paragraph::new("The hub has no rooms yet: c creates one.").block(block),
            area,
        );
        return;
    }
    let header = Row::new(["Code", "Name", "Participants", "Password", "Created (UTC)"])
        .style(Style::new().bold());
    let rows = state.rooms.iter().map(|room| {
        Row::new([
            Cell::from(room.code.clone()).style(accent()),
            Cell::from(room.name.clone()),
            Cell::from(room.participant_count.to_string()),
            Cell::from(if room.password_protected { "yes" } else { "" }),
            Cell::from(date_time(room.created_at)),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Fill(1),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(16),
        ],
    )
    .header(header)
    .row_highlight_style(Style::new().bg(Color::DarkGray))
    .block(block);
    let mut selection = TableState::new().with_selected(Some(state.selected));
    frame.render_stateful_widget(table, area, &mut selection);
}
