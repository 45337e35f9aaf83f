//! The plan's addresses and the settings from flags, the config file and defaults.

use std::path::PathBuf;
use std::time::Duration;

use gambi_hub::{CorsOrigins, HubConfig, Storage};
use serde_json::json;

use super::plan::Plan;
use super::settings::{hub_config, metrics_listen};
use crate::config::ServeConfig;
use crate::error::{CliError, Exit};

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
