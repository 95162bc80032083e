//! `server`: serves the Gatehouse web app.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    server::telemetry::init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server stopped");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // `server precompress [DIR]`: after `cargo leptos build --release`, writes
    // the brotli and gzip copies the server sends (DIR: the site's pkg dir).
    if std::env::args().nth(1).as_deref() == Some("precompress") {
        let dir = std::env::args().nth(2).map(std::path::PathBuf::from).unwrap_or_else(|| {
            let root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
            let pkg = std::env::var("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|_| "pkg".into());
            std::path::Path::new(&root).join(pkg)
        });
        let done = server::assets::precompress(&dir).map_err(|e| {
            format!("cannot precompress {}: {e}. Build the site first (cargo leptos build --release)", dir.display())
        })?;
        use std::io::Write as _;
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
    let settings = server::config::Settings::from_env()?;
    let app = server::startup::Application::build(settings).await?;
    tracing::info!(address = %app.addr(), "listening on http://{}", app.addr());
    app.run_until_stopped().await?;
    Ok(())
}
