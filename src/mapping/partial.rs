//! Response maps applied to only the members they touch (issue 15).
//!
//! [`super::translate::response`] parses a whole answer into a `Value` tree, maps it and writes
//! it out again. For a ListResponse most of each resource (`id`, `userName`, `name`, `emails`,
//! `meta`, …) is never read by a map, yet its parse, its allocations and its serialisation were
//! most of the cost of answering a list through a translating tenant. Here each resource is read
//! as an ordered list of `(key, raw JSON)` members; only the members a map can read or write,
//! `schemas` and the extension objects (which [`fix_schemas`](crate::scim::value::fix_schemas)
//! inspects) become a `Value` and go through the very same
//! [`resource::apply_response`](super::resource::apply_response); every other member is copied
//! through byte for byte.
//!
//! When every map that applies moves one whole attribute (no sub-attribute, no filter), even
//! those members stay JSON text and only move ([`simple`]).
//!
//! The result is the same JSON as the whole-tree path's: the same members and values, in the
//! same order (kept members where they were, removed ones gone, new ones last). What is not
//! plain (duplicate keys, a Bulk answer) is left to the whole-tree path ([`Partial::Whole`]).

use super::rules::{Kind, Rules};
use super::Stats;
use crate::scim::json;
use crate::scim::value::{extension, is_urn_key};
use scan::Scan;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// What [`response`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Partial {
    /// No map applied: the target's bytes stand.
    Unchanged,
    /// The mapped answer.
    Mapped(Vec<u8>),
    /// Not for this path (a Bulk answer, duplicate keys, not JSON): use the whole tree.
    Whole,
}

/// Apply the response maps of `rules` to an answer (a resource or a ListResponse) as
/// [`super::translate::response`] would, parsing only what the maps touch. The body is scanned
/// once ([`scan`]); only the touched members are parsed again.
pub fn response(rules: &Rules, rest: &str, body: &[u8], stats: &mut Stats) -> Partial {
    if !rules.maps_responses() {
        return Partial::Unchanged;
    }
    // UTF-8 checked once here; the scan reads the text as it is.
    let Ok(text) = std::str::from_utf8(body) else {
        return Partial::Whole;
    };
    let Ok(top) = Top::read(text) else {
        return Partial::Whole;
    };
    if has_duplicates(&top.0) {
        return Partial::Whole;
    }
    let default_kind = Kind::from_rest(rest);
    let before = stats.total();
    let list = top
        .0
        .iter()
        .position(|(_, slot)| !matches!(slot, Slot::Raw(_)));
    let Some(at) = list else {
        if top
            .0
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        {
            // A BulkResponse: its operations carry their own paths and answers (mapping::bulk).
            return Partial::Whole;
        }
        let members = Members(
            top.0
                .into_iter()
                .filter_map(|(k, slot)| match slot {
                    Slot::Raw(raw) => Some((k, raw)),
                    _ => None,
                })
                .collect(),
            None,
        );
        let mut out = Vec::with_capacity(body.len() + 256);
        return match resource(
            rules,
            default_kind,
            &members,
            &mut simple::Scratch::default(),
            stats,
            &mut out,
        ) {
            Err(()) => Partial::Whole,
            Ok(false) => Partial::Unchanged,
            Ok(true) if stats.total() == before => Partial::Unchanged,
            Ok(true) => Partial::Mapped(out),
        };
    };
    let Some((_, Slot::List(_))) = top.0.get(at) else {
        // `Resources` that is not an array: the whole-tree path treats the body as a resource.
        return Partial::Whole;
    };
    // Written as it goes: each resource is mapped straight into the answer.
    let mut out = Vec::with_capacity(body.len() + body.len() / 4);
    let mut scratch = simple::Scratch::default();
    out.push(b'{');
    for (i, (key, slot)) in top.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_name(&mut out, key);
        match slot {
            Slot::Raw(raw) => out.extend_from_slice(raw.as_bytes()),
            Slot::List(items) => {
                out.push(b'[');
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    match item {
                        Item::Object(members) => {
                            match resource(
                                rules,
                                default_kind,
                                members,
                                &mut scratch,
                                stats,
                                &mut out,
                            ) {
                                Ok(true) => {}
                                Ok(false) => members.write(&mut out),
                                Err(()) => return Partial::Whole,
                            }
                        }
                        // Written as the whole tree writes it (`1.0e2` as `100.0`).
                        Item::Other(raw) => {
                            let written = serde_json::from_str::<Value>(raw)
                                .map_err(drop)
                                .and_then(|v| json::write(&v, &mut out).map_err(drop));
                            if written.is_err() {
                                return Partial::Whole;
                            }
                        }
                    }
                }
                out.push(b']');
            }
            Slot::NotList => return Partial::Whole,
        }
    }
    out.push(b'}');
    if stats.total() == before {
        return Partial::Unchanged;
    }
    Partial::Mapped(out)
}

/// One resource: `Ok(false)` when no map's source member is in it (nothing taken, nothing
/// written), `Ok(true)` when maps ran and the mapped resource was written to `out`, `Err` for
/// the whole-tree path (nothing written).
fn resource<'a>(
    rules: &'a Rules,
    default_kind: Option<Kind>,
    members: &Members<'a>,
    scratch: &mut simple::Scratch<'a>,
    stats: &mut Stats,
    out: &mut Vec<u8>,
) -> Result<bool, ()> {
    if has_duplicates(&members.0) {
        return Err(());
    }
    let Some(kind) = members.kind().or(default_kind) else {
        return Ok(false);
    };
    let maps = &rules.for_kind(kind).maps;
    // `Some(false)` there when no map's source member is in the resource (every `take` would
    // find nothing, and apply_response returns before changing anything); `None` only when
    // one is.
    if let Some(done) = simple::apply(maps, kind, members, scratch, stats, out) {
        return Ok(done);
    }
    let touched = |key: &str| {
        key.eq_ignore_ascii_case("schemas")
            || is_urn_key(key)
            || maps.iter().any(|m| {
                key.eq_ignore_ascii_case(top_key(m.to.attr()))
                    || key.eq_ignore_ascii_case(top_key(m.from.attr()))
            })
    };
    // Every member goes in, in order: the untouched ones as their index, which no map and no
    // `fix_schemas` reads or changes, so the members keep the order the whole-tree path gives
    // them (an extension object a take empties and a put creates again goes last there too).
    let mut sub = Map::new();
    let mut len = 2;
    for (i, (key, raw)) in members.0.iter().enumerate() {
        len += key.len() + raw.len() + 4;
        let v = if touched(key) {
            serde_json::from_str(raw).map_err(drop)?
        } else {
            Value::from(i)
        };
        sub.insert(key.to_string(), v);
    }
    let mut sub = Value::Object(sub);
    super::resource::apply_response(rules, kind, &mut sub, stats);
    let Value::Object(sub) = sub else {
        return Err(());
    };
    let mark = out.len();
    out.reserve(len + len / 4);
    out.push(b'{');
    let mut first = true;
    for (key, v) in &sub {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        write_key(out, key);
        let raw = if touched(key) {
            None
        } else {
            v.as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| members.0.get(i))
        };
        let written = match raw {
            Some((_, raw)) => {
                out.extend_from_slice(raw.as_bytes());
                Ok(())
            }
            None => json::write(v, out).map_err(drop),
        };
        if written.is_err() {
            out.truncate(mark);
            return Err(());
        }
    }
    out.push(b'}');
    Ok(true)
}

/// Two names that differ only in case (or not at all).
fn has_duplicates<T>(members: &[(Cow<'_, str>, T)]) -> bool {
    let mut rest = members;
    while let Some(((name, _), others)) = rest.split_first() {
        let len = name.len();
        if others
            .iter()
            .any(|(other, _)| other.len() == len && other.eq_ignore_ascii_case(name))
        {
            return true;
        }
        rest = others;
    }
    false
}

/// The top-level member a path lives in: its extension's object, or the attribute itself.
fn top_key(attr: &crate::scim::expr::AttrPath) -> &str {
    extension(attr.urn.as_deref()).unwrap_or(&attr.name)
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    json::write_str(key, out);
    out.push(b':');
}

/// A member name as read: one borrowed from the body had no escapes (and JSON strings hold no
/// raw control characters), so it goes back as it came; others are escaped again.
// The `Cow` is the point: whether the name was borrowed says whether it had escapes.
#[allow(clippy::ptr_arg)]
fn write_name(out: &mut Vec<u8>, key: &Cow<'_, str>) {
    match key {
        Cow::Borrowed(k) => {
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
        }
        Cow::Owned(k) => write_key(out, k),
    }
}

/// An object's members in order, values left as their JSON text; and, when the scan noted it,
/// the raw `resourceType` of its `meta` (`Some(None)`: none there).
struct Members<'a>(Vec<(Cow<'a, str>, &'a str)>, Option<Option<&'a str>>);

impl<'a> Members<'a> {
    /// The members of the object at the cursor. `meta`'s `resourceType` is noted on the way,
    /// so [`Members::kind`] need not read `meta` again.
    fn scan(scan: &mut Scan<'a>) -> Result<Self, ()> {
        let mut members = Vec::with_capacity(12);
        // As `kind` reads it: the last `meta`, if an object, and its last `resourceType`.
        let mut meta_type = None;
        scan.object(|name, s| {
            let raw = if name == "meta" && s.at_object() {
                let (raw, found) = meta(s)?;
                meta_type = found;
                raw
            } else {
                if name == "meta" {
                    meta_type = None;
                }
                s.value()?
            };
            members.push((name, raw));
            Ok(())
        })?;
        Ok(Members(members, Some(meta_type)))
    }

    /// Written back as an object (names re-escaped, values as they came).
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, raw)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_name(out, key);
            out.extend_from_slice(raw.as_bytes());
        }
        out.push(b'}');
    }

    /// [`Kind::of_resource`] on these members: `meta.resourceType`, then `schemas` (exact
    /// names, the last of equal ones, as a `Value` would hold them).
    fn kind(&self) -> Option<Kind> {
        fn get<'a>(members: &[(Cow<'a, str>, &'a str)], name: &str) -> Option<&'a str> {
            members
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, r)| *r)
        }
        // `meta.resourceType`, the last of equal names, read without keeping `meta`'s members
        // (noted by the scan, or read here).
        let meta_type = self.1.unwrap_or_else(|| {
            get(&self.0, "meta")
                .filter(|m| m.starts_with('{'))
                .and_then(|m| meta(&mut Scan::new(m)).ok()?.1)
        });
        let rt = meta_type.and_then(scan::string);
        match rt.as_deref() {
            Some(t) if t.eq_ignore_ascii_case("User") => return Some(Kind::User),
            Some(t) if t.eq_ignore_ascii_case("Group") => return Some(Kind::Group),
            _ => {}
        }
        let schemas = get(&self.0, "schemas").and_then(scan::elements)?;
        let has = |urn: &str| {
            schemas
                .iter()
                .any(|s| scan::string(s).is_some_and(|s| s.eq_ignore_ascii_case(urn)))
        };
        if has(crate::scim::value::CORE_USER_URN) {
            Some(Kind::User)
        } else if has(crate::scim::value::CORE_GROUP_URN) {
            Some(Kind::Group)
        } else {
            None
        }
    }
}

/// The `meta` object at the cursor: its text, and the raw value of its last `resourceType`.
fn meta<'a>(s: &mut Scan<'a>) -> Result<(&'a str, Option<&'a str>), ()> {
    let mut found = None;
    let raw = s.object_text(|name, s| {
        let v = s.value()?;
        if name == "resourceType" {
            found = Some(v);
        }
        Ok(())
    })?;
    Ok((raw, found))
}

/// The answer's top level: its members, with `Resources` (any case) read as a list of resources
/// in the same pass.
struct Top<'a>(Vec<(Cow<'a, str>, Slot<'a>)>);

enum Slot<'a> {
    Raw(&'a str),
    List(Vec<Item<'a>>),
    /// `Resources` that is not an array.
    NotList,
}

/// An element of `Resources`: a resource's members, or whatever else a target put there.
enum Item<'a> {
    Object(Members<'a>),
    Other(&'a str),
}

impl<'a> Top<'a> {
    fn read(text: &'a str) -> Result<Self, ()> {
        let mut scan = Scan::new(text);
        let mut members = Vec::with_capacity(8);
        scan.object(|name, s| {
            let slot = if name.eq_ignore_ascii_case("Resources") {
                let mut items = Vec::with_capacity(16);
                let list = s.array(|s| {
                    items.push(if s.at_object() {
                        Item::Object(Members::scan(s)?)
                    } else {
                        Item::Other(s.value()?)
                    });
                    Ok(())
                })?;
                if list {
                    Slot::List(items)
                } else {
                    s.value()?;
                    Slot::NotList
                }
            } else {
                Slot::Raw(s.value()?)
            };
            members.push((name, slot));
            Ok(())
        })?;
        scan.end()?;
        Ok(Top(members))
    }
}

mod scan;
mod simple;

#[cfg(test)]
mod tests;
