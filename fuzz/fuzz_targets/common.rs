//! Shared by the targets (included with `#[path]`, not a target itself): JSON equality that
//! tolerates serde_json's known float imprecision when this build has it.
#![allow(dead_code)]

use serde_json::Value;
use std::sync::OnceLock;

/// Does this build's serde_json parse decimals exactly? Only with its `float_roundtrip`
/// feature; without it some decimals (`2e-162`) parse 1 ULP off, so a printed value may
/// re-parse 1 ULP away from itself. Known and accepted unless scimgate enables the feature.
pub fn exact_floats() -> bool {
    static EXACT: OnceLock<bool> = OnceLock::new();
    *EXACT.get_or_init(|| serde_json::from_str::<f64>("2e-162").ok() == Some(2e-162))
}

fn ulps_apart(a: f64, b: f64) -> u64 {
    fn key(x: f64) -> i64 {
        let bits = x.to_bits() as i64;
        if bits < 0 {
            i64::MIN - bits
        } else {
            bits
        }
    }
    key(a).abs_diff(key(b))
}

/// Equal numbers: exactly, or (when [`exact_floats`] is false) floats at most 1 ULP apart.
pub fn number_eq(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if a == b {
        return true;
    }
    if exact_floats() || !(a.is_f64() || b.is_f64()) {
        return false;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => ulps_apart(x, y) <= 1,
        _ => false,
    }
}

/// `a == b`, numbers compared with [`number_eq`].
pub fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| value_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| value_eq(v, w)))
        }
        _ => a == b,
    }
}

/// `text` Debug-quoted, cut to 300 chars so a crash report stays readable.
pub fn short(text: &str) -> String {
    let cut: String = text.chars().take(300).collect();
    if cut.len() < text.len() {
        format!("{cut:?}... ({} bytes)", text.len())
    } else {
        format!("{cut:?}")
    }
}
