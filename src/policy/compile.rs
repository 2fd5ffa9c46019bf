//! The one bridge from what people write ([`super::file`]) to what the gateway runs
//! ([`super::model`]): parse, validate every field, and collect every error with its position.

use super::diagnostics::Diagnostic;
use super::file::{LimitsFile, PolicyFile, UpstreamFile};
use super::model::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

mod auth;
mod oauth;
mod safety;

/// What the deployment, not the policy, decides about policies: the same for `check` and
/// `serve` (and each reload), so a check gives serve's verdict.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// `--secrets-dir`: every secret file (`bearer_file`) must lie inside it, symlinks
    /// resolved. `None`: anywhere.
    pub secrets_dir: Option<PathBuf>,
    /// How many `--token-key-file` keys `serve` has: `Some(0)` refuses `[[auth.clients]]`
    /// (E024: no token could be issued). `None` (`check`) does not judge.
    pub token_keys: Option<usize>,
}

impl CompileOptions {
    /// Options for a `--secrets-dir` flag: the directory must exist (checked here, once, so
    /// start-up says so clearly; each compile checks again).
    pub fn new(secrets_dir: Option<&Path>) -> Result<Self, String> {
        if let Some(dir) = secrets_dir {
            super::secrets::check_dir(dir)?;
        }
        Ok(CompileOptions {
            secrets_dir: secrets_dir.map(Path::to_path_buf),
            token_keys: None,
        })
    }
}

/// Parse and compile one policy file's text. Secrets are not read here (see
/// [`super::secrets`]) so `scimgate check` works where they are absent.
pub fn compile_file(path: &Path, source: &str) -> Result<Tenant, Vec<Diagnostic>> {
    compile_file_with(path, source, &CompileOptions::default())
}

/// [`compile_file`] under the deployment's [`CompileOptions`].
pub fn compile_file_with(
    path: &Path,
    source: &str,
    opts: &CompileOptions,
) -> Result<Tenant, Vec<Diagnostic>> {
    let file: PolicyFile = match toml::from_str(source) {
        Ok(f) => f,
        Err(e) => {
            let message = e.message().trim_end().replace('\n', "; ");
            let d = Diagnostic::at(path, source, e.span(), "E001", message);
            let d = if d.message.starts_with("unknown field") {
                d.with_hint("see policies/README.md for the keys each section accepts")
            } else {
                d
            };
            return Err(vec![d]);
        }
    };
    let mut cx = Cx {
        path,
        source,
        opts,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let tenant = cx.tenant(file);
    if cx.errors.is_empty() {
        tenant.ok_or_else(Vec::new)
    } else {
        Err(cx.errors)
    }
}

struct Cx<'a> {
    path: &'a Path,
    source: &'a str,
    opts: &'a CompileOptions,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Cx<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, code: &'static str, msg: String, hint: Option<&str>) {
        let mut d = Diagnostic::at(self.path, self.source, Some(at.span()), code, msg);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.errors.push(d);
    }

    fn tenant(&mut self, f: PolicyFile) -> Option<Tenant> {
        let name = self.tenant_name(&f.tenant);
        let route = self.route(&f.route);
        let idp = match f.idp.as_ref() {
            None => Some(Idp::Generic),
            Some(s) => match s.get_ref().as_str() {
                "generic" => Some(Idp::Generic),
                "entra" => Some(Idp::Entra),
                "okta" => Some(Idp::Okta),
                other => {
                    self.err(
                        s,
                        "E041",
                        format!("unknown idp {other:?}"),
                        Some("expected one of \"entra\", \"okta\", \"generic\""),
                    );
                    None
                }
            },
        };
        let public_url = f.public_url.as_ref().and_then(|u| self.public_url(u));
        let auth = self.auth(&f.auth);
        let upstream = self.upstream(f.upstream.get_ref());
        let mut limits = f
            .limits
            .as_ref()
            .map(|l| self.limits(l.get_ref()))
            .unwrap_or_default();
        // Webex takes at most 100 operations per Bulk: the default, and the ceiling.
        let webex = f
            .upstream
            .get_ref()
            .profile
            .as_ref()
            .is_some_and(|p| p.get_ref() == "webex");
        if webex {
            let set = f
                .limits
                .as_ref()
                .is_some_and(|l| l.get_ref().bulk_max_operations.is_some());
            let max = crate::dialect::profile::WEBEX_BULK_MAX;
            if !set || limits.bulk_max_operations > max {
                limits.bulk_max_operations = max;
            }
        }
        let guard = self.guard(f.guard.as_ref());
        let rules = match crate::mapping::rules::compile(crate::mapping::rules::RuleSections {
            nulls: f.nulls.as_ref(),
            maps: &f.maps,
            drops: &f.drops,
            sets: &f.sets,
            transforms: &f.transforms,
        }) {
            Ok(r) => Some(r),
            Err(errors) => {
                for e in errors {
                    let mut d =
                        Diagnostic::at(self.path, self.source, Some(e.span), e.code, e.message);
                    if let Some(h) = e.hint {
                        d = d.with_hint(h);
                    }
                    self.errors.push(d);
                }
                None
            }
        };
        Some(Tenant {
            name: name?,
            route: route?,
            idp: idp?,
            public_url: match (f.public_url.is_some(), public_url) {
                (true, None) => return None,
                (_, p) => p,
            },
            auth: auth?,
            upstream: upstream?,
            limits,
            rules: rules?,
            log: LogSettings {
                pii: f.log.as_ref().is_some_and(|l| l.pii),
            },
            guard,
            source: self.path.to_path_buf(),
            digest: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(self.source)),
            loaded_at: std::time::SystemTime::now(),
            warnings: std::mem::take(&mut self.warnings),
            name_pos: super::diagnostics::line_col(self.source, f.tenant.span().start),
            route_pos: super::diagnostics::line_col(self.source, f.route.span().start),
        })
    }

    fn tenant_name(&mut self, s: &Spanned<String>) -> Option<String> {
        let v = s.get_ref();
        let ok = !v.is_empty()
            && v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok && v == crate::telemetry::metrics::NO_TENANT {
            // The metrics' tenant label of a request no route matched.
            self.err(
                s,
                "E010",
                format!("tenant name {v:?} is reserved"),
                Some("the metrics count requests that match no route as tenant \"none\""),
            );
            None
        } else if ok {
            Some(v.clone())
        } else {
            self.err(
                s,
                "E010",
                format!("tenant name {v:?} is not valid"),
                Some("use 1 to 63 characters from a-z, 0-9 and '-'"),
            );
            None
        }
    }

    fn route(&mut self, s: &Spanned<String>) -> Option<String> {
        let v = s.get_ref();
        let trimmed = v.strip_suffix('/').unwrap_or(v);
        let problem = if !trimmed.starts_with('/') {
            Some("must start with '/'")
        } else if trimmed.len() > 256 {
            Some("is longer than 256 characters")
        } else if trimmed.matches('/').count() > super::model::MAX_ROUTE_SEGMENTS {
            Some("has more than 16 segments")
        } else if trimmed
            .strip_prefix('/')
            .unwrap_or(trimmed)
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            Some("has an empty, '.' or '..' segment")
        } else if !trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
        {
            Some("may only contain A-Z a-z 0-9 - . _ ~ and '/'")
        } else {
            None
        };
        match problem {
            None => Some(trimmed.to_string()),
            Some(p) => {
                self.err(
                    s,
                    "E011",
                    format!("route {v:?} {p}"),
                    Some("a route looks like \"/acme/scim/v2\""),
                );
                None
            }
        }
    }

    fn public_url(&mut self, s: &Spanned<String>) -> Option<String> {
        let v = s.get_ref();
        match parse_base_url(v) {
            Ok(u) => Some(u.url),
            Err(p) => {
                self.err(
                    s,
                    "E040",
                    format!("public_url {v:?} {p}"),
                    Some("e.g. \"https://scim-gw.example.com/acme/scim/v2\""),
                );
                None
            }
        }
    }

    fn digests(&mut self, list: &Spanned<Vec<Spanned<String>>>) -> Option<Vec<[u8; 32]>> {
        if list.get_ref().is_empty() {
            self.err(
                list,
                "E020",
                "auth.bearer_sha256 is empty: every request would be refused".into(),
                Some("add the output of `scimgate hash-token`"),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for d in list.get_ref() {
            let mut bytes = [0u8; 32];
            match hex::decode_to_slice(d.get_ref().trim(), &mut bytes) {
                Ok(()) => out.push(bytes),
                Err(_) => {
                    ok = false;
                    self.err(
                        d,
                        "E020",
                        "not a SHA-256 hex digest (64 hex characters)".into(),
                        Some("store digests, never secrets: `printf %s \"$SECRET\" | scimgate hash-token`"),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn upstream(&mut self, u: &UpstreamFile) -> Option<Upstream> {
        let mut ok = true;
        for (k, v) in &u.vars {
            let valid = !v.get_ref().is_empty()
                && v.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !valid {
                ok = false;
                self.err(
                    v,
                    "E031",
                    format!(
                        "upstream.vars.{k} = {:?} is not a plain URL token",
                        v.get_ref()
                    ),
                    Some("vars may only contain A-Z a-z 0-9 - . _ ~"),
                );
            }
        }
        let url = match fill_vars(u.url.get_ref(), &u.vars) {
            Err(missing) => {
                self.err(
                    &u.url,
                    "E031",
                    format!("upstream.url uses {{{missing}}} but upstream.vars has no {missing:?}"),
                    Some("add it under [upstream] vars = { ... }"),
                );
                None
            }
            Ok(filled) => match parse_base_url(&filled) {
                Ok(p) => Some(p),
                Err(p) => {
                    self.err(&u.url, "E030", format!("upstream.url {filled:?} {p}"), None);
                    None
                }
            },
        };
        let profile = match u.profile.as_ref() {
            None => Some(Profile::Generic),
            Some(s) => match s.get_ref().as_str() {
                "generic" => Some(Profile::Generic),
                "webex" => Some(Profile::Webex),
                "zoom" => Some(Profile::Zoom),
                "gluu" => Some(Profile::Gluu),
                other => {
                    self.err(
                        s,
                        "E041",
                        format!("unknown upstream.profile {other:?}"),
                        Some("expected one of \"webex\", \"zoom\", \"gluu\", \"generic\""),
                    );
                    None
                }
            },
        };
        let secret = match (&u.bearer_env, &u.bearer_file) {
            (Some(_), Some(f)) => {
                self.err(
                    f,
                    "E033",
                    "set bearer_env or bearer_file, not both".into(),
                    None,
                );
                None
            }
            (Some(e), None) => {
                let name = e.get_ref();
                if name.is_empty() || name.contains('=') || name.contains('\0') {
                    self.err(
                        e,
                        "E033",
                        format!("{name:?} is not an environment variable name"),
                        None,
                    );
                    None
                } else {
                    Some(SecretSource::Env(name.clone()))
                }
            }
            (None, Some(f)) => self
                .secret_file("upstream.bearer_file", f)
                .map(SecretSource::File),
            (None, None) => Some(SecretSource::None),
        };
        // `[upstream.oauth]` (compile/oauth.rs): its client secret is the upstream secret.
        let oauth = match &u.oauth {
            None => Some(None),
            Some(o) => self.oauth(o, u).map(Some),
        };
        let secret = match &oauth {
            Some(Some((_, client_secret))) => Some(client_secret.clone()),
            Some(None) => secret,
            None => None,
        };
        let timeout = self.millis(u.timeout_ms.as_ref(), "timeout_ms", DEFAULT_TIMEOUT_MS);
        let connect_timeout = self.millis(
            u.connect_timeout_ms.as_ref(),
            "connect_timeout_ms",
            DEFAULT_CONNECT_TIMEOUT_MS,
        );
        let max_response_bytes = self.max_response_bytes(u.max_response_bytes.as_ref());
        let ca_file = u.ca_file.as_ref().and_then(|c| self.ca_file(c));
        if u.ca_file.is_some() && ca_file.is_none() {
            ok = false;
        }
        if let (Some(c), Some(url)) = (&u.ca_file, &url) {
            if !url.tls {
                ok = false;
                self.err(
                    c,
                    "E034",
                    "ca_file is set but upstream.url is not https".into(),
                    None,
                );
            }
        }
        let allow_insecure = u.allow_insecure.as_ref().is_some_and(|a| *a.get_ref());
        if let Some(url) = &url {
            let secret_key = match (&u.bearer_env, &u.bearer_file) {
                (Some(_), _) => Some("upstream.bearer_env"),
                (None, Some(_)) => Some("upstream.bearer_file"),
                (None, None) if u.oauth.is_some() => Some("upstream.oauth"),
                (None, None) => None,
            };
            if let Some(key) = secret_key {
                if !self.secret_travels_safely(&u.url, url, key, allow_insecure) {
                    ok = false;
                }
            }
        }
        let secret_pos = u
            .bearer_env
            .as_ref()
            .or(u.bearer_file.as_ref())
            .or(u.oauth.as_ref().and_then(|o| {
                let o = o.get_ref();
                o.client_secret_env
                    .as_ref()
                    .or(o.client_secret_file.as_ref())
            }))
            .map(|s| super::diagnostics::line_col(self.source, s.span().start))
            .unwrap_or((1, 1));
        let retry = self.retry(u.retry.as_ref());
        let url = url?;
        if !ok {
            return None;
        }
        Some(Upstream {
            url: url.url,
            tls: url.tls,
            host_finder: memchr::memmem::Finder::new(url.host.as_bytes()).into_owned(),
            host: url.host,
            port: url.port,
            host_header: http::HeaderValue::from_str(&url.authority).ok(),
            authority: url.authority,
            base_path: url.path,
            profile: profile?,
            secret: secret?,
            secret_pos,
            timeout: timeout?,
            connect_timeout: connect_timeout?,
            max_response_bytes: max_response_bytes?,
            ca_file,
            allow_insecure,
            authorization: None,
            oauth: oauth?.map(|(o, _)| o),
            retry,
        })
    }

    fn millis(&mut self, v: Option<&Spanned<i64>>, key: &str, default: u64) -> Option<Duration> {
        let Some(v) = v else {
            return Some(Duration::from_millis(default));
        };
        let n = *v.get_ref();
        if (1..=3_600_000).contains(&n) {
            Some(Duration::from_millis(n as u64))
        } else {
            self.err(
                v,
                "E032",
                format!("upstream.{key} = {n} is out of range"),
                Some("milliseconds, from 1 to 3600000"),
            );
            None
        }
    }

    fn max_response_bytes(&mut self, v: Option<&Spanned<i64>>) -> Option<usize> {
        let Some(v) = v else {
            return Some(DEFAULT_MAX_RESPONSE_BYTES);
        };
        let n = *v.get_ref();
        let range = MIN_MAX_RESPONSE_BYTES as i64..=MAX_MAX_RESPONSE_BYTES as i64;
        if range.contains(&n) {
            Some(n as usize)
        } else {
            self.err(
                v,
                "E050",
                format!("upstream.max_response_bytes = {n} is out of range"),
                Some(&format!(
                    "bytes, from {MIN_MAX_RESPONSE_BYTES} to {MAX_MAX_RESPONSE_BYTES}"
                )),
            );
            None
        }
    }

    /// A path from the policy, relative paths taken from the policy file's directory.
    fn relative(&self, p: &str) -> std::path::PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        dir.join(p)
    }

    /// A secret file's path (relative to the policy file's directory), inside `--secrets-dir`
    /// when one is given; `key` names it in the error (`upstream.bearer_file`, …).
    fn secret_file(&mut self, key: &str, f: &Spanned<String>) -> Option<PathBuf> {
        let path = self.relative(f.get_ref());
        let Some(dir) = self.opts.secrets_dir.as_deref() else {
            return Some(path);
        };
        if let Err(why) = super::secrets::confine(&path, dir) {
            self.err(
                f,
                "E035",
                format!("{key} {:?} {why}", f.get_ref()),
                Some("secret files must lie inside --secrets-dir (symlinks resolved): mount the secret there"),
            );
            return None;
        }
        Some(path)
    }

    /// A secret may go to `url` (the `url` key as written, `target` parsed) unless that is
    /// plain http to a host that is not loopback; `allow_insecure = true` lets it, with a
    /// warning. `key` names what carries the secret. False when refused (an error is pushed).
    fn secret_travels_safely(
        &mut self,
        at: &Spanned<String>,
        target: &BaseUrl,
        key: &str,
        allow_insecure: bool,
    ) -> bool {
        if target.tls || is_loopback_host(&target.host) {
            return true;
        }
        if allow_insecure {
            let d = Diagnostic::at(
                self.path,
                self.source,
                Some(at.span()),
                "W001",
                format!(
                    "the upstream secret ({key}) goes in clear text to {} (plain http, allow_insecure = true)",
                    target.host
                ),
            )
            .with_hint("anyone on the network path can read it: use https:// unless that path is private");
            self.warnings.push(d);
            return true;
        }
        self.err(
            at,
            "E036",
            format!(
                "upstream.url {:?} is plain http to {}, which is not loopback, and {key} sends it a secret: it would go in clear text; use https://, or set allow_insecure = true under [upstream]",
                target.url, target.host
            ),
            Some("allow_insecure = true only where the network path to the target is private (a container network, a sidecar)"),
        );
        false
    }

    fn ca_file(&mut self, c: &Spanned<String>) -> Option<std::path::PathBuf> {
        let path = self.relative(c.get_ref());
        if let Err(e) = std::fs::metadata(&path) {
            self.err(
                c,
                "E034",
                format!("ca_file {} cannot be read: {e}", path.display()),
                Some("relative paths start at the policy file's directory"),
            );
            return None;
        }
        match ca_certificates(&path) {
            Ok(n) if n > 0 => Some(path),
            Ok(_) => {
                self.err(
                    c,
                    "E034",
                    format!("ca_file {:?} holds no certificate", c.get_ref()),
                    None,
                );
                None
            }
            Err(e) => {
                self.err(
                    c,
                    "E034",
                    format!(
                        "ca_file {} is not a PEM file of certificates: {e}",
                        path.display(),
                    ),
                    Some("a PEM file of CA certificates"),
                );
                None
            }
        }
    }

    fn limits(&mut self, l: &LimitsFile) -> Limits {
        let mut limits = Limits::default();
        let int = |cx: &mut Self,
                   v: &Option<Spanned<i64>>,
                   key: &str,
                   range: std::ops::RangeInclusive<i64>,
                   unit: &str|
         -> Option<i64> {
            let v = v.as_ref()?;
            let n = *v.get_ref();
            if range.contains(&n) {
                Some(n)
            } else {
                cx.err(
                    v,
                    "E050",
                    format!("limits.{key} = {n} is out of range"),
                    Some(&format!(
                        "{unit}, from {} to {}",
                        range.start(),
                        range.end()
                    )),
                );
                None
            }
        };
        if let Some(n) = int(
            self,
            &l.max_body_bytes,
            "max_body_bytes",
            1..=MAX_MAX_BODY_BYTES as i64,
            "bytes",
        ) {
            limits.max_body_bytes = n as usize;
        }
        let rps = int(
            self,
            &l.requests_per_second,
            "requests_per_second",
            0..=1_000_000,
            "requests per second (0 = unlimited)",
        );
        let burst = int(self, &l.burst, "burst", 1..=1_000_000, "requests");
        limits.rate = crate::ratelimit::Quota {
            per_second: rps.unwrap_or(0) as u32,
            burst: burst.or(rps).unwrap_or(0) as u32,
        };
        if let Some(n) = int(
            self,
            &l.bulk_max_operations,
            "bulk_max_operations",
            1..=100_000,
            "operations",
        ) {
            limits.bulk_max_operations = n as usize;
        }
        if let Some(n) = int(
            self,
            &l.bulk_max_payload_bytes,
            "bulk_max_payload_bytes",
            1..=MAX_MAX_BODY_BYTES as i64,
            "bytes",
        ) {
            limits.bulk_max_payload_bytes = n as usize;
        }
        if let Some(o) = &l.bulk_oversize {
            match o.get_ref().as_str() {
                "reject" => limits.bulk_oversize = BulkOversize::Reject,
                "split" => limits.bulk_oversize = BulkOversize::Split,
                other => self.err(
                    o,
                    "E051",
                    format!("unknown bulk_oversize {other:?}"),
                    Some("expected \"reject\" or \"split\""),
                ),
            }
        }
        self.shaping(l, &mut limits);
        limits
    }
}

/// Replace `{name}` with `vars[name]`; `Err(name)` for the first unknown name.
fn fill_vars(
    url: &str,
    vars: &std::collections::BTreeMap<String, Spanned<String>>,
) -> Result<String, String> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some((before, after)) = rest.split_once('{') {
        out.push_str(before);
        let Some((name, next)) = after.split_once('}') else {
            return Err(after.to_string());
        };
        match vars.get(name) {
            Some(v) => out.push_str(v.get_ref()),
            None => return Err(name.to_string()),
        }
        rest = next;
    }
    out.push_str(rest);
    Ok(out)
}

/// Loopback, where plain http keeps a secret on the machine: `localhost`, 127.0.0.0/8, ::1
/// (and ::ffff:127.x). Other names are not resolved: they may lead anywhere.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A parsed absolute base URL.
#[derive(Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// Normalised text: scheme://authority/path without a trailing `/`.
    pub url: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub authority: String,
    pub path: String,
}

/// Parse an `http(s)://host[:port][/path]` base URL: no userinfo, query or fragment.
pub fn parse_base_url(text: &str) -> Result<BaseUrl, &'static str> {
    if text.contains('@') {
        return Err("must not carry credentials (user@host); use bearer_env or bearer_file");
    }
    if text.contains('?') || text.contains('#') {
        return Err("must not have a query or fragment");
    }
    let uri: http::Uri = text.parse().map_err(|_| "is not a valid URL")?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("must start with http:// or https://"),
    };
    let host = uri.host().filter(|h| !h.is_empty()).ok_or("has no host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let default_port = if tls { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default_port);
    let host_for_header = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = if port == default_port {
        host_for_header
    } else {
        format!("{host_for_header}:{port}")
    };
    let path = uri.path().trim_end_matches('/').to_string();
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err("must not contain '.' or '..' segments");
    }
    let scheme = if tls { "https" } else { "http" };
    Ok(BaseUrl {
        url: format!("{scheme}://{authority}{path}"),
        tls,
        host,
        port,
        authority,
        path,
    })
}

/// How many CA certificates a PEM file holds, each one usable as a trust anchor (what the
/// upstream client will load), or why not.
fn ca_certificates(path: &std::path::Path) -> Result<usize, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    let mut store = rustls::RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|e| e.to_string())?;
    }
    Ok(store.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
tenant = "acme"
route = "/acme/scim/v2/"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "https://api.example.com:8443/identity/scim/{org}/v2/"
vars = { org = "0ae8-7ade" }
bearer_env = "ACME_TOKEN"
"#;

    #[test]
    fn compiles_a_valid_file() {
        let t = compile_file(Path::new("acme.toml"), OK).unwrap();
        assert_eq!(t.name, "acme");
        assert_eq!(t.route, "/acme/scim/v2");
        assert_eq!(
            t.upstream.url,
            "https://api.example.com:8443/identity/scim/0ae8-7ade/v2"
        );
        assert_eq!(t.upstream.authority, "api.example.com:8443");
        assert_eq!(t.upstream.base_path, "/identity/scim/0ae8-7ade/v2");
        assert!(t.upstream.tls);
        assert_eq!(t.upstream.secret, SecretSource::Env("ACME_TOKEN".into()));
        assert_eq!(t.upstream.timeout, Duration::from_millis(30_000));
        assert_eq!(t.limits.max_body_bytes, 1024 * 1024);
    }

    /// The diagnostics of a policy that must not compile, as printed (the submodules' tests use
    /// it too).
    pub(super) fn errors(src: &str) -> Vec<String> {
        compile_file(Path::new("t.toml"), src)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn unknown_key_points_at_it() {
        let src = OK.replace("bearer_env", "bearer_envv");
        let e = errors(&src);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("t.toml:9:1: error[E001]: unknown field `bearer_envv`"),
            "{}",
            e[0]
        );
    }

    /// `none` is the metrics' tenant label of requests that match no route: a tenant of that
    /// name would be counted with them.
    #[test]
    fn the_tenant_name_none_is_reserved() {
        let e = errors(&OK.replace("\"acme\"", "\"none\""));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("error[E010]"), "{}", e[0]);
        assert!(e[0].contains("is reserved"), "{}", e[0]);
        assert!(compile_file(Path::new("t.toml"), &OK.replace("\"acme\"", "\"nones\"")).is_ok());
    }

    /// A request's tenant is looked up by its path's first segments, at most 16 of them.
    #[test]
    fn a_route_has_at_most_16_segments() {
        let sixteen = "/s".repeat(16);
        let ok = OK.replace("/acme/scim/v2/", &sixteen);
        assert_eq!(
            compile_file(Path::new("t.toml"), &ok).unwrap().route,
            sixteen
        );
        let e = errors(&OK.replace("/acme/scim/v2/", &"/s".repeat(17)));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("error[E011]"), "{}", e[0]);
        assert!(e[0].contains("has more than 16 segments"), "{}", e[0]);
    }

    #[test]
    fn collects_every_error_of_a_file() {
        let src = OK
            .replace("\"acme\"", "\"Acme!\"")
            .replace("/acme/scim/v2/", "acme/../x")
            .replace("{org}", "{nope}");
        let e = errors(&src);
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(e[0].starts_with("t.toml:2:10: error[E010]"), "{}", e[0]);
        assert!(e[1].starts_with("t.toml:3:9: error[E011]"), "{}", e[1]);
        assert!(
            e[2].contains("error[E031]: upstream.url uses {nope}"),
            "{}",
            e[2]
        );
    }

    #[test]
    fn rejects_credentials_and_bad_digests() {
        let src = OK
            .replace("https://api", "https://user:pw@api")
            .replace("5e88", "zz88");
        let e = errors(&src);
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].contains("E020"));
        assert!(e[1].contains("must not carry credentials"));
    }

    #[test]
    fn a_secret_over_plain_http_needs_loopback_or_allow_insecure() {
        let plain = OK.replace("https://api.example.com:8443", "http://scim.example.com");
        let e = errors(&plain);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("t.toml:7:7: error[E036]: upstream.url \"http://scim.example.com/identity/scim/0ae8-7ade/v2\" is plain http to scim.example.com"), "{}", e[0]);
        assert!(e[0].contains("allow_insecure = true"), "{}", e[0]);
        let allowed = plain.replace("[upstream]", "[upstream]\nallow_insecure = true");
        let t = compile_file(Path::new("t.toml"), &allowed).unwrap();
        assert!(t.upstream.allow_insecure);
        assert_eq!(t.warnings.len(), 1);
        let w = super::super::diagnostics::Warning(&t.warnings[0]).to_string();
        assert!(w.starts_with("t.toml:8:7: warning[W001]: the upstream secret (upstream.bearer_env) goes in clear text to scim.example.com"), "{w}");
        for ok in [
            "http://127.0.0.9:81",
            "http://localhost",
            "http://[::1]:80",
            "https://scim.example.com",
        ] {
            let t = compile_file(
                Path::new("t.toml"),
                &OK.replace("https://api.example.com:8443", ok),
            )
            .unwrap();
            assert!(t.warnings.is_empty(), "{ok}");
        }
        // No secret, nothing to leak.
        let t = compile_file(
            Path::new("t.toml"),
            &plain.replace("bearer_env = \"ACME_TOKEN\"", ""),
        )
        .unwrap();
        assert!(t.warnings.is_empty());
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST.",
            "127.0.0.1",
            "127.255.0.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "localhost.example.com",
            "128.0.0.1",
            "10.0.0.1",
            "::2",
            "scim2",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn base_url_forms() {
        let u = parse_base_url("http://127.0.0.1:8081/v2").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.port, u.tls),
            ("127.0.0.1:8081", 8081, false)
        );
        let u = parse_base_url("https://[::1]/scim").unwrap();
        assert_eq!((u.host.as_str(), u.authority.as_str()), ("::1", "[::1]"));
        assert!(parse_base_url("ftp://x/").is_err());
        assert!(parse_base_url("http:///x").is_err());
        assert!(parse_base_url("http://x/a/../b").is_err());
    }
}
