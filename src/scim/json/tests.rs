use super::*;

fn err(body: &[u8]) -> String {
    parse_object(body).unwrap_err().to_string()
}

#[test]
fn objects_parse_as_serde_json_would() {
    let body = br#" {"userName":"a","x":[1,-2,3.5,{"y":"}]"}],"n":null,"b":true} "#;
    let want: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(parse_object(body).unwrap(), want);
}

#[test]
fn only_one_object() {
    for body in [
        &b""[..],
        b"  ",
        b"[]",
        b"\"x\"",
        b"{",
        b"{\"a\":}",
        b"not json",
        b"{} {}",
    ] {
        assert!(parse_object(body).is_err(), "{body:?}");
    }
    assert!(err(b"[1]").contains("not a JSON object"));
}

#[test]
fn what_serde_json_lets_through_when_skipping_is_refused() {
    assert!(err(br#"{"n":1e400}"#).contains("number out of range"));
    assert!(err(br#"{"n":-1e400}"#).contains("number out of range"));
    assert!(parse_object(br#"{"n":"\ud800"}"#).is_err());
    assert!(err(br#"{"n":"\udc00x"}"#).contains("surrogate"));
    let e = err(b"{\"n\":\"\xff\"}");
    assert!(e.contains("line 1"), "{e}");
    assert!(parse_object(b"{\"\xc0\xae\":1}").is_err());
    // Outside a string, and after a valid object: still refused, still placed.
    for body in [
        &b"{\xff:1}"[..],
        b"{\"a\":1}\xff",
        b"\xef\xbb\xbf{}",
        b"{\"a\":\"\xed\xa0\x80\"}",
    ] {
        let e = err(body);
        assert!(e.contains("line 1 column"), "{body:?}: {e}");
    }
    // Text that is UTF-8 reads the same as serde_json reads its bytes.
    let body =
        "{\"name\":{\"givenName\":\"Zo\u{eb} \u{5f20}\u{1F600}\"},\"k\\u00e9y\":[\"\\u00e9\"]}";
    assert_eq!(
        parse_object(body.as_bytes()).unwrap(),
        serde_json::from_slice::<Value>(body.as_bytes()).unwrap()
    );
    // A proper pair is fine.
    assert_eq!(
        parse_object(br#"{"n":"\ud83d\ude00"}"#).unwrap()["n"],
        "\u{1F600}"
    );
}

#[test]
fn duplicate_and_case_duplicate_keys_are_refused_at_every_level() {
    let e = err(br#"{"password":"x","PASSWORD":"y"}"#);
    assert_eq!(
        e,
        "keys \"password\" and \"PASSWORD\" differ only in case at line 1 column 26"
    );
    let e = err(br#"{"path":"/Users","path":"/../x"}"#);
    assert!(e.starts_with("duplicate key \"path\""), "{e}");
    let e = err(br#"{"Operations":[{"op":"add","value":{"a":1,"A":2}}]}"#);
    assert!(e.contains("\"a\" and \"A\""), "{e}");
    // Different keys that only look alike outside ASCII are different SCIM names.
    assert!(parse_object("{\"straße\":1,\"STRASSE\":2}".as_bytes()).is_ok());
}

#[test]
fn many_keys_use_the_set_and_still_catch_clashes() {
    let mut keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    let ok = format!("{{{}}}", keys.join(","));
    assert_eq!(
        parse_object(ok.as_bytes())
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        40
    );
    keys.push("\"K3\":0".to_string());
    let bad = format!("{{{}}}", keys.join(","));
    assert!(err(bad.as_bytes()).contains("\"k3\" and \"K3\""));
    keys.pop();
    keys.insert(1, "\"K0\":0".to_string());
    let early = format!("{{{}}}", keys.join(","));
    assert!(err(early.as_bytes()).contains("\"k0\" and \"K0\""));
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{{\"a\":{}1{}}}", "[".repeat(63), "]".repeat(63));
    assert!(parse_object(ok.as_bytes()).is_ok());
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(64), "]".repeat(64));
    assert!(err(deep.as_bytes()).contains("nesting deeper than 64"));
    let hostile = "{\"a\":".to_string() + &"[".repeat(1_000_000);
    assert!(parse_object(hostile.as_bytes()).is_err());
}

#[test]
fn values_of_any_kind() {
    assert_eq!(parse_value(b" [1] ").unwrap(), serde_json::json!([1]));
    assert!(parse_value(b"[{\"a\":1,\"A\":1}]").is_err());
}
