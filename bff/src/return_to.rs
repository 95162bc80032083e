//! `ReturnTo`: where to send the user after sign-in. It can only hold a
//! same-origin relative path, so it can never become an open redirect.

use std::fmt;

/// The longest accepted return path, in bytes.
pub const MAX_LEN: usize = 1024;

/// A same-origin relative path (with optional query) to return to after sign-in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReturnTo(String);

/// Why a return path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnToError {
    #[error("the return path is empty")]
    Empty,
    #[error("the return path is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("the return path must start with a single '/'")]
    NotRelative,
    #[error("the return path contains a backslash or control character")]
    BadCharacter,
    #[error("the return path leaves this site")]
    OtherOrigin,
}

fn check(s: &str) -> Result<(), ReturnToError> {
    if s.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(ReturnToError::BadCharacter);
    }
    if !s.starts_with('/') || s.starts_with("//") {
        return Err(ReturnToError::NotRelative);
    }
    Ok(())
}

impl ReturnTo {
    /// The home page.
    pub fn root() -> Self {
        Self("/".into())
    }

    /// Parses a return path, refusing anything that could leave this origin:
    /// schemes, `//` and `/\` prefixes, backslashes, control characters, the
    /// percent-encoded forms of all of those, and paths over [`MAX_LEN`].
    pub fn parse(raw: &str) -> Result<Self, ReturnToError> {
        if raw.is_empty() {
            return Err(ReturnToError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(ReturnToError::TooLong);
        }
        check(raw)?;
        // Decoded forms must pass too (servers and browsers may decode once or more).
        let mut current = raw.to_string();
        for _ in 0..3 {
            let decoded = percent_encoding::percent_decode_str(&current).decode_utf8_lossy().into_owned();
            check(&decoded)?;
            if decoded == current {
                break;
            }
            current = decoded;
        }
        // Belt and braces: resolved against a base, it must stay on that origin.
        let base = url::Url::parse("http://origin.invalid/").map_err(|_| ReturnToError::OtherOrigin)?;
        let joined = base.join(raw).map_err(|_| ReturnToError::OtherOrigin)?;
        if joined.origin() != base.origin() {
            return Err(ReturnToError::OtherOrigin);
        }
        let mut path = joined.path().to_string();
        if let Some(q) = joined.query() {
            path.push('?');
            path.push_str(q);
        }
        check(&path)?;
        Ok(Self(path))
    }

    /// Parses `raw`, falling back to `/` for anything unacceptable or missing.
    pub fn parse_or_root(raw: Option<&str>) -> Self {
        raw.and_then(|r| Self::parse(r).ok()).unwrap_or_else(Self::root)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReturnTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ReturnTo {
    type Error = ReturnToError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ReturnTo> for String {
    fn from(r: ReturnTo) -> Self {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_same_origin_paths() {
        for (raw, want) in [
            ("/", "/"),
            ("/profile", "/profile"),
            ("/admin/identities?page=2&per_page=50", "/admin/identities?page=2&per_page=50"),
            ("/a/b/../c", "/a/c"),
            ("/search?q=%2F%2Fnot-a-host", "/search?q=%2F%2Fnot-a-host"),
            ("/caf%C3%A9", "/caf%C3%A9"),
            ("/path#fragment", "/path"),
            ("/@user", "/@user"),
        ] {
            assert_eq!(ReturnTo::parse(raw).map(|r| r.to_string()), Ok(want.to_string()), "{raw}");
        }
    }

    #[test]
    fn refuses_hostile_variants() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        let hostile = [
            "https://evil.example/",
            "http://evil.example",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "evil.example",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/path\\..\\x",
            "%2F%2Fevil.example",
            "/%2F/evil.example",
            "/%2fevil.example/..%2f",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%252F%252Fevil.example",
            "/%25252F%25252Fevil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nLocation: https://evil.example",
            "/%0d%0aSet-Cookie:%20x=y",
            "/%09/evil.example",
            "/\u{0}",
            "/\u{7f}",
            "/\u{85}evil",
            " /profile",
            "",
            long.as_str(),
            "../evil",
            "?next=//evil.example",
        ];
        assert!(hostile.len() >= 20);
        for raw in hostile {
            assert!(ReturnTo::parse(raw).is_err(), "accepted {raw:?}");
            assert_eq!(ReturnTo::parse_or_root(Some(raw)), ReturnTo::root(), "{raw:?}");
        }
        assert_eq!(ReturnTo::parse_or_root(None), ReturnTo::root());
    }

    #[test]
    fn deserializing_validates_too() {
        assert!(serde_json_like("//evil.example").is_err());
        assert!(serde_json_like("/ok").is_ok());
    }

    fn serde_json_like(s: &str) -> Result<ReturnTo, ReturnToError> {
        ReturnTo::try_from(s.to_string())
    }
}
