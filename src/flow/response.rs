//! Step 6: the answer the IdP sees. Status and body stay as the target sent them, but every
//! URL that points at the target (`Location`, `meta.location`, `$ref`) points at the gateway,
//! and a redirect anywhere else is refused ([`check_redirect`]).

use crate::policy::model::Upstream;
use crate::policy::Tenant;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use smallvec::SmallVec;
use std::borrow::Cow;

/// Response headers from the target that reach the IdP (`Location` rebased).
const PASSED: [&str; 6] = [
    "content-type",
    "etag",
    "location",
    "last-modified",
    "retry-after",
    "cache-control",
];

/// The tenant's URL as the IdP knows it, e.g. `https://gw.example.com/acme/scim/v2`.
pub fn public_base<'t>(tenant: &'t Tenant, host: Option<&str>, tls: bool) -> Cow<'t, str> {
    if let Some(u) = &tenant.public_url {
        return Cow::Borrowed(u);
    }
    let scheme = if tls { "https" } else { "http" };
    let host = host
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        })
        .unwrap_or("localhost");
    // One allocation of the right size (`format!` grows its string as it goes).
    let mut base = String::with_capacity(scheme.len() + 3 + host.len() + tenant.route.len());
    base.push_str(scheme);
    base.push_str("://");
    base.push_str(host);
    base.push_str(&tenant.route);
    Cow::Owned(base)
}

/// Rewrites target URLs into gateway URLs.
pub struct Rebase<'a> {
    pub upstream: &'a Upstream,
    pub public_base: &'a str,
}

impl Rebase<'_> {
    /// The gateway URL for `url` when it points under the target's base URL.
    pub fn url(&self, url: &str) -> Option<String> {
        let uri: http::Uri = url.parse().ok()?;
        let default = match uri.scheme_str()? {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        if !host.eq_ignore_ascii_case(&self.upstream.host) {
            return None;
        }
        let port = uri.port_u16().unwrap_or(default);
        if port != self.upstream.port && uri.port_u16().is_some() {
            return None;
        }
        self.path(uri.path(), uri.query())
    }

    /// The gateway URL for a `Location` header: an absolute URL under the target's base URL
    /// ([`Self::url`]), or an absolute path under its base path (resolved against the target,
    /// RFC 9110 §10.2.2). `None` for anything else, a network-path `//host/…` included.
    pub fn location(&self, value: &str) -> Option<String> {
        if value.starts_with('/') && !value.starts_with("//") {
            let p: http::uri::PathAndQuery = value.parse().ok()?;
            return self.path(p.path(), p.query());
        }
        self.url(value)
    }

    /// `public_base` + what follows the target's base path in `path`, if it is under it.
    fn path(&self, path: &str, query: Option<&str>) -> Option<String> {
        let rest = path.strip_prefix(self.upstream.base_path.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let mut out = String::with_capacity(self.public_base.len() + rest.len());
        out.push_str(self.public_base);
        out.push_str(rest);
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        Some(out)
    }

    /// The body with target URLs rebased, or `None` when nothing changes. Bodies that do not
    /// mention the target's host are not parsed at all.
    pub fn body(&self, body: &[u8]) -> Option<Vec<u8>> {
        if body.is_empty() {
            return None;
        }
        if let Some(fast) = self.body_verbatim(body) {
            return fast;
        }
        let mut value: Value = serde_json::from_slice(body).ok()?;
        if self.value(&mut value) {
            serde_json::to_vec(&value).ok()
        } else {
            None
        }
    }

    /// The fast path, without parsing: when every mention of the target's host is the target's
    /// base URL written verbatim at the start of a `"location"` or `"$ref"` string value, swap
    /// the prefix byte for byte. `Some(None)` when the body does not mention the host at all.
    /// `None` when anything is less plain (escaped slashes, another spelling of the URL, the
    /// host elsewhere, escapes in keys): the parsing path decides then.
    ///
    /// One pass over the mentions of the host: each must sit inside the base URL, at the
    /// host's place in it.
    fn body_verbatim(&self, body: &[u8]) -> Option<Option<Vec<u8>>> {
        let host = &self.upstream.host_finder;
        let base = self.upstream.url.as_bytes();
        let Some(host_offset) = memchr::memmem::find(base, host.needle()) else {
            // Not reached for a compiled URL (its host is in it); the parse decides if the
            // host is mentioned at all.
            return host.find(body).is_none().then_some(None);
        };
        // A ListResponse page mentions the target once a resource (its `meta.location`).
        let mut cuts: SmallVec<[usize; 32]> = SmallVec::new();
        for mention in host.find_iter(body) {
            let at = mention.checked_sub(host_offset)?;
            if body.get(at..at + base.len()) != Some(base) {
                return None;
            }
            let next = body.get(at + base.len()).copied()?;
            if !matches!(next, b'/' | b'"' | b'?') {
                return None;
            }
            if !self.starts_location_value(body, at)? {
                return None;
            }
            cuts.push(at);
        }
        if cuts.is_empty() {
            return Some(None);
        }
        let public = self.public_base.as_bytes();
        let mut out = Vec::with_capacity(body.len() + cuts.len() * public.len());
        let mut from = 0;
        for at in cuts {
            out.extend_from_slice(body.get(from..at)?);
            out.extend_from_slice(public);
            from = at + base.len();
        }
        out.extend_from_slice(body.get(from..)?);
        Some(Some(out))
    }

    /// Does the string value starting at `at` (just after its opening quote) belong to a
    /// `location` or `$ref` key? `None` when the bytes are not plain enough to tell.
    fn starts_location_value(&self, body: &[u8], at: usize) -> Option<bool> {
        // The opening quote, not escaped (in valid JSON an unescaped quote followed by the URL
        // opens a string).
        let quote = at.checked_sub(1)?;
        if body.get(quote) != Some(&b'"') || (quote > 0 && body.get(quote - 1) == Some(&b'\\')) {
            return None;
        }
        let before = body.get(..quote)?;
        let colon = before.iter().rposition(|b| !b.is_ascii_whitespace())?;
        if before.get(colon) != Some(&b':') {
            return Some(false); // an array element or similar: not a keyed value
        }
        let key_end = before
            .get(..colon)?
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())?;
        if before.get(key_end) != Some(&b'"') {
            return None;
        }
        let key_start = before.get(..key_end)?.iter().rposition(|&b| b == b'"')?;
        let key = before.get(key_start + 1..key_end)?;
        if key.contains(&b'\\') {
            return None;
        }
        Some(key.eq_ignore_ascii_case(b"location") || key == b"$ref")
    }

    /// Rebase string values of `location` and `$ref` keys anywhere; true if any changed.
    pub fn value(&self, v: &mut Value) -> bool {
        match v {
            Value::Object(map) => {
                let mut changed = false;
                for (k, child) in map.iter_mut() {
                    if let Value::String(s) = child {
                        if k.eq_ignore_ascii_case("location") || k == "$ref" {
                            if let Some(new) = self.url(s) {
                                *s = new;
                                changed = true;
                            }
                        }
                    } else {
                        changed |= self.value(child);
                    }
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, i| self.value(i) | c),
            _ => false,
        }
    }
}

/// A redirect from the target (a 3xx other than 304 Not Modified) reaches the IdP only when
/// its `Location` points under the target's base URL, rebased onto the gateway: the IdP is
/// never sent to another host. `Err` says why, in words safe to show the IdP.
pub fn check_redirect(rebase: &Rebase<'_>, status: u16, headers: &HeaderMap) -> Result<(), String> {
    if !(300..400).contains(&status) || status == 304 {
        return Ok(());
    }
    let mut locations = headers.get_all(http::header::LOCATION).iter().peekable();
    if locations.peek().is_none() {
        return Err(format!(
            "the SCIM target answered a redirect ({status}) without a Location"
        ));
    }
    for v in locations {
        if v.to_str().ok().and_then(|v| rebase.location(v)).is_none() {
            return Err(format!(
                "the SCIM target redirected ({status}) outside its base URL"
            ));
        }
    }
    Ok(())
}

/// The headers of the target's response that the IdP gets, `Location` rebased.
/// The values are the target's own (a reference count, not a copy), but for a rebased
/// `Location`; one that is not visible ASCII is left out, as before.
pub fn pass_headers(rebase: &Rebase<'_>, upstream: &HeaderMap) -> Vec<(&'static str, HeaderValue)> {
    // One pass over the answer's headers (about ten), each name (already lower case) compared
    // with the six passed ones, not six lookups that each parse and hash a name.
    let mut out = Vec::new();
    for (name, v) in upstream {
        let Some(&passed) = PASSED.iter().find(|p| **p == name.as_str()) else {
            continue;
        };
        let Ok(text) = v.to_str() else { continue };
        let v = if passed == "location" {
            match rebase.location(text).map(HeaderValue::try_from) {
                Some(Ok(rebased)) => rebased,
                Some(Err(_)) => continue,
                None => v.clone(),
            }
        } else {
            v.clone()
        };
        out.push((passed, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile::compile_file;
    use std::path::Path;

    fn tenant() -> crate::policy::Tenant {
        compile_file(
            Path::new("t.toml"),
            r#"tenant = "t"
route = "/t/scim/v2"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#,
        )
        .unwrap()
    }

    #[test]
    fn only_the_six_passed_headers_reach_the_idp_every_value_and_location_rebased() {
        let t = tenant();
        let r = Rebase {
            upstream: &t.upstream,
            public_base: "https://gw/t/scim/v2",
        };
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("Server", "nginx"),
            ("ETag", "W/\"1\""),
            ("Set-Cookie", "s=1"),
            ("Content-Type", "application/scim+json"),
            ("Location", "http://127.0.0.1:8081/v2/Users/1"),
            ("Cache-Control", "no-store"),
            ("Cache-Control", "private"),
            ("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
            ("Retry-After", "7"),
            ("X-Upstream-Secret", "k"),
            ("Content-Length", "12"),
            ("Connection", "keep-alive"),
        ] {
            h.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static(value),
            );
        }
        // A value that is not visible ASCII is left out; the other ETag goes on.
        h.append("etag", HeaderValue::from_bytes(b"W/\"\xff\"").unwrap());
        let mut got: Vec<(&str, String)> = pass_headers(&r, &h)
            .into_iter()
            .map(|(n, v)| (n, v.to_str().unwrap().to_owned()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("cache-control", "no-store".to_owned()),
                ("cache-control", "private".to_owned()),
                ("content-type", "application/scim+json".to_owned()),
                ("etag", "W/\"1\"".to_owned()),
                ("last-modified", "Tue, 01 Dec 2026 10:00:00 GMT".to_owned()),
                ("location", "https://gw/t/scim/v2/Users/1".to_owned()),
                ("retry-after", "7".to_owned()),
            ]
        );
        // The values in the target's order for a name sent twice.
        let cc: Vec<String> = pass_headers(&r, &h)
            .into_iter()
            .filter(|(n, _)| *n == "cache-control")
            .map(|(_, v)| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(cc, ["no-store", "private"]);
    }

    #[test]
    fn rebases_urls_under_the_target_only() {
        let t = tenant();
        let r = Rebase {
            upstream: &t.upstream,
            public_base: "https://gw/t/scim/v2",
        };
        assert_eq!(
            r.url("http://127.0.0.1:8081/v2/Users/1").as_deref(),
            Some("https://gw/t/scim/v2/Users/1")
        );
        assert_eq!(
            r.url("http://127.0.0.1:8081/v2").as_deref(),
            Some("https://gw/t/scim/v2")
        );
        assert_eq!(
            r.url("http://127.0.0.1:8081/v2/Users?x=1").as_deref(),
            Some("https://gw/t/scim/v2/Users?x=1")
        );
        assert_eq!(r.url("http://127.0.0.1:8081/v22/Users"), None);
        assert_eq!(r.url("http://127.0.0.1:9999/v2/Users"), None);
        assert_eq!(r.url("http://example.com/v2/Users"), None);
        assert_eq!(r.url("/v2/Users"), None);
    }

    #[test]
    fn redirects_stay_under_the_target_or_are_refused() {
        let t = tenant();
        let r = Rebase {
            upstream: &t.upstream,
            public_base: "https://gw/t/scim/v2",
        };
        let with = |loc: &str| {
            let mut h = HeaderMap::new();
            h.insert("location", loc.parse().unwrap());
            h
        };
        assert_eq!(
            r.location("/v2/Users/1?a=b").as_deref(),
            Some("https://gw/t/scim/v2/Users/1?a=b")
        );
        assert_eq!(r.location("//evil.example/v2/Users/1"), None);
        assert_eq!(r.location("/other/Users/1"), None);
        assert_eq!(r.location("Users/1"), None);
        assert!(check_redirect(&r, 302, &with("http://127.0.0.1:8081/v2/Users/1")).is_ok());
        assert!(check_redirect(&r, 307, &with("/v2/Users/1")).is_ok());
        assert!(check_redirect(&r, 302, &with("https://evil.example/v2/Users/1")).is_err());
        assert!(check_redirect(&r, 301, &with("//evil.example/v2")).is_err());
        assert!(check_redirect(&r, 302, &HeaderMap::new()).is_err());
        assert!(check_redirect(&r, 304, &HeaderMap::new()).is_ok());
        assert!(check_redirect(&r, 201, &with("https://elsewhere/x")).is_ok());
    }

    #[test]
    fn rebases_meta_location_and_refs_in_bodies() {
        let t = tenant();
        let r = Rebase {
            upstream: &t.upstream,
            public_base: "https://gw/t/scim/v2",
        };
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "Resources": [{
                "id": "g1",
                "members": [{"value": "u1", "$ref": "http://127.0.0.1:8081/v2/Users/u1"}],
                "meta": {"location": "http://127.0.0.1:8081/v2/Groups/g1"},
                "profileUrl": "http://127.0.0.1:8081/v2/keep-me"
            }]
        });
        let out: Value =
            serde_json::from_slice(&r.body(&serde_json::to_vec(&body).unwrap()).unwrap()).unwrap();
        assert_eq!(
            out["Resources"][0]["meta"]["location"],
            "https://gw/t/scim/v2/Groups/g1"
        );
        assert_eq!(
            out["Resources"][0]["members"][0]["$ref"],
            "https://gw/t/scim/v2/Users/u1"
        );
        assert_eq!(
            out["Resources"][0]["profileUrl"],
            "http://127.0.0.1:8081/v2/keep-me"
        );
        assert_eq!(r.body(br#"{"id":"x"}"#), None);
        assert_eq!(r.body(b"127.0.0.1 but not json"), None);
    }

    #[test]
    fn the_verbatim_path_agrees_with_the_parsing_path() {
        let t = tenant();
        let r = Rebase {
            upstream: &t.upstream,
            public_base: "https://gw/t/scim/v2",
        };
        let slow = |body: &[u8]| {
            let mut v: Value = serde_json::from_slice(body).unwrap();
            r.value(&mut v).then_some(v)
        };
        let cases: Vec<&str> = vec![
            r#"{"meta":{"location":"http://127.0.0.1:8081/v2/Users/1"},"members":[{"$ref":"http://127.0.0.1:8081/v2/Users/2","value":"2"}]}"#,
            r#"{"Location" : "http://127.0.0.1:8081/v2?x=1"}"#,
            r#"{"profileUrl":"http://127.0.0.1:8081/v2/Users/1"}"#,
            r#"{"location":"http:\/\/127.0.0.1:8081\/v2\/Users\/1"}"#,
            r#"{"location":"http://127.0.0.1:8081/v22/Users/1"}"#,
            r#"{"displayName":"127.0.0.1","meta":{"location":"http://127.0.0.1:8081/v2/Users/1"}}"#,
            r#"{"a":["http://127.0.0.1:8081/v2/x"]}"#,
            r#"{"location":"http://127.0.0.1:8081/v2/x"}"#,
            r#"{"x":"say \"location\": http://127.0.0.1:8081/v2/x"}"#,
        ];
        for body in cases {
            let fast = r
                .body(body.as_bytes())
                .map(|b| serde_json::from_slice::<Value>(&b).unwrap());
            assert_eq!(fast, slow(body.as_bytes()), "{body}");
        }
        // The first case takes the verbatim path: bytes outside the URLs are untouched.
        let b = br#"{"meta" : {"location":"http://127.0.0.1:8081/v2/Users/1"}}"#;
        assert_eq!(
            r.body_verbatim(b),
            Some(Some(
                br#"{"meta" : {"location":"https://gw/t/scim/v2/Users/1"}}"#.to_vec()
            ))
        );
        assert_eq!(
            r.body_verbatim(br#"{"location":"http:\/\/127.0.0.1:8081\/v2"}"#),
            None
        );
        // No mention of the host: nothing to parse, nothing changed.
        assert_eq!(
            r.body_verbatim(br#"{"location":"https://other/v2/Users/1"}"#),
            Some(None)
        );
        assert_eq!(r.body(br#"{"location":"https://other/v2/Users/1"}"#), None);
    }

    proptest::proptest! {
        #[test]
        fn the_two_paths_agree_on_generated_bodies(
            entries in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["location", "Location", "$ref", "value", "loc", "x"]),
                    proptest::sample::select(vec![
                        "http://127.0.0.1:8081/v2/Users/1", "http://127.0.0.1:8081/v2", "http://127.0.0.1:8081/v2?a=b",
                        "http://127.0.0.1:8081/v22", "https://127.0.0.1:8081/v2/x", "127.0.0.1", "plain",
                        "http://127.0.0.1:8081/v2/\"q\"", "x http://127.0.0.1:8081/v2/y",
                    ]),
                    0usize..3,
                ),
                0..6,
            )
        ) {
            let t = tenant();
            let r = Rebase { upstream: &t.upstream, public_base: "https://gw/t/scim/v2" };
            let mut obj = serde_json::Map::new();
            for (i, (k, v, depth)) in entries.into_iter().enumerate() {
                let mut val = serde_json::json!({ k: v });
                for _ in 0..depth {
                    val = serde_json::json!([{ "n": val }]);
                }
                obj.insert(format!("k{i}"), val);
            }
            let body = serde_json::to_vec(&Value::Object(obj)).unwrap();
            let mut slow: Value = serde_json::from_slice(&body).unwrap();
            let slow = r.value(&mut slow).then_some(slow);
            let fast = r.body(&body).map(|b| serde_json::from_slice::<Value>(&b).unwrap());
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn public_base_prefers_the_policy_and_distrusts_odd_hosts() {
        let mut t = tenant();
        assert_eq!(
            public_base(&t, Some("gw.example.com:8443"), true),
            "https://gw.example.com:8443/t/scim/v2"
        );
        assert_eq!(
            public_base(&t, Some("evil\"/x"), false),
            "http://localhost/t/scim/v2"
        );
        t.public_url = Some("https://scim.example.com/t".into());
        assert_eq!(
            public_base(&t, Some("x"), false),
            "https://scim.example.com/t"
        );
    }
}
