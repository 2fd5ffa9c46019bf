//! The gateway as an OAuth 2.0 token endpoint (issue 12, point 3), through the real binary: a
//! real OAuth client library (Python authlib, tests/oauth/client.py) gets tokens with both
//! client authentication methods and reads `/Users` with them, the target receiving the
//! tenant's own upstream secret; every refusal of the token endpoint (RFC 6749 §5.2) and of a
//! presented token (expired, another tenant's, `alg: none`, HS256/RS256 confusion, tampered,
//! unknown key, a removed client), key rotation, start-up errors, and the slow-down of failed
//! client authentications. Keys come from `openssl genpkey -algorithm ed25519`.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine;
use common::{call, policy, sha256_hex, Gateway, Recorder, Resp};
use scimgate::oauth::jwt::{sign, Claims};
use scimgate::oauth::keys::SigningKey;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const ROUTE: &str = "/acme/scim/v2";
const UP_SECRET: &str = "up-secret-of-acme";
const STATIC: &str = "static-bearer-of-acme";

/// An Ed25519 key made by openssl, as an operator makes it.
fn genkey(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&path)
        .output()
        .expect("openssl (./scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Tenant `acme` (clients entra-acme with two secrets and okta-acme, plus a static bearer)
/// and tenant `globex` (client globex-entra), both in front of `up`.
fn policies(up: &Recorder, acme_extra: &str) -> Vec<(&'static str, String)> {
    let acme = policy(
        "acme",
        ROUTE,
        STATIC,
        &up.url(),
        "bearer_env = \"ACME_UP\"",
        acme_extra,
    )
    .replace(
        "[upstream]",
        &format!(
            "token_ttl_s = 900\n[[auth.clients]]\nclient_id = \"entra-acme\"\nsecret_sha256 = [\"{}\", \"{}\"]\n[[auth.clients]]\nclient_id = \"okta-acme\"\nsecret_sha256 = [\"{}\"]\n[upstream]",
            sha256_hex("entra-secret-1"),
            sha256_hex("entra-secret-2"),
            sha256_hex("okta-secret")
        ),
    );
    let globex = format!(
        "tenant = \"globex\"\nroute = \"/globex/scim/v2\"\n[auth]\n[[auth.clients]]\nclient_id = \"globex-entra\"\nsecret_sha256 = [\"{}\"]\n[upstream]\nurl = \"{}\"\n",
        sha256_hex("globex-secret"),
        up.url()
    );
    vec![("acme.toml", acme), ("globex.toml", globex)]
}

struct Setup {
    gw: Gateway,
    up: Recorder,
    keys: tempfile::TempDir,
}

impl Setup {
    /// The gateway with keys k1 (signs) and k2 (verifies).
    fn start(acme_extra: &str) -> Setup {
        let keys = tempfile::tempdir().unwrap();
        let (k1, k2) = (genkey(keys.path(), "k1.pem"), genkey(keys.path(), "k2.pem"));
        let up = Recorder::start();
        let gw = Gateway::start_with(
            &policies(&up, acme_extra),
            &[("ACME_UP", UP_SECRET)],
            &[
                "--token-key-file",
                k1.to_str().unwrap(),
                "--token-key-file",
                k2.to_str().unwrap(),
            ],
        );
        Setup { gw, up, keys }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }

    fn token_url(&self, route: &str) -> String {
        self.gw.url(&format!("{route}/oauth/token"))
    }

    /// POST a form to the token endpoint with extra headers.
    fn post(&self, route: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut all = vec![FORM];
        all.extend_from_slice(headers);
        call("POST", &self.token_url(route), None, &all, Some(body))
    }

    /// A token for a client with client_secret_post.
    fn token(&self, route: &str, id: &str, secret: &str) -> String {
        let r = self.post(
            route,
            &[],
            &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().unwrap().to_string()
    }

    fn users(&self, token: &str) -> Resp {
        call(
            "GET",
            &self.gw.url(&format!("{ROUTE}/Users")),
            Some(token),
            &[],
            None,
        )
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SCIMGATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let bin = venv.join("bin/python");
    assert!(
        bin.exists(),
        "{} is missing: run ./scripts/setup.sh",
        bin.display()
    );
    bin
}

/// tests/oauth/client.py: authlib's OAuth2Session fetches a token, then reads /Users.
fn authlib(tenant_url: &str, id: &str, secret: &str, method: &str, scope: Option<&str>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth/client.py");
    let out = Command::new(venv_python())
        .arg(script)
        .args([tenant_url, id, secret, method])
        .args(scope)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn segment(token: &str, i: usize) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(aud: &str, sub: &str, iat: i64, exp: i64) -> Claims {
    Claims {
        iss: "http://test".into(),
        aud: aud.into(),
        sub: sub.into(),
        iat,
        exp,
        jti: "0123456789abcdef0123456789abcdef".into(),
    }
}

/// A 401 for a presented access token, nothing sent upstream.
fn assert_token_refused(r: &Resp, detail: &str) {
    r.assert_scim_error(401, None);
    let www = r.header("www-authenticate").unwrap_or_default();
    assert!(www.starts_with("Bearer"), "{www}");
    assert!(
        r.json()["detail"].as_str().unwrap().contains(detail),
        "want {detail:?}: {}",
        r.body
    );
}

/// An OAuth error answer of the token endpoint (RFC 6749 §5.2).
fn assert_oauth_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    if error == "invalid_client" {
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"acme\""));
    }
}

#[test]
fn an_authlib_client_gets_tokens_both_ways_and_the_target_sees_only_the_tenants_secret() {
    let s = Setup::start("");
    let tenant_url = s.gw.url(ROUTE);
    let mut tokens = Vec::new();
    for (id, secret, method) in [
        ("entra-acme", "entra-secret-1", "client_secret_basic"),
        ("entra-acme", "entra-secret-2", "client_secret_post"),
        ("okta-acme", "okta-secret", "client_secret_basic"),
    ] {
        let out = authlib(&tenant_url, id, secret, method, None);
        assert_eq!(out["token_type"], "Bearer", "{out}");
        assert_eq!(out["expires_in"], 900, "{out}");
        assert_eq!(out["users_status"], 200, "{out}");
        let token = out["access_token"].as_str().unwrap().to_string();
        let kid = SigningKey::from_pem_file(&s.key("k1.pem"))
            .unwrap()
            .kid()
            .to_string();
        assert_eq!(
            segment(&token, 0),
            json!({"alg": "EdDSA", "typ": "JWT", "kid": kid})
        );
        let c = segment(&token, 1);
        assert_eq!(c["iss"], format!("http://127.0.0.1:{}{ROUTE}", s.gw.port));
        assert_eq!(
            (c["aud"].as_str(), c["sub"].as_str()),
            (Some("acme"), Some(id))
        );
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
        assert!((c["iat"].as_i64().unwrap() - now()).abs() < 60);
        let jti = c["jti"].as_str().unwrap();
        assert!(
            jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()),
            "{jti}"
        );
        tokens.push(token);
    }
    assert_eq!(
        tokens
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3
    );
    // The target got each /Users with the tenant's own secret, never a token.
    let seen = s.up.requests();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for r in &seen {
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("GET", "/base/v2/Users")
        );
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UP_SECRET}").as_str())
        );
    }
    // The token answer itself, as RFC 6749 §5.1 has it.
    let r = s.post(
        ROUTE,
        &[("Authorization", &basic("entra-acme", "entra-secret-1"))],
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    // The static bearer still works beside the clients.
    assert_eq!(s.users(STATIC).status, 200);
    let metrics = s.gw.metrics();
    assert!(
        metrics.contains("scimgate_tokens_issued_total{tenant=\"acme\"} 4"),
        "{metrics}"
    );
    // No secret, token or form body in any log line.
    let log = s.gw.log();
    for secret in [
        "entra-secret-1",
        "entra-secret-2",
        "okta-secret",
        UP_SECRET,
        "client_secret",
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    for t in tokens
        .iter()
        .chain([&v["access_token"].as_str().unwrap().to_string()])
    {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token in the log:\n{log}");
    }
    assert!(log.contains("access token issued"), "{log}");
}

#[test]
fn the_token_endpoint_refuses_as_rfc_6749_says() {
    let s = Setup::start("");
    let ok_basic = basic("entra-acme", "entra-secret-1");
    let grant = "grant_type=client_credentials";
    // Client authentication: wrong secret (both methods), unknown client, none at all, an
    // Authorization scheme that is not Basic, a client_id without a secret.
    let r = s.post(
        ROUTE,
        &[("Authorization", &basic("entra-acme", "wrong"))],
        grant,
    );
    assert_oauth_error(&r, 401, "invalid_client");
    let r = s.post(
        ROUTE,
        &[],
        "grant_type=client_credentials&client_id=okta-acme&client_secret=wrong",
    );
    assert_oauth_error(&r, 401, "invalid_client");
    let r = s.post(
        ROUTE,
        &[("Authorization", &basic("nobody", "entra-secret-1"))],
        grant,
    );
    assert_oauth_error(&r, 401, "invalid_client");
    let r = s.post(ROUTE, &[], grant);
    assert_oauth_error(&r, 401, "invalid_client");
    let r = s.post(ROUTE, &[("Authorization", "Bearer entra-secret-1")], grant);
    assert_oauth_error(&r, 401, "invalid_client");
    let r = s.post(
        ROUTE,
        &[],
        "grant_type=client_credentials&client_id=entra-acme",
    );
    assert_oauth_error(&r, 401, "invalid_client");
    // Malformed requests: both methods at once, the grant missing or unsupported, a parameter
    // twice, another media type, parameters in the URL, a scope, a body too large.
    let r = s.post(
        ROUTE,
        &[("Authorization", &ok_basic)],
        "grant_type=client_credentials&client_secret=entra-secret-1",
    );
    assert_oauth_error(&r, 400, "invalid_request");
    let r = s.post(
        ROUTE,
        &[("Authorization", &ok_basic)],
        "client_id=entra-acme",
    );
    assert_oauth_error(&r, 400, "invalid_request");
    for g in ["password", "authorization_code", "Client_Credentials"] {
        let r = s.post(
            ROUTE,
            &[("Authorization", &ok_basic)],
            &format!("grant_type={g}"),
        );
        assert_oauth_error(&r, 400, "unsupported_grant_type");
    }
    let r = s.post(
        ROUTE,
        &[("Authorization", &ok_basic)],
        "grant_type=client_credentials&grant_type=client_credentials",
    );
    assert_oauth_error(&r, 400, "invalid_request");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("more than once"));
    let r = s.post(
        ROUTE,
        &[],
        "grant_type=client_credentials&client_id=entra-acme&client_secret=entra-secret-1&client_id=entra-acme",
    );
    assert_oauth_error(&r, 400, "invalid_request");
    let r = call(
        "POST",
        &s.token_url(ROUTE),
        None,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &ok_basic),
        ],
        Some(r#"{"grant_type":"client_credentials"}"#),
    );
    assert_oauth_error(&r, 400, "invalid_request");
    let r = call(
        "POST",
        &format!("{}?grant_type=client_credentials", s.token_url(ROUTE)),
        None,
        &[FORM, ("Authorization", &ok_basic)],
        Some(""),
    );
    assert_oauth_error(&r, 400, "invalid_request");
    let r = s.post(
        ROUTE,
        &[("Authorization", &ok_basic)],
        "grant_type=client_credentials&scope=scim",
    );
    assert_oauth_error(&r, 400, "invalid_scope");
    let big = format!("grant_type=client_credentials&x={}", "a".repeat(9000));
    let r = s.post(ROUTE, &[("Authorization", &ok_basic)], &big);
    assert_oauth_error(&r, 413, "invalid_request");
    // Other methods.
    for m in ["GET", "PUT", "DELETE"] {
        let r = call(
            m,
            &s.token_url(ROUTE),
            None,
            &[("Authorization", &ok_basic)],
            None,
        );
        assert_oauth_error(&r, 405, "invalid_request");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    // authlib reads these errors as errors.
    let out = authlib(
        &s.gw.url(ROUTE),
        "entra-acme",
        "wrong",
        "client_secret_post",
        None,
    );
    assert_eq!(out["error"], "invalid_client", "{out}");
    let out = authlib(
        &s.gw.url(ROUTE),
        "okta-acme",
        "okta-secret",
        "client_secret_basic",
        Some("scim"),
    );
    assert_eq!(out["error"], "invalid_scope", "{out}");
    // Nothing reached the target; nothing was issued.
    assert!(s.up.requests().is_empty(), "{:#?}", s.up.requests());
    let metrics = s.gw.metrics();
    assert!(
        !metrics.contains("scimgate_tokens_issued_total{tenant=\"acme\"}"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("scimgate_token_failures_total{client=\"unknown client\",tenant=\"acme\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scimgate_token_failures_total{client=\"okta-acme\",tenant=\"acme\"} 1"),
        "{metrics}"
    );
}

#[test]
fn presented_tokens_are_checked_signature_time_audience_and_algorithm() {
    let s = Setup::start("");
    let good = s.token(ROUTE, "entra-acme", "entra-secret-1");
    assert_eq!(s.users(&good).status, 200);
    assert_eq!(s.users(&good).status, 200, "again, from the verified cache");
    let sent = s.up.requests().len();

    // Another tenant's token.
    let globex = s.token("/globex/scim/v2", "globex-entra", "globex-secret");
    assert_token_refused(&s.users(&globex), "another tenant");
    let r = call(
        "GET",
        &s.gw.url("/globex/scim/v2/Users"),
        Some(&good),
        &[],
        None,
    );
    assert_token_refused(&r, "another tenant");

    // Expired (signed with the gateway's own key file), and the leeway.
    let k1 = SigningKey::from_pem_file(&s.key("k1.pem")).unwrap();
    let t = now();
    let expired = sign(&k1, &claims("acme", "entra-acme", t - 1000, t - 120));
    assert_token_refused(&s.users(&expired), "expired");
    let within_leeway = sign(&k1, &claims("acme", "entra-acme", t - 1000, t - 5));
    assert_eq!(s.users(&within_leeway).status, 200);

    // Key rotation: a token signed by the second key file verifies.
    let k2 = SigningKey::from_pem_file(&s.key("k2.pem")).unwrap();
    assert_eq!(
        s.users(&sign(&k2, &claims("acme", "okta-acme", t, t + 300)))
            .status,
        200
    );

    // A key the gateway does not have.
    let stranger = SigningKey::from_pem_file(&genkey(s.keys.path(), "k3.pem")).unwrap();
    let unknown = sign(&stranger, &claims("acme", "entra-acme", t, t + 300));
    assert_token_refused(&s.users(&unknown), "a key this gateway does not have");

    // Tampered: the payload (sub and aud changed), the signature.
    let parts: Vec<&str> = good.split('.').collect();
    let mut c = segment(&good, 1);
    c["sub"] = "okta-acme".into();
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(c.to_string()), parts[2]);
    assert_token_refused(&s.users(&tampered), "signature");
    let mut sig = B64.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let tampered = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
    assert_token_refused(&s.users(&tampered), "signature");

    // Algorithm confusion: none, HS256 keyed with the public key, RS256 (a real RSA key).
    let payload =
        B64.encode(serde_json::to_vec(&claims("acme", "entra-acme", t, t + 300)).unwrap());
    let header =
        |alg: &str| B64.encode(json!({"alg": alg, "typ": "JWT", "kid": k1.kid()}).to_string());
    let none = format!("{}.{payload}.", header("none"));
    let hs_input = format!("{}.{payload}", header("HS256"));
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k1.public_key()),
        hs_input.as_bytes(),
    );
    let hs256 = format!("{hs_input}.{}", B64.encode(mac.as_ref()));
    let rs_input = format!("{}.{payload}", header("RS256"));
    let rs256 = format!(
        "{rs_input}.{}",
        B64.encode(openssl_rs256(s.keys.path(), &rs_input))
    );
    for t in [none, hs256, rs256] {
        assert_token_refused(&s.users(&t), "not signed with EdDSA");
    }
    // Not a JWT, not our bearer: the plain refusal.
    let r = s.users("not-a-token");
    r.assert_scim_error(401, None);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // None of these reached the target.
    assert_eq!(s.up.requests().len(), sent + 2);
}

/// An RS256 signature of `input` by a fresh RSA key (openssl).
fn openssl_rs256(dir: &Path, input: &str) -> Vec<u8> {
    let key = dir.join("rsa.pem");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let data = dir.join("input");
    std::fs::write(&data, input).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key)
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn removing_a_client_from_the_policy_revokes_its_tokens() {
    let s = Setup::start("");
    let okta = s.token(ROUTE, "okta-acme", "okta-secret");
    let entra = s.token(ROUTE, "entra-acme", "entra-secret-1");
    assert_eq!(s.users(&okta).status, 200);
    assert_eq!(s.users(&entra).status, 200);
    // Rewrite acme without okta-acme.
    let file = s.gw.policies().join("acme.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let start = text
        .find("[[auth.clients]]\nclient_id = \"okta-acme\"")
        .unwrap();
    let end = text[start..].find("[upstream]").unwrap() + start;
    std::fs::write(&file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = s.users(&okta);
        if r.status == 401 {
            assert_token_refused(&r, "not a client of this tenant");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reload did not revoke the token"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        s.users(&entra).status,
        200,
        "the other client's token still works"
    );
    let r = s.post(
        ROUTE,
        &[("Authorization", &basic("okta-acme", "okta-secret"))],
        "grant_type=client_credentials",
    );
    assert_oauth_error(&r, 401, "invalid_client");
}

#[test]
fn failed_client_authentications_are_slowed_down_per_client() {
    let s = Setup::start("");
    let timed = |id: &str, secret: &str| {
        let started = Instant::now();
        let r = s.post(
            ROUTE,
            &[("Authorization", &basic(id, secret))],
            "grant_type=client_credentials",
        );
        (r.status, started.elapsed())
    };
    let mut delays = Vec::new();
    for _ in 0..7 {
        let (status, took) = timed("entra-acme", "wrong");
        assert_eq!(status, 401);
        delays.push(took);
    }
    let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
    // Three free failures, then 250 ms, 500 ms, 1 s, 2 s (generous bounds).
    assert!(ms[..3].iter().all(|&m| m < 200), "{ms:?}");
    assert!(ms[3] >= 200 && ms[3] < 1500, "{ms:?}");
    assert!(ms[4] >= 450 && ms[4] > ms[3], "{ms:?}");
    assert!(ms[5] >= 900 && ms[5] > ms[4], "{ms:?}");
    assert!(ms[6] >= 1800 && ms[6] < 5000, "{ms:?}");
    // The right secret is not held back; another client has its own counter.
    let (status, took) = timed("entra-acme", "entra-secret-2");
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(500), "{took:?}");
    let (status, took) = timed("okta-acme", "wrong");
    assert_eq!(status, 401);
    assert!(took < Duration::from_millis(200), "{took:?}");
    // Unknown client ids share one counter: the fourth different one waits.
    for i in 0..3 {
        let (status, took) = timed(&format!("guess-{i}"), "x");
        assert_eq!(status, 401);
        assert!(took < Duration::from_millis(200), "{took:?}");
    }
    let (_, took) = timed("guess-3", "x");
    assert!(took >= Duration::from_millis(200), "{took:?}");
    let metrics = s.gw.metrics();
    assert!(
        metrics.contains("scimgate_token_failures_total{client=\"entra-acme\",tenant=\"acme\"} 7"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("scimgate_token_failures_total{client=\"unknown client\",tenant=\"acme\"} 4"),
        "{metrics}"
    );
}

#[test]
fn the_token_endpoint_spends_the_tenants_quota() {
    let s = Setup::start("[limits]\nrequests_per_second = 1\nburst = 2");
    let ok = basic("entra-acme", "entra-secret-1");
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            s.post(
                ROUTE,
                &[("Authorization", &ok)],
                "grant_type=client_credentials",
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    let r = s.post(
        ROUTE,
        &[("Authorization", &ok)],
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["error"], "temporarily_unavailable");
}

#[test]
fn start_up_needs_usable_key_files_for_tenants_with_clients() {
    let up = Recorder::start();
    let files = policies(&up, "");
    let (code, err) = Gateway::try_start_with(&files, &[("ACME_UP", UP_SECRET)], &[])
        .err()
        .expect("no key file: serve must stop");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error[E024]") && err.contains("--token-key-file"),
        "{err}"
    );
    assert!(
        err.contains("acme.toml:") && err.contains("globex.toml:"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let rsa = dir.path().join("rsa.pem");
    Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&rsa)
        .output()
        .unwrap();
    for bad in [&missing, &garbage, &rsa] {
        let (code, err) = Gateway::try_start_with(
            &files,
            &[("ACME_UP", UP_SECRET)],
            &["--token-key-file", bad.to_str().unwrap()],
        )
        .err()
        .expect("a bad key file: serve must stop");
        assert_eq!(code, Some(1));
        assert!(
            err.contains(&format!("--token-key-file {}", bad.display())),
            "{err}"
        );
    }
}

#[test]
fn another_replica_with_the_same_key_files_accepts_the_token() {
    let s = Setup::start("");
    let token = s.token(ROUTE, "entra-acme", "entra-secret-1");
    // A second gateway, nothing shared but the policies and the key files (second key first:
    // it signs there, and both verify).
    let other = Gateway::start_with(
        &policies(&s.up, ""),
        &[("ACME_UP", UP_SECRET)],
        &[
            "--token-key-file",
            s.key("k2.pem").to_str().unwrap(),
            "--token-key-file",
            s.key("k1.pem").to_str().unwrap(),
        ],
    );
    let users = other.url(&format!("{ROUTE}/Users"));
    assert_eq!(call("GET", &users, Some(&token), &[], None).status, 200);
    // And the other way round: its token (signed by k2) works on the first replica.
    let r = call(
        "POST",
        &other.url(&format!("{ROUTE}/oauth/token")),
        None,
        &[FORM],
        Some("grant_type=client_credentials&client_id=okta-acme&client_secret=okta-secret"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let theirs = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(s.users(&theirs).status, 200);
    // A replica without those keys refuses both.
    let keys = tempfile::tempdir().unwrap();
    let stranger = Gateway::start_with(
        &policies(&s.up, ""),
        &[("ACME_UP", UP_SECRET)],
        &[
            "--token-key-file",
            genkey(keys.path(), "k3.pem").to_str().unwrap(),
        ],
    );
    let users = stranger.url(&format!("{ROUTE}/Users"));
    assert_eq!(call("GET", &users, Some(&token), &[], None).status, 401);
    assert_eq!(call("GET", &users, Some(&theirs), &[], None).status, 401);
}
