//! Structured logs through `tracing`: text for people, or one JSON object a
//! line (`GATEHOUSE_LOG_FORMAT=json`) for log collectors. Filter with
//! `RUST_LOG` (default: `info`). Every line of a request carries its
//! request span (its id, method and route). Never log a token, secret or
//! cookie value (`server/tests/log_leaks.rs` checks a whole session's logs).
//!
//! With `GATEHOUSE_OTLP_ENDPOINT` set, the same spans (those `RUST_LOG`
//! lets through) are also exported as OpenTelemetry traces over OTLP/HTTP
//! (protobuf, `<endpoint>/v1/traces`), batched on a thread of their own;
//! [`Telemetry::shutdown`] sends what is left before the process exits.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::Secret;

/// How log lines are written (`GATEHOUSE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where traces go (`GATEHOUSE_OTLP_*`); absent: nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// `GATEHOUSE_OTLP_ENDPOINT`: the collector's OTLP/HTTP base URL, e.g.
    /// `http://127.0.0.1:4318` (spans go to `/v1/traces` under it); never
    /// with credentials, a query or a fragment (configuration refuses them).
    pub endpoint: url::Url,
    /// `GATEHOUSE_OTLP_HEADERS`: `name=value` pairs sent with every export
    /// (an API key, usually), comma-separated.
    pub headers: Option<Secret>,
    /// `GATEHOUSE_OTLP_SERVICE_NAME`: the `service.name` of every span.
    pub service_name: String,
}

impl OtlpSettings {
    /// `<endpoint>/v1/traces`, whatever path the endpoint already has.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.endpoint.as_str().trim_end_matches('/'))
    }
}

/// Parses `GATEHOUSE_OTLP_HEADERS`: `name=value[,name=value…]`. The error
/// says what is wrong without repeating a value.
pub fn parse_headers(raw: &str) -> Result<HashMap<String, String>, String> {
    let mut headers = HashMap::new();
    for (i, pair) in raw.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("pair {} has no '=': write name=value, comma-separated", i + 1));
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("pair {} has no valid header name before '='", i + 1));
        }
        if value.bytes().any(|b| b.is_ascii_control()) {
            return Err(format!("the value of {name} holds a control character"));
        }
        headers.insert(name.to_string(), value.trim().to_string());
    }
    Ok(headers)
}

/// How long one export may take (a collector that does not answer delays
/// the process's exit by at most this much and a second).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The installed telemetry; keep it until the process ends, then
/// [`Telemetry::shutdown`] to send the spans not yet exported.
#[derive(Debug, Default)]
#[must_use = "call shutdown() before exiting so the last spans are exported"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter's thread, within
    /// [`EXPORT_TIMEOUT`] and a second. Blocking: call it outside the async
    /// runtime or through `spawn_blocking`.
    pub fn shutdown(self) {
        if let Some(traces) = self.traces {
            if let Err(err) = traces.shutdown_with_timeout(EXPORT_TIMEOUT + Duration::from_secs(1)) {
                tracing::warn!(error = %err, "the last spans could not be exported");
            }
        }
    }
}

/// Installs the global subscriber. Safe to call more than once (the first
/// wins; later calls export nothing). Fails only when the OTLP exporter
/// cannot be built.
pub fn init(format: LogFormat, otlp: Option<&OtlpSettings>) -> Result<Telemetry, String> {
    let traces = otlp.map(tracer_provider).transpose()?;
    let otel = traces.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("gatehouse")));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let installed = match format {
        LogFormat::Text => registry.with(fmt::layer().with_target(false)).try_init(),
        LogFormat::Json => registry.with(fmt::layer().json().with_current_span(true).with_span_list(false)).try_init(),
    };
    if installed.is_err() {
        // Another subscriber was first: nothing would reach this exporter.
        if let Some(unused) = traces {
            let _ = unused.shutdown();
        }
        return Ok(Telemetry::default());
    }
    Ok(Telemetry { traces })
}

/// The batch exporter. Built on a thread of its own: the blocking HTTP
/// client it uses owns a runtime, which may be neither built nor dropped
/// inside the server's.
fn tracer_provider(otlp: &OtlpSettings) -> Result<SdkTracerProvider, String> {
    let url = otlp.traces_url();
    let headers = match &otlp.headers {
        Some(h) => parse_headers(h.expose())?,
        None => HashMap::new(),
    };
    let service = otlp.service_name.clone();
    std::thread::spawn(move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_headers(headers)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("the OTLP exporter cannot start: {e}"))?;
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
        Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
    })
    .join()
    .map_err(|_| "the OTLP exporter cannot start".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_errors_never_repeat_a_value() {
        let h = parse_headers("x-api-key=s3cret, x-team = blue ,").unwrap_or_default();
        assert_eq!(h.get("x-api-key").map(String::as_str), Some("s3cret"));
        assert_eq!(h.get("x-team").map(String::as_str), Some("blue"));
        for bad in ["s3cret", "=s3cret", "bad name=s3cret", "a=s3cret\u{7}"] {
            let err = parse_headers(bad).expect_err(bad);
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn the_traces_url_is_under_the_endpoint() {
        let mut s = OtlpSettings {
            endpoint: url::Url::parse("http://127.0.0.1:4318").unwrap_or_else(|_| unreachable!()),
            headers: None,
            service_name: "gatehouse".into(),
        };
        assert_eq!(s.traces_url(), "http://127.0.0.1:4318/v1/traces");
        s.endpoint = url::Url::parse("https://otel.example.com/otlp/").unwrap_or_else(|_| unreachable!());
        assert_eq!(s.traces_url(), "https://otel.example.com/otlp/v1/traces");
    }
}
