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
