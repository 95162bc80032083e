//! The site's static files (the WASM bundle, its JS, the stylesheet): served
//! precompressed — a `.br` and a `.gz` written beside each file once, after
//! the build (`server precompress`, or at startup for any file still missing
//! them) — with `Content-Encoding` chosen from `Accept-Encoding` and
//! `Vary: Accept-Encoding`. Under hashed file names (`hash-files`) they are
//! cached for a year as `immutable`; otherwise a cache must revalidate them.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// What [`precompress`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Precompressed {
    /// Files compressed now.
    pub written: usize,
    /// Files whose compressed copies were already up to date.
    pub fresh: usize,
    /// Bytes of the files compressed now, and of their brotli and gzip copies.
    pub raw_bytes: u64,
    pub brotli_bytes: u64,
    pub gzip_bytes: u64,
}

/// Files worth compressing (text and WASM; images other than SVG are compressed already).
fn compressible(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("wasm" | "js" | "mjs" | "css" | "svg" | "html" | "json" | "txt" | "map")
    )
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether `copy` exists and is at least as new as `source`.
fn up_to_date(copy: &Path, source: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(copy), modified(source)), (Some(c), Some(s)) if c >= s)
}

/// Writes `bytes` to `path` through a temporary file, so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Unique per writer: several processes may precompress one site at once.
    let tmp = with_suffix(path, &format!(".{}.{}.tmp", std::process::id(), rand_suffix()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// Brotli at the highest quality (this runs once per build, not per request).
pub fn brotli(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, 11, 22);
        w.write_all(bytes)?;
    }
    Ok(out)
}

/// Gzip at the highest level.
pub fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::best());
    w.write_all(bytes)?;
    w.finish()
}

/// Writes `<file>.br` and `<file>.gz` beside every compressible file under
/// `dir` (recursively) whose copies are missing or older than the file.
pub fn precompress(dir: &Path) -> io::Result<Precompressed> {
    let mut done = Precompressed::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if !compressible(&path) {
                continue;
            }
            let (br, gz) = (with_suffix(&path, ".br"), with_suffix(&path, ".gz"));
            if up_to_date(&br, &path) && up_to_date(&gz, &path) {
                done.fresh += 1;
                continue;
            }
            let bytes = std::fs::read(&path)?;
            let (b, g) = (brotli(&bytes)?, gzip(&bytes)?);
            write_atomically(&br, &b)?;
            write_atomically(&gz, &g)?;
            done.written += 1;
            done.raw_bytes += bytes.len() as u64;
            done.brotli_bytes += b.len() as u64;
            done.gzip_bytes += g.len() as u64;
        }
    }
    Ok(done)
}

/// Precompresses the site's static files in the background when any copy is
/// missing or stale (a build that skipped `server precompress`); until then
/// those files are compressed per response.
pub fn precompress_in_background(dir: PathBuf) {
    if !dir.is_dir() {
        return;
    }
    tokio::task::spawn_blocking(move || match precompress(&dir) {
        Ok(d) if d.written > 0 => tracing::info!(
            dir = %dir.display(), files = d.written, raw = d.raw_bytes, brotli = d.brotli_bytes, gzip = d.gzip_bytes,
            "static files precompressed (run `server precompress` after the build to do this ahead of time)"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "static files could not be precompressed; they are compressed per response")
        }
    });
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn copies_are_written_once_and_decode_to_the_file() {
        let dir = std::env::temp_dir().join(format!("gatehouse-assets-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let wasm: Vec<u8> = (0..50_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        std::fs::write(dir.join("sub/app.wasm"), &wasm).unwrap();
        std::fs::write(dir.join("photo.png"), b"not compressed again").unwrap();
        let first = precompress(&dir).unwrap();
        assert_eq!((first.written, first.fresh), (1, 0));
        assert!(!dir.join("photo.png.br").exists());
        let br = std::fs::read(dir.join("sub/app.wasm.br")).unwrap();
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut br.as_slice(), &mut decoded).unwrap();
        assert_eq!(decoded, wasm);
        let gz = std::fs::read(dir.join("sub/app.wasm.gz")).unwrap();
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut decoded).unwrap();
        assert_eq!(decoded, wasm);
        let again = precompress(&dir).unwrap();
        assert_eq!((again.written, again.fresh), (0, 1), "up-to-date copies are kept");
        std::fs::remove_dir_all(&dir).ok();
    }
}
