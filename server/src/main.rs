//! `server`: serves the Gatehouse web app.
//!
//!   server                   serve (settings: docs/configuration.md)
//!   server --check-config    print the effective configuration (secrets
//!                            redacted) and whether it is valid; exit 0 or 1
//!   server precompress [DIR] write the brotli and gzip copies of the built site
//!   server --help

use std::io::Write as _;
use std::process::ExitCode;

use server::config::{Layers, Settings};

const USAGE: &str = "usage: server [--check-config | precompress [DIR] | --help]
  (no argument)    serve the app; settings come from the environment and the
                   TOML file GATEHOUSE_CONFIG names (docs/configuration.md)
  --check-config   print the effective configuration, secrets redacted, and
                   check it: exit 0 when it is valid, 1 when it is not
  precompress DIR  after `scripts/sitebuild build --release`, write the brotli and
                   gzip copies of the site's files (DIR: its pkg directory)";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--check-config") if args.len() == 1 => return check_config(),
        Some("--help" | "-h") => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        None | Some("precompress") => {}
        Some(other) => {
            let _ = writeln!(std::io::stderr(), "server: unknown argument {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server stopped");
            let _ = writeln!(std::io::stderr(), "error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `--check-config`: the layers as the server would read them, then the verdict.
fn check_config() -> ExitCode {
    let mut out = std::io::stdout().lock();
    let layers = match Layers::from_env() {
        Ok(layers) => layers,
        Err(err) => {
            let _ = writeln!(out, "error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let _ = write!(out, "{}", layers.describe());
    for warning in layers.warnings() {
        let _ = writeln!(out, "warning: {warning}");
    }
    match Settings::from_layers(&layers) {
        Ok(_) => {
            let _ = writeln!(out, "The configuration is valid.");
            ExitCode::SUCCESS
        }
        Err(err) => {
            let _ = writeln!(out, "error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let layers = Layers::from_env()?;
    if args.first().map(String::as_str) == Some("precompress") {
        let _logs = server::telemetry::init(server::telemetry::LogFormat::Text, None)?;
        let dir = args.get(1).map(std::path::PathBuf::from).unwrap_or_else(|| {
            let root = layers.get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into());
            let pkg = layers.get("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into());
            std::path::Path::new(&root).join(pkg)
        });
        let done = server::assets::precompress(&dir).map_err(|e| {
            format!(
                "cannot precompress {}: {e}. Build the site first (scripts/sitebuild build --release)",
                dir.display()
            )
        })?;
        writeln!(
            std::io::stdout(),
            "{}: {} files compressed ({} bytes → {} brotli, {} gzip), {} already up to date",
            dir.display(),
            done.written,
            done.raw_bytes,
            done.brotli_bytes,
            done.gzip_bytes,
            done.fresh
        )?;
        return Ok(());
    }
    let settings = match Settings::from_layers(&layers) {
        Ok(settings) => settings,
        Err(err) => {
            for warning in layers.warnings() {
                let _ = writeln!(std::io::stderr(), "warning: {warning}");
            }
            return Err(err.into());
        }
    };
    let telemetry = server::telemetry::init(settings.log_format, settings.otlp.as_ref())?;
    for warning in layers.warnings() {
        tracing::warn!("{warning}");
    }
    if let Some(otlp) = &settings.otlp {
        tracing::info!(endpoint = %otlp.traces_url(), "exporting traces over OTLP");
    }
    let served = serve(settings).await;
    // The spans of the last requests go out before the process ends.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    served
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let app = server::startup::Application::build(settings).await?;
    tracing::info!(address = %app.addr(), "listening on http://{}", app.addr());
    app.run_until_stopped().await?;
    Ok(())
}
