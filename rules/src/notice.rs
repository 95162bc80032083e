//! The confirmation shown after an admin action: the server function that
//! did it redirects with `?notice=<code>`, the page reads the code back.

use crate::identity::IdentityState;

/// What an admin action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Created,
    Saved,
    Activated,
    Deactivated,
    Deleted,
    SessionsEnded,
    PasskeyRemoved,
}

impl Notice {
    const ALL: [Notice; 7] = [
        Notice::Created,
        Notice::Saved,
        Notice::Activated,
        Notice::Deactivated,
        Notice::Deleted,
        Notice::SessionsEnded,
        Notice::PasskeyRemoved,
    ];

    /// The value of the `notice` query parameter.
    pub fn code(self) -> &'static str {
        match self {
            Notice::Created => "created",
            Notice::Saved => "saved",
            Notice::Activated => "activated",
            Notice::Deactivated => "deactivated",
            Notice::Deleted => "deleted",
            Notice::SessionsEnded => "sessions-ended",
            Notice::PasskeyRemoved => "passkey-removed",
        }
    }

    /// Reads a `notice` query value; an unknown one shows nothing.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.code() == code)
    }

    /// What the page says.
    pub fn text(self) -> &'static str {
        match self {
            Notice::Created => "Identity created.",
            Notice::Saved => "Changes saved.",
            Notice::Activated => "Identity activated: it can sign in again.",
            Notice::Deactivated => "Identity deactivated: it is signed out and cannot sign in.",
            Notice::Deleted => "Identity deleted.",
            Notice::SessionsEnded => "Every session of this identity in this app has ended.",
            Notice::PasskeyRemoved => "Passkey removed: it can no longer sign in to this identity.",
        }
    }

    /// The notice for having set an identity to `state`.
    pub fn for_state(state: IdentityState) -> Self {
        match state {
            IdentityState::Active => Notice::Activated,
            IdentityState::Inactive => Notice::Deactivated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_reads_back_its_code() {
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.code()), Some(n));
            assert!(!n.text().is_empty());
        }
        assert_eq!(Notice::parse("<script>"), None);
    }
}
