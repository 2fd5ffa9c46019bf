//! The byte path of [`super`]: when every map that applies to a resource moves one whole
//! attribute (no sub-attribute, no value filter), e.g. Webex's `extensionAttribute1` back to the
//! enterprise `department`, the values move as their JSON text and no `Value` is built but
//! `schemas`. It does what [`crate::scim::value::take`], [`crate::scim::value::put`] and
//! [`crate::scim::value::fix_schemas`] do for such paths, step for step: takes in map order,
//! then puts, then `schemas`; members keep their place, new ones go last, names are matched in
//! any case and keep their spelling. The property test in `tests/mapping_props.rs` holds it to
//! the whole-tree path.
//!
//! A list's resources mostly share one shape (see [`Class`]): the same members in the same order,
//! the same kinds of values where the steps look. What the steps did to one resource is kept as a
//! [`Plan`] and replayed on the next ones of its shape, which then cost a check of their shape
//! and the writing of their members (issue 15: a quarter of the load list's mapping).

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

/// An object's members, values as their text.
type Texts<'a> = Vec<(Cow<'a, str>, &'a str)>;

/// An object's member names and the [`Class`] of each value.
type Shape<'a> = Vec<(Cow<'a, str>, Class)>;

/// What [`apply`] keeps from one resource of an answer to the next: the member list it works
/// in (its room allocated once an answer), and the [`Plan`] it made of the last resource it
/// mapped, replayed on the next ones of the same shape.
#[derive(Default)]
pub(super) struct Scratch<'a> {
    top: Object<'a>,
    plan: Option<Plan<'a>>,
    /// The [`fingerprint`] of the last resource the steps mapped: a plan is made only of a
    /// resource of the same shape as the one before it, so that a list whose resources all
    /// differ does not pay for plans it never replays.
    last: Option<u64>,
    /// The opened objects' members of the resource being replayed.
    opened: Vec<Texts<'a>>,
}

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
///
/// A resource of the same shape as the last one mapped (see [`Plan`]) is written by the plan
/// made of that one, without the steps below. (The plan is made of the second resource in a
/// row of one shape.)
pub(super) fn apply<'a>(
    maps: &'a [MapRule],
    kind: Kind,
    members: &Members<'a>,
    scratch: &mut Scratch<'a>,
    stats: &mut Stats,
    out: &mut Vec<u8>,
) -> Option<bool> {
    if let Some(plan) = &scratch.plan {
        if let Some(done) = plan.replay(maps, kind, members, &mut scratch.opened, stats, out) {
            return Some(done);
        }
    }
    let print = fingerprint(&members.0);
    let again = scratch.last.replace(print) == Some(print);
    let mut seen = Seen {
        record: again,
        ..Seen::default()
    };
    let done = steps(maps, kind, members, &mut scratch.top, &mut seen, stats, out)?;
    if !again {
        scratch.top.clear();
        return Some(done);
    }
    // What the steps did, for the next resources of this shape (none when a value in the
    // result cannot be traced to the member it came from).
    let outcome = if done {
        let written = trace(&scratch.top, members, &seen.opened);
        scratch.top.clear();
        written.map(|entries| Outcome::Written {
            entries,
            put: seen.put,
        })
    } else {
        Some(Outcome::Unchanged)
    };
    scratch.plan = outcome.and_then(|outcome| Plan::new(maps, kind, members, seen, outcome));
    Some(done)
}

#[cfg(test)]
impl<'a> Scratch<'a> {
    /// Whether the plan kept would write this resource.
    pub(super) fn replays(&mut self, members: &Members<'a>) -> bool {
        let Some(plan) = &self.plan else {
            return false;
        };
        let mut out = Vec::new();
        plan.replay(
            plan.maps,
            plan.kind,
            members,
            &mut self.opened,
            &mut Stats::default(),
            &mut out,
        )
        .is_some()
    }
}

/// What [`steps`] read of a resource beyond its names and the kinds of its values: the
/// objects it opened (their index among the members, and their own members) and the `schemas`
/// text it read, both kept only when a plan will be made; and how many values it put.
#[derive(Default)]
struct Seen<'a> {
    /// Whether a plan will be made (else `opened` and `schemas` are left empty).
    record: bool,
    opened: SmallVec<[(usize, Texts<'a>); 2]>,
    schemas: Option<&'a str>,
    put: u32,
}

/// The maps on one resource: takes, puts, `schemas`, written to `out`.
fn steps<'a>(
    maps: &'a [MapRule],
    kind: Kind,
    members: &Members<'a>,
    top: &mut Object<'a>,
    seen: &mut Seen<'a>,
    stats: &mut Stats,
    out: &mut Vec<u8>,
) -> Option<bool> {
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
        let Some(at) = find(top, urn) else {
            continue;
        };
        let Some(slot) = top.get_mut(at) else {
            continue;
        };
        if let Node::Raw(raw) = slot.1 {
            if raw.starts_with('{') {
                let mut inner: Object<'a> = Vec::with_capacity(4);
                // Kept for a plan only.
                let mut texts: Texts<'a> = Vec::new();
                each_member(raw, |name, v| {
                    if seen.record {
                        texts.push((name.clone(), v));
                    }
                    inner.push((name, Node::Raw(v)));
                })?;
                if super::has_duplicates(&inner) {
                    return None;
                }
                slot.1 = Node::Object(inner);
                if seen.record {
                    // Nothing has moved yet: `at` is the member's index in `members`.
                    seen.opened.push((at, texts));
                }
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
    if seen.record {
        if let Some(Node::Raw(r)) = find(top, "schemas")
            .and_then(|i| top.get(i))
            .map(|(_, n)| n)
        {
            seen.schemas = Some(r);
        }
    }
    fix_schemas(top, kind.core_urn())?;
    let mark = out.len();
    if write_object(top, out).is_err() {
        out.truncate(mark);
        return None;
    }
    // Counted only now: a `None` above leaves the resource to the other path, which counts.
    stats.map += put;
    seen.put = put;
    Some(true)
}

/// Each member of the object whose text is `raw`, its value as its text; `None` when it does
/// not scan.
fn each_member<'a>(raw: &'a str, mut each: impl FnMut(Cow<'a, str>, &'a str)) -> Option<()> {
    Scan::new(raw)
        .object(|name, s| {
            each(name, s.value()?);
            Ok(())
        })
        .ok()
}

/// What [`steps`] decides from, besides the maps and the kind: the names of the members, in
/// order (a name is written back the same whether it came escaped or not: one read without
/// escapes holds nothing JSON escapes, see `write_name`), and whether each value is `null`,
/// an empty object, another object or anything else; the same of the members of the objects
/// it opened; and the text of the `schemas` it read. Every other value only moves. Two resources of one
/// shape go through the same steps, and the second's answer is the first's with its values in
/// the same places ([`Plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Null,
    EmptyObject,
    Object,
    Other,
}

impl Class {
    /// Of a value's text as the scan gives it (no whitespace around it).
    fn of(raw: &str) -> Class {
        match raw.as_bytes().first() {
            Some(b'n') => Class::Null,
            Some(b'{') => {
                if raw
                    .get(1..)
                    .is_some_and(|r| r.trim_start().starts_with('}'))
                {
                    Class::EmptyObject
                } else {
                    Class::Object
                }
            }
            _ => Class::Other,
        }
    }
}

/// Where a value of the answer comes from: a member of the resource, a member of the `k`th
/// object opened, text made by the steps (`schemas`), or an object of such values.
enum Src<'a> {
    Top(usize),
    Inner(usize, usize),
    Text(Vec<u8>),
    Object(Vec<(Cow<'a, str>, Src<'a>)>),
}

enum Outcome<'a> {
    Unchanged,
    Written {
        entries: Vec<(Cow<'a, str>, Src<'a>)>,
        put: u32,
    },
}

/// [`apply`]'s result on one resource, as a recipe for any resource of the same shape (see
/// [`Class`]): which members go where, under which names.
struct Plan<'a> {
    maps: &'a [MapRule],
    kind: Kind,
    names: Shape<'a>,
    /// For each object opened: its index among the members, and its members' names.
    opened: Vec<(usize, Shape<'a>)>,
    /// Where the `schemas` read came from, and its text.
    schemas: Option<(Src<'a>, &'a str)>,
    outcome: Outcome<'a>,
}

fn same_shape(shape: &[(Cow<'_, str>, Class)], members: &[(Cow<'_, str>, &str)]) -> bool {
    shape.len() == members.len()
        && shape
            .iter()
            .zip(members)
            .all(|((n, c), (m, raw))| n == m && *c == Class::of(raw))
}

fn shape_of<'a>(members: &[(Cow<'a, str>, &'a str)]) -> Shape<'a> {
    members
        .iter()
        .map(|(k, raw)| (k.clone(), Class::of(raw)))
        .collect()
}

/// A summary of a resource's [`Shape`] that costs no allocation: equal for equal shapes. Two
/// shapes that differ may share one; then a plan is made that will not be replayed (the plan
/// checks the whole shape), which costs time and never changes an answer.
fn fingerprint(members: &[(Cow<'_, str>, &str)]) -> u64 {
    members.iter().fold(members.len() as u64, |h, (k, raw)| {
        let name = k.as_bytes();
        let class = match Class::of(raw) {
            Class::Null => 0u64,
            Class::EmptyObject => 1,
            Class::Object => 2,
            Class::Other => 3,
        };
        let x = name.len() as u64
            | u64::from(name.first().copied().unwrap_or(0)) << 16
            | u64::from(name.last().copied().unwrap_or(0)) << 24
            | class << 32;
        (h ^ x).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The same text: the very same member, told by its place in the body.
fn same_text(a: &str, b: &str) -> bool {
    std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()
}

/// Where `raw` came from among the members and the opened objects' members.
fn source<'a>(
    raw: &str,
    members: &[(Cow<'a, str>, &'a str)],
    opened: &[(usize, Texts<'a>)],
) -> Option<Src<'a>> {
    if let Some(i) = members.iter().position(|(_, r)| same_text(r, raw)) {
        return Some(Src::Top(i));
    }
    opened.iter().enumerate().find_map(|(k, (_, inner))| {
        inner
            .iter()
            .position(|(_, r)| same_text(r, raw))
            .map(|j| Src::Inner(k, j))
    })
}

/// The steps' answer as a recipe: each value traced to where it came from.
fn trace<'a>(
    object: &Object<'a>,
    members: &Members<'a>,
    opened: &[(usize, Texts<'a>)],
) -> Option<Vec<(Cow<'a, str>, Src<'a>)>> {
    object
        .iter()
        .map(|(k, n)| {
            let src = match n {
                Node::Raw(r) => source(r, &members.0, opened)?,
                Node::Object(inner) => Src::Object(trace(inner, members, opened)?),
                Node::Json(v) => {
                    let mut text = Vec::new();
                    json::write(v, &mut text).ok()?;
                    Src::Text(text)
                }
                Node::Text(t) => Src::Text(t.clone()),
            };
            Some((k.clone(), src))
        })
        .collect()
}

impl<'a> Plan<'a> {
    fn new(
        maps: &'a [MapRule],
        kind: Kind,
        members: &Members<'a>,
        seen: Seen<'a>,
        outcome: Outcome<'a>,
    ) -> Option<Self> {
        let schemas = match seen.schemas {
            Some(text) => Some((source(text, &members.0, &seen.opened)?, text)),
            None => None,
        };
        Some(Plan {
            maps,
            kind,
            names: shape_of(&members.0),
            opened: seen
                .opened
                .iter()
                .map(|(at, inner)| (*at, shape_of(inner)))
                .collect(),
            schemas,
            outcome,
        })
    }

    /// The plan on a resource of its shape: `None` when the resource is not of it (nothing
    /// written, nothing counted).
    fn replay(
        &self,
        maps: &'a [MapRule],
        kind: Kind,
        members: &Members<'a>,
        opened: &mut Vec<Texts<'a>>,
        stats: &mut Stats,
        out: &mut Vec<u8>,
    ) -> Option<bool> {
        if !std::ptr::eq(self.maps, maps)
            || self.kind != kind
            || !same_shape(&self.names, &members.0)
        {
            return None;
        }
        opened.truncate(self.opened.len());
        opened.resize_with(self.opened.len(), Vec::new);
        for ((at, shape), inner) in self.opened.iter().zip(opened.iter_mut()) {
            let raw = members.0.get(*at)?.1;
            inner.clear();
            each_member(raw, |name, v| inner.push((name, v)))?;
            if !same_shape(shape, inner) {
                return None;
            }
        }
        if let Some((src, text)) = &self.schemas {
            if value(src, &members.0, opened)? != *text {
                return None;
            }
        }
        let Outcome::Written { entries, put } = &self.outcome else {
            return Some(false);
        };
        let mark = out.len();
        if write_entries(entries, &members.0, opened, out).is_none() {
            out.truncate(mark);
            return None;
        }
        stats.map += *put;
        Some(true)
    }
}

/// The text of a traced member (not an object or made text).
fn value<'a>(
    src: &Src<'a>,
    members: &[(Cow<'a, str>, &'a str)],
    opened: &[Texts<'a>],
) -> Option<&'a str> {
    match src {
        Src::Top(i) => members.get(*i).map(|(_, r)| *r),
        Src::Inner(k, j) => opened.get(*k)?.get(*j).map(|(_, r)| *r),
        Src::Text(_) | Src::Object(_) => None,
    }
}

fn write_entries<'a>(
    entries: &[(Cow<'a, str>, Src<'a>)],
    members: &[(Cow<'a, str>, &'a str)],
    opened: &[Texts<'a>],
    out: &mut Vec<u8>,
) -> Option<()> {
    out.push(b'{');
    for (i, (k, src)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_name(out, k);
        match src {
            Src::Text(t) => out.extend_from_slice(t),
            Src::Object(inner) => write_entries(inner, members, opened, out)?,
            src => out.extend_from_slice(value(src, members, opened)?.as_bytes()),
        }
    }
    out.push(b'}');
    Some(())
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
