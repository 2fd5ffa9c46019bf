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
use crate::scim::value::{extension, is_urn_key};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
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
/// once; only the touched members are parsed again, into `Value`s.
pub fn response(rules: &Rules, rest: &str, body: &[u8], stats: &mut Stats) -> Partial {
    if !rules.maps_responses() {
        return Partial::Unchanged;
    }
    // UTF-8 checked once here: from a `&str`, serde_json borrows each member's raw text
    // without checking it again (from bytes it would, member by member).
    let Ok(text) = std::str::from_utf8(body) else {
        return Partial::Whole;
    };
    let Ok(top) = serde_json::from_str::<Top>(text) else {
        return Partial::Whole;
    };
    if has_duplicates(top.0.iter().map(|(k, _)| k)) {
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
        );
        return match resource(rules, default_kind, &members, stats) {
            Err(()) => Partial::Whole,
            Ok(_) if stats.total() == before => Partial::Unchanged,
            Ok(Some(bytes)) => Partial::Mapped(bytes),
            Ok(None) => Partial::Unchanged,
        };
    };
    let Some((_, Slot::List(items))) = top.0.get(at) else {
        // `Resources` that is not an array: the whole-tree path treats the body as a resource.
        return Partial::Whole;
    };
    let mut mapped = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Object(members) => match resource(rules, default_kind, members, stats) {
                Ok(m) => mapped.push(m),
                Err(()) => return Partial::Whole,
            },
            Item::Other(_) => mapped.push(None),
        }
    }
    if stats.total() == before {
        return Partial::Unchanged;
    }
    let mut out = Vec::with_capacity(body.len() + body.len() / 4);
    out.push(b'{');
    for (i, (key, slot)) in top.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_name(&mut out, key);
        match slot {
            Slot::Raw(raw) => out.extend_from_slice(raw.get().as_bytes()),
            Slot::List(items) => {
                out.push(b'[');
                for (j, (item, m)) in items.iter().zip(&mapped).enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    match (m, item) {
                        (Some(bytes), _) => out.extend_from_slice(bytes),
                        (None, Item::Object(members)) => members.write(&mut out),
                        (None, Item::Other(v)) => {
                            if serde_json::to_writer(&mut out, v).is_err() {
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
    Partial::Mapped(out)
}

/// One resource: `Ok(None)` when no map's source member is in it (nothing taken, nothing to
/// write), `Ok(Some(json))` when maps ran, `Err` for the whole-tree path.
fn resource(
    rules: &Rules,
    default_kind: Option<Kind>,
    members: &Members<'_>,
    stats: &mut Stats,
) -> Result<Option<Vec<u8>>, ()> {
    if has_duplicates(members.0.iter().map(|(k, _)| k)) {
        return Err(());
    }
    let Some(kind) = members.kind().or(default_kind) else {
        return Ok(None);
    };
    let maps = &rules.for_kind(kind).maps;
    let present = |name: &str| members.0.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !maps.iter().any(|m| present(top_key(m.to.attr()))) {
        // Every `take` would find nothing: apply_response returns before changing anything.
        return Ok(None);
    }
    if let Some(out) = simple::apply(maps, kind, members, stats) {
        return Ok(out);
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
        len += key.len() + raw.get().len() + 4;
        let v = if touched(key) {
            serde_json::from_str(raw.get()).map_err(drop)?
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
    let mut out = Vec::with_capacity(len + len / 4);
    out.push(b'{');
    let mut first = true;
    for (key, v) in &sub {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        write_key(&mut out, key);
        let raw = if touched(key) {
            None
        } else {
            v.as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| members.0.get(i))
        };
        match raw {
            Some((_, raw)) => out.extend_from_slice(raw.get().as_bytes()),
            None => serde_json::to_writer(&mut out, v).map_err(drop)?,
        }
    }
    out.push(b'}');
    Ok(Some(out))
}

/// Two names that differ only in case (or not at all).
fn has_duplicates<'k>(keys: impl Iterator<Item = &'k Cow<'k, str>> + Clone) -> bool {
    keys.clone().enumerate().any(|(i, k)| {
        keys.clone()
            .skip(i + 1)
            .any(|other| other.eq_ignore_ascii_case(k))
    })
}

/// The top-level member a path lives in: its extension's object, or the attribute itself.
fn top_key(attr: &crate::scim::expr::AttrPath) -> &str {
    extension(attr.urn.as_deref()).unwrap_or(&attr.name)
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, key);
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

/// An object's members in order, values left as their JSON text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl Members<'_> {
    /// Written back as an object (names re-escaped, values as they came).
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, raw)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_name(out, key);
            out.extend_from_slice(raw.get().as_bytes());
        }
        out.push(b'}');
    }

    /// [`Kind::of_resource`] on these members: `meta.resourceType`, then `schemas` (exact
    /// names, the last of equal ones, as a `Value` would hold them).
    fn kind(&self) -> Option<Kind> {
        fn get<'a>(members: &[(Cow<'a, str>, &'a RawValue)], name: &str) -> Option<&'a RawValue> {
            members
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, r)| *r)
        }
        /// The text of a JSON string, `None` for any other value.
        fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
            raw.get()
                .starts_with('"')
                .then(|| serde_json::from_str::<Key>(raw.get()).ok().map(|k| k.0))
                .flatten()
        }
        let rt = get(&self.0, "meta")
            .filter(|m| m.get().starts_with('{'))
            .and_then(|m| serde_json::from_str::<Members>(m.get()).ok())
            .and_then(|m| {
                get(&m.0, "resourceType")
                    .and_then(string)
                    .map(Cow::into_owned)
            });
        match rt {
            Some(t) if t.eq_ignore_ascii_case("User") => return Some(Kind::User),
            Some(t) if t.eq_ignore_ascii_case("Group") => return Some(Kind::Group),
            _ => {}
        }
        let schemas = get(&self.0, "schemas").filter(|s| s.get().starts_with('['))?;
        let schemas = serde_json::from_str::<Vec<&RawValue>>(schemas.get()).ok()?;
        let has = |urn: &str| {
            schemas
                .iter()
                .any(|s| string(s).is_some_and(|s| s.eq_ignore_ascii_case(urn)))
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

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(12));
        while let Some(Key(k)) = map.next_key()? {
            members.push((k, map.next_value::<&RawValue>()?));
        }
        Ok(Members(members))
    }
}

/// The answer's top level: its members, with `Resources` (any case) read as a list of resources
/// in the same pass.
struct Top<'a>(Vec<(Cow<'a, str>, Slot<'a>)>);

enum Slot<'a> {
    Raw(&'a RawValue),
    List(Vec<Item<'a>>),
    /// `Resources` that is not an array.
    NotList,
}

/// An element of `Resources`: a resource's members, or whatever else a target put there.
enum Item<'a> {
    Object(Members<'a>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
                let mut members = Vec::with_capacity(8);
                while let Some(Key(k)) = map.next_key()? {
                    let slot = if k.eq_ignore_ascii_case("Resources") {
                        map.next_value::<ListSlot>()?.0
                    } else {
                        Slot::Raw(map.next_value::<&RawValue>()?)
                    };
                    members.push((k, slot));
                }
                Ok(Top(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// `Resources`: a list of items, or [`Slot::NotList`] for any other JSON value.
struct ListSlot<'a>(Slot<'a>);

impl<'de> Deserialize<'de> for ListSlot<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ListSlot<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListSlot<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some(item) = seq.next_element::<Item>()? {
                    items.push(item);
                }
                Ok(ListSlot(Slot::List(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ListSlot<'de>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(map))?;
                Ok(ListSlot(Slot::NotList))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ListSlot<'de>, E> {
                Ok(ListSlot(Slot::NotList))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ListSlot<'de>, E> {
                Ok(ListSlot(Slot::NotList))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ListSlot<'de>, E> {
                Ok(ListSlot(Slot::NotList))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ListSlot<'de>, E> {
                Ok(ListSlot(Slot::NotList))
            }
            fn visit_str<E>(self, _: &str) -> Result<ListSlot<'de>, E> {
                Ok(ListSlot(Slot::NotList))
            }
            fn visit_unit<E>(self) -> Result<ListSlot<'de>, E> {
                Ok(ListSlot(Slot::NotList))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item<'de>, A::Error> {
                MembersVisitor.visit_map(map).map(Item::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item<'de>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(seq)).map(Item::Other)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Item<'de>, E> {
                Ok(Item::Other(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Item<'de>, E> {
                Ok(Item::Other(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Item<'de>, E> {
                Ok(Item::Other(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Item<'de>, E> {
                Ok(Item::Other(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Item<'de>, E> {
                Ok(Item::Other(Value::String(v.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Item<'de>, E> {
                Ok(Item::Other(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// A member name, borrowed from the body unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

mod simple;

#[cfg(test)]
mod tests;
