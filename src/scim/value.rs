//! Operations on a SCIM resource held as JSON (RFC 7643 / RFC 7644): filter evaluation, and get /
//! take / put / for-each on attribute and value paths, with schema URNs and case-insensitive keys.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::expr::{AttrPath, CompareOp, Filter, PatchPath};
use super::message::same_name;

/// Core schema of User resources; a path qualified with it addresses the top level.
pub const CORE_USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core schema of Group resources; a path qualified with it addresses the top level.
pub const CORE_GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

type Object = Map<String, Value>;

/// True when `urn` is (ignoring case) the core User or Group schema URN.
pub fn is_core_urn(urn: &str) -> bool {
    same_name(urn, CORE_USER_URN) || same_name(urn, CORE_GROUP_URN)
}

/// Equal ignoring case, where a path qualified with the core URN equals its unqualified form.
/// `core_urn: None` means the standard core URNs ([`is_core_urn`]).
pub fn attr_eq(a: &AttrPath, b: &AttrPath, core_urn: Option<&str>) -> bool {
    attr_eq_with(a, b, core_urn, true)
}

/// [`attr_eq`] on the attributes only (URN and name), whatever their sub-attributes.
pub fn attr_base_eq(a: &AttrPath, b: &AttrPath, core_urn: Option<&str>) -> bool {
    attr_eq_with(a, b, core_urn, false)
}

fn attr_eq_with(a: &AttrPath, b: &AttrPath, core_urn: Option<&str>, subs: bool) -> bool {
    // `AttrPath::eq_ignore_case` with a core URN taken as none, without copying either path.
    // The names first: they tell most paths apart, and the URNs are long.
    let is_core = |u: &str| core_urn.map_or_else(|| is_core_urn(u), |c| same_name(u, c));
    let opt_eq = |x: Option<&str>, y: Option<&str>| match (x, y) {
        (Some(x), Some(y)) => same_name(x, y),
        (None, None) => true,
        _ => false,
    };
    same_name(&a.name, &b.name)
        && (!subs || opt_eq(a.sub.as_deref(), b.sub.as_deref()))
        && opt_eq(
            a.urn.as_deref().filter(|u| !is_core(u)),
            b.urn.as_deref().filter(|u| !is_core(u)),
        )
}

// ---------------------------------------------------------------------------------------------
// Case-insensitive object keys

/// Up to this many members, a key is found by comparing names rather than by hashing one
/// (SipHash, for `preserve_order`'s map): most SCIM objects are this small.
const SCAN_UP_TO: usize = 8;

/// The existing member whose key equals `name` ignoring ASCII case (an exact match wins).
fn find_entry<'m>(map: &'m Object, name: &str) -> Option<(&'m String, &'m Value)> {
    if map.len() <= SCAN_UP_TO {
        let mut folded = None;
        for (k, v) in map {
            if k == name {
                return Some((k, v));
            }
            if folded.is_none() && k.eq_ignore_ascii_case(name) {
                folded = Some((k, v));
            }
        }
        return folded;
    }
    map.get_key_value(name)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
}

/// The existing key equal to `name` ignoring ASCII case (an exact match wins).
fn find_key<'m>(map: &'m Object, name: &str) -> Option<&'m String> {
    find_entry(map, name).map(|(k, _)| k)
}

fn get_ci<'m>(map: &'m Object, name: &str) -> Option<&'m Value> {
    find_entry(map, name).map(|(_, v)| v)
}

fn get_ci_mut<'m>(map: &'m mut Object, name: &str) -> Option<&'m mut Value> {
    // The member `find_entry` would give, found again mutably without copying its key.
    let exact = if map.len() <= SCAN_UP_TO {
        map.keys().any(|k| k == name)
    } else {
        map.contains_key(name)
    };
    if exact {
        return map.get_mut(name);
    }
    map.iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn has_key(value: &Value, name: &str) -> bool {
    value
        .as_object()
        .is_some_and(|m| find_key(m, name).is_some())
}

fn remove_ci(map: &mut Object, name: &str) -> Option<Value> {
    let key = find_key(map, name)?.clone();
    map.shift_remove(&key)
}

/// Overwrites the existing key (keeping its spelling) or inserts `name` as spelled.
fn set_ci(map: &mut Object, name: &str, value: Value) {
    let key = find_key(map, name).map_or_else(|| name.to_owned(), Clone::clone);
    map.insert(key, value);
}

fn single(name: &str, value: Value) -> Value {
    let mut map = Object::new();
    map.insert(name.to_owned(), value);
    Value::Object(map)
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Does `key` start with `urn:` (any case)?
pub(crate) fn is_urn_key(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// The URN of an extension (not core) schema, if `urn` names one.
pub(crate) fn extension(urn: Option<&str>) -> Option<&str> {
    urn.filter(|u| !is_core_urn(u))
}

/// The object holding attributes of schema `urn`: the resource itself for core / no URN, else
/// the extension object stored under the URN key.
fn container<'a>(resource: &'a Value, urn: Option<&str>) -> Option<&'a Object> {
    let top = resource.as_object()?;
    match extension(urn) {
        Some(u) => get_ci(top, u)?.as_object(),
        None => Some(top),
    }
}

fn container_mut<'a>(resource: &'a mut Value, urn: Option<&str>) -> Option<&'a mut Object> {
    let top = resource.as_object_mut()?;
    match extension(urn) {
        Some(u) => get_ci_mut(top, u)?.as_object_mut(),
        None => Some(top),
    }
}

/// The value of attribute `attr` (its sub-attribute ignored), looking in the right container.
fn lookup<'a>(obj: &'a Value, attr: &AttrPath) -> Option<&'a Value> {
    get_ci(container(obj, attr.urn.as_deref())?, &attr.name)
}

/// Removes the extension object of `urn` if it is empty.
fn prune_extension(resource: &mut Value, urn: Option<&str>) {
    let (Some(u), Some(top)) = (extension(urn), resource.as_object_mut()) else {
        return;
    };
    if get_ci(top, u).is_some_and(is_empty_container) {
        remove_ci(top, u);
    }
}

// ---------------------------------------------------------------------------------------------
// Filter evaluation

/// Evaluates `filter` against one JSON object: a resource, or one element of a multi-valued
/// attribute (a non-object element stands for its own `value` sub-attribute).
pub fn matches(filter: &Filter, obj: &Value) -> bool {
    match filter {
        // Chains are left-nested; walk their spine iteratively so depth is bounded by grouping.
        Filter::And(..) => {
            let mut cur = filter;
            while let Filter::And(left, right) = cur {
                if !matches(right, obj) {
                    return false;
                }
                cur = left;
            }
            matches(cur, obj)
        }
        Filter::Or(..) => {
            let mut cur = filter;
            while let Filter::Or(left, right) = cur {
                if matches(right, obj) {
                    return true;
                }
                cur = left;
            }
            matches(cur, obj)
        }
        Filter::Not(inner) => !matches(inner, obj),
        Filter::Present(path) => attr_values(obj, path).into_iter().any(is_present),
        Filter::Compare { path, op, value } => compare_attr(obj, path, *op, value),
        Filter::ValuePath { attr, filter } => match lookup(obj, attr) {
            Some(Value::Array(items)) => items.iter().any(|el| matches(filter, el)),
            Some(Value::Null) | None => false,
            Some(other) => matches(filter, other),
        },
    }
}

/// What a filter path addresses in `obj`: the attribute, or with a sub-attribute, that
/// sub-attribute of the complex value or of each element of a multi-valued attribute.
fn attr_values<'a>(obj: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    if !obj.is_object() {
        let own_value =
            path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value");
        return if own_value && !obj.is_null() {
            vec![obj]
        } else {
            Vec::new()
        };
    }
    let Some(v) = lookup(obj, path) else {
        return Vec::new();
    };
    match (&path.sub, v) {
        (None, _) => vec![v],
        (Some(sub), Value::Object(m)) => get_ci(m, sub).into_iter().collect(),
        (Some(sub), Value::Array(items)) => items
            .iter()
            .filter_map(|el| el.as_object().and_then(|m| get_ci(m, sub)))
            .collect(),
        (Some(_), _) => Vec::new(),
    }
}

/// Values a comparison is tested against: elements of arrays, and the `value` sub-attribute of
/// complex values.
fn leaves(values: Vec<&Value>) -> impl Iterator<Item = &Value> {
    fn leaf(v: &Value) -> Option<&Value> {
        match v {
            Value::Object(m) => get_ci(m, "value"),
            other => Some(other),
        }
    }
    values
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        })
        .filter_map(leaf)
}

/// `pr`: not null, not an empty string / array / object (an array needs one present element).
fn is_present(value: &Value) -> bool {
    let shallow =
        |v: &Value| !matches!(v, Value::Null) && !is_empty_container(v) && v.as_str() != Some("");
    match value {
        Value::Array(items) => items.iter().any(shallow),
        other => shallow(other),
    }
}

fn compare_attr(obj: &Value, path: &AttrPath, op: CompareOp, expected: &Value) -> bool {
    let values = attr_values(obj, path);
    match (op, expected) {
        // `eq null` means "not present"; other operators never match null.
        (CompareOp::Eq, Value::Null) => !values.into_iter().any(is_present),
        (CompareOp::Ne, Value::Null) => values.into_iter().any(is_present),
        (_, Value::Null) => false,
        (CompareOp::Ne, _) => !leaves(values).any(|v| compare(v, CompareOp::Eq, expected)),
        _ => leaves(values).any(|v| compare(v, op, expected)),
    }
}

/// `actual op expected` for two scalars of the same JSON type (strings ignore case).
fn compare(actual: &Value, op: CompareOp, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = (a.to_lowercase(), e.to_lowercase());
            match op {
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => ordering_matches(op, a.cmp(&e)),
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            compare_numbers(a, e).is_some_and(|ord| ordering_matches(op, ord))
        }
        (Value::Bool(a), Value::Bool(e)) => op == CompareOp::Eq && a == e,
        _ => false,
    }
}

fn ordering_matches(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord.is_eq(),
        CompareOp::Ne => ord.is_ne(),
        CompareOp::Gt => ord.is_gt(),
        CompareOp::Ge => ord.is_ge(),
        CompareOp::Lt => ord.is_lt(),
        CompareOp::Le => ord.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Exact for integers, else by `f64`.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Names compared with `eq` anywhere in a value filter (no recursion: explicit stack).
fn eq_names(filter: &Filter) -> Vec<&str> {
    let mut names = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                ..
            } if path.sub.is_none() => names.push(path.name.as_str()),
            Filter::And(a, b) | Filter::Or(a, b) => stack.extend([&**a, &**b]),
            Filter::Not(inner) => stack.push(inner),
            _ => {}
        }
    }
    names
}

/// The element a value filter describes, from its `eq` comparisons joined by `and`
/// (`type eq "work" and primary eq true` → `{"type":"work","primary":true}`). `None` when the
/// filter uses anything else or the template would not match the filter.
fn template(filter: &Filter) -> Option<Object> {
    let mut element = Object::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) => stack.extend([&**b, &**a]),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.sub.is_none() && extension(path.urn.as_deref()).is_none() => {
                if !value.is_null() {
                    set_ci(&mut element, &path.name, value.clone());
                }
            }
            _ => return None,
        }
    }
    let element = Value::Object(element);
    match (matches(filter, &element), element) {
        (true, Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// `value`, with the template's keys added when `value` is an object that lacks them.
fn with_template(value: Value, template: Option<&Object>) -> Value {
    match (value, template) {
        (Value::Object(mut m), Some(t)) => {
            for (k, v) in t {
                if find_key(&m, k).is_none() {
                    m.insert(k.clone(), v.clone());
                }
            }
            Value::Object(m)
        }
        (value, _) => value,
    }
}

// ---------------------------------------------------------------------------------------------
// Paths on a resource

/// The value `path` addresses. For `emails[type eq "work"]` the first matching element (or its
/// `sub`); for `emails.value` on a multi-valued attribute, the first element that has `value`.
pub fn get<'a>(resource: &'a Value, path: &PatchPath) -> Option<&'a Value> {
    let v = lookup(resource, path.attr())?;
    match path {
        PatchPath::Attr(AttrPath { sub: None, .. }) => Some(v),
        PatchPath::Attr(AttrPath { sub: Some(sub), .. }) => match v {
            Value::Object(m) => get_ci(m, sub),
            Value::Array(items) => items
                .iter()
                .find_map(|el| el.as_object().and_then(|m| get_ci(m, sub))),
            _ => None,
        },
        PatchPath::ValuePath { filter, sub, .. } => {
            let el = v.as_array()?.iter().find(|el| matches(filter, el))?;
            match sub {
                Some(sub) => get_ci(el.as_object()?, sub),
                None => Some(el),
            }
        }
    }
}

/// Removes and returns what [`get`] returns, then drops what that left empty: an element left
/// with only its filter's `eq` attributes, an empty array or parent object, an empty extension.
pub fn take(resource: &mut Value, path: &PatchPath) -> Option<Value> {
    let urn = path.attr().urn.as_deref();
    let map = container_mut(resource, urn)?;
    let taken = match path {
        PatchPath::Attr(attr) => match &attr.sub {
            None => remove_ci(map, &attr.name),
            Some(sub) => take_sub(map, &attr.name, sub),
        },
        PatchPath::ValuePath { attr, filter, sub } => {
            take_element(map, &attr.name, filter, sub.as_deref())
        }
    };
    if taken.is_some() {
        prune_extension(resource, urn);
    }
    taken
}

fn take_sub(map: &mut Object, name: &str, sub: &str) -> Option<Value> {
    let parent = get_ci_mut(map, name)?;
    let taken = match parent {
        Value::Object(m) => remove_ci(m, sub)?,
        Value::Array(items) => {
            let i = items.iter().position(|el| has_key(el, sub))?;
            let el = items.get_mut(i)?;
            let taken = remove_ci(el.as_object_mut()?, sub)?;
            if is_empty_container(el) {
                items.remove(i);
            }
            taken
        }
        _ => return None,
    };
    if is_empty_container(parent) {
        remove_ci(map, name);
    }
    Some(taken)
}

fn take_element(map: &mut Object, name: &str, filter: &Filter, sub: Option<&str>) -> Option<Value> {
    let items = get_ci_mut(map, name)?.as_array_mut()?;
    let i = items.iter().position(|el| matches(filter, el))?;
    let taken = match sub {
        None => items.remove(i),
        Some(sub) => {
            let el = items.get_mut(i)?.as_object_mut()?;
            let taken = remove_ci(el, sub)?;
            let selectors = eq_names(filter);
            if el
                .keys()
                .all(|k| selectors.iter().any(|s| s.eq_ignore_ascii_case(k)))
            {
                items.remove(i);
            }
            taken
        }
    };
    if items.is_empty() {
        remove_ci(map, name);
    }
    Some(taken)
}

/// Sets what `path` addresses, creating missing parents and extension objects; `null` counts as
/// missing. Returns false, changing nothing, when the path runs into a value of the wrong type,
/// or a value path matches no element and its filter is not a template (`eq`s joined by `and`).
pub fn put(resource: &mut Value, path: &PatchPath, value: Value) -> bool {
    let Some(top) = resource.as_object_mut() else {
        return false;
    };
    let Some(urn) = extension(path.attr().urn.as_deref()) else {
        return put_in(top, path, value);
    };
    match get_ci_mut(top, urn) {
        Some(Value::Object(ext)) => put_in(ext, path, value),
        None | Some(Value::Null) => {
            let mut ext = Object::new();
            let written = put_in(&mut ext, path, value);
            if written {
                set_ci(top, urn, Value::Object(ext));
            }
            written
        }
        Some(_) => false,
    }
}

fn put_in(map: &mut Object, path: &PatchPath, value: Value) -> bool {
    match path {
        PatchPath::Attr(attr) => match &attr.sub {
            None => {
                set_ci(map, &attr.name, value);
                true
            }
            Some(sub) => put_sub(map, &attr.name, sub, value),
        },
        PatchPath::ValuePath { attr, filter, sub } => {
            put_element(map, &attr.name, filter, sub.as_deref(), value)
        }
    }
}

fn put_sub(map: &mut Object, name: &str, sub: &str, value: Value) -> bool {
    match get_ci_mut(map, name) {
        None | Some(Value::Null) => set_ci(map, name, single(sub, value)),
        Some(Value::Object(m)) => set_ci(m, sub, value),
        // The element that has `sub` (as `get` finds it), else the first complex element.
        Some(Value::Array(items)) => {
            let i = items
                .iter()
                .position(|el| has_key(el, sub))
                .or_else(|| items.iter().position(Value::is_object));
            match i
                .and_then(|i| items.get_mut(i))
                .and_then(Value::as_object_mut)
            {
                Some(m) => set_ci(m, sub, value),
                None => items.push(single(sub, value)),
            }
        }
        Some(_) => return false,
    }
    true
}

fn put_element(
    map: &mut Object,
    name: &str,
    filter: &Filter,
    sub: Option<&str>,
    value: Value,
) -> bool {
    let template = template(filter);
    let new_element = |value: Value| -> Option<Value> {
        match sub {
            Some(sub) => {
                let mut element = template.clone()?;
                set_ci(&mut element, sub, value);
                Some(Value::Object(element))
            }
            None if value.is_object() => Some(with_template(value, Some(template.as_ref()?))),
            None => None,
        }
    };
    let items = match get_ci_mut(map, name) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            let Some(element) = new_element(value) else {
                return false;
            };
            set_ci(map, name, Value::Array(vec![element]));
            return true;
        }
        Some(_) => return false,
    };
    if let Some(el) = items.iter_mut().find(|el| matches(filter, el)) {
        match (sub, el) {
            (Some(sub), Value::Object(m)) => set_ci(m, sub, value),
            (Some(_), _) => return false,
            (None, el) => *el = with_template(value, template.as_ref()),
        }
        return true;
    }
    match new_element(value) {
        Some(element) => {
            items.push(element);
            true
        }
        None => false,
    }
}

/// [`take`] without the value.
pub fn remove(resource: &mut Value, path: &PatchPath) -> bool {
    take(resource, path).is_some()
}

/// Applies `f` to every value `path` addresses: each element of a multi-valued attribute, each
/// element's sub-attribute (`emails.value`), or every element matching a value path (or its sub).
pub fn for_each_mut(resource: &mut Value, path: &PatchPath, f: &mut impl FnMut(&mut Value)) {
    let attr = path.attr();
    let Some(v) =
        container_mut(resource, attr.urn.as_deref()).and_then(|m| get_ci_mut(m, &attr.name))
    else {
        return;
    };
    match path {
        PatchPath::Attr(AttrPath { sub: None, .. }) => match v {
            Value::Array(items) => items.iter_mut().for_each(f),
            other => f(other),
        },
        PatchPath::Attr(AttrPath { sub: Some(sub), .. }) => match v {
            Value::Array(items) => items.iter_mut().for_each(|el| apply_sub(el, sub, f)),
            other => apply_sub(other, sub, f),
        },
        PatchPath::ValuePath { filter, sub, .. } => {
            let Value::Array(items) = v else { return };
            for el in items.iter_mut().filter(|el| matches(filter, el)) {
                match sub {
                    Some(sub) => apply_sub(el, sub, f),
                    None => f(el),
                }
            }
        }
    }
}

fn apply_sub(value: &mut Value, sub: &str, f: &mut impl FnMut(&mut Value)) {
    if let Some(v) = value.as_object_mut().and_then(|m| get_ci_mut(m, sub)) {
        f(v);
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas

/// Top-level keys that start with `urn:` (any case) and hold a non-empty object.
pub fn extension_urns_in_use(resource: &Value) -> Vec<String> {
    let Some(top) = resource.as_object() else {
        return Vec::new();
    };
    top.iter()
        .filter(|(k, v)| is_urn_key(k) && v.as_object().is_some_and(|m| !m.is_empty()))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Makes `schemas` list exactly the core URN plus the extensions in use: drops empty or null
/// extension objects and their URNs, appends URNs of extensions present. Existing order is kept;
/// `schemas` is created (core URN first) only when an extension is in use.
pub fn fix_schemas(resource: &mut Value, core_urn: &str) {
    let in_use: Vec<String> = extension_urns_in_use(resource)
        .into_iter()
        .filter(|u| !u.eq_ignore_ascii_case(core_urn))
        .collect();
    let Some(top) = resource.as_object_mut() else {
        return;
    };
    top.retain(|k, v| {
        let empty = v.is_null() || v.as_object().is_some_and(Map::is_empty);
        !(empty && is_urn_key(k) && !k.eq_ignore_ascii_case(core_urn))
    });
    match get_ci(top, "schemas") {
        Some(Value::Array(_)) => {}
        None | Some(Value::Null) if !in_use.is_empty() => {
            set_ci(top, "schemas", Value::Array(vec![core_urn.into()]));
        }
        _ => return,
    }
    let Some(Value::Array(schemas)) = get_ci_mut(top, "schemas") else {
        return;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::expr::parse_path;
    use crate::scim::expr::{parse_filter, parse_filter_with, strategies, ParseOptions};
    use proptest::prelude::*;
    use serde_json::json;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const ENT_UPPER: &str = "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER";

    fn f(s: &str) -> Filter {
        parse_filter(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn pp(s: &str) -> PatchPath {
        parse_path(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn bjensen() -> Value {
        json!({
            "schemas": [CORE_USER_URN, ENT],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "userName": "bjensen",
            "name": {"familyName": "O'Malley", "givenName": "Barbara"},
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "loginCount": 7,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-555-8377", "type": "home"}],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "meta": {"lastModified": "2011-05-13T04:42:34Z"},
            ENT: {
                "employeeNumber": "701984",
                "department": "Tour Operations",
                "manager": {"value": "26118915", "displayName": "John Smith"}
            }
        })
    }

    fn jsmith() -> Value {
        json!({
            "schemas": [CORE_USER_URN],
            "userName": "JSmith",
            "name": {"familyName": "Smith"},
            "userType": "Intern",
            "title": "",
            "emails": [{"value": "jsmith@example.org", "type": "work"}],
            "ims": [{"value": "js@foo.com", "type": "xmpp"}],
            "meta": {"lastModified": "2010-01-01T00:00:00Z"}
        })
    }

    fn check(cases: &[(&str, bool)], obj: &Value) {
        for (filter, expected) in cases {
            assert_eq!(matches(&f(filter), obj), *expected, "{filter} on {obj}");
        }
    }

    #[test]
    fn rfc_filter_examples() {
        let cases: &[(&str, bool, bool)] = &[
            (r#"userName eq "bjensen""#, true, false),
            (r#"name.familyName co "O'Malley""#, true, false),
            (r#"userName sw "J""#, false, true),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                false,
                true,
            ),
            ("title pr", true, false),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                false,
                false,
            ),
            (
                r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
                true,
                false,
            ),
            (
                r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
                false,
                true,
            ),
            (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true, true),
            (r#"title pr and userType eq "Employee""#, true, false),
            (r#"title pr or userType eq "Intern""#, true, true),
            (&format!(r#"schemas eq "{ENT}""#), true, false),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
                false,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
                false,
            ),
            (
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                true,
                false,
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                true,
                false,
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                true,
                true,
            ),
        ];
        let (b, j) = (bjensen(), jsmith());
        for (filter, on_b, on_j) in cases {
            assert_eq!(matches(&f(filter), &b), *on_b, "{filter} on bjensen");
            assert_eq!(matches(&f(filter), &j), *on_j, "{filter} on jsmith");
        }
        // The `ne ... and not (...)` example matches an intern without such emails.
        let mut other = jsmith();
        other["emails"] = json!([{"value": "js@other.net"}]);
        check(
            &[(
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                true,
            )],
            &other,
        );
    }

    #[test]
    fn filters_ignore_case_of_names_urns_and_strings() {
        let b = bjensen();
        check(
            &[
                (r#"USERNAME eq "BJENSEN""#, true),
                (r#"Name.FamilyName ew "malley""#, true),
                (r#"EMAILS[TYPE eq "Work"]"#, true),
                (r#"Emails[Type eq "HOME" and VALUE co "JENSEN"]"#, true),
                (
                    &format!(r#"{ENT_UPPER}:DEPARTMENT eq "tour operations""#),
                    true,
                ),
                (&format!(r#"{ENT}:manager.VALUE eq "26118915""#), true),
                (
                    r#"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName eq "bjensen""#,
                    true,
                ),
                (
                    r#"urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "bjensen""#,
                    true,
                ),
            ],
            &b,
        );
        // Keys stored in unusual case are found too.
        let odd =
            json!({"UserName": "x", "NAME": {"GivenName": "Y"}, ENT_UPPER: {"Department": "D"}});
        check(
            &[
                (r#"userName eq "X""#, true),
                (r#"name.givenName eq "y""#, true),
                (&format!(r#"{ENT}:department eq "d""#), true),
            ],
            &odd,
        );
    }

    #[test]
    fn filter_operators_by_type() {
        let obj = json!({
            "n": 7, "x": 1.5, "big": u64::MAX, "neg": -3, "b": true, "s": "Hello",
            "empty": "", "nul": null, "arr": [], "obj": {}, "nulls": [null, ""],
            "tags": ["Red", "green"], "when": "2020-01-01T00:00:00Z"
        });
        check(
            &[
                ("n eq 7", true),
                ("n eq 7.0", true),
                ("n gt 6.5", true),
                ("n ge 7", true),
                ("n lt 7", false),
                ("n le 7", true),
                ("n ne 8", true),
                ("x gt 1", true),
                ("x lt 2", true),
                ("big gt 18446744073709551614", true),
                ("big gt -1", true),
                ("neg lt 0", true),
                (r#"n eq "7""#, false),
                (r#"s eq 7"#, false),
                ("n co 7", false),
                ("n sw 7", false),
                ("b eq true", true),
                ("b eq false", false),
                ("b ne false", true),
                ("b gt false", false),
                (r#"b eq "true""#, false),
                (r#"s co "ELL""#, true),
                (r#"s sw "he""#, true),
                (r#"s ew "LO""#, true),
                (r#"s gt "hello""#, false),
                (r#"s ge "HELLO""#, true),
                (r#"s lt "help""#, true),
                (r#"when gt "2019-12-31T23:59:59Z""#, true),
                (r#"when lt "2019-12-31T23:59:59Z""#, false),
                (r#"tags eq "red""#, true),
                (r#"tags sw "GR""#, true),
                (r#"tags eq "blue""#, false),
                (r#"tags ne "red""#, false),
                (r#"tags ne "blue""#, true),
            ],
            &obj,
        );
    }

    #[test]
    fn presence_null_and_absent_attributes() {
        let obj = json!({
            "s": "x", "empty": "", "nul": null, "arr": [], "obj": {}, "nulls": [null, ""],
            "zero": 0, "f": false, "some": [null, "a"], "o": {"k": null}
        });
        check(
            &[
                ("s pr", true),
                ("zero pr", true),
                ("f pr", true),
                ("some pr", true),
                ("o pr", true),
                ("empty pr", false),
                ("nul pr", false),
                ("arr pr", false),
                ("obj pr", false),
                ("nulls pr", false),
                ("missing pr", false),
                ("o.k pr", false),
                ("s.sub pr", false),
                // `eq null` means absent; `ne null` means present.
                ("missing eq null", true),
                ("nul eq null", true),
                ("empty eq null", true),
                ("s eq null", false),
                ("s ne null", true),
                ("missing ne null", false),
                ("s gt null", false),
                // Absent attributes match only `ne`.
                (r#"missing eq "x""#, false),
                (r#"missing ne "x""#, true),
                (r#"missing co "x""#, false),
                ("missing gt 1", false),
                ("not (missing pr)", true),
            ],
            &obj,
        );
    }

    #[test]
    fn multi_valued_and_complex_attributes() {
        let b = bjensen();
        check(
            &[
                // Complex elements without a sub-attribute compare by their `value`.
                (r#"emails eq "BABS@jensen.org""#, true),
                (r#"emails co "example.com""#, true),
                (r#"emails eq "home""#, false),
                (&format!(r#"{ENT}:manager eq "26118915""#), true),
                (r#"emails.type eq "home""#, true),
                (r#"emails.type ne "home""#, false),
                (r#"emails.primary eq true"#, true),
                (r#"emails[type eq "home" and primary eq true]"#, false),
                (
                    r#"emails[type eq "home"] and emails[primary eq true]"#,
                    true,
                ),
                (r#"emails[not (type eq "work")]"#, true),
                (r#"emails[value ew ".org" or type eq "other"]"#, true),
                (r#"phoneNumbers[type eq "work"]"#, false),
                (r#"x500[type eq "work"]"#, false),
                // A single complex attribute is tested as one element.
                (r#"name[givenName eq "barbara"]"#, true),
                (r#"name[givenName eq "bob"]"#, false),
                // Elements that are not objects stand for their own `value`.
                (
                    r#"schemas[value sw "urn:ietf:params:scim:schemas:extension"]"#,
                    true,
                ),
                (r#"schemas[value eq "urn:nope"]"#, false),
                // Wrong types never match.
                (r#"userName.x pr"#, false),
                (r#"userName[x pr]"#, false),
                (r#"loginCount.value eq 7"#, false),
                (&format!(r#"{ENT}:department.x eq "y""#), false),
                (r#"urn:other:ext:attr pr"#, false),
                (
                    "active eq true and loginCount ge 7 and loginCount lt 8",
                    true,
                ),
            ],
            &b,
        );
        assert!(matches(&f(r#"value eq "a""#), &json!("A")));
        assert!(!matches(&f(r#"type eq "a""#), &json!("a")));
        assert!(!matches(&f("value pr"), &Value::Null));
        assert!(!matches(&f("a pr"), &json!([{"a": 1}])));
    }

    #[test]
    fn long_and_chains_evaluate_without_deep_recursion() {
        let opts = ParseOptions {
            max_len: 1 << 16,
            ..ParseOptions::default()
        };
        let chain = |op: &str, term: &str| {
            parse_filter_with(&vec![term; 3000].join(op), &opts).unwrap_or_else(|e| panic!("{e}"))
        };
        let filter = chain(" and ", "a eq 1");
        assert!(matches(&filter, &json!({"a": 1})));
        assert!(!matches(&filter, &json!({"a": 2})));
        let filter = chain(" or ", "a eq 2");
        assert!(!matches(&filter, &json!({"a": 1})));
    }

    #[test]
    fn get_resolves_paths() {
        let b = bjensen();
        let g = |s: &str| get(&b, &pp(s)).cloned();
        assert_eq!(g("userName"), Some(json!("bjensen")));
        assert_eq!(g("NAME.givenname"), Some(json!("Barbara")));
        assert_eq!(
            g("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"),
            Some(json!("Barbara"))
        );
        assert_eq!(
            g(&format!("{ENT}:department")),
            Some(json!("Tour Operations"))
        );
        assert_eq!(
            g(&format!("{ENT_UPPER}:manager.displayName")),
            Some(json!("John Smith"))
        );
        assert_eq!(
            g(r#"emails[type eq "home"].value"#),
            Some(json!("babs@jensen.org"))
        );
        assert_eq!(
            g(r#"emails[TYPE eq "WORK"]"#),
            Some(json!({"value": "bjensen@example.com", "type": "work", "primary": true}))
        );
        assert_eq!(g(r#"emails[type eq "home"].primary"#), None);
        assert_eq!(g(r#"emails[type eq "other"].value"#), None);
        // A multi-valued attribute's sub-attribute: the first element that has it.
        assert_eq!(g("emails.value"), Some(json!("bjensen@example.com")));
        assert_eq!(g("emails.primary"), Some(json!(true)));
        assert_eq!(g("missing"), None);
        assert_eq!(g("name.middleName"), None);
        // Wrong types: through a string, a number, a non-array value path, a missing extension.
        assert_eq!(g("userName.x"), None);
        assert_eq!(g("loginCount.x"), None);
        assert_eq!(g(r#"name[givenName eq "Barbara"]"#), None);
        assert_eq!(g(r#"userName[value eq "bjensen"]"#), None);
        assert_eq!(g("urn:other:ext:attr"), None);
        assert_eq!(get(&json!("str"), &pp("a")), None);
        assert_eq!(get(&json!([1]), &pp("a.b")), None);
        let odd = json!({ENT_UPPER: {"DEPARTMENT": 1}, "Emails": [{"TYPE": "work", "Value": 2}]});
        assert_eq!(
            get(&odd, &pp(&format!("{ENT}:department"))),
            Some(&json!(1))
        );
        assert_eq!(
            get(&odd, &pp(r#"emails[type eq "work"].value"#)),
            Some(&json!(2))
        );
    }

    #[test]
    fn take_removes_value_path_sub_and_emptied_element() {
        let mut r =
            json!({"emails": [{"type": "work", "value": "a@x"}, {"type": "home", "value": "b@x"}]});
        assert_eq!(
            take(&mut r, &pp(r#"emails[type eq "work"].value"#)),
            Some(json!("a@x"))
        );
        assert_eq!(r, json!({"emails": [{"type": "home", "value": "b@x"}]}));
        // The last element goes, and with it the attribute.
        assert_eq!(
            take(&mut r, &pp(r#"emails[type eq "home"].value"#)),
            Some(json!("b@x"))
        );
        assert_eq!(r, json!({}));
        // Attributes not named in an `eq` keep the element alive.
        let mut r = json!({"emails": [{"type": "work", "value": "a@x", "primary": true}]});
        assert_eq!(
            take(&mut r, &pp(r#"emails[type eq "work"].value"#)),
            Some(json!("a@x"))
        );
        assert_eq!(r, json!({"emails": [{"type": "work", "primary": true}]}));
        let mut r = json!({"emails": [{"type": "work", "primary": true, "value": "a"}]});
        let path = pp(r#"emails[type eq "work" and primary eq true].value"#);
        assert_eq!(take(&mut r, &path), Some(json!("a")));
        assert_eq!(r, json!({}));
        // Only the first match is touched; a missing sub takes nothing.
        let mut r = json!({"e": [{"t": "w", "v": 1}, {"t": "w", "v": 2}]});
        assert_eq!(take(&mut r, &pp(r#"e[t eq "w"].v"#)), Some(json!(1)));
        assert_eq!(r, json!({"e": [{"t": "w", "v": 2}]}));
        assert_eq!(take(&mut r, &pp(r#"e[t eq "w"].zzz"#)), None);
        assert_eq!(r, json!({"e": [{"t": "w", "v": 2}]}));
        // Emptying an extension's only attribute removes the extension.
        let mut r = json!({"id": "1", ENT_UPPER: {"Emails": [{"Type": "work", "Value": "a"}]}});
        let path = pp(&format!(r#"{ENT}:emails[type eq "WORK"].value"#));
        assert_eq!(take(&mut r, &path), Some(json!("a")));
        assert_eq!(r, json!({"id": "1"}));
        // A filter that is not `eq`: the element goes only when left empty.
        let mut r = json!({"e": [{"t": "w", "v": 1}]});
        assert_eq!(take(&mut r, &pp(r#"e[t pr].v"#)), Some(json!(1)));
        assert_eq!(r, json!({"e": [{"t": "w"}]}));
    }

    #[test]
    fn take_removes_elements_attributes_and_extensions() {
        let mut b = bjensen();
        let work = take(&mut b, &pp(r#"emails[type eq "work"]"#));
        assert_eq!(
            work.and_then(|w| w.get("type").cloned()),
            Some(json!("work"))
        );
        assert_eq!(
            b["emails"],
            json!([{"value": "babs@jensen.org", "type": "home"}])
        );
        assert!(remove(&mut b, &pp(r#"phoneNumbers[type eq "home"]"#)));
        assert!(b.get("phoneNumbers").is_none());
        // Sub-attribute: the parent goes when emptied.
        assert_eq!(take(&mut b, &pp("name.givenName")), Some(json!("Barbara")));
        assert_eq!(b["name"], json!({"familyName": "O'Malley"}));
        assert_eq!(
            take(&mut b, &pp("NAME.FAMILYNAME")),
            Some(json!("O'Malley"))
        );
        assert!(b.get("name").is_none());
        // Extension attributes: the extension goes when emptied.
        assert_eq!(
            take(&mut b, &pp(&format!("{ENT_UPPER}:manager.value"))),
            Some(json!("26118915"))
        );
        assert_eq!(
            take(&mut b, &pp(&format!("{ENT}:manager.displayName"))),
            Some(json!("John Smith"))
        );
        assert!(b[ENT].get("manager").is_none());
        assert!(remove(&mut b, &pp(&format!("{ENT}:department"))));
        assert!(b.get(ENT).is_some());
        assert!(remove(&mut b, &pp(&format!("{ENT}:employeeNumber"))));
        assert!(b.get(ENT).is_none());
        // Core URN-qualified path, whole attribute.
        assert_eq!(
            take(
                &mut b,
                &pp("urn:ietf:params:scim:schemas:core:2.0:User:userName")
            ),
            Some(json!("bjensen"))
        );
        assert!(b.get("userName").is_none());
        // Multi-valued sub-attribute without a filter: the first element that has it.
        let mut r = json!({"emails": [{"type": "work"}, {"value": "a"}, {"value": "b"}]});
        assert_eq!(take(&mut r, &pp("emails.value")), Some(json!("a")));
        assert_eq!(r, json!({"emails": [{"type": "work"}, {"value": "b"}]}));
    }

    #[test]
    fn take_missing_or_wrong_type_changes_nothing() {
        let original = bjensen();
        for path in [
            "missing",
            "name.middleName",
            "userName.x",
            "loginCount.x",
            r#"emails[type eq "other"]"#,
            r#"emails[type eq "other"].value"#,
            r#"name[givenName eq "Barbara"]"#,
            "urn:other:ext:attr",
            &format!("{ENT}:nothing"),
        ] {
            let mut b = original.clone();
            assert_eq!(take(&mut b, &pp(path)), None, "{path}");
            assert!(!remove(&mut b, &pp(path)), "{path}");
            assert_eq!(b, original, "{path}");
        }
        assert_eq!(take(&mut json!(5), &pp("a")), None);
        let mut r = json!({"s": ["x", "y"]});
        assert_eq!(take(&mut r, &pp(r#"s[value eq "x"].value"#)), None);
        assert_eq!(take(&mut r, &pp(r#"s[value eq "Y"]"#)), Some(json!("y")));
        assert_eq!(r, json!({"s": ["x"]}));
    }

    #[test]
    fn put_sets_and_creates_parents() {
        let mut r = json!({"userName": "a", "Name": {"givenName": "B"}});
        assert!(put(&mut r, &pp("USERNAME"), json!("z")));
        assert!(put(&mut r, &pp("name.familyName"), json!("F")));
        assert!(put(&mut r, &pp("name.GIVENNAME"), json!("G")));
        assert!(put(&mut r, &pp("address.locality"), json!("L")));
        assert!(put(
            &mut r,
            &pp("urn:ietf:params:scim:schemas:core:2.0:User:title"),
            json!("T")
        ));
        assert_eq!(
            r,
            json!({
                "userName": "z",
                "Name": {"givenName": "G", "familyName": "F"},
                "address": {"locality": "L"},
                "title": "T"
            })
        );
        // `null` counts as missing.
        let mut r = json!({"name": null});
        assert!(put(&mut r, &pp("name.givenName"), json!("G")));
        assert_eq!(r, json!({"name": {"givenName": "G"}}));
        // Multi-valued parent: the element that has the sub, else the first object, else a new one.
        let mut r = json!({"e": ["s", {"t": 1}, {"v": 1}]});
        assert!(put(&mut r, &pp("e.v"), json!(2)));
        assert_eq!(r, json!({"e": ["s", {"t": 1}, {"v": 2}]}));
        assert!(put(&mut r, &pp("e.w"), json!(3)));
        assert_eq!(r, json!({"e": ["s", {"t": 1, "w": 3}, {"v": 2}]}));
        let mut r = json!({"e": ["s"]});
        assert!(put(&mut r, &pp("e.v"), json!(1)));
        assert_eq!(r, json!({"e": ["s", {"v": 1}]}));
    }

    #[test]
    fn put_creates_and_reuses_extensions() {
        let mut r = json!({"userName": "a"});
        assert!(put(&mut r, &pp(&format!("{ENT}:department")), json!("D")));
        assert!(put(
            &mut r,
            &pp(&format!("{ENT_UPPER}:manager.value")),
            json!("M")
        ));
        assert_eq!(
            r,
            json!({"userName": "a", ENT: {"department": "D", "manager": {"value": "M"}}})
        );
        let mut r = json!({ENT_UPPER: {"Department": "old"}});
        assert!(put(&mut r, &pp(&format!("{ENT}:department")), json!("new")));
        assert_eq!(r, json!({ENT_UPPER: {"Department": "new"}}));
        let mut r = json!({ENT: null});
        assert!(put(&mut r, &pp(&format!("{ENT}:department")), json!("D")));
        assert_eq!(r, json!({ENT: {"department": "D"}}));
    }

    #[test]
    fn put_value_path_with_sub() {
        let mut r = json!({"phoneNumbers": [{"type": "home", "value": "1"}]});
        assert!(put(
            &mut r,
            &pp(r#"phoneNumbers[type eq "work"].value"#),
            json!("2")
        ));
        assert!(put(
            &mut r,
            &pp(r#"phoneNumbers[type eq "HOME"].value"#),
            json!("3")
        ));
        assert_eq!(
            r,
            json!({"phoneNumbers": [
                {"type": "home", "value": "3"},
                {"type": "work", "value": "2"}
            ]})
        );
        // A missing attribute (and extension) is created from the template.
        let mut r = json!({});
        let path = pp(&format!(
            r#"{ENT}:emails[type eq "work" and primary eq true].value"#
        ));
        assert!(put(&mut r, &path, json!("a@x")));
        assert_eq!(
            r,
            json!({ENT: {"emails": [{"type": "work", "primary": true, "value": "a@x"}]}})
        );
        assert_eq!(get(&r, &path), Some(&json!("a@x")));
        // `eq null` adds nothing to the template.
        let mut r = json!({});
        assert!(put(&mut r, &pp(r#"e[t eq "w" and d eq null].v"#), json!(1)));
        assert_eq!(r, json!({"e": [{"t": "w", "v": 1}]}));
    }

    #[test]
    fn put_value_path_without_template_does_nothing() {
        let original = json!({"emails": [{"type": "home", "value": "1"}], "s": "x", "o": {}});
        for path in [
            r#"emails[type eq "work" or type eq "other"].value"#,
            r#"emails[type ne "home"].value"#,
            r#"emails[not (type eq "home")].value"#,
            r#"emails[type pr and value eq "9"].value"#,
            r#"emails[type eq "a" and type eq "b"].value"#,
            r#"emails[value co "@"].value"#,
            r#"emails[type.x eq "a"].value"#,
            r#"emails[urn:other:x:type eq "a"].value"#,
            r#"new[type gt "a"].value"#,
            r#"s[type eq "work"].value"#,
            r#"o[type eq "work"].value"#,
            "s.x",
            &format!("{ENT}:e[t pr].v"),
        ] {
            let mut r = original.clone();
            assert!(!put(&mut r, &pp(path), json!("v")), "{path}");
            assert_eq!(r, original, "{path}");
        }
        let mut r = json!({ENT: "oops"});
        assert!(!put(&mut r, &pp(&format!("{ENT}:department")), json!(1)));
        assert!(!put(&mut json!([]), &pp("a"), json!(1)));
        // Matched element that is not an object cannot take a sub-attribute.
        let mut r = json!({"s": ["x"]});
        assert!(!put(&mut r, &pp(r#"s[value eq "x"].y"#), json!(1)));
        assert_eq!(r, json!({"s": ["x"]}));
    }

    #[test]
    fn put_value_path_without_sub() {
        let mut r = json!({"emails": [{"type": "work", "value": "old", "primary": true}]});
        // Replace the match; template attributes missing from the value are kept.
        assert!(put(
            &mut r,
            &pp(r#"emails[type eq "work"]"#),
            json!({"value": "new"})
        ));
        assert_eq!(r, json!({"emails": [{"type": "work", "value": "new"}]}));
        // No match: push template + value.
        assert!(put(
            &mut r,
            &pp(r#"emails[type eq "home"]"#),
            json!({"value": "h", "Type": "home"})
        ));
        assert_eq!(
            r,
            json!({"emails": [{"type": "work", "value": "new"}, {"Type": "home", "value": "h"}]})
        );
        // A non-object value replaces a match but cannot be pushed.
        assert!(put(&mut r, &pp(r#"emails[value eq "h"]"#), json!("plain")));
        assert_eq!(r["emails"][1], json!("plain"));
        assert!(!put(
            &mut r,
            &pp(r#"emails[type eq "other"]"#),
            json!("plain")
        ));
        let mut r = json!({});
        assert!(put(
            &mut r,
            &pp(r#"members[value eq "g1"]"#),
            json!({"display": "G"})
        ));
        assert_eq!(r, json!({"members": [{"display": "G", "value": "g1"}]}));
        // Without a template, a match is still replaced as given.
        assert!(put(
            &mut r,
            &pp(r#"members[value co "G"]"#),
            json!({"value": "x"})
        ));
        assert_eq!(r, json!({"members": [{"value": "x"}]}));
    }

    #[test]
    fn for_each_mut_visits_every_addressed_value() {
        let lower = |v: &mut Value| {
            if let Some(s) = v.as_str() {
                *v = json!(s.to_lowercase());
            }
        };
        let mut r = json!({
            "userName": "BJensen",
            "emails": [
                {"value": "A@X", "type": "work"},
                {"value": "B@X", "type": "home"},
                {"type": "other"}
            ],
            "tags": ["A", "B"],
            "name": {"givenName": "BARBARA"},
            ENT_UPPER: {"Department": "OPS"}
        });
        for_each_mut(&mut r, &pp("username"), &mut { lower });
        for_each_mut(&mut r, &pp("tags"), &mut { lower });
        for_each_mut(&mut r, &pp("name.givenName"), &mut { lower });
        for_each_mut(&mut r, &pp(&format!("{ENT}:department")), &mut { lower });
        assert_eq!(r["userName"], "bjensen");
        assert_eq!(r["tags"], json!(["a", "b"]));
        assert_eq!(r["name"]["givenName"], "barbara");
        assert_eq!(r[ENT_UPPER]["Department"], "ops");
        for_each_mut(&mut r, &pp(r#"emails[type eq "work"].value"#), &mut {
            lower
        });
        assert_eq!(r["emails"][0]["value"], "a@x");
        assert_eq!(r["emails"][1]["value"], "B@X");
        for_each_mut(&mut r, &pp("emails.value"), &mut { lower });
        assert_eq!(r["emails"][1]["value"], "b@x");
        let mut seen = 0;
        for_each_mut(&mut r, &pp(r#"emails[type ne "home"]"#), &mut |_| seen += 1);
        assert_eq!(seen, 2);
        let mut seen = 0;
        for_each_mut(&mut r, &pp("emails.value"), &mut |_| seen += 1);
        assert_eq!(seen, 2);
        let mut seen = 0;
        for path in [
            "missing",
            "userName.x",
            "name[givenName pr]",
            "urn:x:y:z",
            "emails[type eq \"none\"]",
        ] {
            for_each_mut(&mut r, &pp(path), &mut |_| seen += 1);
        }
        assert_eq!(seen, 0);
    }

    #[test]
    fn extension_urns_in_use_lists_non_empty_urn_objects() {
        let r = json!({
            "schemas": [CORE_USER_URN],
            ENT_UPPER: {"department": "x"},
            "urn:empty:ext:User": {},
            "URN:str:ext": "s",
            "urn:null:ext": null,
            "name": {"givenName": "x"}
        });
        assert_eq!(extension_urns_in_use(&r), vec![ENT_UPPER.to_owned()]);
        assert!(extension_urns_in_use(&json!([1])).is_empty());
    }

    #[test]
    fn fix_schemas_adds_and_removes_extension_urns() {
        let mut r = json!({"schemas": [CORE_USER_URN], ENT: {"department": "x"}});
        fix_schemas(&mut r, CORE_USER_URN);
        assert_eq!(r["schemas"], json!([CORE_USER_URN, ENT]));
        // Removing: absent, empty and null extensions; order of the rest is kept.
        let mut r = json!({
            "schemas": [
                "urn:b:ext", CORE_USER_URN, "urn:gone:ext", ENT_UPPER, "urn:a:ext", "urn:null:ext"
            ],
            ENT: {}, "urn:null:ext": null,
            "urn:a:ext": {"k": 1}, "urn:b:ext": {"k": 1}, "urn:c:ext": {"k": 1}
        });
        fix_schemas(&mut r, CORE_USER_URN);
        assert_eq!(
            r,
            json!({
                "schemas": ["urn:b:ext", CORE_USER_URN, "urn:a:ext", "urn:c:ext"],
                "urn:a:ext": {"k": 1}, "urn:b:ext": {"k": 1}, "urn:c:ext": {"k": 1}
            })
        );
        // URNs are compared ignoring case; nothing is duplicated.
        let mut r = json!({"Schemas": [CORE_USER_URN.to_uppercase(), ENT_UPPER], ENT: {"k": 1}});
        let expected = r.clone();
        fix_schemas(&mut r, CORE_USER_URN);
        assert_eq!(r, expected);
    }

    #[test]
    fn fix_schemas_creates_only_when_needed() {
        let mut r = json!({"userName": "x"});
        fix_schemas(&mut r, CORE_USER_URN);
        assert_eq!(r, json!({"userName": "x"}));
        let mut r = json!({"displayName": "g", ENT: {"k": 1}});
        fix_schemas(&mut r, CORE_GROUP_URN);
        assert_eq!(r["schemas"], json!([CORE_GROUP_URN, ENT]));
        let mut r = json!({"schemas": null, ENT: {"k": 1}});
        fix_schemas(&mut r, CORE_USER_URN);
        assert_eq!(r["schemas"], json!([CORE_USER_URN, ENT]));
        // Malformed `schemas` is left alone; non-string entries are kept.
        let mut r = json!({"schemas": "x", ENT: {"k": 1}});
        fix_schemas(&mut r, CORE_USER_URN);
        assert_eq!(r["schemas"], "x");
        let mut r = json!({"schemas": [1, CORE_USER_URN, "urn:gone:x"]});
        fix_schemas(&mut r, CORE_USER_URN);
        assert_eq!(r["schemas"], json!([1, CORE_USER_URN]));
        let mut s = json!("not an object");
        fix_schemas(&mut s, CORE_USER_URN);
        assert_eq!(s, "not an object");
    }

    #[test]
    fn attr_eq_treats_core_urn_as_unqualified() {
        let a = |s: &str| match pp(s) {
            PatchPath::Attr(a) => a,
            other => panic!("{other:?}"),
        };
        let core = "urn:ietf:params:scim:schemas:core:2.0:User:userName";
        assert!(attr_eq(&a(core), &a("USERNAME"), None));
        assert!(attr_eq(
            &a(&core.to_uppercase()),
            &a("userName"),
            Some(CORE_USER_URN)
        ));
        assert!(!attr_eq(&a(core), &a("userName"), Some(CORE_GROUP_URN)));
        assert!(attr_eq(
            &a("urn:x:y:name.given"),
            &a("NAME.GIVEN"),
            Some("URN:X:Y")
        ));
        assert!(!attr_eq(
            &a(&format!("{ENT}:department")),
            &a("department"),
            None
        ));
        assert!(attr_eq(
            &a(&format!("{ENT}:department")),
            &a(&format!("{ENT_UPPER}:Department")),
            None
        ));
        assert!(!attr_eq(&a("name.givenName"), &a("name"), None));
        assert!(is_core_urn(&CORE_GROUP_URN.to_lowercase()) && !is_core_urn(ENT));
    }

    // ---- property tests

    const NAMES: &[&str] = &["emails", "Emails", "type", "value", "name", "primary"];
    const URNS: &[&str] = &[
        CORE_USER_URN,
        "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER",
        ENT,
        ENT_UPPER,
        "urn:x:y",
    ];

    fn name() -> impl Strategy<Value = String> {
        prop::sample::select(NAMES).prop_map(str::to_owned)
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            Just(Value::Bool(true)),
            prop::sample::select(vec![json!(1), json!(1.5), json!(false)]),
            prop::sample::select(vec!["work", "WORK", "home", ""]).prop_map(Value::from),
        ]
    }

    fn object(value: impl Strategy<Value = Value>, n: usize) -> impl Strategy<Value = Value> {
        prop::collection::btree_map(name(), value, 1..n)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    /// Small JSON biased to SCIM shapes: complex values and arrays of them, over a few names.
    fn json_value() -> impl Strategy<Value = Value> {
        let element = || prop_oneof![3 => object(scalar(), 4), 1 => scalar()];
        prop_oneof![
            2 => scalar(),
            2 => object(scalar(), 4),
            3 => prop::collection::vec(element(), 0..4).prop_map(Value::Array),
            1 => scalar().prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    object(inner, 4),
                ]
            }),
        ]
    }

    fn resource() -> impl Strategy<Value = Value> {
        let ext = prop::sample::select(URNS).prop_map(str::to_owned);
        let attrs = prop::collection::btree_map(name(), json_value(), 0..7);
        let exts = prop::collection::btree_map(
            ext,
            prop_oneof![4 => object(json_value(), 5), 1 => scalar()],
            0..2,
        );
        let emails = prop::option::of(prop::collection::vec(object(scalar(), 4), 1..4));
        let top = (attrs, emails, exts).prop_map(|(a, emails, e)| {
            let emails = emails.map(|v| ("emails".to_owned(), Value::Array(v)));
            Value::Object(a.into_iter().chain(emails).chain(e).collect())
        });
        prop_oneof![
            6 => top,
            1 => json_value(),
        ]
    }

    /// A path over the small name pool; `rare` makes URNs and sub-attributes unlikely, as inside
    /// value filters.
    fn small_attr(rare: bool) -> impl Strategy<Value = AttrPath> {
        let (urn_p, sub_p) = if rare { (0.05, 0.1) } else { (0.25, 0.4) };
        let urn = prop::sample::select(URNS).prop_map(str::to_owned);
        (
            prop::option::weighted(urn_p, urn),
            name(),
            prop::option::weighted(sub_p, name()),
        )
            .prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
    }

    fn small_filter(rare: bool) -> impl Strategy<Value = Filter> {
        let any_op = prop::sample::select(CompareOp::ALL.to_vec());
        let op = prop_oneof![3 => Just(CompareOp::Eq), 2 => any_op];
        let compare = (small_attr(rare), op, scalar())
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value });
        let leaf = prop_oneof![3 => compare, 1 => small_attr(rare).prop_map(Filter::Present)];
        leaf.prop_recursive(2, 6, 2, |inner| {
            prop_oneof![
                2 => (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                1 => (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                1 => inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
    }

    /// Filters on a resource, possibly holding value paths.
    fn resource_filter() -> impl Strategy<Value = Filter> {
        let value_path =
            (small_attr(false), small_filter(true)).prop_map(|(attr, f)| Filter::ValuePath {
                attr: AttrPath { sub: None, ..attr },
                filter: Box::new(f),
            });
        let leaf = prop_oneof![2 => small_filter(false), 1 => value_path];
        leaf.prop_recursive(2, 6, 2, |inner| {
            (inner.clone(), inner).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b)))
        })
    }

    fn patch_path() -> impl Strategy<Value = PatchPath> {
        prop_oneof![
            3 => small_attr(false).prop_map(PatchPath::Attr),
            4 => (
                small_attr(false),
                any::<bool>(),
                small_filter(true),
                prop::option::weighted(0.6, name()),
            )
                .prop_map(|(attr, emails, filter, sub)| PatchPath::ValuePath {
                    attr: AttrPath {
                        sub: None,
                        name: if emails { "Emails".into() } else { attr.name },
                        ..attr
                    },
                    filter,
                    sub,
                }),
            1 => strategies::attr_path().prop_map(PatchPath::Attr),
            1 => (
                strategies::bare_attr_path(),
                strategies::value_filter(),
                prop::option::of(strategies::name()),
            )
                .prop_map(|(attr, filter, sub)| PatchPath::ValuePath { attr, filter, sub }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn never_panics(
            r in resource(),
            p in patch_path(),
            filter in prop_oneof![resource_filter(), strategies::filter()],
            v in json_value(),
        ) {
            let _ = matches(&filter, &r);
            let _ = get(&r, &p);
            let _ = extension_urns_in_use(&r);
            let mut m = r.clone();
            let _ = put(&mut m, &p, v);
            let _ = take(&mut m, &p);
            let _ = remove(&mut m, &p);
            for_each_mut(&mut m, &p, &mut |x| *x = Value::Null);
            fix_schemas(&mut m, CORE_USER_URN);
        }

        #[test]
        fn take_returns_what_get_returns(r in resource(), p in patch_path()) {
            let expected = get(&r, &p).cloned();
            let mut m = r.clone();
            prop_assert_eq!(take(&mut m, &p), expected.clone());
            if expected.is_none() {
                prop_assert_eq!(m, r);
            }
        }

        #[test]
        fn put_then_get_on_attr_paths(r in resource(), a in small_attr(false), v in json_value()) {
            let p = PatchPath::Attr(a);
            let mut m = r.clone();
            if put(&mut m, &p, v.clone()) {
                prop_assert_eq!(get(&m, &p), Some(&v));
            } else {
                prop_assert_eq!(m, r);
            }
        }

        #[test]
        fn failed_put_changes_nothing(r in resource(), p in patch_path(), v in json_value()) {
            let mut m = r.clone();
            if !put(&mut m, &p, v) {
                prop_assert_eq!(m, r);
            }
        }

        #[test]
        fn fix_schemas_is_idempotent_and_complete(r in resource()) {
            let mut m = r.clone();
            fix_schemas(&mut m, CORE_USER_URN);
            let once = m.clone();
            fix_schemas(&mut m, CORE_USER_URN);
            prop_assert_eq!(&m, &once);
            if let Some(Value::Array(schemas)) = m.get("schemas") {
                for urn in extension_urns_in_use(&m) {
                    if !urn.eq_ignore_ascii_case(CORE_USER_URN) {
                        let listed =
                            |s: &Value| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&urn));
                        prop_assert!(schemas.iter().any(listed));
                    }
                }
            }
        }
    }
}
