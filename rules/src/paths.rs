//! The app's page paths, for links, redirects and the router alike.

pub const HOME: &str = "/";
pub const PROFILE: &str = "/profile";
pub const ONBOARDING: &str = "/onboarding";
pub const ADMIN_IDENTITIES: &str = "/admin/identities";
pub const ADMIN_AUDIT: &str = "/admin/audit";
/// Starts a sign-in (`?return_to=` the page to come back to).
pub const LOGIN: &str = "/login";
/// Signs out (POST with the session's logout token).
pub const LOGOUT: &str = "/logout";

/// `/admin/identities/<id>`, optionally with `?notice=<code>`.
pub fn admin_identity(id: &str, notice: Option<crate::notice::Notice>) -> String {
    match notice {
        Some(n) => format!("{ADMIN_IDENTITIES}/{id}?notice={}", n.code()),
        None => format!("{ADMIN_IDENTITIES}/{id}"),
    }
}

/// `/admin/identities/<id>/delete`: the confirmation page.
pub fn admin_delete(id: &str) -> String {
    format!("{ADMIN_IDENTITIES}/{id}/delete")
}

/// `value` percent-encoded as a query value: ASCII letters, digits and `*-._`
/// stay, every other UTF-8 byte becomes `%XX` (a space `%20`, never `+`), so
/// form decoding (`/login`'s) and plain percent-decoding (the router's) read
/// the same value back.
pub fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/login?return_to=<path>`.
pub fn login(return_to: &str) -> String {
    format!("{LOGIN}?return_to={}", encode_query_value(return_to))
}

/// `/onboarding?return_to=<path>`.
pub fn onboarding(return_to: &str) -> String {
    format!("{ONBOARDING}?return_to={}", encode_query_value(return_to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::Notice;

    #[test]
    fn paths_are_built_and_encoded() {
        assert_eq!(
            login("/admin/identities?page=2&email=a+b@x.y"),
            "/login?return_to=%2Fadmin%2Fidentities%3Fpage%3D2%26email%3Da%2Bb%40x.y"
        );
        assert_eq!(onboarding("/profile"), "/onboarding?return_to=%2Fprofile");
        assert_eq!(login("/ü ~"), "/login?return_to=%2F%C3%BC%20%7E");
        assert_eq!(admin_identity("abc", Some(Notice::Saved)), "/admin/identities/abc?notice=saved");
        assert_eq!(admin_identity("abc", None), "/admin/identities/abc");
        assert_eq!(admin_delete("abc"), "/admin/identities/abc/delete");
    }
}
