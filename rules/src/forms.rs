//! Parsing of form input, shared by the browser (checks as the admin types)
//! and the server (which never trusts the browser and checks again). A parsed
//! value is known to be well-formed; the provider may still refuse it.

use serde::{Deserialize, Serialize};

/// A problem with one form field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The form field's name (`email`, `first_name`, …), or `form` for the whole form.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_string(), message: message.into() }
    }
}

/// The message for `field` among `errors`, if any.
pub fn message_for(errors: &[FieldError], field: &str) -> Option<String> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.clone())
}

pub const EMAIL_MAX: usize = 254;
pub const NAME_PART_MAX: usize = 100;
pub const DEGREE_MAX: usize = 40;

/// A syntactically plausible email address: `local@domain.tld`, no spaces,
/// at most 254 characters. Trimmed; the case is kept.
pub fn parse_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim();
    if email.is_empty() {
        return Err("Please enter an email address.");
    }
    if email.chars().count() > EMAIL_MAX {
        return Err("An email address has at most 254 characters.");
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("An email address needs an @, like name@example.com.");
    };
    let bad_char = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']')
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') || local.chars().any(bad_char) {
        return Err("The part before the @ is not valid.");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err("The part after the @ must be a domain, like example.com.");
    }
    Ok(email.to_string())
}

/// Characters no name may hold: control characters, angle brackets, and the
/// invisible formatting and text-direction characters that could spoof how a
/// name renders.
pub fn is_refused_in_names(c: char) -> bool {
    c.is_control()
        || matches!(c, '<' | '>' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// An optional name part: trimmed, inner whitespace collapsed, empty means
/// none, no control or text-direction characters.
pub fn parse_name_part(raw: &str, max: usize) -> Result<Option<String>, String> {
    let v = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max {
        return Err(format!("Use at most {max} characters."));
    }
    if v.chars().any(is_refused_in_names) {
        return Err("Use letters, digits, spaces and common punctuation only.".into());
    }
    Ok(Some(v))
}

/// The identity form: email, first and last name, academic degree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityForm {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub academic_degree: Option<String>,
}

impl IdentityForm {
    /// Parses the raw fields; every bad field gets its own message.
    pub fn parse(email: &str, first_name: &str, last_name: &str, degree: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let email = parse_email(email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
        let mut part = |field: &str, raw: &str, max: usize| {
            parse_name_part(raw, max).map_err(|m| errors.push(FieldError::new(field, m))).ok().flatten()
        };
        let first_name = part("first_name", first_name, NAME_PART_MAX);
        let last_name = part("last_name", last_name, NAME_PART_MAX);
        let academic_degree = part("academic_degree", degree, DEGREE_MAX);
        match email {
            Some(email) if errors.is_empty() => Ok(Self { email, first_name, last_name, academic_degree }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_for_shape() {
        assert_eq!(parse_email("  ada@example.com ").as_deref(), Ok("ada@example.com"));
        assert!(parse_email("Zoë.O'Brien+tag@sub.example.co.uk").is_ok());
        for bad in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@exa mple.com",
            "ada@-example.com",
            "ada@example..com",
            "<ada>@example.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_email(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(parse_email(&format!("a@{}.com", "b".repeat(250))).is_err());
    }

    #[test]
    fn the_identity_form_reports_every_bad_field() {
        let f = IdentityForm::parse("ada@example.com", "  Ada  ", "", "Dr.").unwrap_or_default();
        assert_eq!(f.first_name.as_deref(), Some("Ada"));
        assert_eq!(f.last_name, None);
        assert_eq!(f.academic_degree.as_deref(), Some("Dr."));
        let errs = IdentityForm::parse("nope", "a\u{202E}b", &"x".repeat(101), "ok").expect_err("three bad fields");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "first_name", "last_name"]);
        assert_eq!(message_for(&errs, "email").as_deref(), Some("An email address needs an @, like name@example.com."));
        assert_eq!(message_for(&errs, "academic_degree"), None);
    }
}
