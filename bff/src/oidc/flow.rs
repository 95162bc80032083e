//! The sign-in flow: the authorization request (PKCE S256, `state`, `nonce`),
//! the RFC 9207 `iss` check of the response, the code exchange and every
//! check of the ID token.

use super::*;

impl RelyingParty {
    /// Checks the RFC 9207 `iss` parameter of an authorization response: when
    /// present it must be this provider's issuer, and it must be present when
    /// the provider advertises `authorization_response_iss_parameter_supported`
    /// (a mix-up attack sends the user back with another provider's code).
    pub fn check_authorization_response_iss(&self, iss: Option<&str>) -> Result<(), OidcError> {
        match iss {
            Some(iss) if iss == self.issuer() => Ok(()),
            Some(iss) => Err(OidcError::ResponseIssuer(format!(
                "the authorization response names the issuer {:?}, not {:?}",
                crate::clip(iss, 200),
                self.issuer()
            ))),
            None if self.inner.iss_parameter_required => Err(OidcError::ResponseIssuer(
                "the authorization response carries no iss parameter, which the provider advertises".into(),
            )),
            None => Ok(()),
        }
    }

    /// Builds the authorization URL and what the callback will need.
    /// Returns `(url, state, pending)`.
    pub fn start(&self, return_to: ReturnTo, now: i64) -> (Url, String, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client();
        let mut req = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in self.inner.config.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.url();
        let pending = PendingLogin {
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            return_to,
            started_at: now,
        };
        (url, state.secret().clone(), pending)
    }

    /// Exchanges the code and validates the ID token (including `nonce` and
    /// `at_hash`). An ID token signed with a key we do not know yet makes us
    /// fetch the provider's keys again (rate-limited) and verify once more.
    #[tracing::instrument(name = "code_exchange", skip_all)]
    pub async fn finish(&self, code: &str, pending: &PendingLogin) -> Result<(VerifiedUser, TokenSet), OidcError> {
        let tokens = self
            .client()
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| OidcError::NoTokenEndpoint)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.tagged_http())
            .await
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
        check_token_type(tokens.token_type()).map_err(OidcError::TokenType)?;
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let keys = self.check_id_token(&id_token.to_string()).await?;
        verify(&self.id_token_verifier(&keys), &tokens, pending)
    }

    /// What the app checks on every ID token itself, before `openidconnect`
    /// checks the claims with the same keys: the shared header, key and
    /// signature checks ([`crate::jwt::verify`]: RS256 or ES256 only, whatever
    /// discovery advertises; no `crit`; the key published for signatures, named
    /// by `kid` unless it is the only one, refetched once within the cooldown
    /// when unknown), and the audience rule (`azp`, when present, is this
    /// client; several audiences need it), and the times of
    /// [`crate::jwt::Policy::ID_TOKEN`]. Returns the keys that verified it.
    pub(super) async fn check_id_token(
        &self,
        id_token: &str,
    ) -> Result<std::sync::Arc<openidconnect::core::CoreJsonWebKeySet>, OidcError> {
        let policy = crate::jwt::Policy::ID_TOKEN;
        let signed = crate::jwt::verify(&self.inner.keys, id_token, &policy)
            .await
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
        policy
            .check_times(&signed.claims, crate::unix_now())
            .map_err(|e| OidcError::IdToken(format!("the ID token: {e}")))?;
        check_audience(&signed.claims, self.client_id()).map_err(OidcError::IdToken)?;
        Ok(signed.keys)
    }

    /// `openidconnect`'s claims check (`iss`, `aud`, `exp`, `nonce`, the
    /// signature once more) with `keys`, the app's algorithm list instead of
    /// whatever discovery advertises, and the `iat` skew bound. Extra audiences
    /// are judged by [`check_audience`] (several need `azp`), not refused outright.
    pub(super) fn id_token_verifier(
        &self,
        keys: &openidconnect::core::CoreJsonWebKeySet,
    ) -> openidconnect::core::CoreIdTokenVerifier<'static> {
        openidconnect::core::CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.inner.config.client_id.clone()),
            self.inner.metadata.issuer().clone(),
            keys.clone(),
        )
        .set_allowed_algs([
            openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ])
        .set_other_audience_verifier_fn(|_| true)
        .set_issue_time_verifier_fn(|iat| check_iat(iat.timestamp(), crate::unix_now()))
    }
}

/// How far in the future an ID token's `iat` may lie (clock skew between us and the provider).
pub const MAX_CLOCK_SKEW_SECS: i64 = crate::jwt::Policy::ID_TOKEN.leeway_secs;

/// `iat` must not be in the future beyond the allowed skew (the `openidconnect`
/// crate leaves this check to the application): the ID-token policy's rule.
pub(super) fn check_iat(iat: i64, now: i64) -> Result<(), String> {
    let times = crate::jwt::Times { iat: Some(iat), ..Default::default() };
    crate::jwt::Policy::ID_TOKEN.check_time_values(times, now).map_err(|e| format!("the ID token was {e}"))
}

/// The response of a code or refresh exchange must issue a Bearer token
/// (RFC 6749 section 7.1; the comparison is case-insensitive). Returns the
/// type sent otherwise.
pub(super) fn check_token_type(t: &openidconnect::core::CoreTokenType) -> Result<(), String> {
    match t {
        openidconnect::core::CoreTokenType::Bearer => Ok(()),
        other => Err(crate::clip(other.as_ref(), 40)),
    }
}

/// OpenID Connect Core 3.1.3.7 steps 3 to 5: `aud` holds this client; `azp`,
/// when present, is this client; several audiences need `azp`.
pub(super) fn check_audience(
    claims: &serde_json::Map<String, serde_json::Value>,
    client_id: &str,
) -> Result<(), String> {
    use serde_json::Value;
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err("the aud claim is missing or not a string or array".into()),
    };
    if !audiences.contains(&client_id) {
        return Err("the aud claim does not name this client".into());
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(azp) => Err(format!("azp is {:?}, not this client", crate::clip(&azp.to_string(), 100))),
        None if audiences.len() > 1 => Err("several audiences and no azp naming this client".into()),
        None => Ok(()),
    }
}

pub(super) fn verify(
    verifier: &openidconnect::core::CoreIdTokenVerifier<'_>,
    tokens: &openidconnect::core::CoreTokenResponse,
    pending: &PendingLogin,
) -> Result<(VerifiedUser, TokenSet), OidcError> {
    let other = |e: &dyn std::error::Error| OidcError::IdToken(error_chain(e));
    let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
    let claims = id_token.claims(verifier, &Nonce::new(pending.nonce.clone())).map_err(|e| other(&e))?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|e| other(&e))?;
        let key = id_token.signing_key(verifier).map_err(|e| other(&e))?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key).map_err(|e| other(&e))?;
        if actual != *expected {
            return Err(OidcError::IdToken("at_hash does not match the access token".into()));
        }
    }
    let shown = verified_claims(&id_token.to_string());
    let user = VerifiedUser {
        sub: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        sid: claim(&shown, &["sid"]),
        first_name: claim(&shown, &["first_name", "given_name"]),
        last_name: claim(&shown, &["last_name", "family_name"]),
        claims: shown,
    };
    let now = crate::unix_now();
    let set = TokenSet {
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
        id_token: id_token.to_string(),
        expires_at: tokens.expires_in().map(|d| now + d.as_secs() as i64),
    };
    Ok((user, set))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    /// A provider whose clock runs ahead (or that forges `iat`): its ID tokens
    /// are refused beyond the allowed skew. The tokens are signed with the
    /// local provider's real key, so only `iat` differs.
    #[tokio::test]
    async fn an_id_token_issued_in_the_future_is_refused() {
        let cfg = idp::Config::in_memory("127.0.0.1:0".parse().unwrap());
        let idp = idp::Idp::build(cfg).await.unwrap();
        let (issuer, provider) = (idp.issuer().to_string(), idp.provider_handle());
        tokio::spawn(idp.run_until_stopped());
        let rp = RelyingParty::discover(
            &RpConfig {
                issuer: issuer.clone(),
                client_id: idp::config::DEV_APP_CLIENT_ID.into(),
                client_secret: Some("unused".into()),
                auth: ClientAuth::ClientSecretBasic,
                redirect_url: "http://127.0.0.1:9/login".into(),
                scopes: vec!["openid".into()],
            },
            3,
        )
        .await
        .unwrap();
        let pending =
            PendingLogin { pkce_verifier: "v".into(), nonce: "n".into(), return_to: ReturnTo::root(), started_at: 0 };
        let now = crate::unix_now();
        for (iat, accepted) in [(now - 5, true), (now + MAX_CLOCK_SKEW_SECS - 5, true), (now + 3600, false)] {
            let claims = serde_json::json!({
                "iss": issuer, "sub": "someone", "aud": [idp::config::DEV_APP_CLIENT_ID],
                "exp": now + 600, "iat": iat, "nonce": "n",
            });
            let id_token = provider.keys.sign("JWT", &claims);
            let response: openidconnect::core::CoreTokenResponse = serde_json::from_value(serde_json::json!({
                "access_token": "at", "token_type": "Bearer", "id_token": id_token,
            }))
            .unwrap();
            let keys = rp.key_cache().keys(false).await.unwrap().0;
            let result = verify(&rp.id_token_verifier(&keys), &response, &pending);
            assert_eq!(result.is_ok(), accepted, "iat = now {:+} s", iat - now);
        }
    }

    #[test]
    fn iat_skew_bounds() {
        assert!(check_iat(100, 100).is_ok());
        assert!(check_iat(100 + MAX_CLOCK_SKEW_SECS, 100).is_ok());
        assert!(check_iat(101 + MAX_CLOCK_SKEW_SECS, 100).is_err());
    }
}
