//! Typed calls to the Identity Admin API (Kratos shapes: `/identities`).
//! Every call has a timeout; only reads are retried (once, after a transport
//! failure or a 5xx); a 401 renews the machine token once, then gives up.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use url::Url;

use super::machine::{MachineClient, MachineToken, MachineTokens, TokenError};
use super::model::{
    field_errors, link_page, FieldError, Identity, IdentityBody, IdentityPage, IdentityState, ListQuery, Passkeys,
    Traits, WebauthnCredential, DEFAULT_SCHEMA_ID, MAX_PER_PAGE,
};

/// Why an Admin API call failed. Messages are for logs; the UI maps each case
/// to what the admin should do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminError {
    #[error("no identity with this id")]
    NotFound,
    #[error("an identity with this email already exists")]
    Conflict,
    #[error("the provider refused the identity: {0:?}")]
    Invalid(Vec<FieldError>),
    #[error("the Admin API refused the machine token ({0}); check the Admin API client's audience and permissions")]
    Refused(u16),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the Admin API did not answer in time")]
    Timeout,
    #[error("the Admin API cannot be reached: {0}")]
    Transport(String),
    #[error("the Admin API answered {status}: {detail}")]
    Upstream { status: u16, detail: String },
    /// The provider answered that it deleted a passkey but still lists it
    /// (Kratos deletes only second-factor `webauthn` keys, whatever `identifier` says).
    #[error("the provider still lists the passkey it was asked to delete")]
    NotRemoved,
}

/// The Admin API client of one provider. Code outside `bff` can build one
/// (for [`super::Admin::new`]) but not call it: its calls are crate-private,
/// and the only way to them is [`super::Admin::authorize`], which checks the
/// signed-in user and writes the audit trail.
///
/// ```
/// // Building one compiles…
/// fn build(base: &url::Url, client: bff::admin::machine::MachineClient) -> bff::admin::api::AdminApi {
///     bff::admin::api::AdminApi::new(base, client, std::time::Duration::from_secs(5)).unwrap()
/// }
/// ```
///
/// ```compile_fail,E0624
/// // …calling it without `Admin::authorize` does not.
/// async fn bypass(api: &bff::admin::api::AdminApi) {
///     let _ = api.delete("someone").await;
/// }
/// ```
pub struct AdminApi {
    /// `<base>/identities`.
    identities: Url,
    http: reqwest::Client,
    tokens: MachineTokens,
}

/// Delay before the one retry of a read.
const RETRY_DELAY: Duration = Duration::from_millis(200);

#[derive(serde::Deserialize, Default)]
struct KratosError {
    #[serde(default)]
    error: KratosErrorBody,
}

#[derive(serde::Deserialize, Default)]
struct KratosErrorBody {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

impl AdminApi {
    /// `base` is the Admin API root (e.g. `https://idp.example.com/admin/`);
    /// `timeout` bounds every request, including the token fetch.
    pub fn new(base: &Url, client: MachineClient, timeout: Duration) -> Result<Self, AdminError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| AdminError::Transport(e.to_string()))?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let identities = base.join("identities").map_err(|e| AdminError::Transport(e.to_string()))?;
        Ok(Self { identities, tokens: MachineTokens::new(client, http.clone()), http })
    }

    /// The machine-token cache (its tests count fetches).
    #[cfg(test)]
    pub(crate) fn tokens(&self) -> &MachineTokens {
        &self.tokens
    }

    fn identity_url(&self, id: &str) -> Url {
        let mut u = self.identities.clone();
        if let Ok(mut seg) = u.path_segments_mut() {
            seg.push(id); // percent-encodes: an id cannot change the path
        }
        u
    }

    /// Sends one request with the machine token (counted in the metrics by outcome).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, AdminError> {
        let result = self.send_with_retries(method, url, body).await;
        crate::metrics::metrics().admin_api_call(result.is_ok());
        result
    }

    /// Renews the token once on 401; retries a read once after a transport
    /// failure or a 5xx.
    async fn send_with_retries(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, AdminError> {
        let idempotent = method == Method::GET;
        let mut token: MachineToken = self.tokens.get().await?;
        let (mut renewed, mut retried) = (false, false);
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.secret())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            match crate::request_id::tag(req).send().await {
                Err(e) if idempotent && !retried && (e.is_timeout() || e.is_connect() || e.is_request()) => {
                    tracing::warn!(error = %e, "Admin API read failed; retrying once");
                    retried = true;
                    tokio::time::sleep(RETRY_DELAY).await;
                }
                Err(e) if e.is_timeout() => return Err(AdminError::Timeout),
                Err(e) => return Err(AdminError::Transport(e.to_string())),
                Ok(r) if r.status() == StatusCode::UNAUTHORIZED && !renewed => {
                    tracing::info!("the Admin API refused the machine token; fetching a new one");
                    self.tokens.invalidate(&token).await;
                    token = self.tokens.get().await?;
                    renewed = true;
                }
                Ok(r) if r.status().is_server_error() && idempotent && !retried => {
                    tracing::warn!(status = %r.status(), "Admin API read failed; retrying once");
                    retried = true;
                    tokio::time::sleep(RETRY_DELAY).await;
                }
                Ok(r) => return check(r).await,
            }
        }
    }

    /// One page of identities (0-based), optionally only the one with `email`.
    #[tracing::instrument(skip_all, fields(page = q.page, per_page = q.per_page))]
    pub(crate) async fn list(&self, q: &ListQuery) -> Result<IdentityPage, AdminError> {
        let per_page = q.per_page.clamp(1, MAX_PER_PAGE);
        let mut url = self.identities.clone();
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("page", &q.page.to_string()).append_pair("per_page", &per_page.to_string());
            if let Some(e) = q.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
                pairs.append_pair("credentials_identifier", e);
            }
        }
        let r = self.send(Method::GET, url, None).await?;
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let total = header("x-total-count").and_then(|v| v.trim().parse::<u64>().ok());
        let link = header("link").unwrap_or_default();
        let items: Vec<Identity> = json(r).await?;
        Ok(IdentityPage {
            next: link_page(&link, "next"),
            prev: link_page(&link, "prev"),
            items,
            page: q.page,
            per_page,
            total,
        })
    }

    /// Every identity, `per_page` at a time, up to `limit`; `true` when the
    /// provider holds more than that. Bounded against a provider that
    /// misbehaves: at most `limit / per_page + 2` requests (a provider that
    /// answers smaller pages than asked is read only that far), each identity
    /// once, and it stops at the first page that brings nothing new (a
    /// provider that ignores `page` and keeps answering the first one).
    #[tracing::instrument(skip_all, fields(per_page, limit))]
    pub(crate) async fn list_all(&self, per_page: u64, limit: usize) -> Result<(Vec<Identity>, bool), AdminError> {
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let max_requests = (limit as u64).div_ceil(per_page) + 2;
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut all: Vec<Identity> = Vec::new();
        for page in 0..max_requests {
            let got = self.list(&ListQuery { page, per_page, email: None }).await?;
            let (n, total, next) = (got.items.len(), got.total, got.next);
            let before = all.len();
            all.extend(got.items.into_iter().filter(|i| seen.insert(i.id.clone())));
            if all.len() > limit {
                all.truncate(limit);
                return Ok((all, true));
            }
            // The Link header decides; without one the total; without both a full page.
            let more = match (next, total) {
                (Some(_), _) => true,
                (None, Some(t)) => (all.len() as u64) < t,
                (None, None) => n as u64 == per_page,
            };
            if n == 0 || all.len() == before || !more {
                return Ok((all, false));
            }
            if all.len() == limit {
                // Exactly the limit so far, and the provider says there is more.
                return Ok((all, true));
            }
        }
        tracing::warn!(requests = max_requests, "the provider kept offering more pages; the search stopped");
        Ok((all, true))
    }

    #[tracing::instrument(skip_all, fields(identity = %id))]
    pub(crate) async fn get(&self, id: &str) -> Result<Identity, AdminError> {
        json(self.send(Method::GET, self.identity_url(id), None).await?).await
    }

    /// The identity with its passkeys listed (`include_credential=webauthn`
    /// and `passkey`, as Kratos takes them). A provider that refuses the
    /// parameter (Kratos before 1.1 took `oidc` only) is asked without it.
    #[tracing::instrument(skip_all, fields(identity = %id))]
    pub(crate) async fn get_with_credentials(&self, id: &str) -> Result<Identity, AdminError> {
        let mut url = self.identity_url(id);
        url.query_pairs_mut()
            .append_pair("include_credential", "webauthn")
            .append_pair("include_credential", "passkey");
        match self.send(Method::GET, url, None).await {
            Err(AdminError::Invalid(_)) => self.get(id).await,
            r => json(r?).await,
        }
    }

    #[tracing::instrument(skip_all)]
    pub(crate) async fn create(&self, traits: &Traits, state: IdentityState) -> Result<Identity, AdminError> {
        let body = body(traits, state)?;
        json(self.send(Method::POST, self.identities.clone(), Some(&body)).await?).await
    }

    /// Full replace of traits and state.
    #[tracing::instrument(skip_all, fields(identity = %id))]
    pub(crate) async fn update(&self, id: &str, traits: &Traits, state: IdentityState) -> Result<Identity, AdminError> {
        let body = body(traits, state)?;
        json(self.send(Method::PUT, self.identity_url(id), Some(&body)).await?).await
    }

    #[tracing::instrument(skip_all, fields(identity = %id))]
    pub(crate) async fn delete(&self, id: &str) -> Result<(), AdminError> {
        self.send(Method::DELETE, self.identity_url(id), None).await.map(|_| ())
    }

    /// Removes one of the identity's passkeys and checks it is gone: reads
    /// the identity (with its passkeys), asks the provider to delete that one
    /// under the type it is listed as, and reads the identity again. A
    /// provider that answers "deleted" but still lists it gives
    /// [`AdminError::NotRemoved`]; an unknown passkey [`AdminError::NotFound`].
    /// Also returns the identity's email and the passkey as listed (for the audit).
    pub(crate) async fn remove_passkey(
        &self,
        id: &str,
        credential_id: &str,
    ) -> (Option<String>, Option<WebauthnCredential>, Result<(), AdminError>) {
        let listed = |i: &Identity| match i.passkeys() {
            Passkeys::Listed(keys) => keys.into_iter().find(|k| k.id == credential_id),
            _ => None,
        };
        let current = match self.get_with_credentials(id).await {
            Ok(i) => i,
            Err(e) => return (None, None, Err(e)),
        };
        let email = Some(current.traits.email.clone());
        let Some(passkey) = listed(&current) else {
            return (email, None, Err(AdminError::NotFound));
        };
        let r = match self.delete_passkey(id, passkey.kind, credential_id).await {
            Ok(()) => match self.get_with_credentials(id).await {
                Ok(after) if listed(&after).is_some() => Err(AdminError::NotRemoved),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        (email, Some(passkey), r)
    }

    /// Asks the provider to delete one of the identity's passkeys:
    /// `DELETE /identities/{id}/credentials/{kind}?identifier=…` (the local
    /// provider deletes that one; Kratos may delete others or none, so the
    /// caller checks what is left).
    #[tracing::instrument(skip_all, fields(identity = %id))]
    pub(crate) async fn delete_passkey(&self, id: &str, kind: &str, credential_id: &str) -> Result<(), AdminError> {
        let mut url = self.identity_url(id);
        url.path_segments_mut()
            .map_err(|()| AdminError::Transport("the Admin API URL cannot have a path".into()))?
            .push("credentials")
            .push(kind);
        url.query_pairs_mut().append_pair("identifier", credential_id);
        self.send(Method::DELETE, url, None).await.map(|_| ())
    }
}

fn body(traits: &Traits, state: IdentityState) -> Result<serde_json::Value, AdminError> {
    serde_json::to_value(IdentityBody { schema_id: DEFAULT_SCHEMA_ID, traits, state })
        .map_err(|e| AdminError::Transport(e.to_string()))
}

async fn json<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> Result<T, AdminError> {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.map_err(|e| AdminError::Transport(e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| AdminError::Upstream { status, detail: format!("unexpected response body: {e}") })
}

/// Maps an error status and Kratos' error JSON into [`AdminError`].
async fn check(r: reqwest::Response) -> Result<reqwest::Response, AdminError> {
    let status = r.status();
    if status.is_success() {
        return Ok(r);
    }
    let body: KratosError = r.json().await.unwrap_or_default();
    Err(match status {
        StatusCode::NOT_FOUND => AdminError::NotFound,
        StatusCode::CONFLICT => AdminError::Conflict,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            AdminError::Invalid(field_errors(if body.error.reason.is_empty() {
                &body.error.message
            } else {
                &body.error.reason
            }))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => AdminError::Refused(status.as_u16()),
        _ => AdminError::Upstream { status: status.as_u16(), detail: body.error.reason.chars().take(200).collect() },
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
#[path = "api_tests.rs"]
mod tests;
