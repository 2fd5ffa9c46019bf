//! Rules on what the IdP asks for: `filter`, `attributes`, `excludedAttributes` and `sortBy`
//! query parameters and `/.search` bodies. Attribute paths equal to a map's `from` become its
//! `to`; everything else of the query string passes byte for byte.

use super::rules::{Kind, KindRules, Rules};
use super::Stats;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::expr::{parse_attr_path, AttrPath, PatchPath};
use crate::scim::expr::{parse_filter_with, ParseOptions};
use crate::scim::value;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::borrow::Cow;

/// Characters left as they are when a rewritten parameter is encoded again (RFC 3986 unreserved).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The maps that apply: those of `kind`, or of every kind for a request at the root.
fn maps_for(rules: &Rules, kind: Option<Kind>) -> Vec<&KindRules> {
    match kind {
        Some(k) => vec![rules.for_kind(k)],
        None => vec![&rules.user, &rules.group],
    }
}

/// The target's name for an attribute path the IdP used, if a map renames it.
fn map_attr(kinds: &[&KindRules], p: &AttrPath) -> Option<AttrPath> {
    for kr in kinds {
        for m in &kr.maps {
            let PatchPath::Attr(from) = &m.from else {
                continue;
            };
            let to = match &m.to {
                PatchPath::Attr(t) => t.clone(),
                PatchPath::ValuePath { attr, sub, .. } => AttrPath {
                    sub: sub.clone(),
                    ..attr.clone()
                },
            };
            if value::attr_eq(from, p, None) {
                return Some(to);
            }
            // A renamed complex attribute keeps the sub-attribute asked for.
            if from.sub.is_none()
                && p.sub.is_some()
                && value::attr_eq(
                    from,
                    &AttrPath {
                        sub: None,
                        ..p.clone()
                    },
                    None,
                )
                && to.sub.is_none()
            {
                return Some(AttrPath {
                    sub: p.sub.clone(),
                    ..to
                });
            }
        }
    }
    None
}

/// Rewrite a filter; `Ok(None)` when no path in it is mapped (the IdP's text is kept as is).
pub fn rewrite_filter(
    rules: &Rules,
    kind: Option<Kind>,
    text: &str,
    lenient: bool,
    stats: &mut Stats,
) -> Result<Option<String>, ScimError> {
    let opts = ParseOptions {
        allow_unquoted_values: lenient,
        ..ParseOptions::default()
    };
    let mut filter = parse_filter_with(text, &opts).map_err(|e| {
        ScimError::bad_request(
            Some(ScimType::InvalidFilter),
            format!("the filter is not valid at {}: {}", e.pos, e.message),
        )
    })?;
    let kinds = maps_for(rules, kind);
    let mut n = 0;
    filter.map_paths(&mut |p, parent| {
        if parent.is_none() {
            if let Some(new) = map_attr(&kinds, p) {
                *p = new;
                n += 1;
            }
        }
    });
    stats.map += n;
    Ok((n > 0).then(|| filter.to_string()))
}

/// Rewrite a comma-separated attribute list; `Ok(None)` when nothing in it is mapped.
fn rewrite_attr_list(
    rules: &Rules,
    kind: Option<Kind>,
    text: &str,
    stats: &mut Stats,
) -> Result<Option<String>, ScimError> {
    let kinds = maps_for(rules, kind);
    let mut n = 0;
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p = parse_attr_path(item).map_err(|e| {
            ScimError::bad_request(
                Some(ScimType::InvalidPath),
                format!(
                    "attribute {item:?} is not valid at {}: {}",
                    e.pos, e.message
                ),
            )
        })?;
        match map_attr(&kinds, &p) {
            Some(new) => {
                n += 1;
                out.push(new.to_string());
            }
            None => out.push(item.to_string()),
        }
    }
    stats.map += n;
    Ok((n > 0).then(|| out.join(",")))
}

/// A query parameter name or value, decoded: percent-escapes, and `+` as a space
/// (application/x-www-form-urlencoded). Refused (400) when an escape is invalid, the bytes are
/// not UTF-8, or a control character results: the gateway and the target must read it alike.
/// Text without `%` or `+` is its own decoding, and is borrowed.
pub fn decode_param(s: &str) -> Result<Cow<'_, str>, ScimError> {
    let bad = || ScimError::bad_request(None, "the query is not percent-encoded UTF-8 text");
    let raw = s.as_bytes();
    let mut escaped = false;
    for (i, &b) in raw.iter().enumerate() {
        if b == b'%' {
            let hex = raw.get(i + 1..i + 3).unwrap_or_default();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad());
            }
        }
        escaped |= b == b'%' || b == b'+';
    }
    let text = if escaped {
        let bytes: Vec<u8> = percent_decode_str(&s.replace('+', " ")).collect();
        Cow::Owned(String::from_utf8(bytes).map_err(|_| bad())?)
    } else {
        Cow::Borrowed(s)
    };
    if text.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok(text)
}

/// Rewrite the parameters of a query string one by one: `f` gets each parameter's lowercased
/// name and decoded value and returns its new value, or `None` to keep the original bytes.
/// `Ok(None)` when nothing changes.
///
/// Nothing is allocated for a query that does not change but a parameter that needs decoding
/// or lowercasing: the new query is started at the first change, from the bytes before it.
pub fn map_params(
    query: &str,
    mut f: impl FnMut(&str, &str) -> Result<Option<String>, ScimError>,
) -> Result<Option<String>, ScimError> {
    let mut out: Option<String> = None;
    let mut at = 0;
    for pair in query.split('&') {
        let start = at;
        at += pair.len() + 1;
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_param(k)?;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            name
        };
        match f(&name, &decode_param(v)?)? {
            Some(text) => {
                let new = match out.as_mut() {
                    Some(new) => {
                        new.push('&');
                        new
                    }
                    // The parameters before this one as they came, with the `&` after them.
                    None => out.insert({
                        let mut new = String::with_capacity(query.len() + text.len() + 8);
                        new.push_str(query.get(..start).unwrap_or_default());
                        new
                    }),
                };
                new.push_str(k);
                new.push('=');
                new.extend(utf8_percent_encode(&text, ENCODE));
            }
            None => {
                if let Some(new) = out.as_mut() {
                    new.push('&');
                    new.push_str(pair);
                }
            }
        }
    }
    Ok(out)
}

/// Rewrite the query string of a request; `Ok(None)` when nothing changes.
pub fn rewrite_query(
    rules: &Rules,
    kind: Option<Kind>,
    query: &str,
    lenient: bool,
    stats: &mut Stats,
) -> Result<Option<String>, ScimError> {
    if !rules.maps_queries() {
        return Ok(None);
    }
    map_params(query, |name, value| match name {
        "filter" => rewrite_filter(rules, kind, value, lenient, stats),
        "attributes" | "excludedattributes" | "sortby" => {
            rewrite_attr_list(rules, kind, value, stats)
        }
        _ => Ok(None),
    })
}

/// Rewrite a SearchRequest body (`filter`, `attributes`, `excludedAttributes`, `sortBy`) in place.
pub fn rewrite_search_body(
    rules: &Rules,
    kind: Option<Kind>,
    body: &mut Value,
    lenient: bool,
    stats: &mut Stats,
) -> Result<(), ScimError> {
    if !rules.maps_queries() {
        return Ok(());
    }
    let Some(obj) = body.as_object_mut() else {
        return Ok(());
    };
    for (key, v) in obj.iter_mut() {
        let k = key.to_ascii_lowercase();
        match (k.as_str(), v) {
            ("filter", Value::String(s)) => {
                if let Some(new) = rewrite_filter(rules, kind, s, lenient, stats)? {
                    *s = new;
                }
            }
            ("attributes" | "excludedattributes", Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Value::String(s) = item {
                        if let Some(new) = rewrite_attr_list(rules, kind, s, stats)? {
                            *s = new;
                        }
                    }
                }
            }
            ("attributes" | "excludedattributes" | "sortby", Value::String(s)) => {
                if let Some(new) = rewrite_attr_list(rules, kind, s, stats)? {
                    *s = new;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `map_params` as it was before it started the new query lazily: every pair collected,
    /// then joined.
    fn map_params_joined(
        query: &str,
        mut f: impl FnMut(&str, &str) -> Result<Option<String>, ScimError>,
    ) -> Result<Option<String>, ScimError> {
        let mut changed = false;
        let mut parts: Vec<String> = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match f(&decode_param(k)?.to_ascii_lowercase(), &decode_param(v)?)? {
                Some(text) => {
                    changed = true;
                    parts.push(format!("{k}={}", utf8_percent_encode(&text, ENCODE)));
                }
                None => parts.push(pair.to_string()),
            }
        }
        Ok(changed.then(|| parts.join("&")))
    }

    #[test]
    fn parameters_are_rewritten_in_place_whatever_their_position() {
        // `count` doubled, `sortBy` (any case, any spelling) replaced; the rest kept as sent.
        let f = |seen: &mut Vec<String>, name: &str, value: &str| {
            seen.push(name.to_string());
            Ok(match name {
                "count" => Some(format!("{value}{value}")),
                "sortby" => Some("name.familyName & x".to_string()),
                _ => None,
            })
        };
        for query in [
            "count=10",
            "startIndex=1",
            "count=10&startIndex=1",
            "startIndex=1&count=10",
            "a=1&count=2&b=3&COUNT=4&c",
            "&&count=1&&",
            "",
            "filter=userName%20eq%20%22x%22&sort%42y=title&x=%41",
            "SortBy=a+b&count=",
        ] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let new = map_params(query, |n, v| f(&mut a, n, v)).unwrap();
            let old = map_params_joined(query, |n, v| f(&mut b, n, v)).unwrap();
            assert_eq!(new, old, "{query:?}");
            assert_eq!(a, b, "the names f sees, lowercased, for {query:?}");
        }
        assert_eq!(
            map_params("a=1&Count=5&b", |n, v| Ok(
                (n == "count").then(|| v.repeat(2))
            ))
            .unwrap(),
            Some("a=1&Count=55&b".to_string())
        );
        assert!(map_params("a=%zz", |_, _| Ok(None)).is_err());
    }

    #[test]
    fn a_parameter_is_decoded_and_borrowed_when_it_is_its_own_decoding() {
        assert!(matches!(decode_param("count"), Ok(Cow::Borrowed("count"))));
        assert!(matches!(decode_param(""), Ok(Cow::Borrowed(""))));
        for (raw, text) in [
            ("a+b", "a b"),
            ("co%75nt", "count"),
            ("userName%20eq%20%22%C3%A9%22", "userName eq \"é\""),
            ("%2B", "+"),
        ] {
            let got = decode_param(raw).unwrap();
            assert!(matches!(got, Cow::Owned(_)), "{raw}");
            assert_eq!(got, text, "{raw}");
        }
        // Refused either way: a bad escape, bytes that are not UTF-8, a control character raw
        // or escaped.
        for raw in ["%", "%4", "%zz", "%ff", "a\tb", "a%0Ab", "%7F"] {
            assert_eq!(decode_param(raw).unwrap_err().status, 400, "{raw:?}");
        }
    }
}
