//! Per-client rate limits (GCRA, `governor`): sign-in start and callback,
//! `/backchannel-logout`, `/api/v1`, and every writing request (server
//! functions, sign-out). Past its limit a client gets `429` with
//! `Retry-After`: JSON for API callers, a short page for browsers.
//!
//! The client is the socket's peer address, unless a trusted-proxy setting
//! says how many `X-Forwarded-For` hops the app's own proxies add; only those
//! are believed (a client can put anything in the header itself).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `GET /login`: starting sign-in and the provider's callback.
    SignIn,
    /// Unsafe methods of the app: server functions, `/logout`.
    Write,
    /// `/api/v1`.
    Api,
    /// `POST /backchannel-logout`.
    Backchannel,
}

/// A limit: `count` requests per `period`, all of them usable at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub const fn per_minute(count: u32) -> Self {
        Self { count, period: Duration::from_secs(60) }
    }

    /// Parses `N/s`, `N/min` or `N/h` (`off` is handled by the caller).
    pub fn parse(raw: &str) -> Option<Self> {
        let (n, unit) = raw.trim().split_once('/')?;
        let count = n.trim().parse::<u32>().ok().filter(|c| (1..=1_000_000).contains(c))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return None,
        };
        Some(Self { count, period })
    }

    fn quota(self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.count)?;
        Quota::with_period(self.period / self.count).map(|q| q.allow_burst(burst))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => return write!(f, "{}/{}s", self.count, self.period.as_secs()),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The limits per client address; `None` switches a class off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub sign_in: Option<Rate>,
    pub write: Option<Rate>,
    pub api: Option<Rate>,
    pub backchannel: Option<Rate>,
    /// How many `X-Forwarded-For` entries (from the right) the app's own
    /// proxies add; 0 uses the socket's peer address.
    pub trusted_proxy_hops: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            sign_in: Some(Rate::per_minute(120)),
            write: Some(Rate::per_minute(300)),
            api: Some(Rate::per_minute(6_000)),
            backchannel: Some(Rate::per_minute(600)),
            trusted_proxy_hops: 0,
        }
    }
}

impl Limits {
    /// No limit at all (tests whose clients all come from one address).
    pub fn off() -> Self {
        Self { sign_in: None, write: None, api: None, backchannel: None, trusted_proxy_hops: 0 }
    }
}

/// The limiters of one app instance.
pub struct RateLimiter {
    sign_in: Option<DefaultKeyedRateLimiter<IpAddr>>,
    write: Option<DefaultKeyedRateLimiter<IpAddr>>,
    api: Option<DefaultKeyedRateLimiter<IpAddr>>,
    backchannel: Option<DefaultKeyedRateLimiter<IpAddr>>,
    hops: u8,
    checks: AtomicU64,
    clock: DefaultClock,
    /// Whether the "X-Forwarded-For but no trusted proxy" warning was logged.
    warned: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("hops", &self.hops).finish_non_exhaustive()
    }
}

impl RateLimiter {
    pub fn new(limits: &Limits) -> Self {
        let make = |r: Option<Rate>| r.and_then(Rate::quota).map(DefaultKeyedRateLimiter::keyed);
        Self {
            sign_in: make(limits.sign_in),
            write: make(limits.write),
            api: make(limits.api),
            backchannel: make(limits.backchannel),
            hops: limits.trusted_proxy_hops,
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// `Err(wait)` when `client` is past its limit for `class`.
    pub fn check(&self, class: Class, client: IpAddr) -> Result<(), Duration> {
        let limiter = match class {
            Class::SignIn => &self.sign_in,
            Class::Write => &self.write,
            Class::Api => &self.api,
            Class::Backchannel => &self.backchannel,
        };
        let Some(limiter) = limiter else { return Ok(()) };
        // Forget clients that are back to a full allowance now and then, so
        // the table stays as small as the set of recently active clients.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 8192 == 8191 {
            for l in [&self.sign_in, &self.write, &self.api, &self.backchannel].into_iter().flatten() {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
        limiter.check_key(&client).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// The client a budget belongs to: the socket peer, or the entry the
    /// trusted proxies vouch for in `X-Forwarded-For` (`ip`, `ip:port` or
    /// `[v6]:port`). IPv4-mapped IPv6 counts as IPv4, and an IPv6 address by
    /// its /64 — one client holds a whole /64, so single addresses would each
    /// get a fresh budget.
    pub fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
        budget_key(self.address(headers, peer))
    }

    fn address(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
        let peer_ip = peer.map(|p| p.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if self.hops == 0 {
            if !self.warned.load(Ordering::Relaxed) && headers.contains_key("x-forwarded-for") {
                self.warned.store(true, Ordering::Relaxed);
                tracing::warn!("requests carry X-Forwarded-For but GATEHOUSE_TRUSTED_PROXY_HOPS is 0: behind a proxy every client shares one rate-limit budget; set it to the number of your proxies");
            }
            return peer_ip;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let hops = usize::from(self.hops);
        if forwarded.len() < hops {
            return peer_ip;
        }
        let entry = forwarded[forwarded.len() - hops];
        match parse_forwarded(entry) {
            Some(ip) => ip,
            None => {
                tracing::warn!(entry = ?entry.chars().take(64).collect::<String>(), "an X-Forwarded-For entry from a trusted proxy is not an address; using the connection's");
                peer_ip
            }
        }
    }
}

/// `ip`, `ip:port`, `[v6]` or `[v6]:port`.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = entry.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).and_then(|e| e.parse().ok())
}

/// The key of a budget: IPv4 as is (also when mapped into IPv6), IPv6 by its /64.
fn budget_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

/// Which limit a request falls under, if any.
pub fn classify(method: &axum::http::Method, path: &str) -> Option<Class> {
    if path == "/login" {
        Some(Class::SignIn)
    } else if path == crate::backchannel::PATH {
        Some(Class::Backchannel)
    } else if path.starts_with("/api/v1/") || path == "/api/v1" {
        Some(Class::Api)
    } else if crate::csrf::is_unsafe(method) {
        Some(Class::Write)
    } else {
        None
    }
}

/// The answer to a request over its limit (`None`: it may go on). The server
/// must be served with `into_make_service_with_connect_info::<SocketAddr>()`
/// (the peer address is the client unless a trusted proxy says otherwise).
pub fn refuse(limiter: &RateLimiter, req: &Request) -> Option<Response> {
    let class = classify(req.method(), req.uri().path())?;
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = limiter.client(req.headers(), peer);
    let wait = limiter.check(class, client).err()?;
    tracing::warn!(client = %client, class = ?class, path = ?req.uri().path(), "rate limit reached");
    crate::metrics::metrics().refused(crate::metrics::Refusal::RateLimit);
    let json =
        class == Class::Api || class == Class::Backchannel || crate::csrf::wants_json(req.headers(), req.uri().path());
    Some(too_many(wait, json))
}

/// `429` with `Retry-After` (whole seconds, at least 1).
pub fn too_many(wait: Duration, json: bool) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut r = if json {
        (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(serde_json::json!({
                "error": "too_many_requests",
                "error_description": format!("too many requests: try again in {secs} s"),
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Html(format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Slow down · Gatehouse</title></head>\
<body><main><h1>Too many requests</h1><p>There were too many requests from your network in a short time. \
Please wait {secs} second{} and try again.</p><p><a href=\"/\">Home</a></p></main></body></html>",
                if secs == 1 { "" } else { "s" }
            )),
        )
            .into_response()
    };
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use axum::http::Method;

    use super::*;

    #[test]
    fn rates_parse_and_print() {
        assert_eq!(Rate::parse("120/min"), Some(Rate::per_minute(120)));
        assert_eq!(Rate::parse(" 5 / s "), Some(Rate { count: 5, period: Duration::from_secs(1) }));
        assert_eq!(Rate::parse("10/h").unwrap().to_string(), "10/h");
        for bad in ["", "5", "0/s", "-1/s", "5/day", "x/s", "5/", "2000000/s"] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_client_past_its_limit_waits_and_others_do_not() {
        let l = RateLimiter::new(&Limits { sign_in: Rate::parse("3/min"), ..Limits::default() });
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            assert_eq!(l.check(Class::SignIn, a), Ok(()));
        }
        let wait = l.check(Class::SignIn, a).unwrap_err();
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        assert_eq!(l.check(Class::SignIn, IpAddr::from([10, 0, 0, 2])), Ok(()), "another client");
        assert_eq!(l.check(Class::Write, a), Ok(()), "another class");
        let off = RateLimiter::new(&Limits { sign_in: None, ..Limits::default() });
        for _ in 0..1000 {
            assert_eq!(off.check(Class::SignIn, a), Ok(()));
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_as_far_as_configured() {
        let peer = Some(SocketAddr::from(([192, 168, 0, 9], 5000)));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 1.2.3.4"));
        let direct = RateLimiter::new(&Limits::default());
        assert_eq!(direct.client(&h, peer), IpAddr::from([192, 168, 0, 9]), "no proxy trusted: the socket");
        let one = RateLimiter::new(&Limits { trusted_proxy_hops: 1, ..Limits::default() });
        assert_eq!(one.client(&h, peer), IpAddr::from([1, 2, 3, 4]), "what our proxy saw, not what the client wrote");
        let two = RateLimiter::new(&Limits { trusted_proxy_hops: 2, ..Limits::default() });
        assert_eq!(two.client(&h, peer), IpAddr::from([6, 6, 6, 6]));
        let three = RateLimiter::new(&Limits { trusted_proxy_hops: 3, ..Limits::default() });
        assert_eq!(three.client(&h, peer), IpAddr::from([192, 168, 0, 9]), "too few hops: the socket");
        h.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(one.client(&h, peer), IpAddr::from([192, 168, 0, 9]));
        for (entry, ip) in [
            ("1.2.3.4:5678", IpAddr::from([1, 2, 3, 4])),
            ("[2001:db8::1]:443", "2001:db8::".parse().unwrap()),
            ("[2001:db8::1]", "2001:db8::".parse().unwrap()),
            ("::ffff:1.2.3.4", IpAddr::from([1, 2, 3, 4])),
        ] {
            h.insert("x-forwarded-for", HeaderValue::from_str(entry).unwrap());
            assert_eq!(one.client(&h, peer), ip, "{entry}");
        }
    }

    #[test]
    fn an_ipv6_client_shares_one_budget_across_its_64() {
        let l = RateLimiter::new(&Limits { sign_in: Rate::parse("2/min"), ..Limits::default() });
        let at = |a: &str| Some(SocketAddr::new(a.parse().unwrap(), 1));
        let h = HeaderMap::new();
        let a = l.client(&h, at("2001:db8:1:2::1"));
        assert_eq!(a, l.client(&h, at("2001:db8:1:2:ffff:ffff:ffff:ffff")), "same /64, same budget");
        assert_ne!(a, l.client(&h, at("2001:db8:1:3::1")), "another /64");
        assert_eq!(l.check(Class::SignIn, a), Ok(()));
        assert_eq!(l.check(Class::SignIn, l.client(&h, at("2001:db8:1:2::2"))), Ok(()));
        assert!(
            l.check(Class::SignIn, l.client(&h, at("2001:db8:1:2::3"))).is_err(),
            "a new address in the /64 buys nothing"
        );
        assert_eq!(l.client(&h, at("::ffff:10.0.0.1")), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn requests_are_classified() {
        assert_eq!(classify(&Method::GET, "/login"), Some(Class::SignIn));
        assert_eq!(classify(&Method::POST, "/backchannel-logout"), Some(Class::Backchannel));
        assert_eq!(classify(&Method::GET, "/api/v1/me"), Some(Class::Api));
        assert_eq!(classify(&Method::POST, "/api/complete_onboarding"), Some(Class::Write));
        assert_eq!(classify(&Method::POST, "/logout"), Some(Class::Write));
        assert_eq!(classify(&Method::GET, "/profile"), None);
        assert_eq!(classify(&Method::GET, "/api/v1x"), None);
    }

    #[test]
    fn the_answer_says_when_to_come_back() {
        let r = too_many(Duration::from_millis(1500), true);
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(too_many(Duration::ZERO, false).headers()["retry-after"], "1");
    }
}
