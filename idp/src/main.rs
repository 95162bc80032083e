//! `idp`: runs the local Hanko-Identity-compatible OpenID provider.
//!
//! ```text
//! idp [--config FILE]               serve (default config: idp/dev.toml, built in)
//! idp rotate-key [--config FILE]    add a new active signing key
//! ```

use std::process::ExitCode;

use idp::{Config, Idp};

const USAGE: &str = "usage: idp [serve|rotate-key] [--config FILE]\n\
  Without --config, IDP_CONFIG or the built-in development config (idp/dev.toml) is used.\n\
  IDP_LISTEN, IDP_ISSUER and IDP_DATA_DIR override the file.";

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut command = "serve".to_string();
    let mut config_path = std::env::var("IDP_CONFIG").ok().filter(|s| !s.is_empty());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config_path = Some(args.next().ok_or("--config needs a file path")?),
            "serve" | "rotate-key" => command = arg,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}").into()),
        }
    }
    let config = match config_path {
        Some(path) => Config::from_file(std::path::Path::new(&path))?,
        None => Config::from_toml(idp::config::DEV_CONFIG, "built-in idp/dev.toml")?,
    };
    let config = config.with_env(|k| std::env::var(k).ok())?;
    match command.as_str() {
        "rotate-key" => {
            let db = idp::db::open(&config.storage).await?;
            let keys =
                idp::keys::Keys::load(db, config.ttl.access_token.max(config.ttl.id_token), config.signing_alg).await?;
            let kid = keys.rotate().await?;
            eprintln!("idp: new active signing key {kid}; the previous key stays in the JWKS until its tokens expire. A running provider switches to it within a minute.");
            Ok(())
        }
        _ => {
            let idp = Idp::build(config).await?;
            tracing::info!(issuer = %idp.issuer(), "OpenID provider listening on http://{}", idp.addr());
            idp.run_until_stopped().await?;
            Ok(())
        }
    }
}
