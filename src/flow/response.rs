//! Step 6: the answer the IdP sees. Status and body stay as the target sent them, but every
//! URL that points at the target (`Location`, `meta.location`, `$ref`) points at the gateway.

use crate::policy::model::Upstream;
use crate::policy::Tenant;
use http::HeaderMap;
use serde_json::Value;

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
pub fn public_base(tenant: &Tenant, host: Option<&str>, tls: bool) -> String {
    if let Some(u) = &tenant.public_url {
        return u.clone();
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
    format!("{scheme}://{host}{}", tenant.route)
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
        let rest = uri.path().strip_prefix(self.upstream.base_path.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let mut out = String::with_capacity(self.public_base.len() + rest.len());
        out.push_str(self.public_base);
        out.push_str(rest);
        if let Some(q) = uri.query() {
            out.push('?');
            out.push_str(q);
        }
        Some(out)
    }

    /// The body with target URLs rebased, or `None` when nothing changes. Bodies that do not
    /// mention the target's host are not parsed at all.
    pub fn body(&self, body: &[u8]) -> Option<Vec<u8>> {
        if body.is_empty() || memchr::memmem::find(body, self.upstream.host.as_bytes()).is_none() {
            return None;
        }
        let mut value: Value = serde_json::from_slice(body).ok()?;
        if self.value(&mut value) {
            serde_json::to_vec(&value).ok()
        } else {
            None
        }
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

/// The headers of the target's response that the IdP gets, `Location` rebased.
pub fn pass_headers(rebase: &Rebase<'_>, upstream: &HeaderMap) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for name in PASSED {
        for v in upstream.get_all(name) {
            let Ok(v) = v.to_str() else { continue };
            let v = if name == "location" {
                rebase.url(v).unwrap_or_else(|| v.to_string())
            } else {
                v.to_string()
            };
            out.push((name, v));
        }
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
