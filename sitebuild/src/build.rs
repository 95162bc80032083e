//! The build steps: the WASM bundle and the server (two cargo builds, run
//! side by side), then the site directory.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use wasm_bindgen_cli_support::Bindgen;

use crate::project::Project;
use crate::Error;

/// Builds the bundle and the server at once, then writes the site.
pub(crate) fn everything(p: &Project) -> Result<(), Error> {
    compile(p)?;
    site(p)
}

/// The two cargo builds, side by side.
pub(crate) fn compile(p: &Project) -> Result<(), Error> {
    let (front, server) = std::thread::scope(|s| {
        let front = s.spawn(|| front(p));
        let server = server(p);
        (
            front.join().unwrap_or_else(|_| {
                Err(Error::Step { step: "the WASM build".into(), detail: "its thread panicked".into() })
            }),
            server,
        )
    });
    front.and(server)
}

/// `cargo build` of the library package for `wasm32-unknown-unknown`.
pub(crate) fn front(p: &Project) -> Result<(), Error> {
    let mut cmd = cargo(p);
    cmd.args(["build", "--package", &p.layout.lib_package, "--lib", "--target", "wasm32-unknown-unknown"]);
    cmd.arg("--target-dir").arg(p.front_target());
    if let Some(profile) = p.lib_profile() {
        cmd.args(["--profile", profile]);
    }
    timed(&format!("the WASM build (cargo build -p {})", p.layout.lib_package), || run(cmd, "cargo"))
}

/// `cargo build` of the server binary.
pub(crate) fn server(p: &Project) -> Result<(), Error> {
    let mut cmd = cargo(p);
    cmd.args(["build", "--package", &p.layout.bin_package, "--bin", &p.layout.bin_package]);
    if p.release {
        cmd.arg("--release");
    }
    timed(&format!("the server build (cargo build -p {})", p.layout.bin_package), || run(cmd, "cargo"))
}

/// The site directory: the bundle through wasm-bindgen (and wasm-opt and
/// terser for a release), the style sheet, content-hashed names with
/// `hash.txt`, and the public assets.
///
/// The new files are made in a staging folder, then moved in beside the old
/// ones (hashed names never collide), `hash.txt` is replaced in one rename,
/// and only then are old bundles removed — except those the other profile's
/// `hash.txt` names, so a debug and a release build can share the site.
pub(crate) fn site(p: &Project) -> Result<(), Error> {
    timed("the site directory", || {
        let name = &p.layout.output_name;
        let pkg = p.pkg_dir();
        let staging = p.site_root().join(format!(".{}-{}.new", p.layout.site_pkg_dir, p.profile_dir()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(Error::io("remove", &staging))?;
        }
        fs::create_dir_all(&staging).map_err(Error::io("create", &staging))?;

        let wasm = p.wasm_source();
        if !wasm.exists() {
            return Err(Error::Plain(format!("the WASM build left no {}; build again", wasm.display())));
        }
        let bindgen_err = |e| bindgen_error(&wasm, e);
        let mut bindgen = Bindgen::new();
        bindgen.input_path(&wasm).out_name(name).typescript(false);
        bindgen.web(true).map_err(bindgen_err)?;
        bindgen.generate(&staging).map_err(bindgen_err)?;
        let bundle = staging.join(format!("{name}.wasm"));
        let from = staging.join(format!("{name}_bg.wasm"));
        fs::rename(&from, &bundle).map_err(Error::io("rename", &from))?;
        if p.release {
            wasm_opt(&bundle)?;
            minify(&staging.join(format!("{name}.js")))?;
        }
        let style = p.root.join(&p.layout.style_file);
        let css = staging.join(format!("{name}.css"));
        fs::copy(&style, &css).map_err(Error::io("copy", &style))?;

        let hashes = if p.layout.hash_files {
            let mut hashes = String::new();
            for ext in BUNDLE {
                let file = staging.join(format!("{name}.{ext}"));
                let hash = content_hash(&fs::read(&file).map_err(Error::io("read", &file))?);
                let hashed = staging.join(format!("{name}.{hash}.{ext}"));
                fs::rename(&file, &hashed).map_err(Error::io("rename", &file))?;
                hashes.push_str(&format!("{ext}: {hash}\n"));
            }
            Some(hashes)
        } else {
            None
        };
        publish(&staging, &pkg, name, &p.hash_file(), hashes.as_deref(), &p.hash_files())?;
        fs::remove_dir_all(&staging).map_err(Error::io("remove", &staging))?;
        copy_dir(&p.root.join(&p.layout.assets_dir), &p.site_root())
    })
}

/// The bundle's files, by extension.
const BUNDLE: [&str; 3] = ["js", "wasm", "css"];

/// Moves the staged files into `pkg`, writes `hash_file` (or removes it when
/// names are not hashed), then removes hashed bundles that no file of
/// `all_hash_files` names any more, with their precompressed copies.
fn publish(
    staging: &Path,
    pkg: &Path,
    name: &str,
    hash_file: &Path,
    hashes: Option<&str>,
    all_hash_files: &[std::path::PathBuf],
) -> Result<(), Error> {
    fs::create_dir_all(pkg).map_err(Error::io("create", pkg))?;
    for entry in fs::read_dir(staging).map_err(Error::io("read", staging))? {
        let entry = entry.map_err(Error::io("read", staging))?;
        let dest = pkg.join(entry.file_name());
        if dest.is_dir() {
            fs::remove_dir_all(&dest).map_err(Error::io("remove", &dest))?;
        }
        // Precompressed copies of an unhashed file would be stale.
        for suffix in ["br", "gz"] {
            let _ = fs::remove_file(pkg.join(format!("{}.{suffix}", entry.file_name().to_string_lossy())));
        }
        fs::rename(entry.path(), &dest).map_err(Error::io("move", entry.path()))?;
    }
    match hashes {
        Some(hashes) => {
            if let Some(dir) = hash_file.parent() {
                fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
            }
            let tmp = hash_file.with_extension("txt.new");
            fs::write(&tmp, hashes).map_err(Error::io("write", &tmp))?;
            fs::rename(&tmp, hash_file).map_err(Error::io("rename", &tmp))?;
        }
        None => {
            // Leptos would otherwise look for hashed names that no longer exist.
            if hash_file.exists() {
                fs::remove_file(hash_file).map_err(Error::io("remove", hash_file))?;
            }
            return Ok(());
        }
    }
    let mut kept = Vec::new();
    for file in all_hash_files {
        for line in fs::read_to_string(file).unwrap_or_default().lines() {
            if let Some((ext, hash)) = line.split_once(':') {
                kept.push(format!("{name}.{}.{}", hash.trim(), ext.trim()));
            }
        }
    }
    for entry in fs::read_dir(pkg).map_err(Error::io("read", pkg))?.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let base = file.strip_suffix(".br").or_else(|| file.strip_suffix(".gz")).unwrap_or(&file);
        let hashed_bundle = base
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(hash, ext)| hash.len() == 22 && BUNDLE.contains(&ext));
        if hashed_bundle && !kept.iter().any(|k| k == base) {
            let path = entry.path();
            fs::remove_file(&path).map_err(Error::io("remove", &path))?;
        }
    }
    Ok(())
}

fn bindgen_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Bindgen { path: path.to_path_buf(), message: format!("{e:#}") }
}

/// 128 bits of SHA-256 in URL-safe base64: 22 characters, like cargo-leptos's names.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(bytes)[..16])
}

fn wasm_opt(file: &Path) -> Result<(), Error> {
    let mut cmd = Command::new("wasm-opt");
    cmd.args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"]).arg(file).arg("-o").arg(file);
    timed("wasm-opt -Oz", || run(cmd, "wasm-opt"))
}

/// The JS glue, minified as an ES module (terser from npm; 40 KB to 18 KB).
fn minify(file: &Path) -> Result<(), Error> {
    let mut cmd = Command::new("terser");
    cmd.arg(file).args(["--module", "--compress", "--mangle", "--output"]).arg(file);
    timed("terser (the JS glue)", || run(cmd, "terser"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(Error::io("create", to))?;
    for entry in fs::read_dir(from).map_err(Error::io("read", from))? {
        let entry = entry.map_err(Error::io("read", from))?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_dir(&source, &dest)?;
        } else {
            fs::copy(&source, &dest).map_err(Error::io("copy", &source))?;
        }
    }
    Ok(())
}

fn cargo(p: &Project) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&p.root).envs(p.build_env());
    cmd
}

fn run(mut cmd: Command, program: &str) -> Result<(), Error> {
    let hint = match program {
        "wasm-opt" | "terser" => {
            "run scripts/setup, which installs it from npm into tools/ (and source scripts/env.sh)"
        }
        _ => "is the Rust toolchain installed?",
    };
    let status = cmd.status().map_err(|source| Error::Spawn { program: program.into(), hint, source })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Step { step: program.to_string(), detail: format!("{program}: {status}") })
    }
}

/// Runs a step, printing how long it took, and naming it when it fails.
pub(crate) fn timed(step: &str, f: impl FnOnce() -> Result<(), Error>) -> Result<(), Error> {
    let t0 = Instant::now();
    eprintln!("sitebuild: {step}…");
    let outcome = f();
    let took = t0.elapsed().as_secs_f32();
    match &outcome {
        Ok(()) => eprintln!("sitebuild: {step} done in {took:.1}s"),
        Err(Error::Step { .. }) => eprintln!("sitebuild: {step} failed after {took:.1}s"),
        Err(_) => {}
    }
    outcome.map_err(|e| match e {
        Error::Step { detail, .. } => Error::Step { step: step.to_string(), detail },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;
    use std::path::PathBuf;

    /// The names under a directory, sorted.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().strip_prefix(dir).map(Path::to_path_buf).unwrap_or_default())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn content_hashes_are_22_url_safe_characters_that_follow_the_content() {
        let a = content_hash(b"bundle");
        assert_eq!(a.len(), 22);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
        assert_eq!(a, content_hash(b"bundle"));
        assert_ne!(a, content_hash(b"bundle!"));
    }

    /// wasm-bindgen's generated glue only works with the runtime it was
    /// generated for: the library this tool links and the crate the bundle
    /// links must be the same version.
    #[test]
    fn the_bindgen_library_is_the_version_the_bundle_links() {
        let lock = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock")).unwrap();
        let version = |name: &str| {
            let mut lines = lock.lines();
            lines.find(|l| *l == format!("name = \"{name}\""))?;
            lines.next()?.strip_prefix("version = ").map(|v| v.trim_matches('"').to_string())
        };
        let runtime = version("wasm-bindgen").unwrap();
        assert_eq!(version("wasm-bindgen-cli-support").as_deref(), Some(runtime.as_str()));
    }

    #[test]
    fn a_new_bundle_moves_in_beside_the_old_and_only_bundles_nothing_names_are_removed() {
        let base = std::env::temp_dir().join(format!("sitebuild-publish-{}", std::process::id()));
        let (staging, pkg) = (base.join("staging"), base.join("pkg"));
        let (debug, release) = (base.join("debug/hash.txt"), base.join("release/hash.txt"));
        let (old, other, new) = ("A".repeat(22), "B".repeat(22), "C".repeat(22));
        for dir in [&staging, &pkg, &base.join("debug"), &base.join("release")] {
            fs::create_dir_all(dir).unwrap();
        }
        // The site holds the last debug bundle (with a brotli copy), the release
        // build's bundle, and a file that is not a bundle.
        fs::write(pkg.join(format!("g.{old}.js")), "old").unwrap();
        fs::write(pkg.join(format!("g.{old}.js.br")), "old").unwrap();
        fs::write(pkg.join(format!("g.{other}.wasm")), "release").unwrap();
        fs::write(pkg.join("notes.txt"), "keep").unwrap();
        fs::write(&debug, format!("js: {old}\n")).unwrap();
        fs::write(&release, format!("wasm: {other}\n")).unwrap();
        fs::write(staging.join(format!("g.{new}.js")), "new").unwrap();

        let all = [debug.clone(), release.clone()];
        publish(&staging, &pkg, "g", &debug, Some(&format!("js: {new}\n")), &all).unwrap();
        let names = |v: &[String]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(files(&pkg), names(&[format!("g.{other}.wasm"), format!("g.{new}.js"), "notes.txt".into()]));
        assert_eq!(fs::read_to_string(&debug).unwrap(), format!("js: {new}\n"));
        assert!(!base.join("debug/hash.txt.new").exists());

        // Without hashed names the files are replaced in place, their stale
        // precompressed copies and the hash file go.
        fs::write(pkg.join("g.js"), "old").unwrap();
        fs::write(pkg.join("g.js.gz"), "old").unwrap();
        fs::write(staging.join("g.js"), "plain").unwrap();
        publish(&staging, &pkg, "g", &debug, None, &all).unwrap();
        assert_eq!(fs::read_to_string(pkg.join("g.js")).unwrap(), "plain");
        assert!(!pkg.join("g.js.gz").exists() && !debug.exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn public_assets_are_copied_with_their_folders() {
        let base = std::env::temp_dir().join(format!("sitebuild-assets-{}", std::process::id()));
        let (from, to) = (base.join("public"), base.join("site"));
        fs::create_dir_all(from.join("img")).unwrap();
        fs::write(from.join("favicon.svg"), "<svg/>").unwrap();
        fs::write(from.join("img/logo.png"), [1u8, 2, 3]).unwrap();
        copy_dir(&from, &to).unwrap();
        assert_eq!(files(&to), [PathBuf::from("favicon.svg"), PathBuf::from("img")]);
        assert_eq!(fs::read(to.join("img/logo.png")).unwrap(), [1, 2, 3]);
        let e = copy_dir(&base.join("missing"), &to).unwrap_err().to_string();
        assert!(e.starts_with("cannot read ") && e.contains("missing"), "{e}");
        fs::remove_dir_all(&base).unwrap();
    }
}
