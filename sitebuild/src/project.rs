//! The project's layout: `[[workspace.metadata.leptos]]` in the workspace's
//! `Cargo.toml`, with `LEPTOS_SITE_ADDR` / `LEPTOS_RELOAD_PORT` overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The keys of the metadata table this tool uses (others are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Layout {
    pub(crate) output_name: String,
    pub(crate) bin_package: String,
    pub(crate) lib_package: String,
    pub(crate) site_root: PathBuf,
    pub(crate) site_pkg_dir: String,
    pub(crate) style_file: PathBuf,
    pub(crate) assets_dir: PathBuf,
    pub(crate) site_addr: SocketAddr,
    pub(crate) reload_port: u16,
    #[serde(default)]
    pub(crate) lib_profile_release: Option<String>,
    #[serde(default)]
    pub(crate) hash_files: bool,
}

#[derive(Deserialize)]
struct Manifest {
    workspace: Workspace,
}

#[derive(Deserialize)]
struct Workspace {
    members: Vec<String>,
    metadata: WorkspaceMetadata,
}

#[derive(Deserialize)]
struct WorkspaceMetadata {
    leptos: Vec<Layout>,
}

/// Where everything is, for a debug or a release build.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) root: PathBuf,
    pub(crate) layout: Layout,
    pub(crate) members: Vec<String>,
    pub(crate) release: bool,
    target: PathBuf,
}

impl Project {
    /// Reads the workspace this tool belongs to.
    pub(crate) fn load(release: bool) -> Result<Self, Error> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default();
        let manifest = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(Error::io("read", &manifest))?;
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        Self::from_manifest(&root, &text, release, env)
    }

    pub(crate) fn from_manifest(
        root: &Path,
        text: &str,
        release: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let path = root.join("Cargo.toml");
        let settings = |message: String| Error::Settings { path: path.clone(), message };
        let manifest: Manifest = toml::from_str(text)
            .map_err(|e| settings(format!("[[workspace.metadata.leptos]] is missing or incomplete: {e}")))?;
        let mut layout = manifest
            .workspace
            .metadata
            .leptos
            .into_iter()
            .next()
            .ok_or_else(|| settings("[[workspace.metadata.leptos]] is empty".into()))?;
        if let Some(addr) = env("LEPTOS_SITE_ADDR") {
            layout.site_addr = addr
                .parse()
                .map_err(|_| settings(format!("LEPTOS_SITE_ADDR={addr:?} is not an address like 127.0.0.1:3000")))?;
        }
        if let Some(port) = env("LEPTOS_RELOAD_PORT") {
            layout.reload_port =
                port.parse().map_err(|_| settings(format!("LEPTOS_RELOAD_PORT={port:?} is not a port number")))?;
        }
        if layout.reload_port == layout.site_addr.port() {
            return Err(settings(format!(
                "the site ({}) and live reload (port {}) need different ports: change site-addr or reload-port",
                layout.site_addr, layout.reload_port
            )));
        }
        let target = env("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let target = if target.is_absolute() { target } else { root.join(target) };
        Ok(Self { root: root.to_path_buf(), layout, members: manifest.workspace.members, release, target })
    }

    pub(crate) fn profile_dir(&self) -> &'static str {
        if self.release {
            "release"
        } else {
            "debug"
        }
    }

    /// The cargo profile of the WASM build (`None`: the dev profile).
    pub(crate) fn lib_profile(&self) -> Option<&str> {
        self.release.then(|| self.layout.lib_profile_release.as_deref().unwrap_or("release"))
    }

    /// The target directory of the WASM build (cargo-leptos's `front`).
    pub(crate) fn front_target(&self) -> PathBuf {
        self.target.join("front")
    }

    /// The WASM file cargo writes.
    pub(crate) fn wasm_source(&self) -> PathBuf {
        let dir = match self.lib_profile() {
            None => "debug",
            Some("dev") => "debug",
            Some(profile) => profile,
        };
        self.front_target()
            .join("wasm32-unknown-unknown")
            .join(dir)
            .join(format!("{}.wasm", self.layout.lib_package.replace('-', "_")))
    }

    pub(crate) fn site_root(&self) -> PathBuf {
        self.root.join(&self.layout.site_root)
    }

    pub(crate) fn pkg_dir(&self) -> PathBuf {
        self.site_root().join(&self.layout.site_pkg_dir)
    }

    pub(crate) fn server_bin(&self) -> PathBuf {
        self.target.join(self.profile_dir()).join(&self.layout.bin_package)
    }

    /// Leptos reads the bundle's hashes from `hash.txt` beside the server binary.
    pub(crate) fn hash_file(&self) -> PathBuf {
        self.target.join(self.profile_dir()).join("hash.txt")
    }

    /// The `hash.txt` of both profiles (they share the site directory).
    pub(crate) fn hash_files(&self) -> [PathBuf; 2] {
        ["debug", "release"].map(|dir| self.target.join(dir).join("hash.txt"))
    }

    pub(crate) fn reload_addr(&self) -> SocketAddr {
        SocketAddr::new(self.layout.site_addr.ip(), self.layout.reload_port)
    }

    /// Environment of the cargo builds. Debug builds erase view types
    /// (`--cfg erase_components`), which compiles much faster, as cargo-leptos does.
    pub(crate) fn build_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("LEPTOS_OUTPUT_NAME", self.layout.output_name.clone())];
        if !self.release {
            let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
            env.push(("RUSTFLAGS", format!("{flags} --cfg erase_components").trim().to_string()));
        }
        env
    }

    /// Environment of the running server.
    pub(crate) fn run_env(&self, watch: bool) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("LEPTOS_OUTPUT_NAME", self.layout.output_name.clone()),
            ("LEPTOS_SITE_ROOT", self.site_root().display().to_string()),
            ("LEPTOS_SITE_PKG_DIR", self.layout.site_pkg_dir.clone()),
            ("LEPTOS_SITE_ADDR", self.layout.site_addr.to_string()),
            ("LEPTOS_RELOAD_PORT", self.layout.reload_port.to_string()),
            ("LEPTOS_HASH_FILES", self.layout.hash_files.to_string()),
            ("LEPTOS_HASH_FILE_NAME", "hash.txt".to_string()),
        ];
        if watch {
            env.push(("LEPTOS_WATCH", "true".to_string()));
        }
        env
    }
}

/// A project with this workspace's shape, for tests.
#[cfg(test)]
pub(crate) fn sample(release: bool, env: &[(&str, &str)]) -> Result<Project, Error> {
    const MANIFEST: &str = r#"
[workspace]
members = ["app", "bff", "front-end", "rules", "server", "sitebuild"]

[[workspace.metadata.leptos]]
name = "demo"
output-name = "demo"
bin-package = "server"
lib-package = "front-end"
site-root = "target/site"
site-pkg-dir = "pkg"
style-file = "style/main.css"
assets-dir = "public"
site-addr = "127.0.0.1:3000"
reload-port = 3002
lib-profile-release = "wasm-release"
hash-files = true
"#;
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Project::from_manifest(Path::new("/w"), MANIFEST, release, move |k| {
        env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_layout_gives_every_path_for_debug_and_release() {
        let debug = sample(false, &[]).unwrap();
        assert_eq!(debug.wasm_source(), Path::new("/w/target/front/wasm32-unknown-unknown/debug/front_end.wasm"));
        assert_eq!(debug.server_bin(), Path::new("/w/target/debug/server"));
        assert_eq!(debug.hash_file(), Path::new("/w/target/debug/hash.txt"));
        assert_eq!(debug.pkg_dir(), Path::new("/w/target/site/pkg"));
        assert_eq!(debug.lib_profile(), None);
        assert!(debug.build_env().iter().any(|(k, v)| *k == "RUSTFLAGS" && v.ends_with("--cfg erase_components")));

        let release = sample(true, &[("CARGO_TARGET_DIR", "/t")]).unwrap();
        assert_eq!(release.lib_profile(), Some("wasm-release"));
        assert_eq!(release.wasm_source(), Path::new("/t/front/wasm32-unknown-unknown/wasm-release/front_end.wasm"));
        assert_eq!(release.server_bin(), Path::new("/t/release/server"));
        assert!(release.build_env().iter().all(|(k, _)| *k != "RUSTFLAGS"));
        assert_eq!(release.members, ["app", "bff", "front-end", "rules", "server", "sitebuild"]);
    }

    #[test]
    fn addresses_can_be_overridden_and_bad_ones_are_named() {
        let p = sample(false, &[("LEPTOS_SITE_ADDR", "127.0.0.1:4000"), ("LEPTOS_RELOAD_PORT", "4002")]).unwrap();
        assert_eq!(p.reload_addr().to_string(), "127.0.0.1:4002");
        assert!(p.run_env(true).contains(&("LEPTOS_SITE_ADDR", "127.0.0.1:4000".to_string())));
        assert!(p.run_env(true).contains(&("LEPTOS_WATCH", "true".to_string())));
        assert!(!p.run_env(false).iter().any(|(k, _)| *k == "LEPTOS_WATCH"));

        let e = sample(false, &[("LEPTOS_RELOAD_PORT", "x")]).unwrap_err().to_string();
        assert!(e.contains("LEPTOS_RELOAD_PORT=\"x\" is not a port number"), "{e}");
        let e = sample(false, &[("LEPTOS_RELOAD_PORT", "3000")]).unwrap_err().to_string();
        assert!(e.contains("need different ports"), "{e}");
        let e = sample(false, &[("LEPTOS_SITE_ADDR", "localhost")]).unwrap_err().to_string();
        assert!(e.contains("LEPTOS_SITE_ADDR=\"localhost\""), "{e}");
    }

    #[test]
    fn a_manifest_without_the_table_is_refused_clearly() {
        let e = Project::from_manifest(Path::new("/w"), "[workspace]\nmembers = []\n", false, |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[[workspace.metadata.leptos]] is missing or incomplete"), "{e}");
    }
}
