//! What the provider issues is what seed 004's users can verify: PyJWT with
//! `PyJWKClient` (pinned in tools/python/requirements.txt, installed into a
//! throwaway virtualenv by scripts/pyvenv) verifies a user's and a service's
//! access token against the provider's JWKS, and refuses a tampered one or
//! the wrong audience.
#![expect(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// `Ok(output JSON)` when PyJWT accepts `token`, else `Err(its reason)`.
/// Runs off the test's runtime, which serves the provider PyJWT calls.
async fn pyjwt(python: &Path, provider: &str, audience: &str, token: &str) -> Result<Value, String> {
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("tools/python/verify_token.py")).args([
        &format!("{provider}.well-known/jwks.json"),
        provider,
        audience,
        token,
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn pyjwt_with_pyjwkclient_verifies_the_access_tokens_the_provider_issues() {
    let venv = temp_dir("pyjwt");
    let python = tokio::task::spawn_blocking({
        let venv = venv.clone();
        move || python_venv(&venv.join("venv"))
    })
    .await
    .unwrap();
    let app = spawn_app().await;
    let provider = provider_base(&app).await;

    let user = user_token(&provider, "user@example.com", "openid settings:read").await;
    let sub = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.base))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["sub"]
        .clone();
    let out = pyjwt(&python, &provider, "gatehouse-api", &user).await.unwrap();
    assert_eq!(out["typ"], "at+jwt");
    assert_eq!(out["claims"]["sub"], sub, "PyJWT and /api/v1/me agree on the subject");
    assert_eq!(out["claims"]["client_id"], CLI);

    let service = service_token(&provider, "settings:read").await;
    let out = pyjwt(&python, &provider, "gatehouse-api", &service).await.unwrap();
    assert_eq!(out["claims"]["sub"], SERVICE);

    // Controls: PyJWT really checks.
    let e = pyjwt(&python, &provider, "gatehouse-api", &with_forged_signature(&user)).await.unwrap_err();
    assert!(e.contains("Signature"), "{e}");
    let e = pyjwt(&python, &provider, "another-api", &user).await.unwrap_err();
    assert!(e.contains("Audience"), "{e}");
    let _ = std::fs::remove_dir_all(&venv);
}
