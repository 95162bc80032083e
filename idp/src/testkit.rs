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

fn field(html: &str, name: &str) -> Result<String, String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).ok_or(format!("no {name} field"))? + marker.len();
    let end = html[start..].find('"').ok_or(format!("unterminated {name} field"))?;
    Ok(html[start..start + end].to_string())
}
