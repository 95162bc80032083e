//! Logins in flight: one entry per authorization request, keyed by its
//! `state`, kept server-side in the session so several tabs can sign in at
//! once. Bounded in count and age; an entry is taken exactly once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ReturnTo;

/// How many logins one session may have in flight.
pub const MAX_PENDING: usize = 8;
/// How long a login may take, in seconds.
pub const MAX_AGE_SECS: i64 = 600;

/// What the callback needs to finish one login. Stored only in the server-side
/// session record; never sent to the browser.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: ReturnTo,
    pub started_at: i64,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// The logins in flight for one session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogins(BTreeMap<String, PendingLogin>);

/// Why a callback's `state` was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PendingError {
    #[error("this sign-in was not started here, was already completed, or was replaced by newer ones")]
    Unknown,
    #[error("this sign-in took too long")]
    Expired,
}

impl PendingLogins {
    /// Adds a login; drops expired ones and, beyond [`MAX_PENDING`], the oldest.
    pub fn insert(&mut self, state: String, login: PendingLogin, now: i64) {
        self.prune(now);
        self.0.insert(state, login);
        while self.0.len() > MAX_PENDING {
            let oldest = self.0.iter().min_by_key(|(_, l)| l.started_at).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.0.remove(&k),
                None => break,
            };
        }
    }

    /// Removes and returns the login for `state` (single use).
    pub fn take(&mut self, state: &str, now: i64) -> Result<PendingLogin, PendingError> {
        let login = self.0.remove(state).ok_or(PendingError::Unknown)?;
        if now - login.started_at > MAX_AGE_SECS {
            return Err(PendingError::Expired);
        }
        Ok(login)
    }

    pub fn prune(&mut self, now: i64) {
        self.0.retain(|_, l| now - l.started_at <= MAX_AGE_SECS);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(at: i64) -> PendingLogin {
        PendingLogin {
            pkce_verifier: format!("v{at}"),
            nonce: format!("n{at}"),
            return_to: ReturnTo::root(),
            started_at: at,
        }
    }

    #[test]
    fn several_tabs_complete_in_any_order_and_each_only_once() {
        let mut p = PendingLogins::default();
        p.insert("a".into(), login(100), 100);
        p.insert("b".into(), login(101), 101);
        assert_eq!(p.take("b", 150).map(|l| l.nonce), Ok("n101".into()));
        assert_eq!(p.take("a", 150).map(|l| l.nonce), Ok("n100".into()));
        assert_eq!(p.take("a", 150), Err(PendingError::Unknown), "replay");
        assert_eq!(p.take("zzz", 150), Err(PendingError::Unknown));
    }

    #[test]
    fn expired_logins_are_refused_and_pruned() {
        let mut p = PendingLogins::default();
        p.insert("a".into(), login(0), 0);
        assert_eq!(p.take("a", MAX_AGE_SECS + 1), Err(PendingError::Expired));
        p.insert("b".into(), login(0), 0);
        p.insert("c".into(), login(MAX_AGE_SECS + 5), MAX_AGE_SECS + 5);
        assert_eq!(p.len(), 1, "b was pruned");
    }

    #[test]
    fn the_count_is_bounded_dropping_the_oldest() {
        let mut p = PendingLogins::default();
        for i in 0..(MAX_PENDING as i64 + 3) {
            p.insert(format!("s{i}"), login(i), i);
        }
        assert_eq!(p.len(), MAX_PENDING);
        assert_eq!(p.take("s0", 20), Err(PendingError::Unknown));
        assert!(p.take(&format!("s{}", MAX_PENDING as i64 + 2), 20).is_ok());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = format!("{:?}", login(7));
        assert!(!s.contains("v7") && !s.contains("n7"), "{s}");
    }
}
