//! The typed session: named keys and methods over `tower-sessions`, so no code
//! scatters raw keys around. The record names the sign-in's row in the token
//! table (`crate::tokens`), where the tokens are kept sealed; the session store
//! never holds a usable token.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::oidc::{TokenSet, VerifiedUser};
use crate::tokens::{TokenError, Tokens};

const AUTH: &str = "gatehouse.auth";
/// When the signed-in user was last active (Unix seconds), noted at most once
/// a minute so the store's idle expiry follows requests, not just changes.
const SEEN: &str = "gatehouse.seen";

/// Who is signed in: safe to show, holds no token. Only `bff` makes one, from
/// a verified session: the fields are private and it cannot be deserialized,
/// so no caller can hand [`crate::admin::Admin::authorize`] a forged user.
///
/// ```
/// // Reading one compiles…
/// fn who(u: &bff::session::SessionUser) -> (&str, Option<&serde_json::Value>) { (u.sub(), u.claim("roles")) }
/// ```
///
/// ```compile_fail,E0451
/// // …making one outside `bff` does not:
/// let forged = bff::session::SessionUser { sub: "admin".into(), email: None, signed_in_at: 0, confirmed_at: 0, claims: vec![] };
/// ```
///
/// ```compile_fail,E0277
/// // Not deserializable either:
/// let forged: bff::session::SessionUser = serde_json::from_str(r#"{"sub":"admin"}"#).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    sub: String,
    email: Option<String>,
    signed_in_at: i64,
    /// When the provider last vouched for these claims (Unix seconds): the
    /// sign-in, or the latest check of the user's standing.
    confirmed_at: i64,
    /// The verified claims with their JSON types: the ID token's (without
    /// `nonce`, `at_hash`, `c_hash`), with the identity claims replaced by the
    /// provider's userinfo answer at each check of the user's standing.
    claims: Vec<(String, serde_json::Value)>,
}

impl SessionUser {
    /// The subject at the provider.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// When this sign-in happened (Unix seconds).
    pub fn signed_in_at(&self) -> i64 {
        self.signed_in_at
    }

    /// When the provider last vouched for this user's claims (Unix seconds).
    pub fn confirmed_at(&self) -> i64 {
        self.confirmed_at
    }

    /// A verified claim, with its JSON type.
    pub fn claim(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The verified ID-token claims as display text (strings as they are, other values as JSON).
    pub fn display_claims(&self) -> Vec<(String, String)> {
        self.claims.iter().map(|(k, v)| (k.clone(), crate::oidc::display_value(v))).collect()
    }

    #[cfg(test)]
    pub(crate) fn for_tests(sub: &str, email: Option<&str>, claims: Vec<(String, serde_json::Value)>) -> Self {
        Self {
            sub: sub.into(),
            email: email.map(str::to_string),
            signed_in_at: 0,
            confirmed_at: crate::unix_now(),
            claims,
        }
    }
}

/// How a [`SessionUser`] is kept in the session record. Older records kept
/// claims as display text: they read back as JSON strings, which never count
/// as `email_verified` or an admin claim (fail closed until the next sign-in).
#[derive(Clone, Serialize, Deserialize)]
struct StoredUser {
    sub: String,
    email: Option<String>,
    signed_in_at: i64,
    /// Records from before standing checks read as never confirmed: the next admin call checks.
    #[serde(default)]
    confirmed_at: i64,
    #[serde(default)]
    claims: Vec<(String, serde_json::Value)>,
}

impl From<StoredUser> for SessionUser {
    fn from(u: StoredUser) -> Self {
        Self {
            sub: u.sub,
            email: u.email,
            signed_in_at: u.signed_in_at,
            confirmed_at: u.confirmed_at,
            claims: u.claims,
        }
    }
}

/// Claims about the token or the sign-in rather than the person: kept from the
/// ID token when the identity claims are replaced by a userinfo answer.
const SIGN_IN_CLAIMS: &[&str] =
    &["iss", "aud", "azp", "exp", "iat", "nbf", "auth_time", "sid", "amr", "acr", "jti", "rat"];

impl StoredUser {
    /// The sign-in claims kept, every identity claim replaced by `fresh` (a
    /// claim the provider no longer states is gone).
    fn confirm(&mut self, fresh: serde_json::Map<String, serde_json::Value>, now: i64) {
        self.claims.retain(|(k, _)| SIGN_IN_CLAIMS.contains(&k.as_str()));
        self.claims.extend(fresh.into_iter().filter(|(k, _)| k != "sub" && !SIGN_IN_CLAIMS.contains(&k.as_str())));
        self.email = self.claims.iter().find(|(k, _)| k == "email").and_then(|(_, v)| v.as_str()).map(str::to_string);
        self.confirmed_at = now;
    }
}

/// What the provider says of the signed-in user now (see [`AuthSession::confirmed_user`]).
#[derive(Debug)]
pub enum Standing {
    /// Nobody is signed in, or the session just ended (the provider refused the refresh).
    SignedOut,
    /// Claims the provider vouched for within the asked age, unchanged.
    Confirmed(SessionUser),
    /// The provider was asked just now: `user` holds its answer, `stale` what
    /// the session said before.
    Reconfirmed { user: SessionUser, stale: SessionUser },
    /// The provider no longer accepts this user's tokens (deactivated,
    /// revoked), or answered about someone else: `stale` is what the session
    /// still says. `just_now`: this call asked (else a check within the asked
    /// age, by any request on any instance, found it).
    Refused { stale: SessionUser, why: String, just_now: bool },
    /// The provider could not be asked (down, timing out, no userinfo
    /// endpoint): `stale` is what the session still says.
    Unavailable { stale: SessionUser, why: String },
}

/// The outcome of a standing check, as kept in the sign-in's token row.
#[derive(Clone, Serialize, Deserialize)]
struct CheckedStanding {
    user: StoredUser,
    /// Why the provider refused the user, if it did.
    #[serde(default)]
    refused: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredAuth {
    /// The user as of the sign-in, or — once read through [`AuthSession::auth`]
    /// — as of the latest standing check recorded in the token row.
    user: StoredUser,
    /// Why the latest standing check was refused (from the token row).
    #[serde(skip)]
    refused: Option<String>,
    /// When the latest standing check started (Unix seconds; 0: none since the sign-in).
    #[serde(skip)]
    checked_at: i64,
    /// This sign-in's row in the token table.
    grant: String,
    /// Per-session token the sign-out form must carry (cross-site sign-out is refused).
    logout_token: String,
    /// The absolute end of this session (Unix seconds), however active it is.
    #[serde(default = "never")]
    expires_at: i64,
}

impl StoredAuth {
    /// The user as the latest standing check found them (a row about someone
    /// else, or unreadable, is ignored: the sign-in's claims stand).
    fn take_standing(&mut self, row: &crate::tokens::StandingRow) {
        match serde_json::from_str::<CheckedStanding>(&row.json) {
            Ok(checked) if checked.user.sub == self.user.sub => {
                self.user = checked.user;
                // Confirmed when the check started (a refusal never confirms).
                self.user.confirmed_at = if checked.refused.is_some() { 0 } else { row.at_ms / 1000 };
                self.refused = checked.refused;
                self.checked_at = row.at_ms / 1000;
            }
            Ok(_) => tracing::warn!(sub = %self.user.sub, "a standing check about another subject was ignored"),
            Err(e) => tracing::warn!(sub = %self.user.sub, error = %e, "an unreadable standing check was ignored"),
        }
    }
}

fn never() -> i64 {
    i64::MAX
}

/// Errors of the session store (logged; the user sees a generic message).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store failure: {0}")]
    Store(#[from] tower_sessions::session::Error),
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(transparent)]
    Userinfo(#[from] crate::oidc::UserinfoError),
}

impl crate::store::Outage for SessionError {
    fn is_outage(&self) -> bool {
        match self {
            // The session store's errors arrive as text: any of them is the
            // store failing (a session that is merely gone is not an error).
            SessionError::Store(_) => true,
            SessionError::Tokens(e) => e.is_outage(),
            SessionError::Userinfo(_) => false,
        }
    }
}

/// The session of the current request, with typed operations. It never hands
/// a token out of `bff`: fresh claims come from [`AuthSession::userinfo`],
/// which uses the access token on the server.
///
/// ```
/// // Reading fresh claims compiles…
/// async fn fresh(s: &bff::session::AuthSession) -> Option<Vec<(String, String)>> {
///     s.userinfo().await.ok().flatten()
/// }
/// ```
///
/// ```compile_fail,E0624
/// // …taking the access token out does not.
/// async fn leak(s: &bff::session::AuthSession) -> String {
///     s.access_token().await.unwrap().unwrap()
/// }
/// ```
///
/// ```compile_fail,E0624
/// // Nor does taking the tokens at sign-out.
/// async fn leak(s: &bff::session::AuthSession) -> String {
///     s.logout().await.unwrap().unwrap().access_token
/// }
/// ```
#[derive(Clone)]
pub struct AuthSession {
    session: Session,
    tokens: Tokens,
    decoded: std::sync::Arc<DecodedSessions>,
    /// The signed-in state as this request read it (a request asks several times).
    memo: std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<StoredAuth>>>>,
}

/// Session records read recently, decoded, by session id: the requests of a
/// session within the cache bound ([`Tokens::with_cache`]) neither load nor
/// decode its record again. What they still do on every request is the
/// sign-in's check in its token row ([`Tokens::check_in`]), which is where
/// every ending (sign-out, an admin's, a back-channel logout, the user's
/// "end session") is recorded, so none of them waits for this cache. The
/// signed-in part of a record changes only at sign-in (a new session id) and
/// sign-out (the record is deleted), both through [`AuthSession`], which
/// drops the entry; an entry also goes when the record would have expired
/// for inactivity.
pub(crate) struct DecodedSessions {
    recent: crate::ttl_cache::TtlCache<tower_sessions::session::Id, Decoded>,
    idle_secs: i64,
}

#[derive(Clone)]
struct Decoded {
    auth: std::sync::Arc<StoredAuth>,
    /// When the record expires for inactivity at the earliest (Unix seconds):
    /// its last save (the sign-in, or the latest activity noted) plus the idle timeout.
    idle_until: i64,
}

impl DecodedSessions {
    pub(crate) fn new(tokens: &Tokens) -> Self {
        let (bound, max) = tokens.cache_config();
        Self { recent: crate::ttl_cache::TtlCache::new(bound, max), idle_secs: tokens.idle_secs() }
    }
}

impl AuthSession {
    pub(crate) fn new(session: Session, tokens: Tokens, decoded: std::sync::Arc<DecodedSessions>) -> Self {
        Self { session, tokens, decoded, memo: Default::default() }
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Option<std::sync::Arc<StoredAuth>>> {
        self.memo.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets what this request and the recent ones decoded of the record.
    fn forget(&self) {
        self.remembered().take();
        if let Some(id) = self.session.id() {
            self.decoded.recent.remove(&id);
        }
    }

    /// Ends the session record (and forgets what was read of it).
    async fn flush(&self) -> Result<(), SessionError> {
        self.forget();
        Ok(self.session.flush().await?)
    }

    /// The signed-in state, if any and not past its absolute lifetime (an
    /// expired one, or one this version cannot read, is deleted from the store here).
    async fn auth(&self) -> Result<Option<std::sync::Arc<StoredAuth>>, SessionError> {
        if let Some(auth) = self.remembered().clone() {
            return Ok(Some(auth));
        }
        let auth = self.read_auth().await?;
        if let Some(a) = &auth {
            *self.remembered() = Some(a.clone());
        }
        Ok(auth)
    }

    /// The signed-in part of the session record, decoded (reused from a
    /// recent request of this session when there is one).
    async fn stored_auth(&self) -> Result<Option<std::sync::Arc<StoredAuth>>, SessionError> {
        let id = self.session.id();
        if let Some(hit) = id.and_then(|id| self.decoded.recent.get(&id)) {
            if crate::unix_now() < hit.idle_until {
                return Ok(Some(hit.auth));
            }
        }
        let read_at = std::time::Instant::now();
        let Some(raw) = self.session.get::<serde_json::Value>(AUTH).await? else { return Ok(None) };
        let auth = match serde_json::from_value::<StoredAuth>(raw) {
            Ok(a) => std::sync::Arc::new(a),
            Err(e) => {
                tracing::warn!(error = %e, "a session record in an unknown format was ended");
                self.flush().await?;
                return Ok(None);
            }
        };
        let seen = self.session.get::<i64>(SEEN).await.ok().flatten().unwrap_or(0);
        if let Some(id) = self.session.id() {
            let idle_until = seen.max(auth.user.signed_in_at).saturating_add(self.decoded.idle_secs);
            self.decoded.recent.insert_at(id, Decoded { auth: auth.clone(), idle_until }, read_at);
        }
        Ok(Some(auth))
    }

    /// [`Self::auth`] from the session record and the token row.
    async fn read_auth(&self) -> Result<Option<std::sync::Arc<StoredAuth>>, SessionError> {
        let Some(auth) = self.stored_auth().await? else { return Ok(None) };
        if crate::unix_now() >= auth.expires_at {
            tracing::info!(sub = %auth.user.sub, "session reached its absolute lifetime");
            self.tokens.end(&auth.grant).await?;
            self.flush().await?;
            return Ok(None);
        }
        let Some(check_in) = self.tokens.check_in(&auth.grant, crate::unix_now()).await? else {
            tracing::info!(sub = %auth.user.sub, "session ended elsewhere (sign-out at the provider, or ended by the user)");
            self.flush().await?;
            return Ok(None);
        };
        // The session layer moves a record's idle expiry only when the
        // record is saved: note the activity in it as often as in the token row.
        if check_in.touched {
            if let Some(id) = self.session.id() {
                self.decoded.recent.remove(&id);
            }
            self.session.insert(SEEN, crate::unix_now()).await?;
        }
        Ok(Some(match check_in.standing {
            Some(row) => {
                let mut current = StoredAuth::clone(&auth);
                current.take_standing(&row);
                std::sync::Arc::new(current)
            }
            None => auth,
        }))
    }

    pub async fn user(&self) -> Result<Option<SessionUser>, SessionError> {
        Ok(self.auth().await?.map(|a| a.user.clone().into()))
    }

    /// The token the sign-out form must send back.
    pub async fn logout_token(&self) -> Result<Option<String>, SessionError> {
        Ok(self.auth().await?.map(|a| a.logout_token.clone()))
    }

    /// Signs the user in: a new session id (no fixation), then the tokens.
    /// The session ends `lifetime_secs` after `now` at the latest. A sign-in
    /// this session already had (a second tab's callback) is ended: its token
    /// row deleted, its refresh token revoked.
    pub(crate) async fn login(
        &self,
        user: &VerifiedUser,
        tokens: TokenSet,
        now: i64,
        lifetime_secs: i64,
        user_agent: Option<&str>,
    ) -> Result<(), SessionError> {
        if let Some(old) = self.auth().await? {
            if self.tokens.end(&old.grant).await? {
                tracing::info!(sub = %old.user.sub, "a second sign-in in this session replaced the first");
            }
        }
        self.forget();
        self.session.cycle_id().await?;
        let expires_at = now.saturating_add(lifetime_secs);
        let grant = self.tokens.insert(&user.sub, user.sid.as_deref(), tokens, expires_at, user_agent).await?;
        let auth = StoredAuth {
            user: StoredUser {
                sub: user.sub.clone(),
                email: user.email.clone(),
                signed_in_at: now,
                confirmed_at: now,
                claims: user.claims.clone(),
            },
            grant,
            refused: None,
            checked_at: 0,
            logout_token: crate::random_token(),
            expires_at,
        };
        self.session.insert(AUTH, auth).await?;
        Ok(())
    }

    /// Deletes the session and ends its sign-in (token row deleted, refresh
    /// token revoked); returns the ID token for the provider's end-session
    /// request, if the user was signed in.
    pub(crate) async fn logout(&self) -> Result<Option<String>, SessionError> {
        let id_token = match self.auth().await? {
            Some(a) => {
                let current = self.tokens.current(&a.grant, &a.user.sub).await.ok().flatten();
                self.tokens.end(&a.grant).await?;
                current.map(|t| t.id_token)
            }
            None => None,
        };
        self.flush().await?;
        Ok(id_token)
    }

    /// The signed-in user's sign-ins in this app (this one marked `current`).
    pub async fn sign_ins(&self) -> Result<Vec<crate::tokens::SignIn>, SessionError> {
        let Some(auth) = self.auth().await? else { return Ok(Vec::new()) };
        Ok(self.tokens.sign_ins(&auth.user.sub, &auth.grant).await?)
    }

    /// Ends another sign-in of the signed-in user (never this one: that is sign-out).
    pub async fn end_other_sign_in(&self, public_id: &str) -> Result<bool, SessionError> {
        let Some(auth) = self.auth().await? else { return Ok(false) };
        Ok(self.tokens.end_sign_in(&auth.user.sub, public_id, &auth.grant).await?)
    }

    /// A usable access token, refreshed if it is about to expire — for
    /// server-side calls to the provider, never for the browser. `None`: not
    /// signed in, or the session just ended (refresh refused, tokens gone or
    /// unreadable) and was deleted; the user must sign in again.
    pub(crate) async fn access_token(&self) -> Result<Option<String>, SessionError> {
        let Some(auth) = self.auth().await? else { return Ok(None) };
        match self.tokens.access_token(&auth.grant, &auth.user.sub).await {
            Ok(t) => Ok(Some(t)),
            Err(e @ (TokenError::Ended(_) | TokenError::Seal(_))) => {
                tracing::info!(sub = %auth.user.sub, error = %e, "session ended");
                self.tokens.delete(&auth.grant).await?;
                self.flush().await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl AuthSession {
    /// Fresh claims about the signed-in user from the provider's userinfo
    /// endpoint, read on the server with the session's access token (refreshed
    /// if needed), as display text. `None`: not signed in, or the session just
    /// ended. The answer must be about the signed-in subject.
    pub async fn userinfo(&self) -> Result<Option<Vec<(String, String)>>, SessionError> {
        let Some(auth) = self.auth().await? else { return Ok(None) };
        let Some(token) = self.access_token().await? else { return Ok(None) };
        let claims = self.tokens.rp().userinfo(&token, &auth.user.sub).await?;
        Ok(Some(claims.into_iter().map(|(k, v)| (k, crate::oidc::display_value(&v))).collect()))
    }

    /// The signed-in user with claims the provider vouched for at most
    /// `max_age_secs` ago: when the last confirmation is older, the provider's
    /// userinfo endpoint is asked again with the session's access token
    /// (refreshed first if it is due, so a refused refresh ends the session).
    /// The answer — fresh identity claims, or a refusal — is recorded in the
    /// sign-in's token row unless a check started later was recorded first,
    /// so concurrent checks on any instance settle on the newest answer, and
    /// every request (of any instance) sees it. Nothing is recorded when the
    /// provider cannot be asked, so the next call asks again.
    pub async fn confirmed_user(&self, max_age_secs: i64) -> Result<Standing, SessionError> {
        let Some(auth) = self.auth().await? else { return Ok(Standing::SignedOut) };
        let auth = StoredAuth::clone(&auth);
        let now = crate::unix_now();
        let last_check = if auth.checked_at > 0 { auth.checked_at } else { auth.user.confirmed_at };
        if now.saturating_sub(last_check) < max_age_secs {
            return Ok(match auth.refused {
                Some(why) => Standing::Refused { stale: auth.user.into(), why, just_now: false },
                None => Standing::Confirmed(auth.user.into()),
            });
        }
        let stale = SessionUser::from(auth.user.clone());
        let token = match self.tokens.access_token(&auth.grant, &auth.user.sub).await {
            Ok(t) => t,
            Err(e @ (TokenError::Ended(_) | TokenError::Seal(_))) => {
                tracing::info!(sub = %auth.user.sub, error = %e, "session ended");
                self.tokens.delete(&auth.grant).await?;
                self.flush().await?;
                return Ok(Standing::SignedOut);
            }
            Err(e @ TokenError::Unavailable(_)) => return Ok(Standing::Unavailable { stale, why: e.to_string() }),
            Err(e) => return Err(e.into()),
        };
        use crate::oidc::UserinfoError as E;
        let mut checked = CheckedStanding { user: auth.user.clone(), refused: None };
        // The check is ordered by when the provider was asked (a refresh or a
        // wait for another request's refresh may come before that).
        let started_ms = crate::tokens::now_ms();
        match self.tokens.rp().userinfo(&token, &auth.user.sub).await {
            Ok(fresh) => checked.user.confirm(fresh, started_ms / 1000),
            Err(e @ (E::Unauthorized | E::SubjectMismatch { .. })) => checked.refused = Some(e.to_string()),
            Err(e @ (E::Upstream(_) | E::NoEndpoint)) => {
                return Ok(Standing::Unavailable { stale, why: e.to_string() })
            }
        }
        let json =
            serde_json::to_string(&checked).map_err(|_| TokenError::Seal(crate::sealing::SealError::Encoding))?;
        // A check started later (another request, maybe on another instance)
        // may have been recorded meanwhile: the newest one stands.
        let Some(row) = self.tokens.record_standing(&auth.grant, started_ms, &json).await? else {
            tracing::info!(sub = %auth.user.sub, "session ended elsewhere during a standing check");
            self.flush().await?;
            return Ok(Standing::SignedOut);
        };
        let ours = row.at_ms == started_ms && row.json == json;
        let mut current = auth;
        current.take_standing(&row);
        *self.remembered() = Some(std::sync::Arc::new(current.clone()));
        Ok(match (current.refused, ours) {
            (Some(why), just_now) => Standing::Refused { stale, why, just_now },
            (None, true) => Standing::Reconfirmed { user: current.user.into(), stale },
            (None, false) => Standing::Confirmed(current.user.into()),
        })
    }
}
