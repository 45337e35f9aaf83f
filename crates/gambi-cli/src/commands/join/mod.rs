//! `gambi participant join`: lend a local provider to a room until SIGINT or SIGTERM.
//!
//! The command resolves the provider headers and checks its flags (exit 2), probes the
//! provider once and checks that it serves the model (exit 3), collects the machine's
//! specs, and then either prints the registration it would send (`--dry-run`) or starts a
//! [`ParticipantSession`] with that probe and prints the session's lifecycle until a
//! signal (the session leaves the room; exit 0) or a failure it cannot recover from
//! (exit 3).
//!
//! Structured output (NDJSON) is a sequence of `{type, timestamp, data}` objects:
//!
//! | `type` | `data` |
//! |---|---|
//! | `prepared` | `{room, participantId, endpoint, connection: {kind: "tunnel"}}` |
//! | `registered` | `{participant, roomId, tunnel: {url}}` (the token is never printed) |
//! | `tunnel_connected` | `{participantId, room}` |
//! | `tunnel_lost` | `{participantId, room, message}` |
//! | `unregistered` | `{participantId, room, message}` |
//! | `reconnecting` | `{participantId, room, attempt, delayMs, reason}` |
//! | `heartbeat_missed` | `{participantId, room, message}` |
//! | `leaving` | `{signal, participantId, room}` |
//! | `left` | `{participantId, room}` |
//! | `heartbeat_failed`, `tunnel_failed` | `{participantId, room, reason, message}` |
//!
//! `registered` and `tunnel_connected` repeat after every reconnection. `tunnel_lost`,
//! `unregistered`, `reconnecting` and `heartbeat_missed` are ours; the original runtime
//! never reconnected. A heartbeat that fails for a passing reason is `heartbeat_missed`,
//! not `heartbeat_failed`, because the original's consumers read `heartbeat_failed` as
//! the end of the session.
//!
//! Provider headers (from `--header`, `--header-env` and the config file) and the room
//! password never appear in any output, event, log line or error message.

mod dry_run;
mod failure;
pub(crate) mod plan;
mod printer;

use anyhow::Context as _;
use gambi_participant::{
    BackoffPolicy, CloseOutcome, ParticipantSession, ProbeResult, SessionOptions,
};
use gambi_protocol as proto;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use self::failure::{model_error, setup_error, start_error};
use self::plan::Plan;
use self::printer::{Printer, drain};
use super::{Context, discover};
use crate::cli::JoinArgs;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::prompt;
use crate::signal::Signals;

/// Runs `gambi participant join`.
pub(crate) async fn join(mut args: JoinArgs, ctx: &Context) -> anyhow::Result<()> {
    let dry_run = args.dry_run;
    let discovered;
    let ctx = match args.room_name.take() {
        Some(name) => {
            let target = discover::resolve_room_name(ctx, &name).await?;
            args.room = Some(target.room.room.code);
            discovered = ctx.with_hub(&target.hub.hub_url);
            &discovered
        }
        None => ctx,
    };
    // On a terminal, ask for what is missing, in the original's order.
    if ctx.interactive {
        if is_blank(args.room.as_deref()) {
            args.room = Some(prompt::text("Room code", None)?);
        }
        if is_blank(args.participant_id.as_deref()) {
            let suggestion = suggested_participant_id();
            args.participant_id = Some(prompt::text("Participant id", Some(&suggestion))?);
        }
    }
    let choose_model = ctx.interactive && is_blank(args.model.as_deref());
    let mut plan = Plan::resolve(args, ctx, |name| std::env::var(name).ok(), choose_model)?;
    let (probe, specs) = tokio::join!(
        gambi_participant::probe(&plan.endpoint, &plan.auth_headers),
        async {
            if plan.share_specs {
                Some(gambi_participant::collect_specs().await)
            } else {
                None
            }
        }
    );
    let probe = probe.map_err(|error| setup_error(&error))?;
    if choose_model {
        plan.choose_model(pick_model(&probe, &plan)?);
    }
    let model = probe
        .check_model(&plan.model, &plan.endpoint_text())
        .map_err(model_error)?;
    if dry_run {
        return dry_run::print(ctx.out, &plan, &model, &probe, specs.as_ref());
    }
    run(ctx.out, plan, probe, specs).await
}

/// Whether a flag was left out or given blank.
fn is_blank(value: Option<&str>) -> bool {
    value.is_none_or(|value| value.trim().is_empty())
}

/// Asks which of the provider's models to serve.
fn pick_model(probe: &ProbeResult, plan: &Plan) -> Result<String, CliError> {
    if probe.models.is_empty() {
        return Err(CliError::unavailable(
            format!("The provider at {} lists no models.", plan.endpoint_text()),
            "Pull or load a model in the provider (e.g. `ollama pull llama3`), or pass --model.",
        ));
    }
    let index = prompt::select("Model", &probe.models)?;
    Ok(probe.models[index].clone())
}

/// A participant id to offer: this machine's host name, as a slug, which stays the same
/// from one join to the next.
fn suggested_participant_id() -> String {
    let host = gambi_participant::specs::host_name().unwrap_or_default();
    let mut slug = String::new();
    for c in host.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "participant".to_owned()
    } else {
        slug.to_owned()
    }
}

/// Joins the room and serves until a signal or a failure.
async fn run(
    out: Output,
    plan: Plan,
    probe: ProbeResult,
    specs: Option<proto::MachineSpecs>,
) -> anyhow::Result<()> {
    // Handlers go in before anything is announced: a signal sent right after reading an
    // event must make the participant leave the room, not kill the process.
    let mut signals = Signals::new().context("Could not install signal handlers")?;
    if !out.is_text() {
        out.event(
            "prepared",
            &json!({
                "room": plan.room,
                "participantId": plan.participant_id,
                "endpoint": plan.endpoint_text(),
                "connection": { "kind": "tunnel" },
            }),
        )?;
    }
    let shutdown = CancellationToken::new();
    let options = SessionOptions {
        hub_url: plan.hub_url.clone(),
        room_code: plan.room.clone(),
        participant_id: plan.participant_id.clone(),
        nickname: plan.nickname.clone(),
        model: plan.model.clone(),
        endpoint: plan.endpoint.clone(),
        password: plan.password.clone(),
        specs,
        config: plan.config.clone(),
        capabilities: None,
        auth_headers: plan.auth_headers.clone(),
        initial_probe: Some(probe),
        max_concurrency: plan.max_concurrency,
        reconnect: plan.reconnect.then(BackoffPolicy::default),
        timing: gambi_participant::Timing::default(),
        tunnel_extensions: proto::TunnelExtensions::offer(),
        shutdown: shutdown.clone(),
    };
    let mut printer = Printer::new(out, &plan);

    let start = ParticipantSession::start(options);
    tokio::pin!(start);
    let started = tokio::select! {
        started = &mut start => started,
        signal = signals.recv() => {
            // Let the session undo whatever part of the join it has done.
            shutdown.cancel();
            let announced = printer.leaving(signal);
            if let Ok(session) = start.await {
                session.close().await;
            }
            announced?;
            return printer.left();
        }
    };
    let mut session = started.map_err(|error| start_error(error, &plan))?;
    let mut events = session
        .take_events()
        .context("The session's events were already taken")?;

    let ended = loop {
        let printed = tokio::select! {
            biased;
            Some(event) = events.recv() => printer.event(&event),
            outcome = session.wait() => break Ended::Outcome(outcome),
            signal = signals.recv() => break Ended::Signal(signal),
        };
        if let Err(error) = printed {
            // Nobody can read the output any more: still leave the room.
            session.close().await;
            return Err(error);
        }
    };
    let outcome = match ended {
        Ended::Outcome(outcome) => outcome,
        Ended::Signal(signal) => {
            let announced = printer.leaving(signal);
            let outcome = tokio::select! {
                outcome = session.close() => outcome,
                second = signals.recv() => {
                    return Err(CliError::new(
                        Exit::Unexpected,
                        format!("Stopped before leaving the room ({second} received twice)."),
                        format!(
                            "The hub drops the participant when its tunnel goes quiet; \
                             `gambi participant leave -r {} --participant-id {}` removes it now.",
                            plan.room, plan.participant_id
                        ),
                    )
                    .into());
                }
            };
            announced?;
            outcome
        }
    };
    drain(&mut events, &mut printer)?;
    printer.finish(outcome)
}

/// How the serving loop ended.
enum Ended {
    Outcome(CloseOutcome),
    Signal(&'static str),
}
