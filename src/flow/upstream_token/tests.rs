use super::*;
use crate::policy::compile::compile_file;
use crate::policy::model::Endpoint;
use crate::policy::{secrets, Policies};
use crate::ratelimit::{Backoff, LocalLimiter};
use bytes::Bytes;
use http::{HeaderMap, Method};
use std::path::Path;
use std::sync::atomic::AtomicUsize;

fn tenant(extra: &str) -> Tenant {
    let src = format!(
        r#"
tenant = "globex"
route = "/globex/scim/v2"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "https://scim.example.com/v2"
[upstream.oauth]
grant = "account_credentials"
token_url = "https://zoom.example.com/oauth/token"
client_id = "app"
account_id = "acct"
client_secret_env = "SECRET"
{extra}
"#
    );
    let mut t = compile_file(Path::new("t.toml"), &src).unwrap();
    secrets::resolve(std::slice::from_mut(&mut t), |_| {
        Some("the-client-secret".into())
    })
    .unwrap();
    t
}

/// A token endpoint and a target in one: token `tok-N` for the Nth fetch, lifetime
/// `expires_in`; the target answers 401 to tokens listed in `rejected`.
struct Fake {
    fetches: AtomicUsize,
    /// Status the token endpoint answers (200: a token).
    token_status: Mutex<u16>,
    expires_in: u64,
    delay: Duration,
    rejected: Mutex<Vec<String>>,
    seen: Mutex<Vec<String>>,
}

impl Fake {
    fn new(expires_in: u64, delay: Duration) -> Self {
        Fake {
            fetches: AtomicUsize::new(0),
            token_status: Mutex::new(200),
            expires_in,
            delay,
            rejected: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        }
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn answer(status: u16, body: String) -> UpstreamResponse {
    UpstreamResponse {
        status,
        headers: HeaderMap::new(),
        body: Bytes::from(body),
    }
}

#[async_trait::async_trait]
impl Exchange for Fake {
    async fn exchange(
        &self,
        _tenant: &Tenant,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        let auth: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| *n == "authorization")
            .map(|(_, v)| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(auth.len(), 1, "one Authorization header");
        let token = auth[0].strip_prefix("Bearer ").unwrap().to_string();
        self.seen.lock().unwrap().push(token.clone());
        let status = if self.rejected.lock().unwrap().contains(&token) {
            401
        } else {
            200
        };
        Ok(answer(status, "{}".into()))
    }

    async fn exchange_at(
        &self,
        _tenant: &Tenant,
        endpoint: &Endpoint,
        req: &UpstreamRequest,
    ) -> Result<UpstreamResponse, ExchangeError> {
        assert_eq!(endpoint.url, "https://zoom.example.com/oauth/token");
        assert!(req.deadline.is_some(), "a fetch runs by a deadline");
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.delay).await;
        let status = *self.token_status.lock().unwrap();
        if status != 200 {
            return Ok(answer(
                status,
                r#"{"error":"invalid_client","reason":"Invalid client_id or client_secret"}"#
                    .into(),
            ));
        }
        Ok(answer(
            200,
            format!(
                r#"{{"access_token":"tok-{n}","token_type":"bearer","expires_in":{}}}"#,
                self.expires_in
            ),
        ))
    }
}

fn oauth(t: &Tenant) -> &OAuth {
    t.upstream.oauth.as_ref().unwrap()
}

fn value(b: &Bearer) -> &str {
    b.header.to_str().unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_fetch_serves_every_concurrent_request() {
    let t = Arc::new(tenant(""));
    let fake = Arc::new(Fake::new(3600, Duration::from_millis(100)));
    let tokens = Arc::new(UpstreamTokens::default());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (t, fake, tokens) = (t.clone(), fake.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            let b = tokens
                .bearer(fake.as_ref(), &t, oauth(&t), soon())
                .await
                .unwrap();
            value(&b).to_string()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), "Bearer tok-1");
    }
    assert_eq!(fake.fetches(), 1);
    let b = tokens
        .bearer(fake.as_ref(), &t, oauth(&t), soon())
        .await
        .unwrap();
    assert!(b.header.is_sensitive());
    assert_eq!(fake.fetches(), 1, "cached");
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    let t = tenant("");
    // 2 s tokens: refreshed 1 s before they expire.
    let fake = Fake::new(2, Duration::ZERO);
    let tokens = UpstreamTokens::default();
    let first = tokens.bearer(&fake, &t, oauth(&t), soon()).await.unwrap();
    assert_eq!(value(&first), "Bearer tok-1");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = tokens.bearer(&fake, &t, oauth(&t), soon()).await.unwrap();
    assert_eq!(value(&still), "Bearer tok-1");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let next = tokens.bearer(&fake, &t, oauth(&t), soon()).await.unwrap();
    assert_eq!(value(&next), "Bearer tok-2");
    assert_eq!(fake.fetches(), 2);
}

#[test]
fn margins_fit_short_and_long_tokens() {
    let s = Duration::from_secs;
    assert_eq!(margin(s(3600)), s(30));
    assert_eq!(margin(s(120)), s(12));
    assert_eq!(margin(s(5)), s(1));
    assert_eq!(margin(s(1)), Duration::from_millis(500));
    for l in [s(1), s(5), s(60), s(3600), s(86400)] {
        assert!(slack(l) <= margin(l) && slack(l) <= s(1), "{l:?}");
    }
    assert_eq!(slack(s(5)), s(1));
    for failures in 1..40 {
        let ceiling = BACKOFF_BASE
            .saturating_mul(1 << (failures - 1).min(16))
            .min(BACKOFF_CAP);
        assert!(full_jitter(failures) <= ceiling);
    }
}

#[tokio::test]
async fn a_failing_source_answers_502_naming_it_and_backs_off() {
    let t = tenant("");
    let fake = Fake::new(3600, Duration::ZERO);
    *fake.token_status.lock().unwrap() = 401;
    let tokens = UpstreamTokens::default();
    let e = tokens
        .bearer(&fake, &t, oauth(&t), soon())
        .await
        .unwrap_err();
    assert_eq!(e.status, 502);
    assert_eq!(
        e.detail,
        "the token source of tenant globex (account_credentials at https://zoom.example.com/oauth/token) failed: HTTP 401 invalid_client (Invalid client_id or client_secret)"
    );
    assert!(!e.detail.contains("the-client-secret"));
    // While held back, no fetch: the same answer at once.
    let slot = tokens.slot(
        "globex",
        fingerprint(oauth(&t), &Secret::new("the-client-secret".into())),
    );
    lock(&slot.state).retry_at = Some(Instant::now() + Duration::from_secs(60));
    let again = tokens
        .bearer(&fake, &t, oauth(&t), soon())
        .await
        .unwrap_err();
    assert_eq!(again.detail, e.detail);
    assert_eq!(fake.fetches(), 1);
    // Once the hold is over, the source recovers.
    *fake.token_status.lock().unwrap() = 200;
    lock(&slot.state).retry_at = Some(Instant::now());
    let b = tokens.bearer(&fake, &t, oauth(&t), soon()).await.unwrap();
    assert_eq!(value(&b), "Bearer tok-2");
    assert_eq!(lock(&slot.state).failures, 0);
}

#[tokio::test]
async fn a_live_token_serves_while_its_refresh_fails() {
    let t = tenant("");
    // 4 s tokens: refreshed from 3 s on, alive until 4 s.
    let fake = Fake::new(4, Duration::ZERO);
    let tokens = UpstreamTokens::default();
    tokens.bearer(&fake, &t, oauth(&t), soon()).await.unwrap();
    let slot = tokens.slot(
        "globex",
        fingerprint(oauth(&t), &Secret::new("the-client-secret".into())),
    );
    // Make it due for a refresh, still alive.
    if let Some(tok) = lock(&slot.state).token.as_mut() {
        tok.refresh_at = Instant::now();
    }
    *fake.token_status.lock().unwrap() = 500;
    let b = tokens.bearer(&fake, &t, oauth(&t), soon()).await.unwrap();
    assert_eq!(value(&b), "Bearer tok-1");
    assert_eq!(fake.fetches(), 2);
    assert_eq!(lock(&slot.state).failures, 1);
}

#[tokio::test]
async fn a_changed_source_or_secret_gets_its_own_token() {
    let t = tenant("");
    let fake = Fake::new(3600, Duration::ZERO);
    let tokens = UpstreamTokens::default();
    tokens.bearer(&fake, &t, oauth(&t), soon()).await.unwrap();
    let mut rotated = tenant("");
    rotated.upstream.oauth.as_mut().unwrap().client_secret = Some(Secret::new("new".into()));
    let b = tokens
        .bearer(&fake, &rotated, oauth(&rotated), soon())
        .await
        .unwrap();
    assert_eq!(value(&b), "Bearer tok-2");
    let b = tokens
        .bearer(&fake, &rotated, oauth(&rotated), soon())
        .await
        .unwrap();
    assert_eq!(value(&b), "Bearer tok-2");
    assert_eq!(fake.fetches(), 2);
}

fn gateway<'a>(
    policies: &'a Policies,
    fake: &'a Fake,
    tokens: &'a UpstreamTokens,
    own: &'a crate::oauth::Tokens,
    limiter: &'a LocalLimiter,
    backoff: &'a Backoff,
) -> Gateway<'a> {
    Gateway {
        policies,
        limiter,
        backoff,
        upstream: fake,
        tokens: own,
        upstream_tokens: tokens,
        tls: false,
        exchanges: None,
        shaper: None,
        guard: None,
    }
}

fn post() -> UpstreamRequest {
    UpstreamRequest {
        method: Method::POST,
        path_and_query: "/v2/Users".into(),
        headers: vec![("content-length", HeaderValue::from(2))],
        body: Some(Bytes::from_static(b"{}")),
        deadline: None,
    }
}

#[tokio::test]
async fn a_401_drops_the_token_and_replays_once() {
    let t = tenant("");
    let policies = Policies::default();
    let fake = Fake::new(3600, Duration::ZERO);
    let (tokens, own) = (UpstreamTokens::default(), crate::oauth::Tokens::default());
    let (limiter, backoff) = (LocalLimiter::new(), Backoff::default());
    let gw = gateway(&policies, &fake, &tokens, &own, &limiter, &backoff);
    let mut req = post();
    let resp = exchange(&gw, &t, oauth(&t), &mut req)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(req.deadline.is_some());
    // The target stops taking tok-1: one refresh, the POST once more, its answer passed on.
    fake.rejected.lock().unwrap().push("tok-1".into());
    let resp = exchange(&gw, &t, oauth(&t), &mut post())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(fake.fetches(), 2);
    assert_eq!(*fake.seen.lock().unwrap(), ["tok-1", "tok-1", "tok-2"]);
    // A target that refuses every token: one refresh and one replay, then its 401.
    fake.rejected
        .lock()
        .unwrap()
        .extend(["tok-2".into(), "tok-3".into()]);
    let resp = exchange(&gw, &t, oauth(&t), &mut post())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(fake.fetches(), 3);
    assert_eq!(fake.seen.lock().unwrap().len(), 5);
}

#[test]
fn a_dry_run_fetches_nothing_and_reads_no_secret() {
    use crate::flow::dry_run::{preview, Direction};
    // Compiled only, as `scimgate translate` and `scimgate test` do: no secret is read.
    let t = compile_file(
        Path::new("t.toml"),
        r#"
tenant = "globex"
route = "/globex/scim/v2"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "https://scim.example.com/v2"
[upstream.oauth]
grant = "client_credentials"
token_url = "https://login.example.com/token"
client_id = "app"
client_secret_env = "NOT_SET_ANYWHERE"
"#,
    )
    .unwrap();
    let out = preview(
        &Arc::new(t),
        Direction::Request,
        200,
        &Method::POST,
        "/Users",
        Some(br#"{"userName":"bjensen"}"#),
    )
    .unwrap();
    assert_eq!(out["method"], "POST");
    assert_eq!(out["path"], "/Users");
    assert_eq!(out["body"]["userName"], "bjensen");
}
