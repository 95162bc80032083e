//! `sitebuild watch`: build, serve, and on every saved change rebuild what it
//! touches, restart the server and reload the open pages. Changes are found
//! by polling modification times (a few hundred files, every 300 ms), which
//! works the same on every file system and in containers.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::build;
use crate::project::Project;
use crate::reload::Reloader;
use crate::Error;

/// What a set of changed files needs rebuilt (each includes the ones before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    /// Styles or public assets: only the site directory.
    Site,
    /// Server-only Rust: the server, then the site.
    Server,
    /// Code the bundle compiles too: both builds, then the site.
    Both,
}

/// Every watched file with its modification time and length.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot(BTreeMap<PathBuf, (SystemTime, u64)>);

impl Snapshot {
    pub(crate) fn take(p: &Project) -> Self {
        let mut files = BTreeMap::new();
        for dir in watched(p) {
            walk(&dir, &mut files);
        }
        for file in ["Cargo.toml", "Cargo.lock"] {
            walk(&p.root.join(file), &mut files);
        }
        Snapshot(files)
    }

    /// Files added, removed or changed since `before`, relative to `root`.
    pub(crate) fn changed_since(&self, before: &Snapshot, root: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .0
            .iter()
            .filter(|(path, stamp)| before.0.get(*path) != Some(stamp))
            .map(|(path, _)| path.clone())
            .chain(before.0.keys().filter(|path| !self.0.contains_key(*path)).cloned())
            .map(|path| path.strip_prefix(root).map(Path::to_path_buf).unwrap_or(path))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The workspace members (but this tool), the style sheet's folder and the assets.
fn watched(p: &Project) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        p.members.iter().filter(|m| m.as_str() != env!("CARGO_PKG_NAME")).map(|m| p.root.join(m)).collect();
    if let Some(style_dir) = p.layout.style_file.parent() {
        dirs.push(p.root.join(style_dir));
    }
    dirs.push(p.root.join(&p.layout.assets_dir));
    dirs
}

fn walk(path: &Path, files: &mut BTreeMap<PathBuf, (SystemTime, u64)>) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    if meta.is_dir() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            return;
        }
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            walk(&entry.path(), files);
        }
    } else if let Ok(modified) = meta.modified() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !is_editor_scratch(name) {
            files.insert(path.to_path_buf(), (modified, meta.len()));
        }
    }
}

/// Editors' backup, lock and swap files are not changes.
fn is_editor_scratch(name: &str) -> bool {
    name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
}

/// What the changed files (relative to the workspace root) need rebuilt.
pub(crate) fn scope(p: &Project, changed: &[PathBuf]) -> Scope {
    let style_dir = p.layout.style_file.parent().unwrap_or(Path::new("style"));
    let front_side = |path: &Path| {
        // The bundle's package and the workspace crates it depends on.
        let first = path.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        matches!(path.to_str(), Some("Cargo.toml" | "Cargo.lock"))
            || first.is_some_and(|f| f == p.layout.lib_package || FRONT_CRATES.contains(&f.as_str()))
    };
    let mut scope = Scope::Site;
    for path in changed {
        if path.starts_with(style_dir) || path.starts_with(&p.layout.assets_dir) {
            continue;
        }
        if front_side(path) {
            return Scope::Both;
        }
        scope = Scope::Server;
    }
    scope
}

/// Workspace crates compiled into the bundle besides the library package.
const FRONT_CRATES: [&str; 2] = ["app", "rules"];

/// The served app, shared with the Ctrl-C handler.
#[derive(Default)]
struct Served {
    child: Option<Child>,
    /// Set by Ctrl-C / SIGTERM: no server may start any more.
    stopping: bool,
}

type Shared = Arc<Mutex<Served>>;

fn lock(served: &Shared) -> MutexGuard<'_, Served> {
    served.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn run(p: &Project) -> Result<(), Error> {
    let reloader = Reloader::start(p.reload_addr())?;
    eprintln!("sitebuild: live reload on ws://{}/live_reload", p.reload_addr());
    let served: Shared = Arc::default();
    {
        let served = served.clone();
        ctrlc::set_handler(move || {
            eprintln!("\nsitebuild: stopping the app");
            let child = {
                let mut served = lock(&served);
                served.stopping = true;
                served.child.take()
            };
            stop(child);
            std::process::exit(130);
        })
        .map_err(|e| Error::Signal(e.to_string()))?;
    }
    let mut snapshot = Snapshot::take(p);
    let mut pending = Some(Scope::Both);
    // What a failed build left to do: it joins the next change's rebuild.
    let mut unfinished: Option<Scope> = None;
    loop {
        if let Some(scope) = pending.take() {
            let t0 = Instant::now();
            match rebuild(p, scope, &served) {
                Ok(()) => {
                    unfinished = None;
                    let told = reloader.reload();
                    eprintln!(
                        "sitebuild: serving http://{} (ready in {:.1}s; reload sent to {told} page(s)); watching for changes",
                        p.layout.site_addr,
                        t0.elapsed().as_secs_f32()
                    );
                }
                Err(e) => {
                    unfinished = Some(scope);
                    eprintln!("sitebuild: {e}\nsitebuild: waiting for the next change");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let now = Snapshot::take(p);
        if now.changed_since(&snapshot, &p.root).is_empty() {
            continue;
        }
        // Let a save that writes several files finish.
        std::thread::sleep(Duration::from_millis(200));
        let settled = Snapshot::take(p);
        let changed = settled.changed_since(&snapshot, &p.root);
        snapshot = settled;
        if changed.is_empty() {
            continue;
        }
        let scope = scope(p, &changed).max(unfinished.unwrap_or(Scope::Site));
        let shown: Vec<String> = changed.iter().take(3).map(|c| c.display().to_string()).collect();
        let more = changed.len().saturating_sub(3);
        eprintln!(
            "sitebuild: changed {}{}; rebuilding {}",
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() },
            match scope {
                Scope::Site => "the site directory",
                Scope::Server => "the server",
                Scope::Both => "the bundle and the server",
            }
        );
        pending = Some(scope);
    }
}

/// Builds what `scope` needs, then replaces the running server: it stops
/// before the site changes (its pages name the bundle it was built with) and
/// the new one starts after.
fn rebuild(p: &Project, scope: Scope, served: &Shared) -> Result<(), Error> {
    match scope {
        Scope::Site => {}
        Scope::Server => build::server(p)?,
        Scope::Both => build::compile(p)?,
    }
    let old = lock(served).child.take();
    stop(old);
    build::site(p)?;
    let addr = p.layout.site_addr;
    if !port_free(addr) {
        return Err(Error::Plain(format!(
            "cannot start the app: {addr} is already in use (another copy of the app?); stop it or set LEPTOS_SITE_ADDR"
        )));
    }
    {
        let mut served = lock(served);
        if served.stopping {
            return Ok(());
        }
        served.child = Some(start(p)?);
    }
    wait_listening(addr, served)
}

fn start(p: &Project) -> Result<Child, Error> {
    let bin = p.server_bin();
    Command::new(&bin).current_dir(&p.root).envs(p.run_env(true)).spawn().map_err(|source| Error::Spawn {
        program: bin.display().to_string(),
        hint: "did the server build finish?",
        source,
    })
}

/// Asks the server to shut down gracefully (SIGTERM), and kills it after 10 s.
fn stop(server: Option<Child>) {
    let Some(mut child) = server else { return };
    // Already gone (and reaped): its process id may belong to another process now.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether nothing accepts connections on `addr` (waits up to 5 s for a
/// server that is going away to let go of it).
fn port_free(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Waits until the started server accepts connections, so the pages reload
/// into a server that answers; fails when it exits first or takes over 60 s.
fn wait_listening(addr: SocketAddr, served: &Shared) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        {
            let mut served = lock(served);
            match served.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => {}
                Some(Ok(Some(status))) => {
                    served.child = None;
                    return Err(Error::Plain(format!("the app exited ({status}); its log above says why")));
                }
                // Stopped by Ctrl-C meanwhile.
                _ => return Ok(()),
            }
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::Plain(format!("the app did not listen on {addr} within 60 s; its log above may say why")))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    fn project() -> Project {
        crate::project::sample(false, &[]).unwrap()
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn each_change_rebuilds_only_what_it_touches() {
        let p = project();
        assert_eq!(scope(&p, &paths(&["style/main.css"])), Scope::Site);
        assert_eq!(scope(&p, &paths(&["public/favicon.svg", "style/main.css"])), Scope::Site);
        assert_eq!(scope(&p, &paths(&["bff/src/lib.rs"])), Scope::Server);
        assert_eq!(scope(&p, &paths(&["server/src/main.rs", "style/main.css"])), Scope::Server);
        assert_eq!(scope(&p, &paths(&["app/src/lib.rs"])), Scope::Both);
        assert_eq!(scope(&p, &paths(&["rules/src/lib.rs"])), Scope::Both);
        assert_eq!(scope(&p, &paths(&["front-end/src/lib.rs"])), Scope::Both);
        assert_eq!(scope(&p, &paths(&["server/src/main.rs", "Cargo.lock"])), Scope::Both);
        // What a failed build left joins the next change's rebuild: the wider one wins.
        assert!(Scope::Site < Scope::Server && Scope::Server < Scope::Both);
        assert_eq!(Scope::Site.max(Scope::Both), Scope::Both);
    }

    #[test]
    fn editors_scratch_files_are_not_changes() {
        for name in [".#lib.rs", "#lib.rs#", "lib.rs~", ".lib.rs.swp", ".lib.rs.swx", "4913"] {
            assert!(is_editor_scratch(name), "{name}");
        }
        for name in ["lib.rs", "main.css", "#hash.rs"] {
            assert!(!is_editor_scratch(name), "{name}");
        }
    }

    #[test]
    fn the_tool_and_build_output_are_not_watched() {
        let p = project();
        let dirs = watched(&p);
        assert!(dirs.contains(&PathBuf::from("/w/app")) && dirs.contains(&PathBuf::from("/w/style")));
        assert!(dirs.contains(&PathBuf::from("/w/public")));
        assert!(!dirs.iter().any(|d| d.ends_with("sitebuild")));
    }

    #[test]
    fn added_changed_and_removed_files_are_all_changes() {
        let base = std::env::temp_dir().join(format!("sitebuild-watch-{}", std::process::id()));
        std::fs::create_dir_all(base.join("src")).unwrap();
        std::fs::create_dir_all(base.join("target")).unwrap();
        std::fs::write(base.join("src/a.rs"), "a").unwrap();
        std::fs::write(base.join("src/b.rs"), "b").unwrap();
        std::fs::write(base.join("target/out"), "x").unwrap();
        let take = || {
            let mut files = BTreeMap::new();
            walk(&base.join("src"), &mut files);
            walk(&base.join("target"), &mut files);
            Snapshot(files)
        };
        let before = take();
        assert_eq!(before.0.len(), 2, "target/ is skipped");
        std::fs::write(base.join("src/a.rs"), "a2").unwrap();
        std::fs::remove_file(base.join("src/b.rs")).unwrap();
        std::fs::write(base.join("src/c.rs"), "c").unwrap();
        std::fs::write(base.join("src/.#c.rs"), "lock").unwrap();
        let after = take();
        assert_eq!(after.changed_since(&before, &base), paths(&["src/a.rs", "src/b.rs", "src/c.rs"]));
        assert!(after.changed_since(&after, &base).is_empty());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
