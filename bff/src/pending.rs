//! Logins in flight: one per authorization request, keyed by its `state`, so
//! several tabs can sign in at once. Bounded in count and age; each is taken
//! exactly once.
//!
//! They live in the browser, one short-lived (10 min), HttpOnly cookie per
//! login, sealed with the token keys (XChaCha20-Poly1305) and bound to its
//! `state`: an anonymous visitor costs the server no stored state at all, so
//! cookieless floods of `/login` and bogus callbacks write nothing. One cookie
//! per login means tabs starting or finishing sign-in at the same moment never
//! overwrite each other's logins. The browser cannot read or forge the content;
//! a replayed old cookie holds a login whose `state` the provider will not send
//! again (codes are single-use) and that expires with it.

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::ReturnTo;

/// How many logins one browser may have in flight (older ones are dropped).
pub const MAX_PENDING: usize = 8;
/// How long a login may take, in seconds.
pub const MAX_AGE_SECS: i64 = 600;

/// What the callback needs to finish one login. Leaves the server only sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: ReturnTo,
    pub started_at: i64,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// Why a callback's `state` was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PendingError {
    #[error("this sign-in was not started here, was already completed, or was replaced by newer ones")]
    Unknown,
    #[error("this sign-in took too long")]
    Expired,
}

/// A login as sealed in its cookie: bound to the `state` it answers.
#[derive(Serialize, Deserialize)]
struct Sealed {
    state: String,
    login: PendingLogin,
}

/// The sealing context, so no other sealed value opens as a pending login
/// (a NUL cannot start a `sub`, the other context sealed values use).
const CONTEXT: &str = "\u{0}gatehouse pending login v2";

/// The sealed cookies that carry a browser's logins in flight.
#[derive(Clone)]
pub struct PendingCookie {
    keys: crate::sealing::TokenKeys,
    secure: bool,
}

impl PendingCookie {
    /// `secure`: the app is served over https (`__Host-` names, `Secure`).
    pub fn new(keys: crate::sealing::TokenKeys, secure: bool) -> Self {
        Self { keys, secure }
    }

    /// Every login cookie's name starts with this.
    pub fn prefix(&self) -> &'static str {
        if self.secure {
            "__Host-gatehouse-login-"
        } else {
            "gatehouse-login-"
        }
    }

    /// The cookie of the login answered by `state`: the prefix and 16 hex
    /// digits of SHA-256(`state`).
    fn name(&self, state: &str) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(state.as_bytes());
        let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}{tag}", self.prefix())
    }

    fn set_cookie(&self, name: &str, value: Option<&str>) -> HeaderValue {
        let (path, secure) = if self.secure { ("/", "; Secure") } else { ("/login", "") };
        let cookie = match value {
            Some(v) => format!("{name}={v}; Path={path}; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}"),
            None => format!("{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
        };
        HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""))
    }

    /// The request's login cookies, as (name, value).
    fn cookies<'a>(&self, headers: &'a HeaderMap) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let prefix = self.prefix();
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .filter(move |(k, _)| k.starts_with(prefix))
    }

    fn open(&self, value: &str) -> Option<Sealed> {
        match self.keys.open_compact::<Sealed>(value, CONTEXT) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::info!(error = %e, "a sign-in cookie that does not open was ignored");
                None
            }
        }
    }

    /// `Set-Cookie` values that start a login: its own cookie, and deletions
    /// of expired or unreadable ones and of the oldest beyond [`MAX_PENDING`].
    pub fn start(&self, headers: &HeaderMap, state: &str, login: PendingLogin, now: i64) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        let mut live = Vec::new();
        for (name, value) in self.cookies(headers) {
            match self.open(value) {
                Some(s) if now - s.login.started_at <= MAX_AGE_SECS => live.push((s.login.started_at, name)),
                _ => out.push(self.set_cookie(name, None)),
            }
        }
        live.sort();
        let excess = (live.len() + 1).saturating_sub(MAX_PENDING);
        out.extend(live.iter().take(excess).map(|(_, name)| self.set_cookie(name, None)));
        match self.keys.seal_compact(&Sealed { state: state.to_string(), login }, CONTEXT) {
            Ok(v) => out.push(self.set_cookie(&self.name(state), Some(&v))),
            Err(e) => tracing::error!(error = %e, "a sign-in cookie could not be sealed"),
        }
        out
    }

    /// Takes the login answered by `state` (single use): the login, and the
    /// `Set-Cookie` that deletes its cookie (when the request had one).
    pub fn take(
        &self,
        headers: &HeaderMap,
        state: &str,
        now: i64,
    ) -> (Result<PendingLogin, PendingError>, Option<HeaderValue>) {
        let name = self.name(state);
        let Some((_, value)) = self.cookies(headers).find(|(k, _)| *k == name) else {
            return (Err(PendingError::Unknown), None);
        };
        let delete = Some(self.set_cookie(&name, None));
        match self.open(value) {
            Some(s) if s.state != state => (Err(PendingError::Unknown), delete),
            Some(s) if now - s.login.started_at > MAX_AGE_SECS => (Err(PendingError::Expired), delete),
            Some(s) => (Ok(s.login), delete),
            None => (Err(PendingError::Unknown), delete),
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;
    use crate::sealing::TokenKeys;

    fn keys() -> TokenKeys {
        TokenKeys::parse(&TokenKeys::generate_line("k")).unwrap()
    }

    fn login(at: i64, return_to: &str) -> PendingLogin {
        PendingLogin {
            pkce_verifier: format!("verifier-{at}"),
            nonce: format!("nonce-{at}"),
            return_to: ReturnTo::parse(return_to).unwrap(),
            started_at: at,
        }
    }

    /// A browser's cookie jar: applies `Set-Cookie` values, sends `Cookie`.
    #[derive(Default)]
    struct Jar(std::collections::BTreeMap<String, String>);

    impl Jar {
        fn apply(&mut self, set: &[HeaderValue]) {
            for v in set {
                let text = v.to_str().unwrap();
                let (pair, attrs) = text.split_once(';').unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                if attrs.contains("Max-Age=0") {
                    self.0.remove(name);
                } else {
                    self.0.insert(name.into(), value.into());
                }
            }
        }

        fn headers(&self) -> HeaderMap {
            let mut h = HeaderMap::new();
            let line: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).chain(["other=1".into()]).collect();
            h.insert("cookie", HeaderValue::from_str(&line.join("; ")).unwrap());
            h
        }
    }

    #[test]
    fn several_tabs_complete_in_any_order_and_each_only_once() {
        let c = PendingCookie::new(keys(), false);
        let mut jar = Jar::default();
        jar.apply(&c.start(&jar.headers(), "a", login(100, "/first"), 100));
        jar.apply(&c.start(&jar.headers(), "b", login(101, "/second"), 101));
        assert_eq!(jar.0.len(), 2, "one cookie per login");
        let (b, del) = c.take(&jar.headers(), "b", 150);
        assert_eq!(b.unwrap().return_to.as_str(), "/second");
        jar.apply(&[del.unwrap()]);
        let (a, del) = c.take(&jar.headers(), "a", 150);
        assert_eq!(a.unwrap().nonce, "nonce-100");
        jar.apply(&[del.unwrap()]);
        assert!(jar.0.is_empty());
        assert_eq!(c.take(&jar.headers(), "a", 150).0, Err(PendingError::Unknown), "replay");
        assert_eq!(c.take(&jar.headers(), "zzz", 150).0, Err(PendingError::Unknown));
    }

    #[test]
    fn tabs_starting_at_the_same_moment_keep_both_logins() {
        // Both requests carry the same (empty) jar; their answers both apply.
        let c = PendingCookie::new(keys(), false);
        let mut jar = Jar::default();
        let before = jar.headers();
        let first = c.start(&before, "a", login(100, "/a"), 100);
        let second = c.start(&before, "b", login(100, "/b"), 100);
        jar.apply(&first);
        jar.apply(&second);
        assert!(c.take(&jar.headers(), "a", 101).0.is_ok() && c.take(&jar.headers(), "b", 101).0.is_ok());
    }

    #[test]
    fn the_cookie_holds_no_secret_and_is_http_only() {
        let c = PendingCookie::new(keys(), false);
        let set = c.start(&HeaderMap::new(), "state-1", login(100, "/profile"), 100);
        let text = set.last().unwrap().to_str().unwrap();
        assert!(text.starts_with("gatehouse-login-") && text.contains("HttpOnly") && text.contains("Max-Age=600"));
        assert!(text.contains("Path=/login;"), "{text}");
        assert!(!text.contains("verifier-100") && !text.contains("nonce-100") && !text.contains("profile"), "{text}");
        let https = PendingCookie::new(keys(), true);
        let text = https.start(&HeaderMap::new(), "s", login(1, "/"), 1).pop().unwrap();
        let text = text.to_str().unwrap();
        assert!(text.starts_with("__Host-gatehouse-login-") && text.contains("; Secure") && text.contains("Path=/;"));
    }

    #[test]
    fn expired_forged_and_foreign_cookies_open_nothing() {
        let k = keys();
        let c = PendingCookie::new(k.clone(), false);
        let mut jar = Jar::default();
        jar.apply(&c.start(&jar.headers(), "s", login(100, "/"), 100));
        assert_eq!(c.take(&jar.headers(), "s", 100 + MAX_AGE_SECS + 1).0, Err(PendingError::Expired));
        let other = PendingCookie::new(keys(), false);
        assert_eq!(other.take(&jar.headers(), "s", 101).0, Err(PendingError::Unknown), "another key");
        // A login sealed for one state, renamed to another state's cookie, does not answer it.
        let value = jar.0.values().next().unwrap().clone();
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_str(&format!("{}={value}", c.name("t"))).unwrap());
        assert_eq!(c.take(&h, "t", 101).0, Err(PendingError::Unknown));
        // A value sealed for another purpose does not open as a pending login.
        let foreign = k.seal_compact(&Sealed { state: "u".into(), login: login(100, "/") }, "user-sub").unwrap();
        h.insert("cookie", HeaderValue::from_str(&format!("{}={foreign}", c.name("u"))).unwrap());
        assert_eq!(c.take(&h, "u", 101).0, Err(PendingError::Unknown));
        for junk in ["", "x", "a.b.c", "k.AAAA.AAAA", "..", "k..", "k.%%.%%"] {
            h.insert("cookie", HeaderValue::from_str(&format!("{}={junk}", c.name("u"))).unwrap());
            assert_eq!(c.take(&h, "u", 101).0, Err(PendingError::Unknown), "{junk}");
        }
    }

    #[test]
    fn at_most_max_pending_logins_are_kept_dropping_the_oldest_and_the_dead() {
        let c = PendingCookie::new(keys(), false);
        let mut jar = Jar::default();
        let long = format!("/{}", "a".repeat(1000));
        for i in 0..(MAX_PENDING as i64 + 3) {
            jar.apply(&c.start(&jar.headers(), &format!("s{i}"), login(100 + i, &long), 100 + i));
            assert!(jar.0.values().all(|v| v.len() < 3_000), "each cookie stays small");
        }
        assert_eq!(jar.0.len(), MAX_PENDING);
        assert_eq!(c.take(&jar.headers(), "s0", 120).0, Err(PendingError::Unknown), "the oldest was dropped");
        assert!(c.take(&jar.headers(), &format!("s{}", MAX_PENDING as i64 + 2), 120).0.is_ok());
        // An unreadable login cookie is deleted at the next start.
        jar.0.insert("gatehouse-login-0000000000000000".into(), "junk".into());
        let set = c.start(&jar.headers(), "new", login(130, "/"), 130);
        assert!(set.iter().any(|v| v.to_str().unwrap().starts_with("gatehouse-login-0000000000000000=; ")));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = format!("{:?}", login(7, "/"));
        assert!(!s.contains("verifier-7") && !s.contains("nonce-7"), "{s}");
    }
}
