//! Drives the provider's HTML login the way a browser does, for tests and
//! tools of crates that sign in against it (email → passcode from the mailbox).
//! Registration is not handled: use a seeded or existing identity. The
//! provider must run with `dev_mode = true` (the mailbox exists only then).

/// Follows `auth_url` through the login form and returns the URL the provider
/// finally redirects to (the client's redirect URI with `code` and `state`).
/// `browser` must keep cookies and must not follow redirects.
pub async fn sign_in(browser: &reqwest::Client, auth_url: &str, email: &str) -> Result<String, String> {
    let base = url::Url::parse(auth_url).map_err(|e| e.to_string())?;
    let r = browser.get(auth_url).send().await.map_err(|e| e.to_string())?;
    let loc = location(&r)?;
    if !loc.starts_with("/login?") {
        return Ok(loc); // already signed in (SSO) or an error redirect
    }
    let page = browser
        .get(base.join(&loc).map_err(|e| e.to_string())?)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let (challenge, csrf) = (field(&page, "login_challenge")?, field(&page, "csrf")?);
    let form =
        |extra: (&'static str, String)| vec![("login_challenge", challenge.clone()), ("csrf", csrf.clone()), extra];
    let r = browser
        .post(base.join("/login").map_err(|e| e.to_string())?)
        .form(&form(("email", email.to_string())))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let html = r.text().await.map_err(|e| e.to_string())?;
    if !html.contains("Enter your passcode") {
        return Err(format!("the provider did not ask for a passcode: {html}"));
    }
    let mailbox = base.join(&format!("/mailbox/messages?email={email}")).map_err(|e| e.to_string())?;
    let r = browser.get(mailbox).send().await.map_err(|e| e.to_string())?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Err("the provider has no mailbox: run it with dev_mode = true".into());
    }
    let msgs: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    let passcode = msgs[0]["passcode"].as_str().ok_or("no passcode in the mailbox")?.to_string();
    let r = browser
        .post(base.join("/login/passcode").map_err(|e| e.to_string())?)
        .form(&form(("passcode", passcode)))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    location(&r)
}

fn location(r: &reqwest::Response) -> Result<String, String> {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("expected a redirect, got {}", r.status()))
}

/// The value of `<input name="{name}" value="…">` in a provider page.
pub fn field(html: &str, name: &str) -> Result<String, String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).ok_or(format!("no {name} field"))? + marker.len();
    let end = html[start..].find('"').ok_or(format!("unterminated {name} field"))?;
    Ok(html[start..start + end].to_string())
}

/// A software WebAuthn authenticator (ES256, "none" attestation) for tests
/// of the passkey ceremonies without a browser: it answers the options the
/// provider sends the way a browser and a passkey would, from `origin`.
/// Change `origin`, `counter` or the answers to test what the provider refuses.
pub struct SoftAuthenticator {
    key: p256::ecdsa::SigningKey,
    pub cred_id: Vec<u8>,
    /// The user handle stored with the credential (set by [`Self::create`]).
    pub user_handle: Vec<u8>,
    /// The sign count the next answer carries (then incremented).
    pub counter: u32,
    /// The origin written into the client data.
    pub origin: String,
    /// Whether the credential says it may be synced (WebAuthn backup eligibility).
    pub backup_eligible: bool,
}

mod cbor {
    fn head(out: &mut Vec<u8>, major: u8, n: usize) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=255 => out.extend([m | 24, n as u8]),
            _ => out.extend([m | 25, (n >> 8) as u8, n as u8]),
        }
    }
    pub(super) fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        head(out, 2, b.len());
        out.extend_from_slice(b);
    }
    pub(super) fn text(out: &mut Vec<u8>, s: &str) {
        head(out, 3, s.len());
        out.extend_from_slice(s.as_bytes());
    }
    pub(super) fn map(out: &mut Vec<u8>, n: usize) {
        head(out, 5, n);
    }
    /// A small integer, -24..=23.
    pub(super) fn int(out: &mut Vec<u8>, i: i8) {
        if i >= 0 {
            out.push(i as u8);
        } else {
            out.push(0x20 | (-1 - i) as u8);
        }
    }
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> Self {
        use rand::RngCore as _;
        let key = loop {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                break key;
            }
        };
        let mut cred_id = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut cred_id);
        Self { key, cred_id, user_handle: Vec::new(), counter: 1, origin: origin.into(), backup_eligible: false }
    }

    fn b64(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn unb64(s: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).unwrap_or_default()
    }

    fn rp_id_hash(&self, options: &serde_json::Value) -> Vec<u8> {
        use sha2::Digest as _;
        let rp_id = options["publicKey"]["rp"]["id"]
            .as_str()
            .or(options["publicKey"]["rpId"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                url::Url::parse(&self.origin).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default()
            });
        sha2::Sha256::digest(rp_id.as_bytes()).to_vec()
    }

    fn flags(&self, attested: bool) -> u8 {
        // UP | UV, BE (and BS) when syncable, AT when a credential is attached.
        let mut f = 0x01 | 0x04;
        if self.backup_eligible {
            f |= 0x08 | 0x10;
        }
        if attested {
            f |= 0x40;
        }
        f
    }

    fn client_data(&self, kind: &str, options: &serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "type": kind,
            "challenge": options["publicKey"]["challenge"],
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// The answer to registration options (`{"publicKey": …}` as the provider sends them).
    pub fn create(&mut self, options: &serde_json::Value) -> serde_json::Value {
        self.user_handle = Self::unb64(options["publicKey"]["user"]["id"].as_str().unwrap_or_default());
        let point = self.key.verifying_key().to_sec1_point(false);
        let mut cose = Vec::new();
        cbor::map(&mut cose, 5);
        for (k, v) in [(1, 2), (3, -7), (-1, 1)] {
            cbor::int(&mut cose, k);
            cbor::int(&mut cose, v);
        }
        cbor::int(&mut cose, -2);
        cbor::bytes(&mut cose, point.x().map(|x| x.to_vec()).unwrap_or_default().as_slice());
        cbor::int(&mut cose, -3);
        cbor::bytes(&mut cose, point.y().map(|y| y.to_vec()).unwrap_or_default().as_slice());
        let mut auth_data = self.rp_id_hash(options);
        auth_data.push(self.flags(true));
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((self.cred_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.cred_id);
        auth_data.extend(cose);
        let mut att = Vec::new();
        cbor::map(&mut att, 3);
        cbor::text(&mut att, "fmt");
        cbor::text(&mut att, "none");
        cbor::text(&mut att, "attStmt");
        cbor::map(&mut att, 0);
        cbor::text(&mut att, "authData");
        cbor::bytes(&mut att, &auth_data);
        self.counter += 1;
        self.answer(serde_json::json!({
            "attestationObject": Self::b64(&att),
            "clientDataJSON": Self::b64(&self.client_data("webauthn.create", options)),
        }))
    }

    /// A `PublicKeyCredential` as a browser's script sends it, around `response`.
    fn answer(&self, response: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "id": Self::b64(&self.cred_id),
            "rawId": Self::b64(&self.cred_id),
            "type": "public-key",
            "response": response,
            "extensions": {},
        })
    }

    /// The answer to sign-in options: an assertion signed with this credential.
    pub fn get(&mut self, options: &serde_json::Value) -> serde_json::Value {
        use p256::ecdsa::signature::Signer as _;
        use sha2::Digest as _;
        let client_data = self.client_data("webauthn.get", options);
        let mut auth_data = self.rp_id_hash(options);
        auth_data.push(self.flags(false));
        auth_data.extend(self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha2::Sha256::digest(&client_data));
        let sig: p256::ecdsa::Signature = self.key.sign(&signed);
        self.counter += 1;
        self.answer(serde_json::json!({
            "authenticatorData": Self::b64(&auth_data),
            "clientDataJSON": Self::b64(&client_data),
            "signature": Self::b64(sig.to_der().as_bytes()),
            "userHandle": Self::b64(&self.user_handle),
        }))
    }
}
