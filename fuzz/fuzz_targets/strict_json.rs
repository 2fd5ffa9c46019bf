#![no_main]
//! Strict request-body JSON (`scim::json::parse_object`): no panic; what it accepts is an
//! object in which no object (at any depth) has two keys equal ignoring ASCII case, and its
//! `serde_json` serialisation is accepted again as an equal value (floats within 1 ULP unless
//! serde_json's `float_roundtrip` is on: see common.rs).

use libfuzzer_sys::fuzz_target;
#[path = "common.rs"]
mod common;
use common::short;
use scimgate::scim::json::parse_object;
use serde_json::Value;

/// Panics if some object in `v` has two keys equal ignoring ASCII case.
fn no_case_duplicates(v: &Value, input: &[u8]) {
    match v {
        Value::Object(map) => {
            let mut seen = std::collections::HashSet::new();
            for (k, child) in map {
                assert!(
                    seen.insert(k.to_ascii_lowercase()),
                    "accepted two keys equal ignoring case ({k:?}) in {}",
                    short(&String::from_utf8_lossy(input))
                );
                no_case_duplicates(child, input);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| no_case_duplicates(i, input)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = parse_object(data) else {
        return;
    };
    assert!(
        v.is_object(),
        "accepted a non-object: {}",
        short(&v.to_string())
    );
    no_case_duplicates(&v, data);
    let bytes = match serde_json::to_vec(&v) {
        Ok(b) => b,
        Err(e) => panic!("accepted value does not serialise: {e}"),
    };
    match parse_object(&bytes) {
        Ok(again) => assert!(
            common::value_eq(&again, &v),
            "{} re-serialised as {} parses differently: {} != {}",
            short(&String::from_utf8_lossy(data)),
            short(&String::from_utf8_lossy(&bytes)),
            short(&again.to_string()),
            short(&v.to_string())
        ),
        Err(e) => panic!(
            "{} re-serialised as {} is refused: {e}",
            short(&String::from_utf8_lossy(data)),
            short(&String::from_utf8_lossy(&bytes))
        ),
    }
});
