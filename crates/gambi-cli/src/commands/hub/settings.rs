//! The hub's settings for `hub serve`: each flag, else the config file's `serve` block, else
//! the default.

use std::net::SocketAddr;
use std::time::Duration;

use gambi_hub::{CorsOrigins, HubConfig, MetricsConfig, Storage};

use crate::cli::ServeArgs;
use crate::config::ServeConfig;
use crate::error::CliError;

/// The hub's settings: each flag, else the config file's serve block, else the default.
pub(super) fn hub_config(
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

/// `--metrics-listen`, else the config file's `serve.metricsListen`.
pub(super) fn metrics_listen(
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
