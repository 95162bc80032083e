//! Passkeys (WebAuthn), through `webauthn-rs`: the relying party taken from
//! the issuer, the stored credentials, and the ceremonies' state between
//! their two requests.
//!
//! A ceremony's state stays in the database, never in the browser: it is
//! bound to the browser (the login request, itself bound to the `idp_login`
//! cookie and a CSRF token; or the provider session), expires after
//! `ttl.passkey_challenge` (5 minutes), and is taken exactly once, whatever
//! the outcome. The crate checks the challenge, the origin, the relying party,
//! user verification, the signature and the sign count; every successful
//! sign-in stores the credential's new counter and backup flags.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::db::{self, Db};
use crate::util;

/// What the provider's pages call itself in the browser's passkey prompts.
pub const RP_NAME: &str = "Local Identity";
/// The longest passkey name kept.
pub const MAX_NAME_CHARS: usize = 60;
/// Passkeys one identity may have.
pub const MAX_PER_IDENTITY: i64 = 20;

/// The relying party of an issuer: its host must be a domain name (browsers
/// refuse WebAuthn on IP addresses), its origin the issuer's origin. `http`
/// works for `localhost` only, as in browsers.
pub fn relying_party(issuer: &str, ttl: i64) -> Result<Webauthn, String> {
    let url = Url::parse(issuer).map_err(|e| format!("the issuer {issuer} is not a URL: {e}"))?;
    let Some(host) = url.domain() else {
        return Err(format!(
            "the issuer's host {} is not a domain name, and browsers refuse passkeys on IP addresses; \
use a name such as http://localhost:{}/ for the issuer",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(80)
        ));
    };
    if url.scheme() != "https" && host != "localhost" {
        return Err(format!("the issuer {issuer} is not https; browsers allow passkeys over http on localhost only"));
    }
    let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|e| e.to_string())?;
    WebauthnBuilder::new(host, &origin)
        .and_then(|b| {
            // The browser's prompt lasts as long as the ceremony may.
            b.rp_name(RP_NAME).timeout(std::time::Duration::from_secs(u64::try_from(ttl).unwrap_or(300))).build()
        })
        .map_err(|e| format!("cannot set up passkeys for {issuer}: {e}"))
}

/// A stored passkey as the pages and the Admin API show it (no key material).
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyInfo {
    /// The credential id, base64url.
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Whether the authenticator may sync it to other devices (WebAuthn backup eligibility).
    pub backup_eligible: bool,
}

type InfoRow = (String, String, i64, Option<i64>, i64);

fn info(r: InfoRow) -> PasskeyInfo {
    PasskeyInfo { id: r.0, name: r.1, created_at: r.2, last_used_at: r.3, backup_eligible: r.4 != 0 }
}

/// The identity's passkeys, oldest first.
pub async fn list(db: &Db, identity_id: &str) -> Result<Vec<PasskeyInfo>, sqlx::Error> {
    let rows: Vec<InfoRow> = sqlx::query_as(
        "SELECT id, name, created_at, last_used_at, backup_eligible FROM passkeys WHERE identity_id = ? ORDER BY created_at, rowid",
    )
    .bind(identity_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(info).collect())
}

pub async fn count(db: &Db, identity_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE identity_id = ?").bind(identity_id).fetch_one(db).await
}

/// The identity's credentials, for a sign-in ceremony.
async fn credentials(db: &Db, identity_id: &str) -> Result<Vec<Passkey>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT credential FROM passkeys WHERE identity_id = ?").bind(identity_id).fetch_all(db).await?;
    Ok(rows.into_iter().filter_map(|(c,)| parse_stored(&c)).collect())
}

/// Renames one of the identity's passkeys; false when it has no such passkey.
pub async fn rename(db: &Db, identity_id: &str, id: &str, name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE passkeys SET name = ? WHERE id = ? AND identity_id = ?")
        .bind(clean_name(name))
        .bind(id)
        .bind(identity_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes one of the identity's passkeys; false when it has no such passkey.
pub async fn delete(db: &Db, identity_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM passkeys WHERE id = ? AND identity_id = ?")
        .bind(id)
        .bind(identity_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes all of the identity's passkeys; how many there were.
pub async fn delete_all(db: &Db, identity_id: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM passkeys WHERE identity_id = ?").bind(identity_id).execute(db).await?.rows_affected())
}

/// A name as stored: trimmed, control characters dropped, at most
/// [`MAX_NAME_CHARS`]; "Passkey" when nothing is left.
pub fn clean_name(name: &str) -> String {
    // Control characters and invisible formatting (bidi overrides, zero-width) could disguise a name.
    let invisible = |c: &char| {
        c.is_control()
            || matches!(*c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    let name: String =
        name.chars().filter(|c| !invisible(c)).collect::<String>().trim().chars().take(MAX_NAME_CHARS).collect();
    if name.trim().is_empty() {
        "Passkey".into()
    } else {
        name.trim().to_string()
    }
}

/// A passkey's default name from the browser that made it: "Chrome on Linux".
pub fn name_from_user_agent(ua: &str) -> String {
    let browser =
        [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
            .into_iter()
            .find(|(token, _)| ua.contains(token))
            .map(|(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(token, _)| ua.contains(token))
    .map(|(_, name)| name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(n), None) | (None, Some(n)) => format!("Passkey on {n}"),
        (None, None) => "Passkey".into(),
    }
}

/// Why a ceremony failed. [`CeremonyError::message`] is what the user reads.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error("passkeys are not available on this provider")]
    Disabled,
    #[error("no such ceremony for this browser, or it was already used")]
    Unknown,
    #[error("the ceremony expired")]
    Expired,
    #[error("the credential could not be read: {0}")]
    Malformed(String),
    #[error("the provider failed: {0}")]
    Internal(String),
    #[error("the identity is deactivated")]
    Inactive,
    #[error("verification failed: {0}")]
    Rejected(#[from] WebauthnError),
    #[error("the credential is not registered (deleted, or never added)")]
    NotRegistered,
    #[error("this passkey is already registered")]
    Duplicate,
    #[error("the identity has the most passkeys allowed")]
    TooMany,
    #[error("storage failed: {0}")]
    Db(#[from] sqlx::Error),
}

impl CeremonyError {
    /// What to tell the user: what happened and what to do.
    pub fn message(&self) -> &'static str {
        match self {
            CeremonyError::Disabled => "Passkeys are not available here. Use a passcode instead.",
            CeremonyError::Unknown | CeremonyError::Expired => {
                "This passkey request has expired or was already used. Try again."
            }
            CeremonyError::Malformed(_) | CeremonyError::Rejected(_) => {
                "Your passkey could not be verified. Try again, or use a passcode instead."
            }
            CeremonyError::NotRegistered => {
                "This passkey is not registered here any more. Sign in with a passcode, then add a new passkey on your profile."
            }
            CeremonyError::Duplicate => "This passkey is already registered.",
            CeremonyError::TooMany => "You have the most passkeys allowed. Delete one on your profile first.",
            CeremonyError::Db(_) | CeremonyError::Internal(_) => "Something went wrong. Please try again.",
            CeremonyError::Inactive => {
                "This account has been deactivated. Contact your administrator to have it reactivated."
            }
        }
    }

    /// Whether the provider failed (logged as an error), not the request.
    pub fn is_internal(&self) -> bool {
        matches!(self, CeremonyError::Db(_) | CeremonyError::Internal(_))
    }
}

fn internal(e: impl std::fmt::Display) -> CeremonyError {
    CeremonyError::Internal(e.to_string())
}

/// What a ceremony is for; stored with its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Adding a passkey to the signed-in identity.
    Register,
    /// Signing in as a known identity (its passkeys are allowed).
    SignIn,
    /// Signing in with whatever passkey the browser offers (discoverable).
    Discover,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Register => "register",
            Kind::SignIn => "sign_in",
            Kind::Discover => "discover",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Kind::Register, Kind::SignIn, Kind::Discover].into_iter().find(|k| k.as_str() == s)
    }
}

/// Ceremonies one browser binding may have open at once (tabs, the
/// autofill request beside the button); older ones are dropped.
const MAX_OPEN_CEREMONIES: i64 = 4;

/// Stores a ceremony's state; returns its id (what the browser sends back).
async fn begin(
    db: &Db,
    kind: Kind,
    binding: &str,
    identity_id: Option<&str>,
    state: &impl Serialize,
    ttl: i64,
) -> Result<String, CeremonyError> {
    let id = util::random_token();
    let now = db::now();
    let state = serde_json::to_string(state).map_err(internal)?;
    sqlx::query(
        "DELETE FROM passkey_ceremonies WHERE binding = ?1 AND id NOT IN \
         (SELECT id FROM passkey_ceremonies WHERE binding = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
    )
    .bind(util::hash(binding))
    .bind(MAX_OPEN_CEREMONIES - 1)
    .execute(db)
    .await?;
    sqlx::query(
        "INSERT INTO passkey_ceremonies (id, kind, binding, identity_id, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(util::hash(&id))
    .bind(kind.as_str())
    .bind(util::hash(binding))
    .bind(identity_id)
    .bind(state)
    .bind(now)
    .bind(now + ttl)
    .execute(db)
    .await?;
    Ok(id)
}

/// A ceremony taken from storage.
struct Taken {
    kind: Kind,
    identity_id: Option<String>,
    state: String,
}

impl Taken {
    fn state<S: serde::de::DeserializeOwned>(&self) -> Result<S, CeremonyError> {
        serde_json::from_str(&self.state).map_err(internal)
    }
}

/// Takes (deletes) a ceremony of this browser binding: single use, whatever
/// the answer turns out to be. What it was for is read from storage, never
/// from the request.
async fn take(db: &Db, id: &str, binding: &str) -> Result<Taken, CeremonyError> {
    let row: Option<(String, Option<String>, String, i64)> = sqlx::query_as(
        "DELETE FROM passkey_ceremonies WHERE id = ? AND binding = ? RETURNING kind, identity_id, state, expires_at",
    )
    .bind(util::hash(id))
    .bind(util::hash(binding))
    .fetch_optional(db)
    .await?;
    let (kind, identity_id, state, expires_at) = row.ok_or(CeremonyError::Unknown)?;
    if expires_at <= db::now() {
        return Err(CeremonyError::Expired);
    }
    let kind = Kind::parse(&kind).ok_or(CeremonyError::Unknown)?;
    Ok(Taken { kind, identity_id, state })
}

/// The options a browser's `navigator.credentials` call needs, and the
/// ceremony id to send back with the answer.
#[derive(Debug, Serialize)]
pub struct Started<T> {
    pub ceremony: String,
    #[serde(flatten)]
    pub options: T,
}

/// The user a registration is for.
pub struct NewPasskeyUser<'a> {
    pub identity_id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
}

/// Starts adding a passkey, bound to the provider session (`binding`).
/// The browser is asked for a discoverable credential, so the passkey alone
/// can sign in later.
pub async fn start_registration(
    wa: &Webauthn,
    db: &Db,
    user: NewPasskeyUser<'_>,
    binding: &str,
    ttl: i64,
) -> Result<Started<serde_json::Value>, CeremonyError> {
    if count(db, user.identity_id).await? >= MAX_PER_IDENTITY {
        return Err(CeremonyError::TooMany);
    }
    let uuid = Uuid::parse_str(user.identity_id).map_err(internal)?;
    let existing: Vec<_> = credentials(db, user.identity_id).await?.iter().map(|p| p.cred_id().clone()).collect();
    let (options, state) =
        wa.start_passkey_registration(uuid, user.email, user.display_name, Some(existing).filter(|e| !e.is_empty()))?;
    let options = discoverable(options)?;
    let ceremony = begin(db, Kind::Register, binding, Some(user.identity_id), &state, ttl).await?;
    Ok(Started { ceremony, options })
}

/// The registration options with a discoverable credential required
/// (`residentKey: required`), so the passkey alone can sign in later. The
/// crate asks for a server-side one; what it verifies is the same.
fn discoverable(options: CreationChallengeResponse) -> Result<serde_json::Value, CeremonyError> {
    let mut v = serde_json::to_value(options).map_err(internal)?;
    let sel = &mut v["publicKey"]["authenticatorSelection"];
    if !sel.is_object() {
        *sel = serde_json::json!({});
    }
    sel["residentKey"] = "required".into();
    sel["requireResidentKey"] = true.into();
    sel["userVerification"] = "required".into();
    Ok(v)
}

/// Finishes adding a passkey: verifies the browser's answer against the
/// ceremony and stores the credential under `name`.
pub async fn finish_registration(
    wa: &Webauthn,
    db: &Db,
    ceremony: &str,
    binding: &str,
    identity_id: &str,
    credential: &str,
    name: &str,
) -> Result<PasskeyInfo, CeremonyError> {
    let taken = take(db, ceremony, binding).await?;
    if taken.kind != Kind::Register || taken.identity_id.as_deref() != Some(identity_id) {
        return Err(CeremonyError::Unknown);
    }
    let state: PasskeyRegistration = taken.state()?;
    let answer = serde_json::from_str(credential).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
    let passkey = wa.finish_passkey_registration(&answer, &state).map_err(|e| match e {
        // The crate reports an excluded (already registered) credential as an altered algorithm.
        WebauthnError::CredentialExcludedFromRequest
        | WebauthnError::CredentialAlreadyExists
        | WebauthnError::CredentialAlteredAlgFromRequest => CeremonyError::Duplicate,
        e => CeremonyError::Rejected(e),
    })?;
    if count(db, identity_id).await? >= MAX_PER_IDENTITY {
        return Err(CeremonyError::TooMany);
    }
    let id = B64.encode(passkey.cred_id());
    let now = db::now();
    let stored = serde_json::to_string(&passkey).map_err(internal)?;
    let name = clean_name(name);
    // One statement: only for an identity that still exists, and within the
    // limit even when two registrations finish at once.
    let res = sqlx::query(
        "INSERT INTO passkeys (id, identity_id, name, credential, created_at, backup_eligible) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM identities WHERE id = ?2) \
         AND (SELECT COUNT(*) FROM passkeys WHERE identity_id = ?2) < ?7",
    )
    .bind(&id)
    .bind(identity_id)
    .bind(&name)
    .bind(stored)
    .bind(now)
    .bind(backup_eligible(&passkey))
    .bind(MAX_PER_IDENTITY)
    .execute(db)
    .await;
    match res {
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(CeremonyError::Duplicate),
        Err(e) => Err(e.into()),
        Ok(r) if r.rows_affected() == 0 => match crate::identity::get(db, identity_id).await? {
            Some(_) => Err(CeremonyError::TooMany),
            // Deleted while the browser made the passkey.
            None => Err(CeremonyError::Unknown),
        },
        Ok(_) => Ok(PasskeyInfo {
            id,
            name,
            created_at: now,
            last_used_at: None,
            backup_eligible: backup_eligible(&passkey),
        }),
    }
}

/// The credential's backup eligibility, read from its stored form (the crate
/// keeps the flag private to the credential).
fn backup_eligible(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey).ok().and_then(|v| v["cred"]["backup_eligible"].as_bool()).unwrap_or(false)
}

/// Starts a passkey sign-in bound to a login request (`binding`): for the
/// identity named at the email step (its passkeys are allowed), or, with
/// `None`, for whichever passkey the browser discovers.
pub async fn start_sign_in(
    wa: &Webauthn,
    db: &Db,
    identity_id: Option<&str>,
    binding: &str,
    ttl: i64,
) -> Result<Started<RequestChallengeResponse>, CeremonyError> {
    match identity_id {
        Some(identity_id) => {
            let active = crate::identity::active(db, identity_id).await?.is_some();
            if !active {
                return Err(CeremonyError::Inactive);
            }
            let creds = credentials(db, identity_id).await?;
            if creds.is_empty() {
                return Err(CeremonyError::NotRegistered);
            }
            let (options, state) = wa.start_passkey_authentication(&creds)?;
            let ceremony = begin(db, Kind::SignIn, binding, Some(identity_id), &state, ttl).await?;
            Ok(Started { ceremony, options })
        }
        None => {
            let (mut options, state) = wa.start_discoverable_authentication()?;
            // The page decides the mediation (a button asks at once).
            options.mediation = None;
            let ceremony = begin(db, Kind::Discover, binding, None, &state, ttl).await?;
            Ok(Started { ceremony, options })
        }
    }
}

/// A verified passkey sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub identity_id: String,
    /// RFC 8176 `amr`: `swk` for a passkey that may be synced (a software
    /// key), `hwk` for one bound to its device, and `user` when the
    /// authenticator verified the user.
    pub amr: String,
}

/// Finishes a passkey sign-in: the answer must come from a passkey that is
/// still registered, to the identity the ceremony was for (or, discovered, to
/// the identity the passkey names), which must be active, with a sign count
/// that moved forward.
pub async fn finish_sign_in(
    wa: &Webauthn,
    db: &Db,
    ceremony: &str,
    binding: &str,
    credential: &str,
) -> Result<SignedIn, CeremonyError> {
    // Taken before anything else: a malformed answer uses it up too.
    let taken = take(db, ceremony, binding).await?;
    let answer: webauthn_rs::prelude::PublicKeyCredential =
        serde_json::from_str(credential).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
    let cred_id = B64.encode(answer.get_credential_id());
    let (identity_id, result) = match taken.kind {
        Kind::Discover => {
            let state: DiscoverableAuthentication = taken.state()?;
            let (user, _) = wa.identify_discoverable_authentication(&answer)?;
            let identity_id = user.to_string();
            let passkey = stored(db, &identity_id, &cred_id).await?.ok_or(CeremonyError::NotRegistered)?;
            let result = wa.finish_discoverable_authentication_v2(&answer, state, &passkey)?;
            (identity_id, result)
        }
        Kind::SignIn => {
            let state: PasskeyAuthentication = taken.state()?;
            let identity_id = taken.identity_id.clone().ok_or(CeremonyError::Unknown)?;
            // Deleted since the ceremony started, or another identity's passkey.
            stored(db, &identity_id, &cred_id).await?.ok_or(CeremonyError::NotRegistered)?;
            let result = wa.finish_passkey_authentication(&answer, &state)?;
            (identity_id, result)
        }
        Kind::Register => return Err(CeremonyError::Unknown),
    };
    let active = crate::identity::active(db, &identity_id).await?.is_some();
    if !active {
        return Err(CeremonyError::Inactive);
    }
    record_use(db, &identity_id, &cred_id, &result).await?;
    let mut amr = vec![if result.backup_eligible() { "swk" } else { "hwk" }];
    if result.user_verified() {
        amr.push("user");
    }
    Ok(SignedIn { identity_id, amr: amr.join(" ") })
}

/// One of the identity's stored credentials by id.
async fn stored(db: &Db, identity_id: &str, cred_id: &str) -> Result<Option<Passkey>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT credential FROM passkeys WHERE id = ? AND identity_id = ?")
        .bind(cred_id)
        .bind(identity_id)
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|(c,)| parse_stored(&c)))
}

/// A stored credential; one that cannot be read is logged and treated as absent.
fn parse_stored(c: &str) -> Option<Passkey> {
    serde_json::from_str(c)
        .map_err(|e| tracing::error!(error = %e, "a stored passkey cannot be read; it cannot sign in"))
        .ok()
}

/// Stores the credential's new sign count and backup flags and when it was
/// used. The count must still be below the new one when written (a parallel
/// sign-in with the same count, or a cloned authenticator's older count, is
/// refused), unless the authenticator keeps no count (always 0).
async fn record_use(
    db: &Db,
    identity_id: &str,
    cred_id: &str,
    result: &AuthenticationResult,
) -> Result<(), CeremonyError> {
    let Some(mut passkey) = stored(db, identity_id, cred_id).await? else {
        return Err(CeremonyError::NotRegistered);
    };
    passkey.update_credential(result);
    let counter = i64::from(result.counter());
    let stored = serde_json::to_string(&passkey).map_err(internal)?;
    let done = sqlx::query(
        "UPDATE passkeys SET credential = ?1, last_used_at = ?2, backup_eligible = ?3, sign_count = ?4 \
         WHERE id = ?5 AND identity_id = ?6 AND (sign_count < ?4 OR ?4 = 0)",
    )
    .bind(stored)
    .bind(db::now())
    .bind(backup_eligible(&passkey))
    .bind(counter)
    .bind(cred_id)
    .bind(identity_id)
    .execute(db)
    .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        tracing::warn!(credential = %cred_id, counter, "a passkey's sign count did not move forward (a clone, or a replay in parallel)");
        Err(CeremonyError::Rejected(WebauthnError::CredentialPossibleCompromise))
    }
}

/// The provider's relying party, when passkeys are on.
pub type Rp = Option<Arc<Webauthn>>;

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_relying_party_comes_from_the_issuer() {
        assert!(relying_party("http://localhost:3001/", 300).is_ok());
        assert!(relying_party("https://login.example.com/", 300).is_ok());
        let ip = relying_party("http://127.0.0.1:3001/", 300).unwrap_err();
        assert!(ip.contains("not a domain name") && ip.contains("http://localhost:3001/"), "{ip}");
        let http = relying_party("http://login.example.com/", 300).unwrap_err();
        assert!(http.contains("https"), "{http}");
    }

    #[test]
    fn names_are_cleaned_and_default_from_the_browser() {
        assert_eq!(clean_name("  My\u{7}  key "), "My  key");
        assert_eq!(clean_name("evil\u{202E}txt.exe"), "eviltxt.exe");
        assert_eq!(clean_name("   "), "Passkey");
        assert_eq!(clean_name(&"x".repeat(100)).chars().count(), MAX_NAME_CHARS);
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(name_from_user_agent(chrome), "Chrome on Linux");
        assert_eq!(name_from_user_agent("curl/8"), "Passkey");
    }
}
