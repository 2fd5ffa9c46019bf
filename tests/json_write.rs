//! `scim::json::write` is held to `serde_json::to_vec`: for any JSON value, the same bytes.
//! The gateway writes every translated body it sends upstream with it.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Strings weighted towards what needs escaping: quotes, backslashes, every control
/// character, DEL, non-ASCII of one to four bytes, at any place in runs of any length.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 :._@/-]{0,12}",
        2 => Just("\"".to_string()),
        2 => Just("\\".to_string()),
        2 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap().to_string()),
        1 => Just("\u{7f}".to_string()),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<u64>().prop_map(Number::from),
        any::<i64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_same_bytes_as_serde_json(v in value()) {
        let want = serde_json::to_vec(&v).unwrap();
        let got = scimgate::scim::json::to_vec(&v, 0).unwrap();
        prop_assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
    }
}
