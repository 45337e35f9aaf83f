//! `gambi hub serve`: run a hub until SIGINT or SIGTERM.
//!
//! The command builds a [`HubConfig`], binds the listener, opens the hub (its database)
//! and only then announces `started`, so that whoever reads the announcement can connect
//! at once. A signal cancels the hub's [`CancellationToken`]; the hub closes its tunnels
//! and event streams and the command waits for it before announcing `stopped`. A second
//! signal while stopping gives up waiting (exit 1).
//!
//! With `--mdns` (or the config file's `serve.mdns`) the hub is announced on the local
//! network once it listens ([`Announcement`]), and the announcement is taken back as soon
//! as a signal arrives, before connections drain.
//!
//! The Prometheus metrics are at `/metrics` on the main listener, or, with
//! `--metrics-listen` (or the config file's `serve.metricsListen`), on that address alone.
//!
//! Structured output (NDJSON) is a sequence of `{type, timestamp, data}` objects:
//! `started {host, port, bindUrl, hubUrl, db, mdns, metricsUrl}`, `mdns_registered {name}`
//! (with mDNS), `signal_received {signal}`, `stopped {signal}`. `port` and `bindUrl` carry
//! the bound port (which differs from the requested one for `--port 0`); `db` is `null`
//! with `--ephemeral`.
//!
//! This module runs the hub; `plan` is what it is about to do (the addresses it prints,
//! where its database goes), `settings` the `HubConfig` built from flags, the config file
//! and defaults.

mod plan;
mod settings;

use std::net::SocketAddr;

use anyhow::Context as _;
use futures::FutureExt as _;
use gambi_hub::mdns::Announcement;
use gambi_hub::{Hub, Storage};
use gambi_protocol as proto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::cli::ServeArgs;
use crate::error::{CliError, Exit};
use crate::signal::Signals;
use plan::Plan;
pub(crate) use plan::{create_parent, default_db_path, url_host};
use settings::{hub_config, metrics_listen};

/// Runs `gambi hub serve`.
pub(crate) async fn serve(mut args: ServeArgs, ctx: &Context) -> anyhow::Result<()> {
    let serve_env = ctx
        .env
        .as_ref()
        .map(|env| env.serve.clone())
        .unwrap_or_default();
    let db = match (args.ephemeral, args.db.take()) {
        (true, _) => None,
        (false, Some(path)) => Some(path),
        (false, None) => Some(default_db_path()?),
    };
    let plan = Plan {
        host: args
            .host
            .take()
            .or(serve_env.host.clone())
            .unwrap_or_else(|| proto::DEFAULT_HUB_HOST.to_owned()),
        port: args
            .port
            .or(serve_env.port)
            .unwrap_or(proto::DEFAULT_HUB_PORT),
        db,
        mdns: args.mdns || serve_env.mdns.unwrap_or(false),
        metrics_listen: metrics_listen(args.metrics_listen, &serve_env)?,
    };
    let out = ctx.out;

    if args.dry_run {
        // The settings are checked even when nothing starts.
        hub_config(args, &serve_env, Storage::Memory)?;
        if out.is_text() {
            let storage = plan
                .db
                .as_ref()
                .map_or_else(|| "in memory".to_owned(), |path| path.display().to_string());
            let metrics = plan.metrics_listen.map_or_else(String::new, |addr| {
                format!("; metrics: {}", plan.metrics_url(plan.port, Some(addr)))
            });
            out.line(&format!(
                "Would start hub on {} (database: {storage}; mdns: {}{metrics}).",
                plan.bind_url(plan.port),
                if plan.mdns { "enabled" } else { "disabled" },
            ))?;
        } else {
            out.value(&plan.summary(plan.port, plan.metrics_listen))?;
        }
        return Ok(());
    }

    let storage = match &plan.db {
        Some(path) => Storage::File(path.clone()),
        None => Storage::Memory,
    };
    let config = hub_config(args, &serve_env, storage)?;
    let tls = config.tls;
    if let Some(path) = &plan.db {
        create_parent(path)?;
    }
    let listener = bind(&plan).await?;
    let bound = listener
        .local_addr()
        .context("Could not read the listener's address")?;
    let metrics_listener = match plan.metrics_listen {
        Some(addr) => Some(bind_metrics(addr).await?),
        None => None,
    };
    let metrics_bound = match &metrics_listener {
        Some(listener) => Some(
            listener
                .local_addr()
                .context("Could not read the metrics listener's address")?,
        ),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let hub = Hub::open(config, shutdown.clone()).map_err(|error| {
        CliError::unavailable(
            format!("Could not open the hub database: {error}"),
            "Check the --db path, or pass --ephemeral to keep rooms in memory.",
        )
    })?;
    // Handlers go in before `started` is announced: a signal sent right after reading it
    // must stop the hub gracefully, not kill the process.
    let mut signals = Signals::new().context("Could not install signal handlers")?;
    let metrics_server = metrics_listener
        .map(|listener| tokio::spawn(gambi_hub::serve_metrics(listener, hub.clone())));
    let server = tokio::spawn(gambi_hub::serve_hub(listener, hub));
    let mut server = async move {
        let served = server.await;
        // The metrics listener stops with the hub's shutdown token.
        if let Some(metrics) = metrics_server {
            match metrics.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the metrics listener failed"),
                Err(error) => tracing::warn!(%error, "the metrics task failed"),
            }
        }
        served
    }
    .boxed();
    announce_started(ctx, &plan, bound, metrics_bound)?;
    let mut announcement = None;
    if plan.mdns {
        let published = tokio::select! {
            published = Announcement::publish(bound, tls) => published,
            signal = signals.recv() => {
                shutdown.cancel();
                server.await.context("The hub task failed")??;
                return finish(ctx, signal);
            }
        };
        match published {
            Ok(published) => {
                if out.is_text() {
                    out.note(&format!(
                        "Announced on the local network as {}",
                        published.name()
                    ))?;
                } else {
                    out.event("mdns_registered", &json!({ "name": published.name() }))?;
                }
                announcement = Some(published);
            }
            Err(error) => {
                shutdown.cancel();
                server.await.context("The hub task failed")??;
                return Err(CliError::unavailable(
                    format!("Could not announce the hub on the local network: {error}"),
                    "Run without --mdns (clients then need --hub), or check that UDP port \
                     5353 and multicast are available.",
                )
                .into());
            }
        }
    }

    let signal = tokio::select! {
        finished = &mut server => {
            finished.context("The hub task failed")??;
            return Err(CliError::new(
                Exit::Unexpected,
                "The hub stopped without being asked to.",
                "Run again with --verbose and look at the log.",
            )
            .into());
        }
        signal = signals.recv() => signal,
    };
    if out.is_text() {
        out.note(&format!("Shutting down ({signal})..."))?;
    } else {
        out.event("signal_received", &json!({ "signal": signal }))?;
    }
    // Clients stop finding the hub before its connections start draining.
    if let Some(announcement) = announcement {
        announcement.unpublish().await;
    }
    shutdown.cancel();
    tokio::select! {
        finished = &mut server => finished.context("The hub task failed")??,
        second = signals.recv() => {
            return Err(CliError::new(
                Exit::Unexpected,
                format!("Stopped before the hub finished shutting down ({second} received twice)."),
                "Open connections may have been cut.",
            )
            .into());
        }
    }
    finish(ctx, signal)
}

/// Announces that the hub stopped after `signal`.
fn finish(ctx: &Context, signal: &str) -> anyhow::Result<()> {
    if ctx.out.is_text() {
        ctx.out.note("Hub stopped.")?;
    } else {
        ctx.out.event("stopped", &json!({ "signal": signal }))?;
    }
    Ok(())
}

fn announce_started(
    ctx: &Context,
    plan: &Plan,
    bound: SocketAddr,
    metrics: Option<SocketAddr>,
) -> std::io::Result<()> {
    let out = ctx.out;
    if out.is_text() {
        out.line(&format!("Hub started at {}", plan.hub_url(bound.port())))?;
        if metrics.is_some() {
            out.note(&format!(
                "Metrics at {}",
                plan.metrics_url(bound.port(), metrics)
            ))?;
        }
        out.note("Press Ctrl+C to stop")
    } else {
        out.event("started", &plan.summary(bound.port(), metrics))
    }
}

async fn bind_metrics(addr: SocketAddr) -> Result<TcpListener, CliError> {
    TcpListener::bind(addr).await.map_err(|error| {
        CliError::unavailable(
            format!("Could not listen for metrics on {addr}: {error}"),
            "Choose another --metrics-listen address, or stop whatever is using this one.",
        )
    })
}

async fn bind(plan: &Plan) -> Result<TcpListener, CliError> {
    TcpListener::bind((plan.host.as_str(), plan.port))
        .await
        .map_err(|error| {
            CliError::unavailable(
                format!("Could not listen on {}: {error}", plan.bind_url(plan.port)),
                "Choose another --port or --host, or stop whatever is using this one.",
            )
        })
}

#[cfg(test)]
mod tests;
