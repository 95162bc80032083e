//! The display name a user picks at onboarding.

/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 40;

/// Why a display name was refused; the message is shown next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("Please enter a display name.")]
    Empty,
    #[error("Use at most {DISPLAY_NAME_MAX} characters.")]
    TooLong,
    #[error("Use letters, digits, spaces and common punctuation only.")]
    BadCharacters,
}

/// Trims and checks a display name: 1–40 characters, inner whitespace
/// collapsed, no control or formatting characters (which could spoof how
/// names render) and no angle brackets.
pub fn validate_display_name(raw: &str) -> Result<String, DisplayNameError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(DisplayNameError::Empty);
    }
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err(DisplayNameError::TooLong);
    }
    if name.chars().any(crate::forms::is_refused_in_names) {
        return Err(DisplayNameError::BadCharacters);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_checked() {
        assert_eq!(validate_display_name("  Ada   Lovelace ").as_deref(), Ok("Ada Lovelace"));
        assert_eq!(validate_display_name("Zoë O'Brien-Łukasz").as_deref(), Ok("Zoë O'Brien-Łukasz"));
        assert_eq!(validate_display_name("   "), Err(DisplayNameError::Empty));
        assert_eq!(validate_display_name(&"x".repeat(41)), Err(DisplayNameError::TooLong));
        assert!(validate_display_name(&"é".repeat(40)).is_ok(), "counted in characters, not bytes");
        for bad in ["a\u{0}b", "evil\u{202E}gnp", "<script>", "zero\u{200B}width", "bell\u{7}"] {
            assert_eq!(validate_display_name(bad), Err(DisplayNameError::BadCharacters), "{bad:?}");
        }
    }
}
