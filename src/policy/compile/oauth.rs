//! `[upstream.oauth]`: the target's token source. E037 for the grant and its keys, E038 for
//! `token_url`, E033 for the secret's source (and for a static bearer beside it), E035 for a
//! client secret file outside `--secrets-dir`, E036 for a client secret that would cross the
//! network in clear text.

use super::{is_loopback_host, parse_base_url, BaseUrl, Cx};
use crate::policy::diagnostics::Diagnostic;
use crate::policy::file::{UpstreamFile, UpstreamOAuthFile};
use crate::policy::model::{ClientAuth, Endpoint, Grant, OAuth, SecretSource};
use toml::Spanned;

/// Longest `client_id`, `account_id`, `scope` or `audience`, characters.
const MAX_VALUE_LEN: usize = 1024;

impl Cx<'_> {
    /// The checked `[upstream.oauth]` and where its client secret comes from.
    pub(super) fn oauth(
        &mut self,
        at: &Spanned<UpstreamOAuthFile>,
        u: &UpstreamFile,
    ) -> Option<(OAuth, SecretSource)> {
        let o = at.get_ref();
        let mut ok = true;
        if let Some(b) = u.bearer_env.as_ref().or(u.bearer_file.as_ref()) {
            ok = false;
            self.err(
                b,
                "E033",
                "set bearer_env/bearer_file or [upstream.oauth], not both".into(),
                Some("[upstream.oauth] fetches the bearer token itself"),
            );
        }
        let grant_name = o.grant.get_ref().as_str();
        let grant = match (grant_name, &o.account_id) {
            ("client_credentials", None) => Some(Grant::ClientCredentials),
            ("client_credentials", Some(a)) => {
                self.err(
                    a,
                    "E037",
                    "upstream.oauth.account_id is for grant = \"account_credentials\" only".into(),
                    None,
                );
                None
            }
            ("account_credentials", Some(a)) => self
                .oauth_value(a, "account_id")
                .map(|account_id| Grant::AccountCredentials { account_id }),
            ("account_credentials", None) => {
                self.err(
                    &o.grant,
                    "E037",
                    "grant = \"account_credentials\" needs upstream.oauth.account_id".into(),
                    Some(
                        "Zoom: the Account ID of the server-to-server OAuth app (App Credentials)",
                    ),
                );
                None
            }
            (other, _) => {
                self.err(
                    &o.grant,
                    "E037",
                    format!("unknown upstream.oauth.grant {other:?}"),
                    Some("expected \"client_credentials\" or \"account_credentials\""),
                );
                None
            }
        };
        let account = grant_name == "account_credentials";
        let auth_method = match o.auth_method.as_ref() {
            None => Some(ClientAuth::Basic),
            Some(m) => match m.get_ref().as_str() {
                "basic" => Some(ClientAuth::Basic),
                "post" if !account => Some(ClientAuth::Post),
                "post" => {
                    self.err(
                        m,
                        "E037",
                        "grant = \"account_credentials\" authenticates with Basic only".into(),
                        Some("leave auth_method out (Zoom takes the client id and secret as HTTP Basic)"),
                    );
                    None
                }
                other => {
                    self.err(
                        m,
                        "E037",
                        format!("unknown upstream.oauth.auth_method {other:?}"),
                        Some("expected \"basic\" (client_secret_basic) or \"post\" (client_secret_post)"),
                    );
                    None
                }
            },
        };
        let optional = |cx: &mut Self, v: &Option<Spanned<String>>, key: &str| match v {
            None => Some(None),
            Some(s) if account => {
                cx.err(
                    s,
                    "E037",
                    format!("upstream.oauth.{key} is for grant = \"client_credentials\" only"),
                    None,
                );
                None
            }
            Some(s) => cx.oauth_value(s, key).map(Some),
        };
        let scope = optional(self, &o.scope, "scope");
        let audience = optional(self, &o.audience, "audience");
        let client_id = self.oauth_value(&o.client_id, "client_id");
        let secret = match (&o.client_secret_env, &o.client_secret_file) {
            (Some(_), Some(f)) => {
                self.err(
                    f,
                    "E033",
                    "set client_secret_env or client_secret_file, not both".into(),
                    None,
                );
                None
            }
            (Some(e), None) => self.env_name(e).map(SecretSource::Env),
            (None, Some(f)) => self
                .secret_file("upstream.oauth.client_secret_file", f)
                .map(SecretSource::File),
            (None, None) => {
                self.err(
                    at,
                    "E033",
                    "[upstream.oauth] needs client_secret_env or client_secret_file".into(),
                    Some("secrets live outside policies: name the variable or the mounted file"),
                );
                None
            }
        };
        let token_url = self.token_url(&o.token_url, u);
        if !ok {
            return None;
        }
        Some((
            OAuth {
                grant: grant?,
                token_url: token_url?,
                client_id: client_id?,
                auth_method: auth_method?,
                scope: scope?,
                audience: audience?,
                client_secret: None,
            },
            secret?,
        ))
    }

    /// `token_url`: an absolute http(s) URL without credentials, query or fragment, to which
    /// the client secret may travel (https, loopback, or `allow_insecure`).
    fn token_url(&mut self, s: &Spanned<String>, u: &UpstreamFile) -> Option<Endpoint> {
        let text = s.get_ref();
        let parsed: BaseUrl = match parse_base_url(text) {
            Ok(p) => p,
            Err(why) => {
                self.err(
                    s,
                    "E038",
                    format!("upstream.oauth.token_url {text:?} {why}"),
                    Some("the token endpoint, e.g. \"https://zoom.us/oauth/token\""),
                );
                return None;
            }
        };
        let allow_insecure = u.allow_insecure.as_ref().is_some_and(|a| *a.get_ref());
        if !parsed.tls && !is_loopback_host(&parsed.host) {
            if !allow_insecure {
                self.err(
                    s,
                    "E036",
                    format!(
                        "upstream.oauth.token_url {:?} is plain http to {}, which is not loopback: the client secret would go in clear text; use https://, or set allow_insecure = true under [upstream]",
                        parsed.url, parsed.host
                    ),
                    Some("allow_insecure = true only where the network path to the token endpoint is private"),
                );
                return None;
            }
            let d = Diagnostic::at(
                self.path,
                self.source,
                Some(s.span()),
                "W001",
                format!(
                    "the client secret (upstream.oauth) goes in clear text to {} (plain http, allow_insecure = true)",
                    parsed.host
                ),
            )
            .with_hint("anyone on the network path can read it: use https:// unless that path is private");
            self.warnings.push(d);
        }
        // Keep a trailing `/` as written: a token endpoint's path is exact.
        let mut path = parsed.path.clone();
        if path.is_empty() || text.ends_with('/') {
            path.push('/');
        }
        Some(Endpoint {
            url: format!(
                "{}{}",
                parsed.url,
                if text.ends_with('/') { "/" } else { "" }
            ),
            tls: parsed.tls,
            host: parsed.host,
            port: parsed.port,
            authority: parsed.authority,
            path,
        })
    }

    /// An environment variable name, as `bearer_env` takes it.
    fn env_name(&mut self, e: &Spanned<String>) -> Option<String> {
        let name = e.get_ref();
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            self.err(
                e,
                "E033",
                format!("{name:?} is not an environment variable name"),
                None,
            );
            return None;
        }
        Some(name.clone())
    }

    /// A non-empty value of visible ASCII characters and spaces, of reasonable length.
    fn oauth_value(&mut self, s: &Spanned<String>, key: &str) -> Option<String> {
        let v = s.get_ref();
        let valid = !v.trim().is_empty()
            && v.chars().count() <= MAX_VALUE_LEN
            && v.bytes().all(|b| (0x20..0x7f).contains(&b));
        if valid {
            Some(v.clone())
        } else {
            self.err(
                s,
                "E037",
                format!(
                    "upstream.oauth.{key} must be 1 to {MAX_VALUE_LEN} visible ASCII characters"
                ),
                None,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::compile::compile_file;
    use crate::policy::model::{ClientAuth, Grant, SecretSource};
    use std::path::Path;

    const BASE: &str = r#"
tenant = "globex"
route = "/globex/scim/v2"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "https://api.zoom.us/scim2"
[upstream.oauth]
"#;

    #[test]
    fn compiles_both_grants() {
        let t = compile_file(
            Path::new("p/t.toml"),
            &format!("{BASE}grant = \"account_credentials\"\ntoken_url = \"https://zoom.us/oauth/token\"\nclient_id = \"id\"\naccount_id = \"acct\"\nclient_secret_file = \"secret\"\n"),
        )
        .unwrap();
        let o = t.upstream.oauth.as_ref().unwrap();
        assert_eq!(
            o.grant,
            Grant::AccountCredentials {
                account_id: "acct".into()
            }
        );
        assert_eq!(o.token_url.url, "https://zoom.us/oauth/token");
        assert_eq!(o.token_url.path, "/oauth/token");
        assert_eq!(o.auth_method, ClientAuth::Basic);
        assert_eq!(t.upstream.secret, SecretSource::File("p/secret".into()));
        assert_eq!(t.upstream.secret_pos, (13, 22));
        assert!(t.upstream.authorization.is_none());

        let t = compile_file(
            Path::new("t.toml"),
            &format!("{BASE}grant = \"client_credentials\"\ntoken_url = \"http://127.0.0.1:9000/\"\nclient_id = \"id\"\nscope = \"a b\"\naudience = \"https://api\"\nauth_method = \"post\"\nclient_secret_env = \"S\"\n"),
        )
        .unwrap();
        let o = t.upstream.oauth.as_ref().unwrap();
        assert_eq!(o.grant, Grant::ClientCredentials);
        assert_eq!(
            (o.token_url.url.as_str(), o.token_url.path.as_str()),
            ("http://127.0.0.1:9000/", "/")
        );
        assert_eq!(o.auth_method, ClientAuth::Post);
        assert_eq!(o.scope.as_deref(), Some("a b"));
        assert_eq!(t.upstream.secret, SecretSource::Env("S".into()));
        assert!(t.warnings.is_empty());

        // The client secret resolves into the oauth table, not into a bearer.
        let mut t = t;
        crate::policy::secrets::resolve(std::slice::from_mut(&mut t), |_| Some("s3cret".into()))
            .unwrap();
        assert!(t.upstream.authorization.is_none());
        let secret = t.upstream.oauth.as_ref().unwrap().client_secret.as_ref();
        assert_eq!(secret.unwrap().expose(), "s3cret");
        let mut missing = compile_file(
            Path::new("t.toml"),
            &format!("{BASE}grant = \"client_credentials\"\ntoken_url = \"https://x/t\"\nclient_id = \"id\"\nclient_secret_env = \"NOPE\"\n"),
        )
        .unwrap();
        let e = crate::policy::secrets::resolve(std::slice::from_mut(&mut missing), |_| None)
            .unwrap_err();
        assert!(
            e[0].to_string().starts_with("t.toml:12:21: error[E060]: tenant \"globex\": environment variable NOPE (upstream.oauth.client_secret_env) is not set or empty"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn a_plain_http_token_url_needs_allow_insecure_and_then_warns() {
        let src = format!("{BASE}grant = \"client_credentials\"\ntoken_url = \"http://idp.internal/token\"\nclient_id = \"id\"\nclient_secret_env = \"S\"\n");
        assert!(compile_file(Path::new("t.toml"), &src).is_err());
        let allowed = src.replace("[upstream]\n", "[upstream]\nallow_insecure = true\n");
        let t = compile_file(Path::new("t.toml"), &allowed).unwrap();
        assert_eq!(t.warnings.len(), 1);
        assert_eq!(t.warnings[0].code, "W001");
        assert!(t.warnings[0].message.contains("client secret"));
    }
}
