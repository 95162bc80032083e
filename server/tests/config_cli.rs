//! `server --check-config`, run as an operator would: the built binary with
//! a configuration file and variables, checked for its exit status, its
//! redaction of every secret and its warnings.
#![expect(clippy::unwrap_used)]

use std::process::Command;

const SECRETS: [&str; 6] =
    ["hunter2-client", "hunter2-admin", "hunter2-db", "hunter2-redis", "aHVudGVyMi10b2tlbi1rZXk", "hunter2-otlp-key"];

fn check_config(file: Option<&str>, vars: &[(&str, &str)]) -> (i32, String) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gatehouse-check-config-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.arg("--check-config").env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    if let Some(text) = file {
        let path = dir.join("gatehouse.toml");
        std::fs::write(&path, text).unwrap();
        cmd.env("GATEHOUSE_CONFIG", &path);
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_valid_configuration_is_printed_without_its_secrets_and_exits_0() {
    let (code, out) = check_config(
        Some(
            "public_url = \"https://app.example.com/\"\nadmin_emails = [\"alice@example.com\"]\n\
             database_url = \"postgres://gatehouse:hunter2-db@db.internal:5432/gatehouse\"\n\
             [oidc]\nissuer = \"https://login.example.com/\"\nclient_id = \"gatehouse\"\n\
             client_secret = \"hunter2-client\"\nadmin_api_url = \"https://login.example.com/admin\"\n\
             admin_client_id = \"machine\"\n[leptos]\nenv = \"PROD\"\n",
        ),
        &[
            ("OIDC_ADMIN_CLIENT_SECRET", "hunter2-admin"),
            ("GATEHOUSE_REDIS_URL", "redis://:hunter2-redis@cache.internal:6379/0"),
            ("GATEHOUSE_TOKEN_KEYS", "k1:aHVudGVyMi10b2tlbi1rZXktbWF0ZXJpYWwtMzJieXQ="),
            ("GATEHOUSE_OTLP_ENDPOINT", "https://collector.internal:4318"),
            ("GATEHOUSE_OTLP_HEADERS", "x-api-key=hunter2-otlp-key"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("The configuration is valid."), "{out}");
    for secret in SECRETS {
        assert!(!out.contains(secret), "{secret} shown:\n{out}");
    }
    assert!(out.contains("OIDC_ISSUER") && out.contains("(oidc.issuer)"), "the file key is named:\n{out}");
    assert!(out.contains("postgres://gatehouse@db.internal:5432/gatehouse"), "{out}");
    assert!(out.contains("redis://cache.internal:6379/0"), "{out}");
    assert!(out.contains("https://collector.internal:4318"), "{out}");
    assert!(out.matches("[redacted]").count() >= 4, "{out}");
}

#[test]
fn an_invalid_configuration_says_why_and_exits_1() {
    let (code, out) = check_config(Some("[leptos]\nenv = \"PROD\"\n"), &[("OIDC_CLIENT_SECRET", "hunter2-client")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error: OIDC_ISSUER is not set"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    let (code, out) = check_config(Some("session_idle_minutes = -5\n"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("GATEHOUSE_SESSION_IDLE_MINUTES=\"-5\" is not valid") && out.contains("session_idle_minutes"));
    let (code, out) = check_config(Some("this is not toml"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("gatehouse.toml cannot be read") && out.contains("TOML"), "{out}");
}

#[test]
fn a_typo_is_a_warning_naming_the_setting_meant() {
    let (code, out) = check_config(None, &[("GATEHOUSE_ADMIN_EMAIL", "boss@example.com")]);
    assert_eq!(code, 0, "a warning, not an error:\n{out}");
    assert!(
        out.contains(
            "warning: unknown environment variable GATEHOUSE_ADMIN_EMAIL (ignored): did you mean GATEHOUSE_ADMIN_EMAILS?"
        ),
        "{out}"
    );
    assert!(!out.contains("boss@example.com"), "{out}");
}

#[test]
fn an_unknown_argument_shows_the_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_server")).arg("--chek-config").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: server [--check-config"));
}
