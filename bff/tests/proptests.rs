//! Property tests of every parser that reads attacker input: return paths,
//! bearer tokens, logout tokens, the sealed sign-in cookie and the token's
//! place in a request. Arbitrary input never panics; a parsed return path
//! never leaves the app's origin; nothing that was not sealed by the app opens.
#![expect(clippy::unwrap_used)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bff::bearer::{BearerConfig, BearerVerifier};
use bff::oidc::{ClientAuth, RelyingParty, RpConfig};
use bff::ReturnTo;
use idp::config::{AuthMethod, ClientConfig, Config};
use proptest::prelude::*;

const APP: &str = "https://app.example.com/";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// A real provider (in memory) and this app's relying party at it, started once.
fn relying_party() -> &'static RelyingParty {
    static RP: OnceLock<RelyingParty> = OnceLock::new();
    RP.get_or_init(|| {
        runtime().block_on(async {
            let mut cfg = Config::in_memory("127.0.0.1:0".parse().unwrap());
            cfg.clients = vec![ClientConfig {
                id: "app".into(),
                secret: Some("proptest-secret-0123456789".into()),
                auth_method: AuthMethod::ClientSecretBasic,
                redirect_uris: vec!["http://127.0.0.1:9/login".into()],
                post_logout_redirect_uris: vec![],
                backchannel_logout_uri: None,
                grant_types: vec!["authorization_code".into()],
                scopes: vec!["openid".into()],
                audiences: vec![],
            }];
            let idp = idp::Idp::build(cfg).await.unwrap();
            let issuer = idp.issuer().to_string();
            tokio::spawn(idp.run_until_stopped());
            let rp = RpConfig {
                issuer,
                client_id: "app".into(),
                client_secret: Some("proptest-secret-0123456789".into()),
                auth: ClientAuth::ClientSecretBasic,
                redirect_url: "http://127.0.0.1:9/login".into(),
                scopes: vec!["openid".into()],
            };
            RelyingParty::discover(&rp, 3).await.unwrap()
        })
    })
}

/// A bearer verifier whose key server refuses connections (parsing comes first).
fn verifier() -> &'static BearerVerifier {
    static V: OnceLock<BearerVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg =
            BearerConfig::new("https://idp.example.com/", format!("http://127.0.0.1:{port}/jwks").parse().unwrap());
        BearerVerifier::new(cfg).unwrap()
    })
}

/// Strings made of the characters that matter to URL and JWT parsers.
fn url_soup() -> impl Strategy<Value = String> {
    "[/\\\\:@?#%.a-z0-9 \t\r\n\u{0}\u{2028}\u{ff0f}-]{0,32}"
}

/// Three base64url parts whose header and payload are JSON-ish.
fn jwt_soup() -> impl Strategy<Value = String> {
    let json = prop_oneof![
        any::<String>(),
        "\\{\"(alg|typ|kid|iss|aud|exp|nbf|iat|sub|sid|jti|events|nonce)\":(\"[A-Za-z0-9+]{0,8}\"|[0-9.e+-]{1,12}|null|true|\\[\\]|\\{\\})\\}",
        Just(r#"{"alg":"RS256","typ":"at+jwt","kid":"none"}"#.to_string()),
        Just(r#"{"alg":"RS256","typ":"logout+jwt"}"#.to_string()),
        Just(r#"{"alg":"none"}"#.to_string()),
        Just(r#"{"alg":"HS256"}"#.to_string()),
    ];
    (json.clone(), json, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(h, p, s)| {
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p), URL_SAFE_NO_PAD.encode(s))
    })
}

fn login() -> bff::PendingLogin {
    bff::PendingLogin {
        pkce_verifier: "v".into(),
        nonce: "n".into(),
        return_to: ReturnTo::root(),
        started_at: 1_700_000_000,
    }
}

fn assert_same_origin(raw: &str) {
    if let Ok(rt) = ReturnTo::parse(raw) {
        let base = url::Url::parse(APP).unwrap();
        let target = base.join(rt.as_str()).unwrap();
        assert_eq!(target.origin(), base.origin(), "{raw:?} → {:?} leaves the origin", rt.as_str());
        assert!(rt.as_str().starts_with('/'), "{:?}", rt.as_str());
        assert!(!rt.as_str().starts_with("//") && !rt.as_str().starts_with("/\\"), "{:?}", rt.as_str());
        assert!(!rt.as_str().chars().any(char::is_control), "{:?}", rt.as_str());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_return_path_stays_on_the_origin(raw in any::<String>()) {
        assert_same_origin(&raw);
    }

    #[test]
    fn url_shaped_return_paths_stay_on_the_origin(raw in url_soup()) {
        assert_same_origin(&raw);
        assert_same_origin(&format!("/{raw}"));
        assert_same_origin(&format!("//{raw}"));
        assert_same_origin(&format!("/\\{raw}"));
        assert_same_origin(&format!("https://evil.example/{raw}"));
    }

    #[test]
    fn bearer_tokens_of_any_shape_are_refused_without_panicking(raw in prop_oneof![any::<String>(), jwt_soup()]) {
        let r = runtime().block_on(verifier().verify(&raw, 1_700_000_000));
        prop_assert!(r.is_err());
    }

    #[test]
    fn logout_tokens_of_any_shape_are_refused_without_panicking(raw in prop_oneof![any::<String>(), jwt_soup()]) {
        let rp = relying_party();
        let r = runtime().block_on(rp.verify_logout_token(&raw, 1_700_000_000));
        prop_assert!(r.is_err());
    }

    #[test]
    fn sign_in_cookies_open_only_when_sealed_by_the_app(raw in prop_oneof![any::<String>(), url_soup(), jwt_soup()], state in "[A-Za-z0-9_-]{0,50}") {
        let keys = bff::sealing::TokenKeys::parse(&bff::sealing::TokenKeys::generate_line("k1")).unwrap();
        let cookie = bff::pending::PendingCookie::new(keys, false);
        // Any value under any login cookie name, including the one for `state`.
        let named = cookie.start(&axum::http::HeaderMap::new(), &state, login(), 1_700_000_000);
        let name = named.last().unwrap().to_str().unwrap().split('=').next().unwrap().to_string();
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("a=b; {name}={raw}; gatehouse-login-x={raw}; c")) {
            headers.insert("cookie", v);
        }
        prop_assert!(cookie.take(&headers, &state, 1_700_000_000).0.is_err());
        let _ = cookie.start(&headers, "s", login(), 1_700_000_000);
    }

    #[test]
    fn the_token_is_taken_from_the_header_without_panicking(raw in any::<String>(), cookie in any::<String>()) {
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(v) = axum::http::HeaderValue::from_str(&raw) {
            headers.insert("authorization", v);
        }
        if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
            headers.insert("cookie", v);
        }
        if let Ok(token) = bff::bearer::token_of(&headers, Some("hanko")) {
            prop_assert!(!token.is_empty() && !token.contains(' '));
        }
    }
}
