//! The console in a real browser: the gateway (with `--admin-token-env`) in front of the real
//! scim2-server, an Entra tenant that maps `department` to `division` and a tenant with
//! `[log] pii = true`; exchanges made with an IdP token, a target secret and a password; then
//! Debian's chromium, driven headless by playwright-core (`tests/console/walk.mjs`), walks the
//! console: the tenants page lists both tenants, the exchange shows both legs with no token,
//! secret or personal value, a `<script>` in a userName is text, the playground translates, the
//! live tail shows a new exchange. Screenshots go to `target/console-screenshots/`.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const IDP_TOKEN: &str = "idp-token-c0ns0le-7f3a9e";
const PII_TOKEN: &str = "idp-token-pii-2b8d41";
const UPSTREAM_SECRET: &str = "upstream-secret-5e1c77d0";
const ADMIN_TOKEN: &str = "admin-token-9d2f6b81c4e0a735";
const PASSWORD: &str = "Hunter2-password-31f9";

fn policies(target: &str) -> Vec<(&'static str, String)> {
    let rules = format!(
        "[nulls]\ndefault = \"clear\"\n[[map]]\nfrom = \"{ENT}:department\"\nto = \"{ENT}:division\"\n"
    );
    vec![
        (
            "entra.toml",
            format!(
                "idp = \"entra\"\n{}",
                policy(
                    "entra",
                    "/entra/scim/v2",
                    IDP_TOKEN,
                    target,
                    "bearer_env = \"CONSOLE_UPSTREAM_SECRET\"",
                    &rules
                )
            ),
        ),
        (
            "open.toml",
            policy(
                "open",
                "/open/scim/v2",
                PII_TOKEN,
                target,
                "bearer_env = \"CONSOLE_UPSTREAM_SECRET\"",
                "[log]\npii = true\n",
            ),
        ),
    ]
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn admin_get(gw: &Gateway, path: &str, token: Option<&str>) -> Resp {
    call(
        "GET",
        &format!("http://127.0.0.1:{}{path}", gw.admin),
        token,
        &[],
        None,
    )
}

#[test]
fn the_console_in_a_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run ./scripts/setup.sh (it installs Debian's chromium)"
    );
    let walker = root().join("tests/console");
    assert!(
        walker.join("node_modules/playwright-core").exists(),
        "tests/console/node_modules is missing: run ./scripts/setup.sh (npm ci --prefix tests/console)"
    );

    let server = ScimServer::start();
    let gw = Gateway::start_with(
        &policies(&server.url()),
        &[
            ("CONSOLE_UPSTREAM_SECRET", UPSTREAM_SECRET),
            ("CONSOLE_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
        &["--admin-token-env", "CONSOLE_ADMIN_TOKEN"],
    );

    // The admin API needs the token; the probes stay open.
    let refused = admin_get(&gw, "/api/tenants", None);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    assert_eq!(admin_get(&gw, "/", None).status, 401);
    assert_eq!(admin_get(&gw, "/metrics", None).status, 200);
    assert_eq!(admin_get(&gw, "/readyz", None).status, 200);
    assert_eq!(admin_get(&gw, "/healthz", None).status, 200);
    assert_eq!(
        admin_get(&gw, "/api/tenants", Some("not-the-admin-token")).status,
        401
    );

    // An Entra create: a string boolean, a department the target keeps as division, a password.
    let user = json!({
        "schemas": [SCIM_USER, ENT],
        "userName": "bjensen@example.com", "active": "True", "password": PASSWORD,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        ENT: {"department": "Tour Operations"}
    });
    let created = call(
        "POST",
        &gw.url("/entra/scim/v2/Users"),
        Some(IDP_TOKEN),
        &[],
        Some(&user.to_string()),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    // A tenant that shows personal values, with markup in one.
    let script = json!({"schemas": [SCIM_USER], "userName": "<script>alert('pwned')</script>"});
    let made = call(
        "POST",
        &gw.url("/open/scim/v2/Users"),
        Some(PII_TOKEN),
        &[],
        Some(&script.to_string()),
    );
    assert_eq!(made.status, 201, "{}", made.body);

    // The API has the exchange (the ring takes records in every 10 ms), both legs, nothing
    // secret.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (api, post) = loop {
        let api = admin_get(&gw, "/api/tenants/entra/exchanges", Some(ADMIN_TOKEN));
        assert_eq!(api.status, 200, "{}", api.body);
        let x: Value = api.json();
        let post = x["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["method"] == "POST")
            .cloned();
        match post {
            Some(p) => break (api, p),
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            None => panic!("no POST kept: {x}"),
        }
    };
    assert_eq!(post["status"], 201);
    assert_eq!(
        post["idp"]["body"][ENT]["department"], "‹redacted›",
        "{post}"
    );
    assert_eq!(
        post["upstream"]["body"][ENT]["division"], "‹redacted›",
        "{post}"
    );
    assert_eq!(post["idp"]["body"]["active"], "True");
    assert_eq!(post["upstream"]["body"]["active"], true);
    for secret in [IDP_TOKEN, UPSTREAM_SECRET, PASSWORD, ADMIN_TOKEN, "bjensen"] {
        assert!(!api.body.contains(secret), "{secret} in {}", api.body);
    }

    let shots = root().join("target/console-screenshots");
    let out = Command::new("node")
        .arg(walker.join("walk.mjs"))
        .current_dir(&walker)
        .env("CONSOLE_URL", format!("http://127.0.0.1:{}", gw.admin))
        .env("GATEWAY_URL", format!("http://127.0.0.1:{}", gw.port))
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("IDP_TOKEN", IDP_TOKEN)
        .env("TENANT", "entra")
        .env("PII_TENANT", "open")
        .env(
            "NEVER",
            json!([IDP_TOKEN, PII_TOKEN, UPSTREAM_SECRET, ADMIN_TOKEN, PASSWORD]).to_string(),
        )
        .env(
            "REDACTED_TOO",
            json!(["bjensen", "Barbara", "Jensen", "Tour Operations"]).to_string(),
        )
        .env("SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node tests/console/walk.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser walk failed:\n{stdout}\n{stderr}\ngateway log:\n{}",
        gw.log()
    );
    for shot in [
        "tenants.png",
        "tenant.png",
        "playground.png",
        "live-tail.png",
    ] {
        let len = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(len > 10_000, "screenshot {shot}: {len} bytes");
    }
    // Nothing secret reached the log either.
    let log = gw.log();
    for secret in [IDP_TOKEN, UPSTREAM_SECRET, PASSWORD, ADMIN_TOKEN] {
        assert!(!log.contains(secret), "{secret} in the gateway log");
    }
}

/// Without `--admin-token-env` the console answers loopback clients only, and a page of another
/// site that rebinds its name to 127.0.0.1 (a Host header that is a name) is refused.
#[test]
fn without_a_token_the_console_is_loopback_only() {
    let server = ScimServer::start();
    let gw = Gateway::start(
        &policies(&server.url()),
        &[("CONSOLE_UPSTREAM_SECRET", UPSTREAM_SECRET)],
    );
    assert_eq!(admin_get(&gw, "/api/tenants", None).status, 200);
    let page = admin_get(&gw, "/", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("entra") && page.body.contains("open"));
    let rebound = call(
        "GET",
        &format!("http://127.0.0.1:{}/api/tenants", gw.admin),
        None,
        &[("Host", &format!("attacker.example:{}", gw.admin))],
        None,
    );
    assert_eq!(rebound.status, 403, "{}", rebound.body);
    // A short token stops start-up with a message.
    let (code, err) = Gateway::try_start_with(
        &policies(&server.url()),
        &[
            ("CONSOLE_UPSTREAM_SECRET", UPSTREAM_SECRET),
            ("SHORT_ADMIN", "short"),
        ],
        &["--admin-token-env", "SHORT_ADMIN"],
    )
    .err()
    .expect("a short admin token is refused");
    assert_eq!(code, Some(1));
    assert!(err.contains("--admin-token-env SHORT_ADMIN"), "{err}");
}
