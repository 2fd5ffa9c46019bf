use super::*;
use crate::policy::compile::compile_file;
use std::path::Path;

fn tenant() -> Tenant {
    let src = "tenant = \"acme\"\nroute = \"/acme\"\n[auth]\n[[auth.clients]]\nclient_id = \"c1\"\nsecret_sha256 = [\"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"]\n[upstream]\nurl = \"http://127.0.0.1:9/v2\"\n";
    compile_file(Path::new("t.toml"), src).unwrap()
}

fn form(body: &str) -> Result<BTreeMap<String, String>, Refused> {
    parse_form(body.as_bytes())
}

#[test]
fn forms_parse_strictly() {
    let f =
        form("grant_type=client_credentials&client_id=a%2Bb&client_secret=x+y&scope=&").unwrap();
    assert_eq!(f.get("grant_type").unwrap(), "client_credentials");
    assert_eq!(f.get("client_id").unwrap(), "a+b");
    assert_eq!(f.get("client_secret").unwrap(), "x y");
    assert!(!f.contains_key("scope"), "an empty value is as if omitted");
    for bad in [
        "grant_type=a&grant_type=a",
        "grant_type=a&grant_type=",
        "=x",
        "a=%zz",
        "a=%00",
        "a=%ff",
    ] {
        let e = form(bad).unwrap_err();
        assert_eq!((e.status, e.error), (400, "invalid_request"), "{bad}");
    }
    assert!(parse_form(b"a=\xff").is_err());
}

#[test]
fn basic_credentials_are_form_decoded() {
    let t = tenant();
    let h = format!("Basic {}", STANDARD.encode("my%3Aclient:p%40ss+word"));
    assert_eq!(
        basic_credentials(&t, h.as_bytes()).unwrap(),
        ("my:client".into(), "p@ss word".into())
    );
    let e = basic_credentials(&t, b"Bearer abc").unwrap_err();
    assert_eq!((e.status, e.error), (401, "invalid_client"));
    assert_eq!(
        e.headers,
        vec![("WWW-Authenticate", "Basic realm=\"acme\"".to_string())]
    );
    for bad in ["Basic !!!", "Basic bm9jb2xvbg=="] {
        let e = basic_credentials(&t, bad.as_bytes()).unwrap_err();
        assert_eq!((e.status, e.error), (400, "invalid_request"), "{bad}");
    }
}

#[test]
fn exactly_one_authentication_method() {
    let t = tenant();
    let basic = || Some(("c1".to_string(), "s".to_string()));
    let f = |s| form(s).unwrap();
    assert_eq!(
        credentials(&t, basic(), &f("client_id=c1")).unwrap(),
        ("c1".into(), "s".into())
    );
    assert_eq!(
        credentials(&t, None, &f("client_id=c1&client_secret=s")).unwrap(),
        ("c1".into(), "s".into())
    );
    let e = credentials(&t, basic(), &f("client_secret=s")).unwrap_err();
    assert_eq!((e.status, e.error), (400, "invalid_request"));
    let e = credentials(&t, basic(), &f("client_id=c2")).unwrap_err();
    assert_eq!((e.status, e.error), (400, "invalid_request"));
    for body in ["", "client_id=c1", "client_secret=s"] {
        let e = credentials(&t, None, &f(body)).unwrap_err();
        assert_eq!((e.status, e.error), (401, "invalid_client"), "{body}");
    }
}

#[test]
fn content_type_is_one_form() {
    let mut h = http::HeaderMap::new();
    assert!(check_content_type(&h).is_err());
    h.insert(
        "content-type",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
            .parse()
            .unwrap(),
    );
    assert!(check_content_type(&h).is_ok());
    h.append("content-type", "application/json".parse().unwrap());
    assert!(check_content_type(&h).is_err());
    h.insert("content-type", "application/json".parse().unwrap());
    assert!(check_content_type(&h).is_err());
}

#[test]
fn error_descriptions_keep_to_the_rfc_characters() {
    let reply: Reply = invalid_request("a \"quoted\" \\ é\n").into();
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(v["error"], "invalid_request");
    assert_eq!(v["error_description"], "a ?quoted? ? ??");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}
