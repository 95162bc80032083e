//! Request limits. Per client IP (the socket's peer address; `X-Forwarded-For`
//! is not trusted) for the sign-in steps, with `governor`'s keyed GCRA
//! limiters; and per identity for wrong passcodes, counted in the database so
//! the count survives fresh login requests and restarts. Anything over a limit
//! gets 429 with `Retry-After` (seconds) and a page that says to wait.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimits;
use crate::html::{esc, page};
use crate::{db, Provider};

type Limiter = DefaultKeyedRateLimiter<IpAddr>;

/// The longest a passcode lock lasts (unless `lockout` itself is longer).
pub const MAX_LOCKOUT: i64 = 24 * 3600;

/// The per-IP limiters of one provider.
pub struct Limiters {
    authorize: Limiter,
    email: Limiter,
    passcode: Limiter,
    passkey: Limiter,
}

/// `n` requests per `window` seconds, all of which may come at once; one more
/// becomes available every `window / n`.
fn limiter(window: u64, n: u32) -> Limiter {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs(window.max(1)) / n.get();
    let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(n)).allow_burst(n);
    RateLimiter::keyed(quota)
}

impl Limiters {
    pub fn new(cfg: &RateLimits) -> Self {
        Self {
            authorize: limiter(cfg.window, cfg.authorize_per_ip),
            email: limiter(cfg.window, cfg.email_per_ip),
            passcode: limiter(cfg.window, cfg.passcode_per_ip),
            passkey: limiter(cfg.window, cfg.passkey_per_ip),
        }
    }

    /// Forgets clients whose limit is fully replenished (called periodically).
    pub fn retain_recent(&self) {
        for l in [&self.authorize, &self.email, &self.passcode, &self.passkey] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// The client's IP from the socket. Without `ConnectInfo` (the router served
/// without it, e.g. embedded in another app) every client shares one key.
pub fn client_ip(req: &Request) -> IpAddr {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn wait_text(secs: u64) -> String {
    match secs {
        0..=1 => "a second".into(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "a minute".into(),
        s if s < 7200 => format!("{} minutes", s.div_ceil(60)),
        s => format!("{} hours", s.div_ceil(3600)),
    }
}

/// Whether the client asked for JSON rather than a page.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    accept.contains("json") && !accept.contains("text/html")
}

fn with_retry_after(mut r: Response, secs: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// 429 with `Retry-After`: a page for browsers, `{"error":"too_many_requests",…}` for JSON clients.
pub fn too_many_requests(secs: u64, json: bool) -> Response {
    let secs = secs.max(1);
    let resp = if json {
        (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(serde_json::json!({
                "error": "too_many_requests",
                "error_description": format!("Too many requests. Try again in {secs} seconds."),
                "retry_after": secs,
            })),
        )
            .into_response()
    } else {
        page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            &format!(
                "<h1>Please wait a moment</h1><p class=\"info\" role=\"alert\" data-testid=\"rate-limited\">There were too many \
sign-in requests from your network. Please wait {} and try again.</p>",
                esc(&wait_text(secs))
            ),
        )
    };
    with_retry_after(resp, secs)
}

/// 429 for an identity whose passcode step is locked.
pub fn identity_locked_page(secs: i64) -> Response {
    let secs = u64::try_from(secs).unwrap_or(1).max(1);
    let resp = page(
        StatusCode::TOO_MANY_REQUESTS,
        "Sign-in locked",
        &format!(
            "<h1>Sign-in temporarily locked</h1><p class=\"info\" role=\"alert\" data-testid=\"login-locked\">Too many wrong \
passcodes were entered for this account, so signing in to it is paused for your security. Please wait {} and \
try again.</p>",
            esc(&wait_text(secs))
        ),
    );
    with_retry_after(resp, secs)
}

/// Middleware: the per-IP limits of the sign-in steps.
pub async fn per_ip(State(p): State<Provider>, req: Request, next: Next) -> Response {
    let limiter = match (req.method(), req.uri().path()) {
        // HEAD too: axum's `get()` serves it with the same handler (a new login request each time).
        (&Method::GET | &Method::HEAD, "/oauth2/auth") => &p.limits.authorize,
        (&Method::POST, "/login" | "/login/register") => &p.limits.email,
        (&Method::POST, "/login/passcode" | "/login/resend") => &p.limits.passcode,
        (&Method::POST, path) if path.starts_with("/login/passkey/") || path.starts_with("/passkeys/") => {
            &p.limits.passkey
        }
        _ => return next.run(req).await,
    };
    let ip = client_ip(&req);
    if let Err(not_until) = limiter.check_key(&ip) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(ip = ?ip, path = ?req.uri().path(), retry_after = secs, "rate limit exceeded");
        return too_many_requests(secs, wants_json(req.headers()));
    }
    next.run(req).await
}

/// Seconds until the identity's passcode step unlocks, if it is locked.
pub async fn identity_locked(p: &Provider, identity_id: &str) -> Result<Option<i64>, sqlx::Error> {
    let now = db::now();
    let row: Option<(i64,)> = sqlx::query_as("SELECT locked_until FROM passcode_failures WHERE identity_id = ?")
        .bind(identity_id)
        .fetch_optional(&p.db)
        .await?;
    Ok(row.map(|(until,)| until - now).filter(|left| *left > 0))
}

/// Whether one more passcode of the identity may be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// Counted in advance as the `n`th failure of the window: compare now,
    /// then [`clear_failed_passcodes`] if it was right or
    /// [`record_failed_passcode`] if it was wrong.
    Reserved(i64),
    /// Locked (or the window's guesses are used up): refuse for this many seconds.
    Refused(i64),
}

/// Reserves a passcode comparison for the identity BEFORE comparing: one
/// statement counts it as a failure unless the identity is locked or its
/// window's failures are used up, so parallel guesses can never get more than
/// `failed_passcodes_per_identity` comparisons between locks.
pub async fn reserve_passcode_guess(p: &Provider, identity_id: &str) -> Result<Guess, sqlx::Error> {
    let cfg = &p.config.rate_limits;
    let now = db::now();
    let reserved: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO passcode_failures (identity_id, window_start, failures) VALUES (?1, ?2, 1) \
         ON CONFLICT(identity_id) DO UPDATE SET \
           failures = CASE WHEN window_start + ?3 <= ?2 THEN 1 ELSE failures + 1 END, \
           window_start = CASE WHEN window_start + ?3 <= ?2 THEN ?2 ELSE window_start END \
         WHERE locked_until <= ?2 AND (window_start + ?3 <= ?2 OR failures < ?4) \
         RETURNING failures",
    )
    .bind(identity_id)
    .bind(now)
    .bind(cfg.failed_passcode_window)
    .bind(i64::from(cfg.failed_passcodes_per_identity))
    .fetch_optional(&p.db)
    .await?;
    if let Some((n,)) = reserved {
        return Ok(Guess::Reserved(n));
    }
    // Refused: locked, or all guesses of the window are reserved (their
    // requests still comparing, or one failed before it could lock).
    if let Some(secs) = identity_locked(p, identity_id).await? {
        return Ok(Guess::Refused(secs));
    }
    let row: Option<(i64,)> = sqlx::query_as("SELECT window_start FROM passcode_failures WHERE identity_id = ?")
        .bind(identity_id)
        .fetch_optional(&p.db)
        .await?;
    let left = row.map_or(1, |(start,)| start + cfg.failed_passcode_window - now);
    Ok(Guess::Refused(left.max(1)))
}

/// After a reserved guess (the `failures`th of its window) was wrong: locks
/// the identity when it was the last one the limit allows. Returns how long
/// it is locked, if it is.
pub async fn record_failed_passcode(
    p: &Provider,
    identity_id: &str,
    failures: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let cfg = &p.config.rate_limits;
    if failures < i64::from(cfg.failed_passcodes_per_identity) {
        return Ok(None);
    }
    let now = db::now();
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT locked_until, lockouts FROM passcode_failures WHERE identity_id = ?")
            .bind(identity_id)
            .fetch_optional(&p.db)
            .await?;
    let (locked_until, lockouts) = row.unwrap_or((0, 0));
    // Back-off: each lock within a day of the previous one lasts twice as long.
    let recent = if locked_until > now - MAX_LOCKOUT { lockouts.clamp(0, 20) } else { 0 };
    let cap = MAX_LOCKOUT.max(cfg.lockout);
    let secs = cfg.lockout.saturating_mul(1_i64 << recent).min(cap);
    let locked = sqlx::query(
        "UPDATE passcode_failures SET locked_until = ?, lockouts = ?, failures = 0, window_start = ? \
         WHERE identity_id = ? AND locked_until <= ?",
    )
    .bind(now + secs)
    .bind(recent + 1)
    .bind(now)
    .bind(identity_id)
    .bind(now)
    .execute(&p.db)
    .await?;
    if locked.rows_affected() == 1 {
        tracing::warn!(identity_id = ?identity_id, seconds = secs, "too many wrong passcodes: passcode sign-in locked");
        return Ok(Some(secs));
    }
    identity_locked(p, identity_id).await
}

/// Forgets an identity's wrong passcodes (and the reservation of the right
/// one) after it signed in. A lock stays until it expires.
pub async fn clear_failed_passcodes(p: &Provider, identity_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE passcode_failures SET failures = 0 WHERE identity_id = ?")
        .bind(identity_id)
        .execute(&p.db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limiter_allows_its_burst_then_refuses_with_a_wait() {
        let l = limiter(60, 3);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..3 {
            assert!(l.check_key(&ip).is_ok());
        }
        let Err(e) = l.check_key(&ip) else { panic!("the fourth request must be refused") };
        let wait = e.wait_time_from(DefaultClock::default().now());
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(l.check_key(&IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))).is_ok(), "another IP has its own budget");
    }

    #[test]
    fn wait_texts() {
        assert_eq!(wait_text(1), "a second");
        assert_eq!(wait_text(30), "30 seconds");
        assert_eq!(wait_text(61), "a minute");
        assert_eq!(wait_text(3600), "60 minutes");
        assert_eq!(wait_text(7200), "2 hours");
    }
}
