//! The identity shapes of the Admin API (Kratos ≥ v0.9) and the paging and
//! error details read from its answers.

use serde::{Deserialize, Serialize};

pub use rules::identity::IdentityState;

/// `traits.name` of the default identity schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(rename = "academic-degree", default, skip_serializing_if = "Option::is_none")]
    pub academic_degree: Option<String>,
}

impl Name {
    pub fn is_empty(&self) -> bool {
        self.first.is_none() && self.last.is_none() && self.academic_degree.is_none()
    }
}

/// The traits of the default identity schema (`email`, `name.first`,
/// `name.last`, `name.academic-degree`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traits {
    #[serde(default)]
    pub email: String,
    #[serde(default, skip_serializing_if = "Name::is_empty")]
    pub name: Name,
}

/// An identity as the Admin API returns it (fields this app does not use are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Identity {
    pub id: String,
    #[serde(default = "default_schema")]
    pub schema_id: String,
    pub state: IdentityState,
    #[serde(default)]
    pub traits: Traits,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    /// Kratos' `credentials` (in a single identity's answer). Read leniently:
    /// a shape this app does not know never fails the identity.
    #[serde(default, deserialize_with = "lenient")]
    pub credentials: Credentials,
}

/// `T` from any JSON; what does not fit is `T::default()`.
fn lenient<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// The credentials of an identity the app reads: passkeys, as Kratos lists
/// them under `webauthn` (and, since Kratos 1.2, `passkey`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    #[serde(default, deserialize_with = "lenient")]
    pub webauthn: Option<CredentialSet>,
    #[serde(default, deserialize_with = "lenient")]
    pub passkey: Option<CredentialSet>,
}

/// One credential type of an identity. `config` is there only when the
/// request asked for it (`include_credential`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CredentialSet {
    #[serde(default, deserialize_with = "lenient")]
    pub config: Option<CredentialConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CredentialConfig {
    /// Each read on its own (`WebauthnCredential::from_json`): one odd entry hides only itself.
    #[serde(default, deserialize_with = "lenient")]
    pub credentials: Vec<serde_json::Value>,
}

/// One passkey as the Admin API lists it (no key material).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebauthnCredential {
    /// The credential type it is listed under (`webauthn` or `passkey`): what removing it names.
    pub kind: &'static str,
    /// The credential id as the provider writes it.
    pub id: String,
    pub display_name: String,
    /// RFC 3339 (empty when the provider does not say).
    pub added_at: String,
    /// `None` when the provider does not say (Kratos does not), `Some(None)` for never used.
    pub last_used_at: Option<Option<String>>,
}

impl WebauthnCredential {
    fn from_json(kind: &'static str, v: &serde_json::Value) -> Option<Self> {
        let id = v.get("id")?.as_str().filter(|id| !id.is_empty())?.to_string();
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let last_used_at = v.get("last_used_at").map(|t| t.as_str().map(str::to_string));
        Some(Self { kind, id, display_name: text("display_name"), added_at: text("added_at"), last_used_at })
    }

    /// `added_at` in Unix seconds, when readable.
    pub fn added_unix(&self) -> Option<i64> {
        rfc3339(&self.added_at).map(time::OffsetDateTime::unix_timestamp)
    }

    /// When it was last used: `None` unknown, `Some(None)` never.
    pub fn last_used_unix(&self) -> Option<Option<i64>> {
        self.last_used_at.as_ref().map(|t| t.as_deref().and_then(rfc3339).map(time::OffsetDateTime::unix_timestamp))
    }
}

/// What the provider says about an identity's passkeys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Passkeys {
    /// None listed: the identity has no passkey credentials.
    #[default]
    None,
    /// It has passkey credentials, but the provider did not list them.
    Unlisted,
    Listed(Vec<WebauthnCredential>),
}

/// An RFC 3339 time as the Admin API writes it.
fn rfc3339(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t.trim(), &time::format_description::well_known::Rfc3339).ok()
}

impl Identity {
    /// The identity's passkeys, as listed under `credentials.webauthn` and `credentials.passkey`.
    pub fn passkeys(&self) -> Passkeys {
        let sets = [("webauthn", &self.credentials.webauthn), ("passkey", &self.credentials.passkey)];
        let mut listed = Vec::new();
        let mut unlisted = false;
        for (kind, set) in sets {
            match set {
                None => {}
                Some(CredentialSet { config: None }) => unlisted = true,
                Some(CredentialSet { config: Some(c) }) => {
                    listed.extend(c.credentials.iter().filter_map(|v| WebauthnCredential::from_json(kind, v)));
                }
            }
        }
        match (listed.is_empty(), unlisted) {
            (false, _) => Passkeys::Listed(listed),
            (true, true) => Passkeys::Unlisted,
            (true, false) => Passkeys::None,
        }
    }

    /// `created_at` in Unix seconds (0 when it is not RFC 3339).
    pub fn created_unix(&self) -> i64 {
        i64::try_from(created_key(self).div_euclid(1_000_000_000)).unwrap_or_default().max(0)
    }
}

fn default_schema() -> String {
    DEFAULT_SCHEMA_ID.to_string()
}

/// The schema every identity of this app uses.
pub const DEFAULT_SCHEMA_ID: &str = "default";

/// The body of a create or full-replace update.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IdentityBody<'a> {
    pub schema_id: &'a str,
    pub traits: &'a Traits,
    pub state: IdentityState,
}

/// Which page of identities to read (0-based, like the Admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub page: u64,
    pub per_page: u64,
    /// Exact match on the identity's email (`credentials_identifier`).
    pub email: Option<String>,
}

/// Page sizes the dashboard offers; anything else is clamped into 1..=MAX_PER_PAGE.
pub const PAGE_SIZES: [u64; 3] = [25, 50, 100];
pub const MAX_PER_PAGE: u64 = 1000;

/// One page of identities with what the `X-Total-Count` and `Link` headers said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPage {
    pub items: Vec<Identity>,
    pub page: u64,
    pub per_page: u64,
    /// All identities matching the filter, when the provider says (`X-Total-Count`).
    pub total: Option<u64>,
    /// The next and previous page (0-based) from the `Link` header.
    pub next: Option<u64>,
    pub prev: Option<u64>,
}

/// How many pages `total` items fill at `per_page` (at least one, so an empty list has page 1 of 1).
pub fn page_count(total: u64, per_page: u64) -> u64 {
    total.div_ceil(per_page.max(1)).max(1)
}

/// The `page` query value of the link with relation `rel` in an RFC 8288
/// `Link` header, e.g. `<…?page=2&per_page=25>; rel="next"`.
pub fn link_page(header: &str, rel: &str) -> Option<u64> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_rel = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=").map(|v| v.trim_matches('"').split_whitespace().any(|r| r == rel)).unwrap_or(false)
        });
        if !is_rel {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let url = url::Url::parse(target).or_else(|_| url::Url::parse("http://x/")?.join(target)).ok()?;
        url.query_pairs().find(|(k, _)| k == "page").and_then(|(_, v)| v.parse().ok())
    })
}

/// The dashboard's search: words to find in the email or name, a state, an
/// order. The Admin API pages and filters by exact email only, so a search
/// reads the identities (up to [`SCAN_LIMIT`]) and filters them here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Matched case-insensitively against the email and the full name; every word must match.
    pub text: Option<String>,
    /// Only the identity with exactly this email (case-insensitive), as the Admin API's own filter.
    pub email: Option<String>,
    pub state: Option<IdentityState>,
    pub sort: Sort,
    /// 0-based, like [`ListQuery::page`].
    pub page: u64,
    pub per_page: u64,
}

impl SearchQuery {
    /// Whether this asks for anything the Admin API's own paging cannot do.
    pub fn needs_scan(&self) -> bool {
        self.text.as_deref().is_some_and(|t| !t.trim().is_empty())
            || self.state.is_some()
            || self.sort != Sort::Provider
    }
}

/// The order of the identity table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// As the provider lists them.
    #[default]
    Provider,
    NewestFirst,
    OldestFirst,
}

impl Sort {
    /// The URL spelling (`newest`, `oldest`; the provider's order has none).
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Provider => "",
            Sort::NewestFirst => "newest",
            Sort::OldestFirst => "oldest",
        }
    }

    /// Reads [`Sort::as_str`]'s spelling; anything else is the provider's order.
    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "newest" => Sort::NewestFirst,
            "oldest" => Sort::OldestFirst,
            _ => Sort::Provider,
        }
    }
}

/// The most identities a search reads from the provider.
pub const SCAN_LIMIT: usize = 10_000;

/// One page of a search, with the counts the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    pub items: Vec<Identity>,
    /// Identities read from the provider.
    pub scanned: u64,
    /// Of those, how many match the words and the state.
    pub matching: u64,
    /// Of those matching the words and the email (whatever the state), how many are active and inactive.
    pub active: u64,
    pub inactive: u64,
    /// The provider holds more than [`SCAN_LIMIT`]; only the first were searched.
    pub truncated: bool,
}

/// Whether `identity` holds every one of `words` (lower-case) in its email or name.
fn matches_text(identity: &Identity, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let n = &identity.traits.name;
    let hay =
        [Some(identity.traits.email.as_str()), n.first.as_deref(), n.last.as_deref(), n.academic_degree.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()))
}

/// An identity's `created_at` in Unix nanoseconds (`i128::MIN` when it is not RFC 3339).
fn created_key(i: &Identity) -> i128 {
    rfc3339(&i.created_at).map_or(i128::MIN, time::OffsetDateTime::unix_timestamp_nanos)
}

/// Filters, counts, sorts and pages `all` (what the provider listed) for `q`.
pub fn search_in(all: Vec<Identity>, q: &SearchQuery, truncated: bool) -> SearchPage {
    let scanned = all.len() as u64;
    let words: Vec<String> =
        q.text.as_deref().unwrap_or_default().to_lowercase().split_whitespace().map(str::to_string).collect();
    let email = q.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let found: Vec<Identity> = all
        .into_iter()
        .filter(|i| matches_text(i, &words) && email.is_none_or(|e| i.traits.email.eq_ignore_ascii_case(e)))
        .collect();
    let active = found.iter().filter(|i| i.state.is_active()).count() as u64;
    let inactive = found.len() as u64 - active;
    let mut items: Vec<Identity> = found.into_iter().filter(|i| q.state.is_none_or(|s| i.state == s)).collect();
    // By creation time (an unreadable time sorts as the oldest). Times tie
    // within a second; a tie keeps the provider's order (the order of
    // creation, for Kratos and the local provider), reversed for newest first.
    match q.sort {
        Sort::Provider => {}
        Sort::NewestFirst => {
            items.reverse();
            items.sort_by_cached_key(|i| std::cmp::Reverse(created_key(i)));
        }
        Sort::OldestFirst => items.sort_by_cached_key(created_key),
    }
    let matching = items.len() as u64;
    let per_page = q.per_page.clamp(1, MAX_PER_PAGE);
    let start = usize::try_from(q.page.saturating_mul(per_page)).unwrap_or(usize::MAX).min(items.len());
    let end = start.saturating_add(usize::try_from(per_page).unwrap_or(usize::MAX)).min(items.len());
    SearchPage { items: items.drain(start..end).collect(), scanned, matching, active, inactive, truncated }
}

/// A problem with one field of an identity, shown next to that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `email`, `first_name`, `last_name`, `academic_degree`, or `form` for the whole form.
    pub field: String,
    pub message: String,
}

/// The form field a trait path names (`traits.name.first`, `#/traits/name/first`, …).
fn field_of(path: &str) -> &'static str {
    let p = path.trim_start_matches("#/").replace('/', ".");
    match p.as_str() {
        "traits.email" => "email",
        "traits.name.first" => "first_name",
        "traits.name.last" => "last_name",
        "traits.name.academic-degree" => "academic_degree",
        _ => "form",
    }
}

/// Turns the `reason` of a Kratos 400 into per-field messages. Understands the
/// local provider's `traits.email: why; traits.name.first: why` and Kratos'
/// `I[#/traits/email] S[…] why` forms; anything else becomes one form-level message.
pub fn field_errors(reason: &str) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::new();
    for part in reason.split("; ").map(str::trim).filter(|p| !p.is_empty()) {
        let (field, message) = if let Some(rest) = part.strip_prefix("I[") {
            match rest.split_once(']') {
                Some((path, tail)) => {
                    // Drop the schema pointer `S[…]` that follows.
                    let tail = tail.trim();
                    let msg = match tail.strip_prefix("S[").and_then(|t| t.split_once(']')) {
                        Some((_, m)) => m.trim(),
                        None => tail,
                    };
                    (field_of(path), msg.to_string())
                }
                None => ("form", part.to_string()),
            }
        } else if let Some((path, msg)) = part.split_once(": ").filter(|(p, _)| p.starts_with("traits")) {
            (field_of(path), msg.trim().to_string())
        } else {
            ("form", part.to_string())
        };
        let message = friendly(field, &message);
        if !out.iter().any(|e| e.field == field && e.message == message) {
            out.push(FieldError { field: field.to_string(), message });
        }
    }
    if out.is_empty() {
        out.push(FieldError { field: "form".into(), message: "The provider refused these values.".into() });
    }
    out
}

/// Provider wording that is clear as it is stays; JSON-Schema jargon is rephrased.
fn friendly(field: &str, raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    if field == "email" && (lower.contains("email") || lower.contains("format")) {
        return "The provider says this is not a valid email address.".into();
    }
    if lower.contains("required") {
        return "This field is required.".into();
    }
    if lower.contains("longer than") || lower.contains("maxlength") || lower.contains("too long") {
        return "This is too long for the provider.".into();
    }
    format!("The provider refused this value: {raw}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_are_read_from_kratos_shapes_and_odd_ones_never_fail_the_identity() {
        let parse = |credentials: &str| -> Identity {
            serde_json::from_str(&format!(
                r#"{{"id":"i","state":"active","traits":{{"email":"a@example.com"}},"credentials":{credentials}}}"#
            ))
            .unwrap_or_else(|e| panic!("{credentials}: {e}"))
        };
        // The local provider, asked with include_credential=webauthn.
        let local = parse(
            r#"{"webauthn":{"type":"webauthn","identifiers":["a@example.com"],"config":{"credentials":[
                {"id":"abc_-","display_name":"Phone","added_at":"2026-12-04T10:00:00Z","last_used_at":null},
                {"id":"def","display_name":"Laptop","added_at":"2026-12-04T10:00:00.123456789Z","last_used_at":"2026-12-04T11:00:00Z"}]}}}"#,
        );
        let Passkeys::Listed(keys) = local.passkeys() else { panic!("{:?}", local.passkeys()) };
        assert_eq!(keys.len(), 2);
        assert_eq!((keys[0].kind, keys[0].display_name.as_str()), ("webauthn", "Phone"));
        assert_eq!(keys[0].last_used_unix(), Some(None), "never used");
        assert_eq!(keys[1].added_unix(), Some(1_796_378_400));
        assert_eq!(keys[1].last_used_unix(), Some(Some(1_796_382_000)));
        // Kratos: standard base64 ids, no last_used_at (unknown, not "never"), Kratos 1.2's passkey type.
        let kratos = parse(
            r#"{"passkey":{"type":"passkey","identifiers":["x"],"config":{"credentials":[
                {"id":"q+/w==","display_name":"","added_at":"2026-12-04T10:00:00Z","is_passwordless":true}],"user_handle":"u"}}}"#,
        );
        let Passkeys::Listed(keys) = kratos.passkeys() else { panic!() };
        assert_eq!((keys[0].kind, keys[0].id.as_str(), keys[0].last_used_unix()), ("passkey", "q+/w==", None));
        // Listed without their config (not asked for): there are passkeys, but which is not said.
        assert_eq!(parse(r#"{"webauthn":{"type":"webauthn","identifiers":["x"]}}"#).passkeys(), Passkeys::Unlisted);
        // No passkeys; odd shapes; an entry without id hides only itself.
        for none in [r#"{}"#, r#"null"#, r#"{"password":{"type":"password"}}"#, r#"[1,2]"#, r#""x""#] {
            assert_eq!(parse(none).passkeys(), Passkeys::None, "{none}");
        }
        assert_eq!(parse(r#"{"webauthn":{"config":null}}"#).passkeys(), Passkeys::Unlisted);
        let one = parse(r#"{"webauthn":{"config":{"credentials":[{"display_name":"no id"},{"id":"ok"},7]}}}"#);
        assert!(matches!(one.passkeys(), Passkeys::Listed(k) if k.len() == 1 && k[0].id == "ok"));
    }

    fn ident(id: &str, email: &str, first: &str, state: IdentityState, created: &str) -> Identity {
        Identity {
            id: id.into(),
            schema_id: DEFAULT_SCHEMA_ID.into(),
            state,
            traits: Traits { email: email.into(), name: Name { first: Some(first.into()), ..Name::default() } },
            created_at: created.into(),
            updated_at: String::new(),
            credentials: Credentials::default(),
        }
    }

    fn sample() -> Vec<Identity> {
        use IdentityState::{Active, Inactive};
        vec![
            ident("a", "ada@example.com", "Ada", Active, "2026-01-02T10:00:00Z"),
            ident("b", "bob@example.com", "Bob", Inactive, "2026-03-01T09:00:00.5+01:00"),
            ident("c", "cleo@example.org", "Cleo", Active, "2026-03-01T08:00:00.25Z"),
            ident("d", "dan@example.com", "Ada Dan", Active, "not a time"),
        ]
    }

    fn ids(p: &SearchPage) -> Vec<&str> {
        p.items.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn search_matches_every_word_in_email_or_name_case_insensitively() {
        let q = |t: &str| SearchQuery { text: Some(t.into()), per_page: 25, ..SearchQuery::default() };
        assert_eq!(ids(&search_in(sample(), &q("ADA"), false)), ["a", "d"], "email or first name");
        assert_eq!(ids(&search_in(sample(), &q("ada dan"), false)), ["d"], "every word");
        assert_eq!(ids(&search_in(sample(), &q(".org"), false)), ["c"]);
        let none = search_in(sample(), &q("zed"), false);
        assert_eq!((none.matching, none.scanned, none.items.len()), (0, 4, 0));
        assert_eq!(search_in(sample(), &q("   "), false).matching, 4, "blank text matches all");
    }

    #[test]
    fn search_counts_states_of_the_text_matches_and_filters_by_state() {
        let q = SearchQuery {
            text: Some("example.com".into()),
            state: Some(IdentityState::Active),
            per_page: 25,
            ..SearchQuery::default()
        };
        let p = search_in(sample(), &q, true);
        assert_eq!(ids(&p), ["a", "d"]);
        assert_eq!((p.matching, p.active, p.inactive, p.truncated), (2, 2, 1, true));
        let q = SearchQuery { email: Some(" BOB@example.com ".into()), per_page: 25, ..SearchQuery::default() };
        let p = search_in(sample(), &q, false);
        assert_eq!((ids(&p), p.active, p.inactive), (vec!["b"], 0, 1), "an exact email narrows a search too");
    }

    #[test]
    fn search_sorts_by_creation_time_across_offsets_and_pages() {
        let q = |sort, page| SearchQuery { sort, page, per_page: 2, ..SearchQuery::default() };
        // b is 08:00:00.5Z, after c (08:00:00.25Z); d's time is unreadable: oldest.
        assert_eq!(ids(&search_in(sample(), &q(Sort::NewestFirst, 0), false)), ["b", "c"]);
        assert_eq!(ids(&search_in(sample(), &q(Sort::NewestFirst, 1), false)), ["a", "d"]);
        assert_eq!(ids(&search_in(sample(), &q(Sort::OldestFirst, 0), false)), ["d", "a"]);
        assert_eq!(ids(&search_in(sample(), &q(Sort::OldestFirst, 9), false)), Vec::<&str>::new(), "past the end");
        // Ties keep the provider's order, reversed for newest first.
        let same = |id: &str| ident(id, "x@example.com", "X", IdentityState::Active, "2026-01-01T00:00:00Z");
        let tied = || vec![same("p"), same("q"), same("r")];
        let all = |sort| SearchQuery { sort, per_page: 10, ..SearchQuery::default() };
        assert_eq!(ids(&search_in(tied(), &all(Sort::NewestFirst), false)), ["r", "q", "p"]);
        assert_eq!(ids(&search_in(tied(), &all(Sort::OldestFirst), false)), ["p", "q", "r"]);
        assert!(q(Sort::NewestFirst, 0).needs_scan());
        assert!(!q(Sort::Provider, 0).needs_scan());
        assert_eq!(Sort::parse(Sort::OldestFirst.as_str()), Sort::OldestFirst);
        assert_eq!(Sort::parse("sideways"), Sort::Provider);
    }

    #[test]
    fn page_count_rounds_up_and_never_says_zero_pages() {
        assert_eq!(page_count(0, 25), 1);
        assert_eq!(page_count(1, 25), 1);
        assert_eq!(page_count(25, 25), 1);
        assert_eq!(page_count(26, 25), 2);
        assert_eq!(page_count(10_000, 100), 100);
        assert_eq!(page_count(10_001, 100), 101);
        assert_eq!(page_count(5, 0), 5, "a zero page size counts as one");
    }

    #[test]
    fn link_pages_are_read_by_relation() {
        let h = "<http://idp/admin/identities?page=0&per_page=25>; rel=\"first\",\
                 <http://idp/admin/identities?page=3&per_page=25>; rel=\"next\",\
                 <http://idp/admin/identities?page=1&per_page=25>; rel=\"prev\",\
                 <http://idp/admin/identities?page=9&per_page=25>; rel=\"last\"";
        assert_eq!(link_page(h, "next"), Some(3));
        assert_eq!(link_page(h, "prev"), Some(1));
        assert_eq!(link_page(h, "last"), Some(9));
        assert_eq!(link_page("<http://x/?page=0>; rel=\"first\"", "next"), None);
        assert_eq!(link_page("</admin/identities?per_page=5&page=4>; rel=next", "next"), Some(4), "relative, unquoted");
        assert_eq!(link_page("garbage", "next"), None);
    }

    #[test]
    fn schema_reasons_become_field_errors() {
        let e =
            field_errors("traits.email: \"nope\" is not a \"email\"; traits.name.first: 5 is not of type \"string\"");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].field, "email");
        assert_eq!(e[0].message, "The provider says this is not a valid email address.");
        assert_eq!(e[1].field, "first_name");
        assert!(e[1].message.contains("not of type"), "{}", e[1].message);

        let e = field_errors("I[#/traits/name/academic-degree] S[#/properties/traits/properties/name] expected string");
        assert_eq!(e[0].field, "academic_degree");
        assert_eq!(e[0].message, "The provider refused this value: expected string");

        let e = field_errors("traits: missing properties: \"email\"");
        assert_eq!(e[0].field, "form");
        assert_eq!(field_errors("")[0].field, "form");
        assert_eq!(field_errors("schema_id: unknown identity schema \"x\"")[0].field, "form");
    }

    #[test]
    fn traits_serialize_in_the_schema_nesting() {
        let t = Traits {
            email: "a@example.com".into(),
            name: Name { first: Some("Ada".into()), last: None, academic_degree: Some("Dr.".into()) },
        };
        let v = serde_json::to_value(&t).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"email":"a@example.com","name":{"first":"Ada","academic-degree":"Dr."}}));
        let bare =
            serde_json::to_value(Traits { email: "b@example.com".into(), ..Default::default() }).unwrap_or_default();
        assert_eq!(bare, serde_json::json!({"email":"b@example.com"}), "no empty name object");
    }
}
