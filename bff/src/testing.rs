//! A throwaway PostgreSQL server for tests, as the tests start their own
//! `redis-server`: Debian's `postgresql` package (`scripts/setup` installs
//! it), a data directory copied from a template made once by `initdb`, a
//! free loopback port, stopped and removed on drop. Run as the `postgres`
//! user when the tests run as root (PostgreSQL refuses root).
#![expect(clippy::print_stderr, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL server of this test's own.
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    running: bool,
}

impl PgServer {
    /// Starts a fresh server (an empty cluster, user `postgres`, trust auth on loopback).
    pub fn start() -> Self {
        let bin = bin_dir();
        let template = template(&bin);
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-pg-{}-{}",
            std::process::id(),
            crate::random_token().chars().take(10).collect::<String>()
        ));
        run(Command::new("cp").arg("-a").arg(&template).arg(&dir), "copy the template cluster");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Self { dir, bin, port, running: false };
        server.resume();
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates database `name`; its URL.
    pub fn create_database(&self, name: &str) -> String {
        run(
            Command::new("psql")
                .arg(self.url("postgres"))
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
                .arg(format!("CREATE DATABASE \"{name}\"")),
            "create a database",
        );
        self.url(name)
    }

    /// `psql -c sql` against `database`; its output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .arg(self.url(database))
            .args(["-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql (from postgresql-client, installed with postgresql)");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&mut self) {
        if self.running {
            run(&mut self.pg_ctl(&["stop", "-m", "fast", "-w"]), "stop PostgreSQL");
            self.running = false;
        }
    }

    /// Starts it again on the same port, with the same data.
    pub fn resume(&mut self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let log = log.to_str().unwrap().to_string();
        let mut cmd = self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log, "-o", &opts]);
        if !cmd.status().is_ok_and(|s| s.success()) {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!("PostgreSQL did not start on port {}: {log}", self.port);
        }
        self.running = true;
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut cmd = as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(&self.dir).args(args);
        cmd.stdout(std::process::Stdio::null());
        cmd
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where Debian keeps the server's programs: `GATEHOUSE_PG_BIN`, the
/// directory of `pg_ctl` on the PATH, or the newest /usr/lib/postgresql/*/bin.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GATEHOUSE_PG_BIN") {
        return PathBuf::from(dir);
    }
    if let Ok(out) = Command::new("sh").args(["-c", "command -v pg_ctl"]).output() {
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !path.is_empty() {
            if let Some(dir) = std::fs::canonicalize(&path).ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
                return dir;
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!("PostgreSQL is needed for these tests: run scripts/setup (or apt install postgresql)")
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|v| v.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// `program`, run as the `postgres` user when this process is root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Whether `dir` belongs to the user the servers run as and nobody else may read it.
fn private_to_us(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return false };
    let owner_ok = if is_root() {
        Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .ok()
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().ok() == Some(meta.uid()))
    } else {
        meta.uid() == current_uid()
    };
    meta.is_dir() && owner_ok && meta.mode() & 0o077 == 0
}

fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot {what}: {e}"));
    assert!(out.status.success(), "cannot {what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An `initdb` cluster made once per machine and user (version in the
/// name), copied for each server.
fn template(bin: &Path) -> PathBuf {
    // One maker per process; other processes are told apart by the temporary name.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    let version = bin.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("pg").to_string();
    let template = std::env::temp_dir().join(format!("gatehouse-pg-template-{version}-{}", current_uid()));
    if template.join("PG_VERSION").exists() && private_to_us(&template) {
        return template;
    }
    // Not ours, or not private: never used (removed when we may).
    let _ = std::fs::remove_dir_all(&template);
    let making = template.with_extension(format!("{}-{}.tmp", std::process::id(), crate::random_token()));
    let _ = std::fs::remove_dir_all(&making);
    std::fs::create_dir_all(&making).unwrap();
    if is_root() {
        run(Command::new("chown").arg("postgres:postgres").arg(&making), "give the template to the postgres user");
    }
    run(
        as_postgres(&bin.join("initdb")).arg("-D").arg(&making).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]),
        "initdb a template cluster",
    );
    if std::fs::rename(&making, &template).is_err() {
        // Another test process made it meanwhile, or a stranger's is in the way.
        if template.join("PG_VERSION").exists() && private_to_us(&template) {
            let _ = std::fs::remove_dir_all(&making);
        } else {
            return making;
        }
    }
    eprintln!("a PostgreSQL template cluster is at {}", template.display());
    template
}
