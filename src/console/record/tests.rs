use super::*;
use serde_json::json;

fn text(k: &Kept) -> String {
    String::from_utf8(k.bytes.to_vec()).unwrap()
}

#[test]
fn bodies_are_copied_and_cut_at_the_cap() {
    assert!(keep(b"", BODY_CAP).is_none());
    let small = keep(br#"{"userName":"bjensen"}"#, BODY_CAP).unwrap();
    assert_eq!(text(&small), r#"{"userName":"bjensen"}"#);
    assert!(!small.truncated());
    let big = vec![b'x'; 100_000];
    let k = keep(&big, BODY_CAP).unwrap();
    assert_eq!(k.bytes.len(), BODY_CAP);
    assert_eq!(k.len, 100_000);
    assert!(k.truncated());
    // A cut never splits a character.
    let s = "é".repeat(10);
    let k = keep(s.as_bytes(), 5).unwrap();
    assert_eq!(text(&k), "éé");
    for (s, cap, kept) in [
        ("a€b", 2, "a"),  // € is 3 bytes: cut after its first
        ("a€b", 3, "a"),  // ... and after its second
        ("a€b", 4, "a€"), // whole
        ("a😀b", 4, "a"), // 😀 is 4 bytes
        ("a😀b", 5, "a😀"),
        ("aé", 1, "a"),
    ] {
        assert_eq!(
            text(&keep(s.as_bytes(), cap).unwrap()),
            kept,
            "{s} at {cap}"
        );
    }
    // Bytes that are not UTF-8 are cut where the cap says.
    let k = keep(&[b'a', 0x80, 0x80, 0x80, 0x80, 0x80], 3).unwrap();
    assert_eq!(k.bytes.len(), 3);
    let k = keep(&[0xF0, 0x9F, 0x98, 0x80, 0x80], 4).unwrap();
    assert_eq!(&*k.bytes, &[0xF0, 0x9F, 0x98, 0x80]);
}

#[test]
fn secret_values_are_never_kept() {
    let body = json!({
        "userName": "bjensen",
        "password": "hunter2-secret-value",
        "urn:example:ext:1.0:User": {"Client_Secret": "s3cr3t-value"},
        "nested": [{"token": "tok-value"}]
    });
    let k = keep(body.to_string().as_bytes(), BODY_CAP).unwrap();
    let t = text(&k);
    for secret in ["hunter2-secret-value", "s3cr3t-value", "tok-value"] {
        assert!(!t.contains(secret), "{t}");
    }
    assert!(
        t.contains("bjensen"),
        "personal values are redacted when shown: {t}"
    );
    assert!(t.contains(REDACTED));

    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "password", "value": "P@ssw0rd-1"},
        {"op": "Replace", "value": {"password": "P@ssw0rd-2", "displayName": "B"}}
    ]});
    let t = text(&keep(patch.to_string().as_bytes(), BODY_CAP).unwrap());
    assert!(!t.contains("P@ssw0rd"), "{t}");
    assert!(t.contains("\"path\":\"password\""), "{t}");

    let form = b"grant_type=client_credentials&client_secret=abc123secret";
    let k = keep(form, BODY_CAP).unwrap();
    assert!(k.bytes.is_empty());
    assert!(k.withheld.is_some());
    assert_eq!(k.len, form.len());
}

#[test]
fn secret_query_parameters_are_replaced() {
    assert_eq!(scrub_query("filter=x&count=2"), "filter=x&count=2");
    let q = scrub_query("access_token=abc.def&count=2&Password=x");
    assert!(!q.contains("abc.def") && !q.contains("=x"), "{q}");
    assert!(q.contains("count=2"));
    // A name spelled with percent escapes is decoded before it is judged.
    let q = scrub_query("access_t%6Fken=abc.def&count=2&%50assword=x&%74oken=y");
    assert!(
        !q.contains("abc.def") && !q.contains("=x") && !q.contains("=y"),
        "{q}"
    );
    assert!(q.contains("count=2"));
}

#[test]
fn a_draft_records_only_when_started() {
    let mut off = Draft::default();
    off.idp_body(&bytes::Bytes::copy_from_slice(b"{}"));
    off.upstream(&Method::POST, "/v2/Users", Some(&Bytes::from_static(b"{}")));
    let outcome = || Outcome {
        method: &Method::POST,
        path: "/t/scim/v2/Users",
        query: Some("access_token=zzz"),
        tenant: "t",
        pii: false,
        resource: "Users",
        upstream_status: Some(201),
        upstream_ms: Some(3.0),
        rules: 2,
        status: 201,
        answer: br#"{"id":"1"}"#,
        elapsed: Duration::from_millis(5),
    };
    assert!(off.finish(outcome()).is_none());

    let mut d = Draft::default();
    d.start();
    assert!(d.is_on());
    d.idp_body(&bytes::Bytes::copy_from_slice(br#"{"userName":"a"}"#));
    d.rules(
        [
            ("map", 1),
            ("drop", 0),
            ("set", 0),
            ("transform", 0),
            ("null", 0),
            ("dialect", 2),
        ],
        &["op lowercased", "op lowercased", "string boolean"],
    );
    d.upstream(
        &Method::POST,
        "/v2/Users?token=abc",
        Some(&Bytes::from_static(br#"{"userName":"a"}"#)),
    );
    d.upstream(&Method::POST, "/v2/Users", Some(&Bytes::from_static(b"{}")));
    let r = d.finish(outcome()).unwrap();
    assert_eq!(r.tenant, "t");
    assert_eq!(r.upstream_calls, 2);
    let leg = r.upstream.as_ref().unwrap();
    assert!(!leg.path.contains("abc"), "{}", leg.path);
    assert!(!r.query.as_deref().unwrap().contains("zzz"));
    assert_eq!(r.rule_kinds, vec![("map", 1), ("dialect", 2)]);
    assert_eq!(r.notes, vec!["op lowercased", "string boolean"]);
    assert_eq!(r.status, 201);
    assert!(r.bytes() < 2048, "{}", r.bytes());
}

#[test]
fn a_record_is_bounded_whatever_the_bodies() {
    let huge = Bytes::from(vec![b'a'; 1 << 20]);
    let (path, query) = ("/p".repeat(10_000), "q".repeat(10_000));
    let mut d = Draft::default();
    d.start();
    d.idp_body(&huge);
    for _ in 0..20 {
        d.upstream(&Method::POST, &"/u".repeat(10_000), Some(&huge));
    }
    let r = d
        .finish(Outcome {
            method: &Method::POST,
            path: &path,
            query: Some(&query),
            tenant: "t",
            pii: false,
            resource: "Bulk",
            upstream_status: None,
            upstream_ms: None,
            rules: 0,
            status: 200,
            answer: &huge,
            elapsed: Duration::ZERO,
        })
        .unwrap();
    let max = 2 * BODY_CAP + ANSWER_CAP + 3 * PATH_CAP + 2048;
    assert!(r.bytes() <= max, "{} > {max}", r.bytes());
}

#[test]
fn secret_words_are_found_in_any_spelling() {
    for key in ["PASSWORD", "PassWord", "Secret", "TOKEN", "access_Token"] {
        let body = format!(r#"{{"userName":"bjensen","{key}":"the-value"}}"#);
        let t = text(&keep(body.as_bytes(), BODY_CAP).unwrap());
        assert!(!t.contains("the-value"), "{key}: {t}");
    }
    // A name spelled with JSON escapes is decoded before it is judged.
    for key in [
        r"pass\u0077ord",
        r"\u0074oken",
        r"Client_\u0053ecret",
        r"\u0070\u0061ssword",
    ] {
        let body = format!(r#"{{"userName":"bjensen","{key}":"the-value"}}"#);
        let t = text(&keep(body.as_bytes(), BODY_CAP).unwrap());
        assert!(!t.contains("the-value"), "{key}: {t}");
        assert!(t.contains("bjensen"), "{key}: {t}");
    }
    // The fold makes no letter of a byte that is not one: `@`, `[` and `0` stay apart.
    for body in [
        r#"{"p@ssword":"v"}"#,
        r#"{"[oken":"v"}"#,
        r#"{"passw0rd":"v"}"#,
    ] {
        assert!(!names_secret(body.as_bytes()), "{body}");
    }
}
