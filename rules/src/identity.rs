//! Whether an identity may sign in, as the Admin API (Kratos) spells it.

use serde::{Deserialize, Serialize};

/// Whether an identity may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityState {
    Active,
    Inactive,
}

impl IdentityState {
    /// `active` or `inactive`, as in the Admin API and the admin form's `state` field.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityState::Active => "active",
            IdentityState::Inactive => "inactive",
        }
    }

    /// Reads [`IdentityState::as_str`]'s spelling back; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(IdentityState::Active),
            "inactive" => Some(IdentityState::Inactive),
            _ => None,
        }
    }

    /// The other state: what the admin page's switch button sets.
    pub fn toggled(self) -> Self {
        match self {
            IdentityState::Active => IdentityState::Inactive,
            IdentityState::Inactive => IdentityState::Active,
        }
    }

    pub fn is_active(self) -> bool {
        self == IdentityState::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_what_they_write() {
        for s in [IdentityState::Active, IdentityState::Inactive] {
            assert_eq!(IdentityState::parse(s.as_str()), Some(s));
            assert_eq!(s.toggled().toggled(), s);
            assert_ne!(s.toggled(), s);
        }
        assert_eq!(IdentityState::parse("Active"), None);
        assert_eq!(IdentityState::parse(""), None);
    }
}
