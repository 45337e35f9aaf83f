//! The command line as clap checks it, and the parsers of flag values.

use std::num::NonZeroU32;

use clap::CommandFactory;

#[cfg(feature = "otel")]
use super::common::parse_otlp_endpoint;
use super::hub::parse_port;
use super::participant::parse_max_concurrency;
use super::*;

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn ports() {
    assert_eq!(parse_port("3000"), Ok(3000));
    assert_eq!(parse_port("0"), Ok(0));
    assert_eq!(parse_port("65535"), Ok(65535));
    assert!(parse_port("65536").is_err());
    assert!(parse_port("-1").is_err());
    assert!(parse_port("http").is_err());
}

#[cfg(feature = "otel")]
#[test]
fn otel_endpoint_flag() {
    assert!(parse_otlp_endpoint("http://localhost:4318").is_ok());
    assert!(parse_otlp_endpoint(" https://collector.example/otlp ").is_ok());
    for bad in ["localhost:4318", "grpc://localhost:4317", "http://", ""] {
        assert!(parse_otlp_endpoint(bad).is_err(), "{bad}");
    }
    let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.command);
    let serve =
        parse(&["gambi", "hub", "serve", "--otlp-endpoint", "http://h:4318"]).expect("parses");
    let (endpoint, service) = serve.traces().expect("traced");
    assert_eq!(
        (endpoint.as_str(), service),
        ("http://h:4318/", "gambi-hub")
    );
    let join = parse(&[
        "gambi",
        "participant",
        "join",
        "--otlp-endpoint",
        "http://h",
    ])
    .expect("parses");
    assert_eq!(
        join.traces().map(|(_, service)| service),
        Some("gambi-participant")
    );
    let untraced = parse(&["gambi", "room", "list"]).expect("parses");
    assert!(
        untraced.traces().is_none(),
        "only the hub and the runtime trace"
    );
}

#[test]
fn max_concurrency() {
    let ok = |value: &str| parse_max_concurrency(value).map(NonZeroU32::get);
    assert_eq!(ok("1"), Ok(1));
    assert_eq!(ok(" 3 "), Ok(3));
    assert_eq!(ok("1024"), Ok(1024));
    for bad in ["0", "1025", "-1", "two", ""] {
        assert!(parse_max_concurrency(bad).is_err(), "{bad}");
    }
}
