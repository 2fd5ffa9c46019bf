//! Personal values out of what the console shows, unless the tenant's policy says
//! `[log] pii = true`. Applied when a record is shown, never on the request path.
//!
//! "Personal value" is decided by allowlist, so an attribute nobody thought of (a custom
//! extension holding a cost centre) is redacted too. Kept, in bodies: the keys and the
//! structure; `true`, `false` and `null`; and the values of `schemas`, `id`, `meta`'s
//! `resourceType`, `created`, `lastModified`, `location`, `version`, `$ref`, PATCH `op` and
//! `path`, `type`, `primary`, `active`, `userType`, `preferredLanguage`, `locale`, `timezone`,
//! Bulk `method`, `bulkId`, `status`, error `scimType` and `detail`, list `totalResults`,
//! `itemsPerPage`, `startIndex`, the `value` of group `members` (ids), and the `value` of a PATCH
//! operation whose `path` names a kept attribute (`active`, `members`). Everything else —
//! `userName`, `name`, `displayName`, `emails`, `phoneNumbers`, `addresses`, `externalId`,
//! `title`, enterprise attributes, … — becomes `"‹redacted›"`. In filters (the `filter` query
//! parameter, PATCH paths) a compared value is redacted unless its attribute is `type`,
//! `primary`, `id`, `active` or a member's `value`.
//!
//! The scanner is lexical, not a parser: it works on the first 16 KiB of a longer body too.

use super::record::REDACTED;

/// Keys (lowercased, after a URN prefix) whose scalar values are not personal.
const KEPT: [&str; 29] = [
    "schemas",
    "id",
    "op",
    "path",
    "type",
    "primary",
    "active",
    "resourcetype",
    "created",
    "lastmodified",
    "location",
    "version",
    "$ref",
    "bulkid",
    "method",
    "status",
    "scimtype",
    "detail",
    "totalresults",
    "itemsperpage",
    "startindex",
    "usertype",
    "preferredlanguage",
    "locale",
    "timezone",
    "failonerrors",
    "maxoperations",
    "maxpayloadsize",
    "supported",
];

/// Containers whose `value`s are resource ids.
const ID_LISTS: [&str; 2] = ["members", "groups"];

/// Filter attributes whose compared values are not personal.
const FILTER_KEPT: [&str; 5] = ["type", "primary", "id", "active", "resourcetype"];

/// Filter comparison operators (RFC 7644 §3.4.2.2).
const OPERATORS: [&str; 9] = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

/// The attribute name that decides: after a URN prefix, before a dotted sub-attribute.
fn attr_of(key: &str) -> String {
    let key = key.split('[').next().unwrap_or(key);
    let key = if key.to_ascii_lowercase().starts_with("urn:") {
        key.rsplit(':').next().unwrap_or(key)
    } else {
        key
    };
    key.split('.').next().unwrap_or(key).to_ascii_lowercase()
}

fn is_kept(attr: &str) -> bool {
    KEPT.contains(&attr)
}

struct Frame {
    object: bool,
    /// The key this container sits under (an array's elements inherit it).
    key: Option<String>,
    /// The object's PATCH `path`, once seen.
    path: Option<String>,
    /// The member key being read (objects).
    member: Option<String>,
    expect_key: bool,
}

/// A JSON text (whole or cut short) with personal values replaced.
pub fn body(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut stack: Vec<Frame> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'{' | b'[' => {
                let key = current_key(&stack);
                stack.push(Frame {
                    object: b == b'{',
                    key,
                    path: None,
                    member: None,
                    expect_key: b == b'{',
                });
                out.push(b as char);
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                out.push(b as char);
                i += 1;
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    if f.object {
                        f.expect_key = true;
                        f.member = None;
                    }
                }
                out.push(',');
                i += 1;
            }
            b':' => {
                if let Some(f) = stack.last_mut() {
                    f.expect_key = false;
                }
                out.push(':');
                i += 1;
            }
            b'"' => {
                let end = string_end(bytes, i);
                let raw = text.get(i..end).unwrap_or_default();
                let is_key = stack.last().is_some_and(|f| f.object && f.expect_key);
                if is_key {
                    if let Some(f) = stack.last_mut() {
                        f.member = Some(unescape(raw));
                    }
                    out.push_str(raw);
                } else {
                    string_value(&mut out, &mut stack, raw);
                }
                i = end;
            }
            b if b.is_ascii_whitespace() => {
                out.push(b as char);
                i += 1;
            }
            _ => {
                // A number or a literal; anything else is copied as it is.
                let end = bytes
                    .iter()
                    .skip(i)
                    .position(|c| matches!(c, b',' | b'}' | b']' | b':') || c.is_ascii_whitespace())
                    .map_or(bytes.len(), |n| i + n);
                let token = text.get(i..end).unwrap_or_default();
                let literal = matches!(token, "true" | "false" | "null");
                let number = token
                    .as_bytes()
                    .first()
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'-');
                if literal || (number && keeps(&stack)) {
                    out.push_str(token);
                } else {
                    out.push_str(&quoted(REDACTED));
                }
                i = end.max(i + 1);
            }
        }
    }
    out
}

/// The key a new container or a scalar sits under.
fn current_key(stack: &[Frame]) -> Option<String> {
    let f = stack.last()?;
    if f.object {
        f.member.clone()
    } else {
        f.key.clone()
    }
}

/// Whether the scalar being read is kept.
fn keeps(stack: &[Frame]) -> bool {
    let Some(key) = current_key(stack) else {
        return false;
    };
    let attr = attr_of(&key);
    if is_kept(&attr) {
        return true;
    }
    if attr == "value" {
        // The value of a PATCH operation: kept when its path names a kept attribute or ids.
        if let Some(path) = stack.iter().rev().find_map(|f| f.path.as_deref()) {
            let p = attr_of(path);
            return is_kept(&p) || ID_LISTS.contains(&p.as_str());
        }
        return stack.iter().rev().any(|f| {
            f.key
                .as_deref()
                .is_some_and(|k| ID_LISTS.contains(&attr_of(k).as_str()))
        });
    }
    false
}

fn string_value(out: &mut String, stack: &mut [Frame], raw: &str) {
    let key = current_key(stack).map(|k| attr_of(&k));
    if key.as_deref() == Some("path") {
        let path = unescape(raw);
        out.push_str(&quoted(&filter(&path)));
        if let Some(f) = stack.last_mut() {
            f.path = Some(path);
        }
    } else if keeps(stack) {
        out.push_str(raw);
    } else {
        out.push_str(&quoted(REDACTED));
    }
}

/// Where the string starting at `start` (a `"`) ends: after its closing quote, or at the end
/// of a text cut short.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The text of a JSON string token (maybe without its closing quote).
fn unescape(raw: &str) -> String {
    let closed = if raw.len() >= 2 && raw.ends_with('"') && !raw.ends_with("\\\"") {
        raw.to_string()
    } else {
        format!("{raw}\"")
    };
    serde_json::from_str::<String>(&closed).unwrap_or_else(|_| {
        raw.trim_start_matches('"')
            .trim_end_matches('"')
            .to_string()
    })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{REDACTED}\""))
}

/// A SCIM filter (or PATCH path) with its compared values redacted, unless they compare an
/// attribute that is not personal (`type`, `primary`, `id`, `active`, a member's `value`).
pub fn filter(f: &str) -> String {
    let ids = {
        let lower = f.trim_start().to_ascii_lowercase();
        ID_LISTS.iter().any(|l| lower.starts_with(l))
    };
    // Tokens: (start, end) of words and quoted strings; brackets and parens split words.
    let bytes = f.as_bytes();
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                let end = string_end(bytes, i);
                tokens.push((i, end));
                i = end;
            }
            b'[' | b']' | b'(' | b')' => {
                tokens.push((i, i + 1));
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                let end = bytes
                    .iter()
                    .skip(i)
                    .position(|c| {
                        matches!(c, b'"' | b'[' | b']' | b'(' | b')') || c.is_ascii_whitespace()
                    })
                    .map_or(bytes.len(), |n| i + n);
                tokens.push((i, end));
                i = end;
            }
        }
    }
    let text = |t: &(usize, usize)| f.get(t.0..t.1).unwrap_or_default();
    let mut out = String::with_capacity(f.len());
    let mut copied = 0;
    for (n, t) in tokens.iter().enumerate() {
        let (Some(attr), Some(op)) = (
            n.checked_sub(2).and_then(|k| tokens.get(k)),
            n.checked_sub(1).and_then(|k| tokens.get(k)),
        ) else {
            continue;
        };
        if !OPERATORS.iter().any(|o| text(op).eq_ignore_ascii_case(o)) {
            continue;
        }
        let attr = attr_of(text(attr).trim_start_matches('.'));
        let value = text(t);
        let literal = matches!(value, "true" | "false" | "null");
        if literal || FILTER_KEPT.contains(&attr.as_str()) || (ids && attr == "value") {
            continue;
        }
        out.push_str(f.get(copied..t.0).unwrap_or_default());
        out.push_str(&quoted(REDACTED));
        copied = t.1;
    }
    out.push_str(f.get(copied..).unwrap_or_default());
    out
}

/// Query parameters that shape a list, not personal.
const QUERY_KEPT: [&str; 7] = [
    "attributes",
    "excludedattributes",
    "count",
    "startindex",
    "sortby",
    "sortorder",
    "cursor",
];

/// A raw query decoded for reading; when `!pii`, the `filter`'s compared values and unknown
/// parameters' values redacted.
pub fn query(raw: &str, pii: bool) -> String {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name);
            let value = decode(value);
            let lower = name.to_ascii_lowercase();
            let shown = if pii || QUERY_KEPT.contains(&lower.as_str()) {
                value
            } else if lower == "filter" {
                filter(&value)
            } else {
                REDACTED.to_string()
            };
            format!("{name}={shown}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
#[path = "redact/tests.rs"]
mod tests;
