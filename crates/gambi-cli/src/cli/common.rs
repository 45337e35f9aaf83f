//! Flags several commands share: the discovery window (`hub discover`, `room discover`)
//! and, with the `otel` feature, where traces go (`hub serve`, `participant join`).

use clap::Args;

/// How long discovery listens for mDNS announcements.
#[derive(Debug, Args)]
pub(crate) struct BrowseArgs {
    /// How long to listen for hubs announced on the local network, in milliseconds
    #[arg(long = "timeout", value_name = "MS", default_value_t = 1500,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub(crate) timeout_ms: u64,
}

/// Where `hub serve` and `participant join` send OpenTelemetry traces (the `otel` feature).
#[cfg(feature = "otel")]
#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// Send OpenTelemetry traces, one per inference request, to this OTLP/HTTP collector,
    /// e.g. http://localhost:4318 (/v1/traces is added) [default: off]
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL",
        value_parser = parse_otlp_endpoint
    )]
    pub(crate) otlp_endpoint: Option<Box<url::Url>>,
}

/// Parses `--otlp-endpoint`: an `http` or `https` URL (boxed: a URL is large, and the
/// commands' arguments are kept small).
#[cfg(feature = "otel")]
pub(super) fn parse_otlp_endpoint(value: &str) -> Result<Box<url::Url>, String> {
    let invalid = || {
        format!("Invalid OTLP endpoint '{value}': use an http(s) URL, e.g. http://localhost:4318")
    };
    let url = url::Url::parse(value.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(Box::new(url))
}
