//! `[auth]`: the IdP's bearer digests (E020), `token_ttl_s` (E023) and `[[auth.clients]]`
//! (E021 ids, E022 secret digests, E024 no `--token-key-file` to sign their tokens).

use super::Cx;
use crate::policy::file::{AuthClientFile, AuthFile};
use crate::policy::model::{Auth, Client, DEFAULT_TOKEN_TTL_S, MAX_TOKEN_TTL_S, MIN_TOKEN_TTL_S};
use toml::Spanned;

/// Longest `client_id`, characters.
const MAX_CLIENT_ID_LEN: usize = 128;

impl Cx<'_> {
    pub(super) fn auth(&mut self, a: &Spanned<AuthFile>) -> Option<Auth> {
        let f = a.get_ref();
        let digests = match &f.bearer_sha256 {
            Some(list) => self.digests(list),
            None if f.clients.is_empty() => {
                self.err(
                    a,
                    "E020",
                    "[auth] has neither bearer_sha256 nor [[auth.clients]]: every request would be refused".into(),
                    Some("add the output of `scimgate hash-token` to bearer_sha256, or an [[auth.clients]]"),
                );
                None
            }
            None => Some(Vec::new()),
        };
        let token_ttl_s = self.token_ttl(f.token_ttl_s.as_ref());
        let clients = self.clients(&f.clients);
        Some(Auth {
            digests: digests?,
            clients: clients?,
            token_ttl_s: token_ttl_s?,
        })
    }

    fn token_ttl(&mut self, v: Option<&Spanned<i64>>) -> Option<u32> {
        let Some(v) = v else {
            return Some(DEFAULT_TOKEN_TTL_S);
        };
        let n = *v.get_ref();
        match u32::try_from(n) {
            Ok(n) if (MIN_TOKEN_TTL_S..=MAX_TOKEN_TTL_S).contains(&n) => Some(n),
            _ => {
                self.err(
                    v,
                    "E023",
                    format!("auth.token_ttl_s = {n} is out of range"),
                    Some(&format!(
                        "seconds, from {MIN_TOKEN_TTL_S} (5 minutes) to {MAX_TOKEN_TTL_S} (6 hours)"
                    )),
                );
                None
            }
        }
    }

    fn clients(&mut self, list: &[Spanned<AuthClientFile>]) -> Option<Vec<Client>> {
        let mut out: Vec<Client> = Vec::with_capacity(list.len());
        let mut seen: Vec<&str> = Vec::with_capacity(list.len());
        let mut ok = true;
        for c in list {
            let f = c.get_ref();
            let id = f.client_id.get_ref();
            let valid = !id.is_empty()
                && id.chars().count() <= MAX_CLIENT_ID_LEN
                && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
            if !valid {
                ok = false;
                self.err(
                    &f.client_id,
                    "E021",
                    format!("auth.clients.client_id {id:?} is not a valid client id"),
                    Some("1 to 128 visible ASCII characters, no spaces, e.g. \"entra-acme\""),
                );
            } else if seen.contains(&id.as_str()) {
                ok = false;
                self.err(
                    &f.client_id,
                    "E021",
                    format!("auth.clients.client_id {id:?} is given twice"),
                    Some("each client of a tenant has its own client_id; list several secret_sha256 to rotate a secret"),
                );
            }
            seen.push(id);
            match self.secret_digests(&f.secret_sha256) {
                Some(secret_digests) if valid => out.push(Client {
                    id: id.clone(),
                    secret_digests,
                }),
                _ => ok = false,
            }
        }
        if let (Some(first), Some(0)) = (list.first(), self.opts.token_keys) {
            ok = false;
            self.err(
                first,
                "E024",
                "[[auth.clients]] needs `serve --token-key-file`: without a key no access token can be issued".into(),
                Some("make a key with `openssl genpkey -algorithm ed25519 -out token-key.pem` and pass --token-key-file token-key.pem"),
            );
        }
        ok.then_some(out)
    }

    fn secret_digests(&mut self, list: &Spanned<Vec<Spanned<String>>>) -> Option<Vec<[u8; 32]>> {
        if list.get_ref().is_empty() {
            self.err(
                list,
                "E022",
                "auth.clients.secret_sha256 is empty: the client could never authenticate".into(),
                Some("add the output of `printf %s \"$CLIENT_SECRET\" | scimgate hash-token`"),
            );
            return None;
        }
        let mut out = Vec::with_capacity(list.get_ref().len());
        let mut ok = true;
        for d in list.get_ref() {
            let mut bytes = [0u8; 32];
            if hex::decode_to_slice(d.get_ref().trim(), &mut bytes).is_ok() {
                out.push(bytes);
            } else {
                ok = false;
                self.err(
                    d,
                    "E022",
                    "not a SHA-256 hex digest (64 hex characters)".into(),
                    Some("store digests, never secrets: `printf %s \"$CLIENT_SECRET\" | scimgate hash-token`"),
                );
            }
        }
        ok.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{compile_file, compile_file_with, CompileOptions};
    use std::path::Path;

    const DIGEST: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn policy(auth: &str) -> String {
        format!(
            "tenant = \"acme\"\nroute = \"/acme\"\n[auth]\n{auth}\n[upstream]\nurl = \"http://127.0.0.1:9/v2\"\n"
        )
    }

    use super::super::tests::errors;

    #[test]
    fn clients_compile_beside_or_instead_of_bearers() {
        let src = policy(&format!(
            "token_ttl_s = 7200\n[[auth.clients]]\nclient_id = \"entra-acme\"\nsecret_sha256 = [\"{DIGEST}\", \"{}\"]",
            "a".repeat(64)
        ));
        let t = compile_file(Path::new("t.toml"), &src).unwrap();
        assert!(t.auth.digests.is_empty());
        assert_eq!(t.auth.token_ttl_s, 7200);
        let c = t.auth.client("entra-acme").unwrap();
        assert_eq!(c.secret_digests.len(), 2);
        assert!(t.auth.client("other").is_none());
        let both = policy(&format!(
            "bearer_sha256 = [\"{DIGEST}\"]\n[[auth.clients]]\nclient_id = \"x\"\nsecret_sha256 = [\"{DIGEST}\"]"
        ));
        let t = compile_file(Path::new("t.toml"), &both).unwrap();
        assert_eq!((t.auth.digests.len(), t.auth.clients.len()), (1, 1));
        assert_eq!(t.auth.token_ttl_s, 3600);
    }

    #[test]
    fn every_auth_mistake_is_pointed_at() {
        let src = policy(&format!(
            "token_ttl_s = 60\n[[auth.clients]]\nclient_id = \"a b\"\nsecret_sha256 = [\"{DIGEST}\"]\n[[auth.clients]]\nclient_id = \"ok\"\nsecret_sha256 = [\"nope\"]\n[[auth.clients]]\nclient_id = \"ok\"\nsecret_sha256 = []"
        ));
        let e = errors(&src);
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(
            e[0].starts_with("t.toml:4:15: error[E023]: auth.token_ttl_s = 60 is out of range"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("t.toml:6:13: error[E021]: auth.clients.client_id \"a b\""),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("t.toml:10:18: error[E022]: not a SHA-256"),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with(
                "t.toml:12:13: error[E021]: auth.clients.client_id \"ok\" is given twice"
            ),
            "{}",
            e[3]
        );
        assert!(
            e[4].starts_with("t.toml:13:17: error[E022]: auth.clients.secret_sha256 is empty"),
            "{}",
            e[4]
        );
        let e = errors(&policy("token_ttl_s = 3600"));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("error[E020]: [auth] has neither bearer_sha256 nor [[auth.clients]]"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn clients_need_a_token_key_when_serve_has_none() {
        let src = policy(&format!(
            "[[auth.clients]]\nclient_id = \"c\"\nsecret_sha256 = [\"{DIGEST}\"]"
        ));
        let opts = |n| CompileOptions {
            token_keys: n,
            ..CompileOptions::default()
        };
        for n in [None, Some(1)] {
            assert!(compile_file_with(Path::new("t.toml"), &src, &opts(n)).is_ok());
        }
        let e = compile_file_with(Path::new("t.toml"), &src, &opts(Some(0))).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].code, "E024");
        assert!(e[0].message.contains("--token-key-file"), "{}", e[0]);
        assert_eq!((e[0].line, e[0].col), (4, 1));
    }
}
