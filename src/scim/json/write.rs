//! Compact JSON out of a [`Value`], byte for byte what `serde_json::to_vec` writes (the same
//! escapes, the same numbers, the same key order), without serde's generic serializer and its
//! escaping of one byte at a time: strings are copied in runs between the bytes that need an
//! escape, found eight at a time ([`special`]). On a SCIM PATCH that serde_json would write in
//! ~9k instructions, most of them in its string escaping, this writes the same bytes in a
//! fraction. Held to `serde_json::to_vec` by a property test (`tests/json_write.rs`).

use serde_json::{Number, Value};

/// `v` as compact JSON; `capacity` sizes the buffer (the body it came from is a good guess).
pub fn to_vec(v: &Value, capacity: usize) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(capacity);
    write(v, &mut out)?;
    Ok(out)
}

/// Appends `v` as compact JSON to `out`. Only a number is written through serde_json, which
/// cannot fail on a `Vec`; the `Result` is its.
pub fn write(v: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => number(n, out)?,
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(key, out);
                out.push(b':');
                write(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn number(n: &Number, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    serde_json::to_writer(out, n)
}

/// Appends `s` as a JSON string: quoted, with serde_json's escapes (`\"`, `\\`, `\b`, `\f`,
/// `\n`, `\r`, `\t`, `\u00xx` for the other control characters; nothing else escaped).
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(at) = special(rest) {
        let (Some(plain), Some(&byte), Some(tail)) =
            (rest.get(..at), rest.get(at), rest.get(at + 1..))
        else {
            break;
        };
        out.extend_from_slice(plain);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c => {
                let hi = HEX.get(usize::from(c >> 4)).copied().unwrap_or(b'0');
                let lo = HEX.get(usize::from(c & 0xf)).copied().unwrap_or(b'0');
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
            }
        }
        rest = tail;
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Where the first `"`, `\\` or control character is in `bytes`: eight bytes at a time (SWAR),
/// the tail one by one. The answer scan (`mapping::partial`) spends most of its time here too.
#[inline]
pub(crate) fn special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte below `n` (n <= 128); the lowest one flagged is exact.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let Ok(eight) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(eight);
        // `"` (0x22) xor 2 is 0x20, and a control character xor 2 is still one: both are
        // then the bytes below 0x21, one test for the two.
        let hits = below(w ^ (ONES * 2), 0x21) | below(w ^ (ONES * u64::from(b'\\')), 1);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn same(v: &Value) {
        let want = serde_json::to_vec(v).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&to_vec(v, 0).unwrap()),
            String::from_utf8_lossy(&want),
            "{v}"
        );
    }

    #[test]
    fn every_byte_value_in_a_string_is_written_as_serde_json_writes_it() {
        for b in 0u8..0x80 {
            for at in 0..17 {
                let mut s = "x".repeat(at);
                s.push(char::from(b));
                s.push_str("tail-of-nine");
                same(&Value::String(s.clone()));
                same(&json!({ s.clone(): s }));
            }
        }
        same(&json!("Zoë 张 😀 \u{7f} \u{2028} \\\" / </script>"));
    }

    #[test]
    fn values_of_every_kind() {
        same(&json!(null));
        same(
            &json!({"a": [1, -2, 3.5, 1e300, -0.0, 18446744073709551615u64, i64::MIN, true, false, null, {}, [], ""],
            "b": {"c": {"d": "e"}}, "": 0, "k\"ey": "v\nal"}),
        );
    }
}
