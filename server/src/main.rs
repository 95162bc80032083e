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
    let settings = server::config::Settings::from_env()?;
    let app = server::startup::Application::build(settings).await?;
    tracing::info!(address = %app.addr(), "listening on http://{}", app.addr());
    app.run_until_stopped().await?;
    Ok(())
}
