//! Live reload: the WebSocket endpoint that Leptos's `AutoReload` script
//! connects to (`ws://<host>:<reload port>/live_reload`). The page reloads
//! when it receives `{"all":true}`. Only the server's side of RFC 6455 that
//! this needs: the opening handshake and unmasked text frames.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

use crate::Error;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const RELOAD: &str = r#"{"all":true}"#;

/// At most this many pages (and handshakes in progress) at once.
const MAX_PAGES: usize = 64;

/// The connected pages.
#[derive(Clone, Default)]
pub(crate) struct Reloader {
    pages: Arc<Mutex<Vec<TcpStream>>>,
    handshakes: Arc<AtomicUsize>,
}

impl Reloader {
    /// Listens on `addr` and accepts pages in the background.
    pub(crate) fn start(addr: SocketAddr) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr).map_err(|source| Error::ReloadPort { addr, source })?;
        let reloader = Self::default();
        let this = reloader.clone();
        std::thread::spawn(move || loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of file descriptors, for example: try again shortly.
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if this.handshakes.load(Ordering::Relaxed) >= MAX_PAGES || this.lock().len() >= MAX_PAGES {
                continue; // dropped: closes the connection
            }
            this.handshakes.fetch_add(1, Ordering::Relaxed);
            let page = this.clone();
            let spawned = std::thread::Builder::new().name("live-reload".into()).spawn(move || {
                let mut stream = stream;
                if handshake(&mut stream).is_ok() {
                    page.lock().push(stream);
                }
                page.handshakes.fetch_sub(1, Ordering::Relaxed);
            });
            if spawned.is_err() {
                this.handshakes.fetch_sub(1, Ordering::Relaxed);
            }
        });
        Ok(reloader)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<TcpStream>> {
        self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells every connected page to reload, then closes the connections
    /// (each page opens a new one once reloaded). Returns how many were told.
    pub(crate) fn reload(&self) -> usize {
        let mut frames = text_frame(RELOAD);
        frames.extend_from_slice(&CLOSE);
        let pages = std::mem::take(&mut *self.lock());
        pages.into_iter().filter(|page| send(page, &frames)).count()
    }
}

/// A close frame without a status (RFC 6455, section 5.5.1).
const CLOSE: [u8; 2] = [0x88, 0x00];

fn send(mut page: &TcpStream, bytes: &[u8]) -> bool {
    page.set_write_timeout(Some(Duration::from_secs(1))).is_ok()
        && page.write_all(bytes).and_then(|()| page.flush()).is_ok()
}

/// Reads the opening request and answers `101 Switching Protocols`.
fn handshake(stream: &mut TcpStream) -> std::io::Result<()> {
    // The whole request within 5 s, however it trickles in.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || request.len() > 16 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let request = String::from_utf8_lossy(&request);
    let Some(key) = header(&request, "sec-websocket-key") else {
        stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
        return Err(std::io::ErrorKind::InvalidData.into());
    };
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    stream.write_all(answer.as_bytes())?;
    stream.set_read_timeout(None)
}

fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    request.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455, section 4.2.2).
pub(crate) fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// One unmasked, final text frame (servers never mask).
pub(crate) fn text_frame(payload: &str) -> Vec<u8> {
    let bytes = payload.as_bytes();
    let mut frame = vec![0x81];
    match bytes.len() {
        n @ 0..=125 => frame.push(n as u8),
        n @ 126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(bytes);
    frame
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_accept_key_is_the_one_rfc_6455_gives() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn frames_carry_their_length_in_the_right_form() {
        assert_eq!(text_frame(RELOAD)[..2], [0x81, 12]);
        let long = "x".repeat(300);
        assert_eq!(text_frame(&long)[..4], [0x81, 126, 1, 44]);
        assert_eq!(text_frame(&"y".repeat(70_000))[..2], [0x81, 127]);
    }

    fn connect(addr: SocketAddr, request: &str) -> (TcpStream, String) {
        let mut page = TcpStream::connect(addr).unwrap();
        page.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        page.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n\r\n") && page.read(&mut byte).unwrap() == 1 {
            answer.push(byte[0]);
        }
        (page, String::from_utf8(answer).unwrap())
    }

    #[test]
    fn a_handshake_that_trickles_in_is_cut_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = std::thread::spawn(move || {
            let mut page = TcpStream::connect(addr).unwrap();
            // One byte every 400 ms: each read is quick, the whole is not.
            for _ in 0..20 {
                if page.write_all(b"G").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(400));
            }
        });
        let (mut stream, _) = listener.accept().unwrap();
        let t0 = Instant::now();
        assert!(handshake(&mut stream).is_err());
        assert!(t0.elapsed() < Duration::from_secs(7), "{:?}", t0.elapsed());
        drop(stream);
        slow.join().unwrap();
    }

    #[test]
    fn a_page_that_connects_is_told_to_reload_and_one_that_left_is_forgotten() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let reloader = Reloader::start(addr).unwrap();
        let request = "GET /live_reload HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let (mut page, answer) = connect(addr, request);
        assert!(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{answer}");
        assert!(answer.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{answer}");
        let (gone, _) = connect(addr, request);
        drop(gone);

        // Both handshakes are registered by background threads.
        let deadline = Instant::now() + Duration::from_secs(5);
        while reloader.lock().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(reloader.lock().len(), 2);
        reloader.reload();
        // The reload message, then a close frame, then the end of the stream.
        let mut frames = Vec::new();
        page.read_to_end(&mut frames).unwrap();
        assert_eq!(&frames[..2], [0x81, 12]);
        assert_eq!(&frames[2..14], RELOAD.as_bytes());
        assert_eq!(&frames[14..], CLOSE);
        // Every connection was closed: the pages reconnect after reloading.
        assert_eq!(reloader.reload(), 0);

        // A plain HTTP request is refused.
        let (_, answer) = connect(addr, "GET /live_reload HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
    }
}
