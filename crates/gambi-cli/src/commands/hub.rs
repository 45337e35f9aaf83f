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

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use etcetera::BaseStrategy;
use futures::FutureExt as _;
use gambi_hub::mdns::Announcement;
use gambi_hub::{CorsOrigins, Hub, HubConfig, MetricsConfig, Storage};
use gambi_protocol as proto;
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::cli::ServeArgs;
use crate::config::ServeConfig;
use crate::error::{CliError, Exit};
use crate::signal::Signals;

/// What `hub serve` is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    host: String,
    port: u16,
    db: Option<PathBuf>,
    mdns: bool,
    /// Where the metrics are served instead of the main listener.
    metrics_listen: Option<SocketAddr>,
}

impl Plan {
    /// `http://<host>:<port>` as bound.
    fn bind_url(&self, port: u16) -> String {
        format!("http://{}:{port}", url_host(&self.host))
    }

    /// A URL clients on this machine can use: the unspecified address (`0.0.0.0`, `::`)
    /// becomes `localhost`.
    fn hub_url(&self, port: u16) -> String {
        let unspecified = self
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let host = if unspecified {
            "localhost".to_owned()
        } else {
            url_host(&self.host)
        };
        format!("http://{host}:{port}")
    }

    /// Where Prometheus scrapes the metrics, with `metrics` the bound (or requested)
    /// address of a separate listener.
    fn metrics_url(&self, port: u16, metrics: Option<SocketAddr>) -> String {
        match metrics {
            Some(addr) => format!("http://{addr}/metrics"),
            None => format!("{}/metrics", self.hub_url(port)),
        }
    }

    /// The plan as printed, with `port` the bound (or, for a dry run, requested) port and
    /// `metrics` the metrics' own listener, if any.
    fn summary(&self, port: u16, metrics: Option<SocketAddr>) -> PlanSummary {
        PlanSummary {
            host: self.host.clone(),
            port,
            bind_url: self.bind_url(port),
            hub_url: self.hub_url(port),
            db: self.db.as_ref().map(|path| path.display().to_string()),
            mdns: self.mdns,
            metrics_url: self.metrics_url(port, metrics),
        }
    }
}

/// The plan as `--dry-run` and `started` print it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanSummary {
    host: String,
    port: u16,
    bind_url: String,
    hub_url: String,
    /// `null` with `--ephemeral`.
    db: Option<String>,
    /// Whether the hub is announced over mDNS.
    mdns: bool,
    /// Where the Prometheus metrics are.
    metrics_url: String,
}

/// An IPv6 literal in brackets, anything else as is.
pub(crate) fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `$XDG_DATA_HOME/gambi/hub.db` (else `~/.local/share/gambi/hub.db`).
pub(crate) fn default_db_path() -> Result<PathBuf, CliError> {
    etcetera::choose_base_strategy()
        .map(|strategy| strategy.data_dir().join("gambi").join("hub.db"))
        .map_err(|error| {
            CliError::usage(
                format!("Cannot find a data directory for the hub database: {error}."),
                "Pass --db PATH, or --ephemeral to keep rooms in memory.",
            )
        })
}

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

/// The hub's settings: each flag, else the config file's serve block, else the default.
fn hub_config(
    args: ServeArgs,
    serve_env: &ServeConfig,
    storage: Storage,
) -> Result<HubConfig, CliError> {
    let defaults = HubConfig::default();
    let seconds = |flag: Option<u64>,
                   file: Option<u64>,
                   key: &str,
                   default: Duration|
     -> Result<Duration, CliError> {
        match flag.or(file) {
            Some(0) => Err(CliError::usage(
                format!("serve.{key} in the CLI config must be at least 1 second."),
                "Fix the config file, or override it with the flag.",
            )),
            Some(secs) => Ok(Duration::from_secs(secs)),
            None => Ok(default),
        }
    };
    let origins = if args.cors_origins.is_empty() {
        serve_env.cors_origins.clone().unwrap_or_default()
    } else {
        args.cors_origins
    };
    let cors_origins = CorsOrigins::parse(origins).map_err(|error| {
        CliError::usage(
            format!("Invalid --cors-origin: {error}."),
            "Give each origin as a browser sends it, scheme://host[:port], or * for any.",
        )
    })?;
    Ok(HubConfig {
        storage,
        admin_token: args.admin_token.filter(|token| !token.is_empty()),
        queue_size: args.queue_size,
        queue_timeout: Duration::from_secs(args.queue_timeout),
        failover: !args.no_failover,
        response_start_timeout: seconds(
            args.response_start_timeout,
            serve_env.response_start_timeout,
            "responseStartTimeout",
            defaults.response_start_timeout,
        )?,
        response_idle_timeout: seconds(
            args.response_idle_timeout,
            serve_env.response_idle_timeout,
            "responseIdleTimeout",
            defaults.response_idle_timeout,
        )?,
        remove_offline_after: seconds(
            args.remove_offline_after,
            serve_env.remove_offline_after,
            "removeOfflineAfter",
            defaults.remove_offline_after,
        )?,
        cors_origins,
        shutdown_grace: args
            .shutdown_grace
            .or(serve_env.shutdown_grace)
            .map_or(defaults.shutdown_grace, Duration::from_secs),
        metrics: MetricsConfig {
            on_main_listener: metrics_listen(args.metrics_listen, serve_env)?.is_none(),
            token: args
                .metrics_token
                .or_else(|| serve_env.metrics_token.clone())
                .filter(|token| !token.is_empty()),
            ..defaults.metrics.clone()
        },
        ..defaults
    })
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

/// `--metrics-listen`, else the config file's `serve.metricsListen`.
fn metrics_listen(
    flag: Option<SocketAddr>,
    serve_env: &ServeConfig,
) -> Result<Option<SocketAddr>, CliError> {
    if flag.is_some() {
        return Ok(flag);
    }
    serve_env
        .metrics_listen
        .as_deref()
        .map(|addr| {
            addr.trim().parse().map_err(|_| {
                CliError::usage(
                    format!("serve.metricsListen in the CLI config is not IP:PORT: {addr:?}."),
                    "Fix the config file (e.g. \"127.0.0.1:9090\"), or override it with --metrics-listen.",
                )
            })
        })
        .transpose()
}

async fn bind_metrics(addr: SocketAddr) -> Result<TcpListener, CliError> {
    TcpListener::bind(addr).await.map_err(|error| {
        CliError::unavailable(
            format!("Could not listen for metrics on {addr}: {error}"),
            "Choose another --metrics-listen address, or stop whatever is using this one.",
        )
    })
}

/// Creates the database's directory.
pub(crate) fn create_parent(path: &Path) -> Result<(), CliError> {
    let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    else {
        return Ok(());
    };
    std::fs::create_dir_all(parent).map_err(|error| {
        CliError::unavailable(
            format!("Could not create {}: {error}", parent.display()),
            "Pass --db with a writable path, or --ephemeral to keep rooms in memory.",
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
mod tests {
    use super::*;

    fn plan(host: &str) -> Plan {
        Plan {
            host: host.into(),
            port: 3000,
            db: None,
            mdns: false,
            metrics_listen: None,
        }
    }

    #[test]
    fn urls() {
        let cases = [
            ("0.0.0.0", "http://0.0.0.0:3000", "http://localhost:3000"),
            (
                "127.0.0.1",
                "http://127.0.0.1:3000",
                "http://127.0.0.1:3000",
            ),
            ("::", "http://[::]:3000", "http://localhost:3000"),
            ("::1", "http://[::1]:3000", "http://[::1]:3000"),
            ("hub.lan", "http://hub.lan:3000", "http://hub.lan:3000"),
        ];
        for (host, bind_url, hub_url) in cases {
            assert_eq!(plan(host).bind_url(3000), bind_url, "{host}");
            assert_eq!(plan(host).hub_url(3000), hub_url, "{host}");
        }
    }

    fn config_of(flags: &[&str], file: &ServeConfig) -> Result<HubConfig, CliError> {
        let mut argv = vec!["gambi", "hub", "serve"];
        argv.extend_from_slice(flags);
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(argv).expect("valid flags");
        let crate::cli::Command::Hub(crate::cli::HubCommand::Serve(args)) = cli.command else {
            unreachable!("hub serve parses as hub serve");
        };
        hub_config(*args, file, Storage::Memory)
    }

    #[test]
    fn settings_come_from_flags_then_the_config_file_then_defaults() {
        let secs = Duration::from_secs;
        let none = ServeConfig::default();
        let config = config_of(&[], &none).expect("defaults");
        assert_eq!(config.response_start_timeout, secs(300));
        assert_eq!(config.response_idle_timeout, secs(120));
        assert_eq!(config.remove_offline_after, secs(600));
        assert_eq!(config.cors_origins, CorsOrigins::Any);
        assert_eq!(config.shutdown_grace, secs(10));

        let file = ServeConfig {
            response_start_timeout: Some(90),
            response_idle_timeout: Some(30),
            remove_offline_after: Some(3600),
            cors_origins: Some(vec!["http://localhost:5173".into()]),
            shutdown_grace: Some(0),
            ..ServeConfig::default()
        };
        let config = config_of(&[], &file).expect("from the file");
        assert_eq!(config.response_start_timeout, secs(90));
        assert_eq!(config.response_idle_timeout, secs(30));
        assert_eq!(config.remove_offline_after, secs(3600));
        assert_eq!(config.shutdown_grace, secs(0), "0 ends requests at once");
        assert_eq!(
            config.cors_origins,
            CorsOrigins::List(vec!["http://localhost:5173".into()])
        );

        let config = config_of(
            &[
                "--response-start-timeout",
                "600",
                "--response-idle-timeout",
                "45",
                "--remove-offline-after",
                "60",
                "--cors-origin",
                "http://a.test:8080",
                "--cors-origin",
                "https://b.test",
            ],
            &file,
        )
        .expect("flags win");
        assert_eq!(config.response_start_timeout, secs(600));
        assert_eq!(config.response_idle_timeout, secs(45));
        assert_eq!(config.remove_offline_after, secs(60));
        assert_eq!(
            config.cors_origins,
            CorsOrigins::List(vec!["http://a.test:8080".into(), "https://b.test".into()])
        );
        let any = config_of(&["--cors-origin", "*"], &file).expect("any");
        assert_eq!(any.cors_origins, CorsOrigins::Any);
    }

    #[test]
    fn metrics_settings_come_from_flags_then_the_config_file() {
        let none = ServeConfig::default();
        let config = config_of(&[], &none).expect("defaults");
        assert!(config.metrics.on_main_listener);
        assert_eq!(config.metrics.token, None);

        let file = ServeConfig {
            metrics_listen: Some("127.0.0.1:9090".into()),
            metrics_token: Some("from-file".into()),
            ..ServeConfig::default()
        };
        let config = config_of(&[], &file).expect("from the file");
        assert!(!config.metrics.on_main_listener, "served apart");
        assert_eq!(config.metrics.token.as_deref(), Some("from-file"));
        assert!(!format!("{config:?}").contains("from-file"));

        let config = config_of(&["--metrics-token", "from-flag"], &none).expect("flag");
        assert_eq!(config.metrics.token.as_deref(), Some("from-flag"));
        assert_eq!(
            metrics_listen(Some("[::1]:9100".parse().expect("addr")), &file).expect("flag"),
            Some("[::1]:9100".parse().expect("addr")),
            "the flag wins"
        );
        let bad = ServeConfig {
            metrics_listen: Some("localhost".into()),
            ..ServeConfig::default()
        };
        let error = config_of(&[], &bad).expect_err("not IP:PORT");
        assert_eq!(error.exit, Exit::Usage);
        assert!(
            error.message.starts_with("serve.metricsListen"),
            "{error:?}"
        );
    }

    #[test]
    fn bad_settings_are_usage_errors() {
        let error = config_of(
            &["--cors-origin", "localhost:5173"],
            &ServeConfig::default(),
        )
        .expect_err("not an origin");
        assert_eq!(error.exit, Exit::Usage);
        assert!(
            error.message.starts_with("Invalid --cors-origin: "),
            "{error:?}"
        );
        let zero = ServeConfig {
            response_idle_timeout: Some(0),
            ..ServeConfig::default()
        };
        let error = config_of(&[], &zero).expect_err("zero seconds");
        assert_eq!(
            error.message,
            "serve.responseIdleTimeout in the CLI config must be at least 1 second."
        );
    }

    #[test]
    fn plan_json() {
        let plan = Plan {
            host: "0.0.0.0".into(),
            port: 0,
            db: Some(PathBuf::from("/data/gambi/hub.db")),
            mdns: true,
            metrics_listen: None,
        };
        assert_eq!(
            serde_json::to_value(plan.summary(4321, None)).expect("serializable"),
            json!({
                "host": "0.0.0.0", "port": 4321, "bindUrl": "http://0.0.0.0:4321",
                "hubUrl": "http://localhost:4321", "db": "/data/gambi/hub.db", "mdns": true,
                "metricsUrl": "http://localhost:4321/metrics"
            })
        );
        let apart = "127.0.0.1:9090".parse().expect("an address");
        assert_eq!(
            plan.summary(4321, Some(apart)).metrics_url,
            "http://127.0.0.1:9090/metrics"
        );
    }
}
