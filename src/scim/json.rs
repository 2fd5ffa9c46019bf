//! The one strict parse of a SCIM JSON body: one object, valid UTF-8, no lone surrogates, no
//! number a target cannot hold, no duplicate keys and no two keys equal ignoring case (SCIM
//! names are case-insensitive, RFC 7643 §2.1), nesting bounded. Errors say what and where.
//!
//! serde_json does the lexing (it already refuses invalid UTF-8, lone surrogates and numbers
//! that overflow `f64`); a [`DeserializeSeed`] builds the `Value` so that duplicate keys and
//! depth are checked while parsing, not in a second walk. serde_json has no option for either.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Deepest accepted nesting of JSON arrays and objects in a body.
pub const MAX_DEPTH: usize = 64;

/// Objects with more keys than this check duplicates with a hash set instead of a scan.
const SCAN_KEYS: usize = 16;

/// Why a body is not one strict JSON object; `Display` names what and where (line, column).
#[derive(Debug)]
pub struct JsonError(serde_json::Error);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        let what = match e.classify() {
            serde_json::error::Category::Eof => "unexpected end of input".to_string(),
            // serde_json's own message ends with " at line L column C"; keep only what.
            _ => {
                let text = e.to_string();
                match text.rfind(" at line ") {
                    Some(at) => text.get(..at).unwrap_or(&text).to_string(),
                    None => text,
                }
            }
        };
        write!(f, "{what} at line {} column {}", e.line(), e.column())
    }
}

impl std::error::Error for JsonError {}

/// Parse `bytes` as exactly one strict JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Value, JsonError> {
    let v = parse_value(bytes)?;
    if !v.is_object() {
        return Err(JsonError(de::Error::custom(
            "the body is not a JSON object",
        )));
    }
    Ok(v)
}

/// Parse `bytes` as one strict JSON value of any kind (target answers, policy test files).
///
/// The bytes are checked as UTF-8 once, whole (word at a time), and read as text: serde_json
/// then does not check each string on its own, which cost more than the rest of its lexing on
/// a SCIM PATCH. Bytes that are not UTF-8 are read as bytes, so the error is serde_json's own,
/// with its line and column.
pub fn parse_value(bytes: &[u8]) -> Result<Value, JsonError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => strict(serde_json::Deserializer::from_str(text)),
        Err(_) => match strict(serde_json::Deserializer::from_slice(bytes)) {
            // serde_json refuses what is not UTF-8 in a string, and anything else there is
            // not JSON; this is the belt to its braces.
            Ok(_) => Err(JsonError(de::Error::custom("the body is not valid UTF-8"))),
            Err(e) => Err(e),
        },
    }
}

fn strict<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> Result<Value, JsonError> {
    let v = Strict { depth: 0 }
        .deserialize(&mut de)
        .map_err(JsonError)?;
    de.end().map_err(JsonError)?;
    Ok(v)
}

/// Builds one `Value` at nesting `depth`.
struct Strict {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Strict {
    fn deeper<E: de::Error>(&self) -> Result<Strict, E> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(E::custom(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(Strict { depth })
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        // serde_json refuses overflow (1e400) itself; this is the belt to its braces.
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.deeper()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(Strict { depth: inner.depth })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.deeper()?;
        let mut out = Map::new();
        let mut folded: Option<std::collections::HashSet<String>> = None;
        while let Some(key) = map.next_key::<String>()? {
            let clash = match &mut folded {
                Some(set) => !set.insert(key.to_ascii_lowercase()),
                None => out.keys().any(|k| k.eq_ignore_ascii_case(&key)),
            };
            if clash {
                let first = out
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(&key))
                    .cloned()
                    .unwrap_or_default();
                let what = if first == key {
                    format!("duplicate key {key:?}")
                } else {
                    format!("keys {first:?} and {key:?} differ only in case")
                };
                return Err(de::Error::custom(what));
            }
            let value = map.next_value_seed(Strict { depth: inner.depth })?;
            out.insert(key, value);
            if folded.is_none() && out.len() > SCAN_KEYS {
                folded = Some(out.keys().map(|k| k.to_ascii_lowercase()).collect());
            }
        }
        Ok(Value::Object(out))
    }
}

mod write;
pub(crate) use write::special;
pub use write::{to_vec, write, write_str};

#[cfg(test)]
mod tests;
