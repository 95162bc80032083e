//! The process's Prometheus metrics (`prometheus-client`): counted where
//! things happen, rendered by the server's metrics listener
//! (`GATEHOUSE_METRICS_ADDR`). Fixed buckets and bounded labels (route
//! patterns, never paths; outcomes and reasons from fixed lists), so memory
//! stays constant however long nobody scrapes. One set per process.

use std::sync::LazyLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A label set of fixed names and values.
type Fixed = [(&'static str, &'static str); 1];
/// The label set of a request: method, route pattern, status.
type RequestLabels = [(&'static str, String); 3];
type RouteLabels = [(&'static str, String); 1];
type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Every metric of the process.
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Histograms,
    sign_ins_started: Counter,
    sign_ins_completed: Counter,
    sign_ins_failed: Family<Fixed, Counter>,
    refreshes: Family<Fixed, Counter>,
    backchannel_logouts: Family<Fixed, Counter>,
    admin_api_calls: Family<Fixed, Counter>,
    jwks_fetches: Family<Fixed, Counter>,
    refusals: Family<Fixed, Counter>,
    active_sessions: Gauge,
    registry: Registry,
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("gatehouse");
    let m = Metrics {
        requests: Family::default(),
        latency: Family::new_with_constructor(latency_histogram),
        sign_ins_started: Counter::default(),
        sign_ins_completed: Counter::default(),
        sign_ins_failed: Family::default(),
        refreshes: Family::default(),
        backchannel_logouts: Family::default(),
        admin_api_calls: Family::default(),
        jwks_fetches: Family::default(),
        refusals: Family::default(),
        active_sessions: Gauge::default(),
        registry: Registry::default(),
    };
    registry.register("http_requests", "Requests answered, by method, route pattern and status", m.requests.clone());
    registry.register(
        "http_request_duration_seconds",
        "Time to the response's headers, by route pattern",
        m.latency.clone(),
    );
    registry.register("sign_ins_started", "Sign-ins sent to the provider", m.sign_ins_started.clone());
    registry.register("sign_ins_completed", "Sign-ins that ended with a session", m.sign_ins_completed.clone());
    registry.register("sign_ins_failed", "Sign-ins that did not complete, by reason", m.sign_ins_failed.clone());
    registry.register("token_refreshes", "Access-token refreshes at the provider, by outcome", m.refreshes.clone());
    registry.register(
        "backchannel_logouts",
        "Back-channel logout tokens received, by outcome",
        m.backchannel_logouts.clone(),
    );
    registry.register("admin_api_calls", "Admin API calls, by outcome", m.admin_api_calls.clone());
    registry.register("jwks_fetches", "Fetches of the provider's signing keys, by outcome", m.jwks_fetches.clone());
    registry.register(
        "refusals",
        "Requests refused before they reached the app, by reason (csrf, rate_limit)",
        m.refusals.clone(),
    );
    registry.register(
        "active_sessions",
        "Signed-in sessions (token rows) in the store, read at each scrape; absent with Redis",
        m.active_sessions.clone(),
    );
    Metrics { registry, ..m }
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Why a sign-in did not complete.
#[derive(Debug, Clone, Copy)]
pub enum SignInFailure {
    /// The provider answered with `error` (cancelled, denied, …).
    ProviderError,
    /// The callback's `state` is unknown, expired or replayed.
    UnknownState,
    /// The authorization response's `iss` is not the provider's (RFC 9207).
    IssuerMismatch,
    /// The code exchange or the ID token's checks failed.
    Exchange,
    /// The session could not be stored.
    Store,
    /// The provider did not answer when sign-in was to start.
    ProviderUnreachable,
}

impl SignInFailure {
    fn label(self) -> &'static str {
        match self {
            SignInFailure::ProviderError => "provider_error",
            SignInFailure::UnknownState => "unknown_state",
            SignInFailure::IssuerMismatch => "issuer_mismatch",
            SignInFailure::Exchange => "exchange",
            SignInFailure::Store => "store",
            SignInFailure::ProviderUnreachable => "provider_unreachable",
        }
    }
}

/// Why a request was refused before it reached the app.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// A cross-site unsafe request (Origin / Sec-Fetch-Site).
    Csrf,
    /// Over a rate limit.
    RateLimit,
}

fn ok(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "error"
    }
}

/// The counter and histogram of one (method, route, status), kept per
/// thread so that counting a request takes no lock, allocation or hashing
/// of text: the route is looked up by the address of its pattern (an
/// `Arc<str>` the router keeps), and the pattern compared to be sure.
type RequestHandles = (Box<str>, Counter, Histogram);

thread_local! {
    static REQUEST_HANDLES: std::cell::RefCell<std::collections::HashMap<(usize, u8, u16), RequestHandles>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn method_index(method: &str) -> (u8, &'static str) {
    match method {
        "GET" => (1, "GET"),
        "POST" => (2, "POST"),
        "HEAD" => (3, "HEAD"),
        "PUT" => (4, "PUT"),
        "PATCH" => (5, "PATCH"),
        "DELETE" => (6, "DELETE"),
        "OPTIONS" => (7, "OPTIONS"),
        _ => (0, "other"),
    }
}

impl Metrics {
    /// One answered request (`route`: the matched pattern, or `unmatched`).
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (m, method) = method_index(method);
        let key = (route.as_ptr() as usize, m, status);
        let cached = REQUEST_HANDLES.with(|h| {
            h.borrow().get(&key).filter(|(text, _, _)| &**text == route).map(|(_, c, h)| (c.clone(), h.clone()))
        });
        let (counter, histogram) = match cached {
            Some(handles) => handles,
            None => {
                let counter = self
                    .requests
                    .get_or_create(&[
                        ("method", method.to_string()),
                        ("route", route.to_string()),
                        ("status", status.to_string()),
                    ])
                    .clone();
                let histogram = self.latency.get_or_create(&[("route", route.to_string())]).clone();
                REQUEST_HANDLES.with(|h| {
                    let mut h = h.borrow_mut();
                    // Bounded by routes × methods × statuses; a guard all the same.
                    if h.len() > 4096 {
                        h.clear();
                    }
                    h.insert(key, (Box::from(route), counter.clone(), histogram.clone()));
                });
                (counter, histogram)
            }
        };
        counter.inc();
        histogram.observe(seconds);
    }

    pub fn sign_in_started(&self) {
        self.sign_ins_started.inc();
    }

    pub fn sign_in_completed(&self) {
        self.sign_ins_completed.inc();
    }

    pub fn sign_in_failed(&self, why: SignInFailure) {
        self.sign_ins_failed.get_or_create(&[("reason", why.label())]).inc();
    }

    pub fn refresh(&self, succeeded: bool) {
        self.refreshes.get_or_create(&[("outcome", ok(succeeded))]).inc();
    }

    /// `outcome`: `ok`, `refused` (a bad or replayed token) or `error` (ours).
    pub fn backchannel_logout(&self, outcome: &'static str) {
        self.backchannel_logouts.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn admin_api_call(&self, succeeded: bool) {
        self.admin_api_calls.get_or_create(&[("outcome", ok(succeeded))]).inc();
    }

    pub fn jwks_fetch(&self, succeeded: bool) {
        self.jwks_fetches.get_or_create(&[("outcome", ok(succeeded))]).inc();
    }

    pub fn refused(&self, why: Refusal) {
        let reason = match why {
            Refusal::Csrf => "csrf",
            Refusal::RateLimit => "rate_limit",
        };
        self.refusals.get_or_create(&[("reason", reason)]).inc();
    }

    /// The number of signed-in sessions, as the store counted it just now.
    pub fn set_active_sessions(&self, n: i64) {
        self.active_sessions.set(n);
    }

    /// Everything, in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics could not be rendered");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_their_labels() {
        let m = metrics();
        m.request("GET", "/login", 303, 0.004);
        m.request("BREW", "/", 418, 0.0);
        m.sign_in_failed(SignInFailure::UnknownState);
        m.refused(Refusal::Csrf);
        let text = m.render();
        assert!(
            text.contains("gatehouse_http_requests_total{method=\"GET\",route=\"/login\",status=\"303\"}"),
            "{text}"
        );
        assert!(text.contains("method=\"other\""), "unknown methods are folded: {text}");
        assert!(
            text.contains("gatehouse_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/login\"}"),
            "{text}"
        );
        assert!(text.contains("gatehouse_sign_ins_failed_total{reason=\"unknown_state\"}"), "{text}");
        assert!(text.contains("gatehouse_refusals_total{reason=\"csrf\"}"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
