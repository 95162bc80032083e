//! `sitebuild`: the project's build command. It builds the WASM bundle
//! (`cargo build` for `wasm32-unknown-unknown`, then `wasm-bindgen` as a
//! library, then `wasm-opt` and `terser` for release builds), writes the site directory
//! (content-hashed bundle, styles, public assets, `hash.txt`), builds the
//! server, and in `watch` mode serves the app, rebuilding and reloading the
//! browser on every change.
//!
//! It reads the layout from `[[workspace.metadata.leptos]]` in the
//! workspace's `Cargo.toml`, the table cargo-leptos reads, and produces the
//! same site, so either tool works on this project.

mod build;
mod error;
mod project;
mod reload;
mod watch;

use std::process::ExitCode;

pub(crate) use error::Error;
use project::Project;

const USAGE: &str = "\
usage: sitebuild build [--release]   build the bundle, the site directory and the server
       sitebuild watch [--release]   build, serve, and rebuild and reload the page on every change

The layout comes from [[workspace.metadata.leptos]] in the workspace's Cargo.toml;
LEPTOS_SITE_ADDR and LEPTOS_RELOAD_PORT override its addresses.";

enum Command {
    Build,
    Watch,
}

fn parse(args: &[String]) -> Result<(Command, bool), String> {
    let mut command = None;
    let mut release = false;
    for arg in args {
        match arg.as_str() {
            "build" if command.is_none() => command = Some(Command::Build),
            "watch" if command.is_none() => command = Some(Command::Watch),
            "--release" | "-r" => release = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    command.map(|c| (c, release)).ok_or_else(|| "say what to do: build or watch".to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (command, release) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("sitebuild: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = Project::load(release).and_then(|project| match command {
        Command::Build => build::everything(&project),
        Command::Watch => watch::run(&project),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sitebuild: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_command_line_is_read_strictly() {
        assert!(matches!(parse(&args(&["build"])), Ok((Command::Build, false))));
        assert!(matches!(parse(&args(&["watch", "--release"])), Ok((Command::Watch, true))));
        assert!(matches!(parse(&args(&["--release", "build"])), Ok((Command::Build, true))));
        assert_eq!(parse(&args(&[])).err().as_deref(), Some("say what to do: build or watch"));
        assert_eq!(parse(&args(&["build", "--fast"])).err().as_deref(), Some("unknown argument \"--fast\""));
        assert!(parse(&args(&["build", "watch"])).is_err());
    }
}
