//! Every case of the IdP traffic corpus (tests/fixtures/corpus/: real requests from vendor docs,
//! with what the target must receive) through the running gateway: the request the recording
//! upstream saw must equal the case's `upstream` (bodies as JSON; `query-decoded` compares the
//! query after percent-decoding).
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(h))
                if u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16).is_ok() =>
            {
                out.push(u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap());
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn every_corpus_case_reaches_the_target_as_the_rfc_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 11, "{cases:?}");

    let idps = ["generic", "entra", "okta"];
    let recorders: Vec<Recorder> = idps.iter().map(|_| Recorder::start()).collect();
    let files: Vec<(String, String)> = idps
        .iter()
        .zip(&recorders)
        .map(|(idp, rec)| {
            let text = policy(
                idp,
                &format!("/{idp}/scim/v2"),
                "corpus-token",
                &rec.url(),
                "",
                "",
            )
            .replace("[auth]", &format!("idp = \"{idp}\"\n[auth]"));
            // idp must be a top-level key: put it before the first table.
            let text = text.replacen(&format!("idp = \"{idp}\"\n[auth]"), "[auth]", 1);
            let text = format!("idp = \"{idp}\"\n{text}");
            (format!("{idp}.toml"), text)
        })
        .collect();
    let refs: Vec<(&str, String)> = files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let gw = Gateway::start(&refs, &[]);

    let mut failures = Vec::new();
    for case in &cases {
        let c: Value = serde_json::from_str(&std::fs::read_to_string(case).unwrap()).unwrap();
        let idp = c["idp"].as_str().unwrap();
        let i = idps.iter().position(|x| *x == idp).unwrap();
        let rec = &recorders[i];
        let before = rec.requests().len();
        let req = &c["request"];
        let body = (!req["body"].is_null()).then(|| req["body"].to_string());
        let r = call(
            req["method"].as_str().unwrap(),
            &gw.url(&format!("/{idp}/scim/v2{}", req["path"].as_str().unwrap())),
            Some("corpus-token"),
            &[],
            body.as_deref(),
        );
        assert!(
            r.status < 500,
            "{}: {} {}",
            case.display(),
            r.status,
            r.body
        );
        let seen = rec.requests();
        let name = c["name"].as_str().unwrap();
        if seen.len() != before + 1 {
            failures.push(format!(
                "{name}: the target saw {} requests",
                seen.len() - before
            ));
            continue;
        }
        let got = &seen[before];
        let want = &c["upstream"];
        let got_path = got
            .target
            .strip_prefix("/base/v2")
            .unwrap_or(&got.target)
            .to_string();
        let want_path = want["path"].as_str().unwrap().to_string();
        let (got_path, want_path) = if want["compare"] == "query-decoded" {
            (decode(&got_path), decode(&want_path))
        } else {
            (got_path, want_path)
        };
        if got.method != want["method"].as_str().unwrap() || got_path != want_path {
            failures.push(format!(
                "{name}: {} {got_path} != {} {want_path}",
                got.method, want["method"]
            ));
        }
        let got_body: Value = if got.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&got.body).unwrap()
        };
        if got_body != want["body"] {
            failures.push(format!(
                "{name}:\n  got  {got_body}\n  want {}",
                want["body"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
