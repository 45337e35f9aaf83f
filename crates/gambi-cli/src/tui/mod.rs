//! `gambi tui`: the room monitor and control panel in the terminal.
//!
//! Screens: a main menu; *Serve hub* (a hub in this process); *Create room*; *Join room*
//! (a participant runtime in this process, lending a local provider to a room); *Rooms*
//! (the hub's room list); and the *Monitor*, one tab per watched room, with participant
//! cards, the live request log and the room's totals. `gambi tui --room CODE` opens that
//! room's monitor directly (the projector case).
//!
//! Laid out as tokio-console is:
//!
//! | module | role |
//! |---|---|
//! | [`state`] | all the interface knows; keys and [`state::Msg`]s in, [`state::Effect`]s out; no I/O |
//! | [`view`] | draws a state (pure; snapshot-tested on ratatui's `TestBackend`) |
//! | [`input`] | reads terminal events on a thread of their own |
//! | [`term`] | raw mode and the alternate screen, restored by a guard on exit and on panic |
//! | [`tasks`] | carries out effects in background tasks: hub, participant, event streams, requests |
//!
//! This module runs the loop that ties them together: draw, wait for a key, a message or
//! a tick, update the state, start the effects.

mod input;
mod state;
mod tasks;
mod term;
mod view;

use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use gambi_client::Client;
use gambi_protocol as proto;
use rand::Rng as _;
use ratatui::crossterm::event::Event;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::cli::TuiArgs;
use crate::commands::Context;
use crate::error::CliError;
use crate::signal::Signals;
use state::{App, Defaults, Effect, Init, Secret};

/// Period of the clock tick: redraws ("seen N s ago") and starts due probes.
const TICK: Duration = Duration::from_millis(250);

/// Messages from background tasks waiting to be handled; a full queue makes the tasks
/// wait (an event stream then stops reading until the interface catches up).
const INBOX_CAPACITY: usize = 1024;

/// Runs `gambi tui`.
pub(crate) async fn run(args: TuiArgs, ctx: &Context) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "gambi tui needs a terminal.",
            "Run it in a terminal; `gambi events watch` streams a room's events to a pipe.",
        )
        .into());
    }
    let hub_url = Client::new(ctx.hub_url())
        .map_err(CliError::from)?
        .hub_url()
        .to_owned();
    let env = ctx.env.clone().unwrap_or_default();
    let init = Init {
        hub_url,
        room: args.room,
        password: args.password.map(Secret),
        defaults: Defaults {
            serve_host: env
                .serve
                .host
                .clone()
                .unwrap_or_else(|| proto::DEFAULT_HUB_HOST.to_owned()),
            serve_port: env.serve.port.unwrap_or(proto::DEFAULT_HUB_PORT),
            serve_mdns: env.serve.mdns.unwrap_or(false),
            endpoint: env
                .endpoint
                .clone()
                .unwrap_or_else(|| proto::DEFAULT_PROVIDER_ENDPOINT.to_owned()),
            share_specs: !env.no_specs,
            config_headers: env.headers.0.keys().cloned().collect(),
            participant_id: random_participant_id(),
        },
    };
    let admin_token = args
        .admin_token
        .filter(|token| !token.is_empty())
        .map(Secret);

    let (messages, mut inbox) = mpsc::channel(INBOX_CAPACITY);
    let mut runner = tasks::Runner::new(messages, admin_token, env.headers, env.hubs);
    let (mut app, effects) = App::new(init);
    let mut signals = Signals::new().context("Could not install signal handlers")?;
    let mut term = term::Term::enter().context("Could not set up the terminal")?;
    let (keys_tx, mut keys) = mpsc::channel(64);
    let reader = input::Reader::spawn(keys_tx).context("Could not read the keyboard")?;
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);

    let mut quit = runner.apply(effects);
    while !quit {
        term.draw(|frame| view::draw(frame, &app, now()))
            .context("Could not draw")?;
        let effects = tokio::select! {
            Some(event) = keys.recv() => match event {
                Event::Key(key) => app.on_key(key, now()),
                // A resize needs nothing but the next draw, which fits the new size.
                _ => Vec::new(),
            },
            Some(msg) = inbox.recv() => {
                let mut effects = app.on_msg(msg, now());
                // Handle what is already waiting before drawing again.
                while let Ok(msg) = inbox.try_recv() {
                    effects.extend(app.on_msg(msg, now()));
                }
                effects
            }
            _ = ticks.tick() => app.on_tick(now()),
            _ = signals.recv() => vec![Effect::Quit],
        };
        quit = runner.apply(effects);
    }
    term.draw(view::draw_closing).context("Could not draw")?;
    // Nobody reads from here on: senders must not wait for room in the queues.
    drop(inbox);
    drop(keys);
    drop(reader);
    runner.shutdown().await;
    drop(term);
    Ok(())
}

/// The wall clock, in the unit of the hub's timestamps.
fn now() -> proto::Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            proto::Millis::try_from(elapsed.as_millis()).unwrap_or(proto::Millis::MAX)
        })
}

/// `tui-` and six random lower-case letters and digits: the *Join room* default.
fn random_participant_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("tui-{suffix}")
}
