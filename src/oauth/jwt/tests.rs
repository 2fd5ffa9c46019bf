use super::*;
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

fn key() -> SigningKey {
    let der = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    SigningKey::from_pkcs8_der(der.as_ref()).unwrap()
}

fn claims() -> Claims {
    Claims {
        iss: "https://gw.example.com/acme/scim/v2".into(),
        aud: "acme".into(),
        sub: "entra-acme".into(),
        iat: 1_000,
        exp: 4_600,
        jti: "00112233445566778899aabbccddeeff".into(),
    }
}

fn b64(v: &serde_json::Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

/// A token with this header and payload, signed (EdDSA) by `key` whatever the header says.
fn forge(key: &SigningKey, header: serde_json::Value, payload: serde_json::Value) -> String {
    let input = format!("{}.{}", b64(&header), b64(&payload));
    format!("{input}.{}", B64.encode(key.sign(input.as_bytes())))
}

#[test]
fn a_signed_token_verifies_with_its_header_and_claims() {
    let k = key();
    let token = sign(&k, &claims());
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": k.kid()})
    );
    let keys = KeySet::from_keys(vec![k]);
    assert_eq!(verify(&keys, token.as_bytes()), Ok(claims()));
    assert_eq!(check(&claims(), "acme", 2_000), Ok(()));
}

#[test]
fn any_key_of_the_set_verifies() {
    let (old, new) = (key(), key());
    let token = sign(&new, &claims());
    let keys = KeySet::from_keys(vec![old, new]);
    assert!(verify(&keys, token.as_bytes()).is_ok());
}

#[test]
fn algorithm_confusion_is_refused() {
    let k = key();
    let kid = k.kid().to_string();
    let payload = serde_json::to_value(claims()).unwrap();
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&payload)
    );
    let hs = {
        let input = format!(
            "{}.{}",
            b64(&serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid})),
            b64(&payload)
        );
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k.public_key()),
            input.as_bytes(),
        );
        format!("{input}.{}", B64.encode(mac.as_ref()))
    };
    let rs = forge(
        &k,
        serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        payload.clone(),
    );
    let lower = forge(
        &k,
        serde_json::json!({"alg": "eddsa", "typ": "JWT", "kid": kid}),
        payload,
    );
    let keys = KeySet::from_keys(vec![k]);
    for t in [none, hs, rs, lower] {
        assert_eq!(verify(&keys, t.as_bytes()), Err(Refusal::Algorithm), "{t}");
    }
}

#[test]
fn tampering_and_unknown_keys_are_refused() {
    let (k, stranger) = (key(), key());
    let token = sign(&k, &claims());
    let keys = KeySet::from_keys(vec![k]);
    let parts: Vec<&str> = token.split('.').collect();
    let mut other = claims();
    other.sub = "someone-else".into();
    let payload = B64.encode(serde_json::to_vec(&other).unwrap());
    let swapped = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(verify(&keys, swapped.as_bytes()), Err(Refusal::Signature));
    // Every last character of the signature but the right one.
    let sig = parts[2];
    let last = sig.chars().last().unwrap();
    for c in ['A', 'B', 'Q', 'g', 'w', '_'] {
        if c == last {
            continue;
        }
        let t = format!(
            "{}.{}.{}{c}",
            parts[0],
            parts[1],
            sig.strip_suffix(last).unwrap()
        );
        assert!(verify(&keys, t.as_bytes()).is_err(), "{t}");
    }
    let stranger_token = sign(&stranger, &claims());
    assert_eq!(
        verify(&keys, stranger_token.as_bytes()),
        Err(Refusal::UnknownKey)
    );
}

#[test]
fn odd_shapes_are_malformed() {
    let k = key();
    let kid = k.kid().to_string();
    let good = sign(&k, &claims());
    let mut string_exp = serde_json::to_value(claims()).unwrap();
    string_exp["exp"] = "never".into();
    let cases = [
        String::new(),
        "a.b".into(),
        format!("{good}.x"),
        format!("{good}="),
        "x".repeat(MAX_TOKEN_BYTES + 1),
        forge(
            &k,
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
            string_exp,
        ),
        forge(
            &k,
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid, "crit": ["exp"]}),
            serde_json::to_value(claims()).unwrap(),
        ),
        forge(
            &k,
            serde_json::json!({"alg": "EdDSA", "kid": kid}),
            serde_json::to_value(claims()).unwrap(),
        ),
    ];
    let keys = KeySet::from_keys(vec![k]);
    for t in cases {
        assert_eq!(verify(&keys, t.as_bytes()), Err(Refusal::Malformed), "{t}");
    }
}

#[test]
fn time_and_audience() {
    let c = claims();
    assert_eq!(check(&c, "acme", c.exp + LEEWAY_S), Ok(()));
    assert_eq!(
        check(&c, "acme", c.exp + LEEWAY_S + 1),
        Err(Refusal::Expired)
    );
    assert_eq!(
        check(&c, "acme", c.iat - LEEWAY_S - 1),
        Err(Refusal::NotYetValid)
    );
    assert_eq!(check(&c, "globex", 2_000), Err(Refusal::Audience));
}
