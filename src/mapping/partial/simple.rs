//! The byte path of [`super`]: when every map that applies to a resource moves one whole
//! attribute (no sub-attribute, no value filter), e.g. Webex's `extensionAttribute1` back to the
//! enterprise `department`, the values move as their JSON text and no `Value` is built but
//! `schemas`. It does what [`crate::scim::value::take`], [`crate::scim::value::put`] and
//! [`crate::scim::value::fix_schemas`] do for such paths, step for step: takes in map order,
//! then puts, then `schemas`; members keep their place, new ones go last, names are matched in
//! any case and keep their spelling. The property test in `tests/mapping_props.rs` holds it to
//! the whole-tree path.

use super::scan::{self, Scan};
use super::{write_name, Members};
use crate::mapping::rules::{Kind, MapRule};
use crate::mapping::Stats;
use crate::scim::expr::{AttrPath, PatchPath};
use crate::scim::json;
use crate::scim::value::{extension, is_urn_key};
use serde_json::Value;
use smallvec::SmallVec;
use std::borrow::Cow;

/// A member's value: as the target wrote it, an object being changed, or a rebuilt `schemas`
/// (as a `Value`, or already written out as JSON text).
enum Node<'a> {
    Raw(&'a str),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
    Json(Value),
    Text(Vec<u8>),
}

impl Node<'_> {
    fn is_null(&self) -> bool {
        match self {
            Node::Raw(r) => *r == "null",
            Node::Json(v) => v.is_null(),
            Node::Object(_) | Node::Text(_) => false,
        }
    }

    /// `Some(empty?)` for an object, `None` for anything else.
    fn object_empty(&self) -> Option<bool> {
        match self {
            Node::Object(m) => Some(m.is_empty()),
            Node::Raw(r) => r
                .strip_prefix('{')
                .map(|rest| rest.trim_start().starts_with('}')),
            Node::Json(v) => v.as_object().map(serde_json::Map::is_empty),
            Node::Text(_) => None,
        }
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), ()> {
        match self {
            Node::Raw(r) => out.extend_from_slice(r.as_bytes()),
            Node::Json(v) => json::write(v, out).map_err(drop)?,
            Node::Text(t) => out.extend_from_slice(t),
            Node::Object(members) => write_object(members, out)?,
        }
        Ok(())
    }
}

fn write_object(members: &Object<'_>, out: &mut Vec<u8>) -> Result<(), ()> {
    out.push(b'{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_name(out, k);
        v.write(out)?;
    }
    out.push(b'}');
    Ok(())
}

type Object<'a> = Vec<(Cow<'a, str>, Node<'a>)>;

/// The member list [`apply`] works in, kept from one resource of a list to the next so that
/// its room is allocated once an answer.
#[derive(Default)]
pub(super) struct Scratch<'a>(Object<'a>);

/// The attribute a simple path names: no sub-attribute, no filter.
fn simple(path: &PatchPath) -> Option<&AttrPath> {
    match path {
        PatchPath::Attr(a) if a.sub.is_none() => Some(a),
        _ => None,
    }
}

/// Like `find_key`: the exact name first, else the first equal in any case.
fn find(map: &Object<'_>, name: &str) -> Option<usize> {
    let mut any_case = None;
    for (i, (k, _)) in map.iter().enumerate() {
        if k.len() != name.len() {
            continue;
        }
        if k == name {
            return Some(i);
        }
        if any_case.is_none() && k.eq_ignore_ascii_case(name) {
            any_case = Some(i);
        }
    }
    any_case
}

/// Like `set_ci`: overwrite in place keeping the spelling, or add `name` last.
fn set<'a>(map: &mut Object<'a>, name: &'a str, value: Node<'a>) {
    match find(map, name).and_then(|i| map.get_mut(i)) {
        Some(slot) => slot.1 = value,
        None => map.push((name_of(name), value)),
    }
}

/// A name from the rules as a member name: borrowed (written as it is, see `write_name`) when
/// JSON needs no escape in it, as attribute names and URNs do not.
fn name_of(name: &str) -> Cow<'_, str> {
    if plain(name) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(name.to_owned())
    }
}

/// Printable ASCII without `"` or `\\`: text JSON carries as it is. (A fold with no early exit,
/// which the compiler turns into vector code: these are URNs of 40 to 60 bytes.)
fn plain(s: &str) -> bool {
    !s.bytes().fold(false, |bad, b| {
        bad | !(0x20..0x7f).contains(&b) | (b == b'"') | (b == b'\\')
    })
}

/// `None`: not for this path (a map that applies is not simple, an object it reaches has
/// duplicate names), nothing written. `Some(false)`: nothing was taken, nothing changes.
/// `Some(true)`: the mapped resource was written to `out`.
pub(super) fn apply<'a>(
    maps: &'a [MapRule],
    kind: Kind,
    members: &Members<'a>,
    scratch: &mut Scratch<'a>,
    stats: &mut Stats,
    out: &mut Vec<u8>,
) -> Option<bool> {
    let top = &mut scratch.0;
    top.clear();
    // Room for the members a put adds (an extension object, an attribute).
    top.reserve(members.0.len() + 2);
    top.extend(members.0.iter().map(|(k, r)| (k.clone(), Node::Raw(r))));
    // The maps whose source's member is there; only they can take anything.
    let mut active: SmallVec<[(&AttrPath, &AttrPath); 8]> = SmallVec::new();
    for m in maps {
        let to_key = super::top_key(m.to.attr());
        if find(top, to_key).is_none() {
            continue;
        }
        active.push((simple(&m.to)?, simple(&m.from)?));
    }
    if active.is_empty() {
        return Some(false);
    }
    // Every extension object a map reads or writes, opened now, so nothing below can fail.
    // Each URN once (maps mostly share one or two).
    let mut urns: SmallVec<[&str; 4]> = SmallVec::new();
    for (to, from) in &active {
        for urn in [extension(to.urn.as_deref()), extension(from.urn.as_deref())]
            .into_iter()
            .flatten()
        {
            if !urns.contains(&urn) {
                urns.push(urn);
            }
        }
    }
    for urn in urns {
        let Some(slot) = find(top, urn).and_then(|i| top.get_mut(i)) else {
            continue;
        };
        if let Node::Raw(raw) = slot.1 {
            if raw.starts_with('{') {
                let mut inner: Object<'a> = Vec::with_capacity(4);
                let mut scan = Scan::new(raw);
                scan.object(|name, s| {
                    inner.push((name, Node::Raw(s.value()?)));
                    Ok(())
                })
                .ok()?;
                if super::has_duplicates(&inner) {
                    return None;
                }
                slot.1 = Node::Object(inner);
            }
        }
    }
    // Takes, in map order.
    let mut taken: SmallVec<[(&AttrPath, Node<'a>); 8]> = SmallVec::new();
    for (to, from) in &active {
        let value = match extension(to.urn.as_deref()) {
            Some(urn) => {
                let Some(at) = find(top, urn) else { continue };
                let Some((_, Node::Object(ext))) = top.get_mut(at) else {
                    continue;
                };
                let Some(i) = find(ext, &to.name) else {
                    continue;
                };
                let (_, v) = ext.remove(i);
                if ext.is_empty() {
                    top.remove(at);
                }
                v
            }
            None => {
                let Some(i) = find(top, &to.name) else {
                    continue;
                };
                top.remove(i).1
            }
        };
        taken.push((*from, value));
    }
    if taken.is_empty() {
        return Some(false);
    }
    // Puts, in map order.
    let mut put = 0;
    for (from, value) in taken {
        match extension(from.urn.as_deref()) {
            None => {
                set(top, &from.name, value);
                put += 1;
            }
            Some(urn) => match find(top, urn).and_then(|i| top.get_mut(i)) {
                Some((_, Node::Object(ext))) => {
                    set(ext, &from.name, value);
                    put += 1;
                }
                Some((_, slot)) if slot.is_null() => {
                    *slot = Node::Object(vec![(name_of(&from.name), value)]);
                    put += 1;
                }
                // Another type there: the put fails and the value is dropped, as `put` does.
                Some(_) => {}
                None => {
                    top.push((
                        name_of(urn),
                        Node::Object(vec![(name_of(&from.name), value)]),
                    ));
                    put += 1;
                }
            },
        }
    }
    fix_schemas(top, kind.core_urn())?;
    let mark = out.len();
    if write_object(top, out).is_err() {
        out.truncate(mark);
        return None;
    }
    top.clear();
    // Counted only now: a `None` above leaves the resource to the other path, which counts.
    stats.map += put;
    Some(true)
}

/// `fix_schemas` on the members: drop empty or null extension objects, make `schemas` list the
/// core URN and the extensions in use.
fn fix_schemas(top: &mut Object<'_>, core_urn: &str) -> Option<()> {
    // Only empty or null extension objects go, none of which is in use below.
    top.retain(|(k, n)| {
        !(is_urn_key(k)
            && (n.is_null() || n.object_empty() == Some(true))
            && !k.eq_ignore_ascii_case(core_urn))
    });
    // A borrowed name is JSON text that needs no escape (see `write_name`).
    let in_use: SmallVec<[&Cow<'_, str>; 4]> = top
        .iter()
        .filter(|(k, n)| {
            is_urn_key(k) && n.object_empty() == Some(false) && !k.eq_ignore_ascii_case(core_urn)
        })
        .map(|(k, _)| k)
        .collect();
    let at = find(top, "schemas");
    // The URNs as the target wrote them, borrowed: JSON string text without an escape, which
    // goes back as it is. Anything else (a value not a string, an escape in one) goes the
    // `Value` way.
    let listed: SmallVec<[&str; 4]> = match at.and_then(|i| top.get(i)).map(|(_, n)| n) {
        Some(&Node::Raw(r)) if r.starts_with('[') => match scan::plain_strings(r) {
            Some(v) => v,
            None => {
                let owned = owned(&in_use);
                drop(in_use);
                return fix_schemas_values(top, core_urn, owned);
            }
        },
        Some(Node::Json(_)) => {
            let owned = owned(&in_use);
            drop(in_use);
            return fix_schemas_values(top, core_urn, owned);
        }
        Some(n) if !n.is_null() => return Some(()),
        _ if in_use.is_empty() => return Some(()),
        _ => smallvec::smallvec![core_urn],
    };
    let used = |s: &str| in_use.iter().any(|u| u.eq_ignore_ascii_case(s));
    let mut text = Vec::with_capacity(64 * (listed.len() + in_use.len()));
    text.push(b'[');
    let mut first = true;
    // `as_is`: JSON string text that needs no escape.
    let mut item = |text: &mut Vec<u8>, s: &str, as_is: bool| {
        if !std::mem::take(&mut first) {
            text.push(b',');
        }
        if as_is {
            text.push(b'"');
            text.extend_from_slice(s.as_bytes());
            text.push(b'"');
        } else {
            json::write_str(s, text);
        }
    };
    for s in listed
        .iter()
        .filter(|s| s.eq_ignore_ascii_case(core_urn) || used(s))
    {
        // As the target wrote them, or the core URN (a constant without escapes).
        item(&mut text, s, true);
    }
    for urn in &in_use {
        if !listed.iter().any(|s| s.eq_ignore_ascii_case(urn)) {
            item(&mut text, urn, matches!(urn, Cow::Borrowed(_)));
        }
    }
    text.push(b']');
    // The names in use borrow `top` (a `SmallVec` holds them to the end of its scope).
    drop(in_use);
    set(top, "schemas", Node::Text(text));
    Some(())
}

/// The names of the extensions in use, owned: they borrow `top`, which the `Value` way changes.
fn owned(in_use: &[&Cow<'_, str>]) -> Vec<String> {
    in_use.iter().map(|u| u.to_string()).collect()
}

/// [`fix_schemas`] for a `schemas` that holds more than strings (or was already rebuilt), with
/// the extensions `in_use` it found.
fn fix_schemas_values(top: &mut Object<'_>, core_urn: &str, in_use: Vec<String>) -> Option<()> {
    let at = find(top, "schemas");
    let mut schemas = match at.and_then(|i| top.get(i)).map(|(_, n)| n) {
        Some(Node::Raw(r)) if r.starts_with('[') => serde_json::from_str::<Vec<Value>>(r).ok()?,
        Some(Node::Json(Value::Array(a))) => a.clone(),
        Some(n) if !n.is_null() => return Some(()),
        _ if in_use.is_empty() => return Some(()),
        _ => vec![Value::String(core_urn.to_owned())],
    };
    let listed = |s: &str| in_use.iter().any(|u| u.eq_ignore_ascii_case(s));
    schemas.retain(|s| {
        s.as_str()
            .is_none_or(|s| s.eq_ignore_ascii_case(core_urn) || listed(s))
    });
    for urn in in_use {
        if !schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&urn)))
        {
            schemas.push(Value::String(urn));
        }
    }
    set(top, "schemas", Node::Json(Value::Array(schemas)));
    Some(())
}
