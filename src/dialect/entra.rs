//! Microsoft Entra ID's SCIM dialect, with and without its `aadOptscim062020` flag (the gateway
//! cannot see it), normalised to RFC 7644: op names, string booleans, member removals, dotted
//! keys, Microsoft schema URNs, top-level enterprise attributes, `manager`, unquoted filters.

use super::{
    booleans_in_elements, booleans_in_resource, get_ci, is_boolean, note, remove_ci, to_bool,
    ENTERPRISE,
};
use crate::mapping::{Kind, Stats};
use crate::scim::expr::{parse_filter, parse_filter_with, Filter, ParseOptions};
use crate::scim::expr::{parse_path_with, PatchPath, PathMemo};
use crate::scim::message::member_mut;
use crate::scim::value;
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// Microsoft's own Group schema URN, which no target knows.
const MS_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
/// Entra's misspelt enterprise URN (no `:` before `User`).
const MISSPELT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User";
/// Enterprise attributes Entra sometimes sends at the top level of a User.
const ENTERPRISE_ATTRS: [&str; 6] = [
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
];

/// The enterprise URN spelt right, for a key, schema or path that starts misspelt.
fn fix_urn(s: &str) -> Option<String> {
    // The `U` where the right spelling has `:` tells them apart without comparing the rest
    // (most paths and keys are shorter, or are the enterprise URN spelt right).
    if !s
        .as_bytes()
        .get(MISSPELT.len() - 4)
        .is_some_and(|b| b.eq_ignore_ascii_case(&b'U'))
    {
        return None;
    }
    let head = s.get(..MISSPELT.len())?;
    head.eq_ignore_ascii_case(MISSPELT)
        .then(|| format!("{ENTERPRISE}{}", s.get(MISSPELT.len()..).unwrap_or("")))
}

fn is_enterprise_attr(name: &str) -> Option<&'static str> {
    ENTERPRISE_ATTRS
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(name))
}

/// A POST/PUT body, or (with `whole = false`) a path-less PATCH value.
pub fn resource(kind: Kind, obj: &mut Object, whole: bool, stats: &mut Stats) {
    let before = stats.dialect;
    if whole {
        if let Some(Value::Array(schemas)) = obj
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
            .map(|(_, v)| v)
        {
            let before = schemas.len();
            schemas.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(MS_GROUP)));
            if schemas.len() != before {
                note(stats, "entra: Microsoft Group schema URN dropped");
                let core = kind.core_urn();
                if !schemas
                    .iter()
                    .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(core)))
                {
                    schemas.insert(0, Value::String(core.to_string()));
                }
            }
            for s in schemas.iter_mut() {
                if let Some(fixed) = s.as_str().and_then(fix_urn) {
                    *s = Value::String(fixed);
                    note(stats, "entra: misspelt enterprise URN fixed");
                }
            }
        }
        if remove_ci(obj, "meta").is_some() {
            note(stats, "entra: read-only meta dropped");
        }
    }
    // Misspelt extension key.
    let misspelt: Vec<String> = obj
        .keys()
        .filter(|k| fix_urn(k).is_some())
        .cloned()
        .collect();
    for k in misspelt {
        if let (Some(v), Some(fixed)) = (obj.shift_remove(&k), fix_urn(&k)) {
            merge_into(obj, &fixed, v);
            note(stats, "entra: misspelt enterprise URN fixed");
        }
    }
    if kind == Kind::User {
        let top: Vec<String> = obj
            .keys()
            .filter(|k| is_enterprise_attr(k).is_some())
            .cloned()
            .collect();
        for k in top {
            if let (Some(v), Some(name)) = (obj.shift_remove(&k), is_enterprise_attr(&k)) {
                let mut ext = Object::new();
                ext.insert(name.to_string(), v);
                merge_into(obj, ENTERPRISE, Value::Object(ext));
                note(
                    stats,
                    "entra: top-level enterprise attribute moved into the extension",
                );
            }
        }
        if let Some(Value::Object(ext)) = obj
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(ENTERPRISE))
            .map(|(_, v)| v)
        {
            if let Some(m) = ext
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case("manager"))
                .map(|(_, v)| v)
            {
                if manager(m) {
                    note(stats, "entra: manager normalised to {\"value\": id}");
                }
            }
        }
    }
    let n = booleans_in_resource(obj);
    for _ in 0..n {
        note(stats, "entra: string boolean made boolean");
    }
    if kind == Kind::Group {
        if let Some(Value::Array(members)) = obj
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("members"))
            .map(|(_, v)| v)
        {
            members_cleanup(members, stats);
        }
    }
    if whole && stats.dialect != before {
        let mut v = Value::Object(std::mem::take(obj));
        value::fix_schemas(&mut v, kind.core_urn());
        if let Value::Object(o) = v {
            *obj = o;
        }
    }
}

/// Insert `v` at `key`, merging objects when both are objects (the existing values win).
fn merge_into(obj: &mut Object, key: &str, v: Value) {
    let existing = obj
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v);
    match (existing, v) {
        (Some(Value::Object(have)), Value::Object(new)) => {
            for (k, v) in new {
                if !have.keys().any(|h| h.eq_ignore_ascii_case(&k)) {
                    have.insert(k, v);
                }
            }
        }
        (Some(_), _) => {}
        (None, v) => {
            obj.insert(key.to_string(), v);
        }
    }
}

/// `"id"`, `[{"$ref": null, "value": "id"}]` or `{"$ref": null, "value": "id"}` → `{"value": "id"}`.
fn manager(m: &mut Value) -> bool {
    let new = match m {
        Value::String(s) => serde_json::json!({ "value": s }),
        Value::Array(items) => match items.first() {
            Some(Value::Object(first)) => Value::Object(first.clone()),
            Some(Value::String(s)) => serde_json::json!({ "value": s }),
            _ => return false,
        },
        Value::Object(_) => m.clone(),
        _ => return false,
    };
    let mut new = new;
    if let Value::Object(o) = &mut new {
        if get_ci(o, "$ref").is_some_and(Value::is_null) {
            remove_ci(o, "$ref");
        }
    }
    if *m == new {
        false
    } else {
        *m = new;
        true
    }
}

/// Member objects: `"$ref": null` dropped, `displayName` → `display`.
fn members_cleanup(members: &mut [Value], stats: &mut Stats) {
    for m in members.iter_mut() {
        let Some(o) = m.as_object_mut() else { continue };
        if get_ci(o, "$ref").is_some_and(Value::is_null) {
            remove_ci(o, "$ref");
            note(stats, "entra: member $ref null dropped");
        }
        if get_ci(o, "display").is_none() {
            if let Some(d) = remove_ci(o, "displayName") {
                o.insert("display".into(), d);
                note(stats, "entra: member displayName renamed display");
            }
        }
    }
}

/// Path-less values with dotted or URN-qualified keys (`"name.givenName"`,
/// `"urn:…:enterprise:2.0:User:employeeNumber"`, `emails[type eq "work"].value`) in the nested
/// RFC 7644 §3.5.2.3 form.
fn nest_keys(obj: &mut Object, stats: &mut Stats) {
    let needs = |k: &str| {
        let urn_attr = k.len() > 4 && k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        k.contains('.') || k.contains('[') || urn_attr
    };
    if !obj.keys().any(|k| needs(k)) {
        return;
    }
    let mut out = Value::Object(Object::new());
    let opts = ParseOptions::lenient();
    for (k, v) in std::mem::take(obj) {
        let key = fix_urn(&k).unwrap_or(k);
        let path = needs(&key)
            .then(|| parse_path_with(&key, &opts).ok())
            .flatten();
        match path {
            Some(p) if !crate::mapping::resource::is_whole_extension(&p) => {
                if value::put(&mut out, &p, v.clone()) {
                    note(stats, "entra: dotted key nested");
                } else if let Some(o) = out.as_object_mut() {
                    o.insert(key, v);
                }
            }
            _ => {
                if let Some(o) = out.as_object_mut() {
                    match o
                        .iter_mut()
                        .find(|(ok, _)| ok.eq_ignore_ascii_case(&key))
                        .map(|(_, v)| v)
                    {
                        Some(Value::Object(have)) => {
                            if let Value::Object(new) = v {
                                have.extend(new);
                            }
                        }
                        _ => {
                            o.insert(key, v);
                        }
                    }
                }
            }
        }
    }
    if let Value::Object(o) = out {
        *obj = o;
    }
}

/// A PatchOp body, operation by operation. Each path this parses is kept in `memo` for the
/// tenant's rules, which read the same paths next.
pub fn patch(kind: Kind, body: &mut Value, memo: &mut PathMemo, stats: &mut Stats) {
    let Some(ops) = crate::scim::message::operations_mut(body) else {
        return;
    };
    let mut out = Vec::with_capacity(ops.len());
    memo.reserve(ops.len());
    for op in ops.drain(..) {
        match op {
            Value::Object(o) => one_op(kind, o, &mut out, memo, stats),
            other => out.push(other),
        }
    }
    *ops = out;
}

fn one_op(kind: Kind, mut o: Object, out: &mut Vec<Value>, memo: &mut PathMemo, stats: &mut Stats) {
    // op: any case, and "delete", become add | replace | remove.
    let mut is_remove = false;
    if let Some(Value::String(op)) = member_mut(&mut o, "op") {
        if op.eq_ignore_ascii_case("delete") {
            *op = "remove".to_string();
            note(stats, "entra: PATCH op name normalised");
        } else if op.bytes().any(|b| b.is_ascii_uppercase()) {
            op.make_ascii_lowercase();
            note(stats, "entra: PATCH op name normalised");
        }
        is_remove = op == "remove";
    }
    // Path: misspelt URN, top-level enterprise attributes.
    let mut path = None;
    if let Some(Value::String(p)) = member_mut(&mut o, "path") {
        if let Some(fixed) = fix_urn(p) {
            *p = fixed;
            note(stats, "entra: misspelt enterprise URN fixed");
        }
        if kind == Kind::User {
            let head = p
                .bytes()
                .position(|b| matches!(b, b'.' | b'['))
                .and_then(|end| p.get(..end))
                .unwrap_or(p);
            if let Some(name) = is_enterprise_attr(head) {
                *p = format!("{ENTERPRISE}:{name}{}", p.get(head.len()..).unwrap_or(""));
                note(
                    stats,
                    "entra: top-level enterprise attribute moved into the extension",
                );
            }
        }
        path = Some(p.clone());
    }

    // remove of members with a value array: one filtered remove per member.
    if is_remove
        && path
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("members"))
    {
        let values = get_ci(&o, "value");
        let ids: Vec<String> = match values {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|m| {
                    m.as_object()
                        .and_then(|m| get_ci(m, "value"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect(),
            _ => Vec::new(),
        };
        note(
            stats,
            "entra: member removal by value array split per member",
        );
        for id in ids {
            let quoted = serde_json::to_string(&id).unwrap_or_default();
            out.push(
                serde_json::json!({"op": "remove", "path": format!("members[value eq {quoted}]")}),
            );
        }
        // A bare `remove members` would empty the group: never sent.
        return;
    }

    let Some(v) = member_mut(&mut o, "value") else {
        out.push(Value::Object(o));
        return;
    };
    match path {
        None => {
            if let Value::Object(obj) = v {
                nest_keys(obj, stats);
                resource(kind, obj, false, stats);
            }
        }
        Some(p) => {
            let opts = ParseOptions::lenient();
            if let Ok(parsed) = parse_path_with(&p, &opts) {
                let attr = parsed.attr();
                let sub = match &parsed {
                    PatchPath::ValuePath { sub, .. } => sub.as_deref(),
                    PatchPath::Attr(a) => a.sub.as_deref(),
                };
                let is_manager = attr.name.eq_ignore_ascii_case("manager")
                    && attr
                        .urn
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE))
                    && sub.is_none();
                if is_manager && manager(v) {
                    note(stats, "entra: manager normalised to {\"value\": id}");
                }
                if is_boolean(&attr.name, sub) && to_bool(v) {
                    note(stats, "entra: string boolean made boolean");
                }
                match v {
                    Value::Array(items) => {
                        for _ in 0..booleans_in_elements(items) {
                            note(stats, "entra: string boolean made boolean");
                        }
                        if attr.name.eq_ignore_ascii_case("members") {
                            members_cleanup(items, stats);
                        }
                    }
                    Value::Object(obj) if !is_manager => {
                        for (k, x) in obj.iter_mut() {
                            if is_boolean(k, None) && to_bool(x) {
                                note(stats, "entra: string boolean made boolean");
                            }
                        }
                    }
                    _ => {}
                }
                memo.keep(p, &opts, parsed);
            }
        }
    }
    out.push(Value::Object(o));
}

/// Strings for booleans in comparisons (`active eq "True"`, `emails[primary eq "true"]`).
fn filter_booleans(f: &mut Filter, in_value_path: bool) -> u32 {
    match f {
        Filter::Compare { path, value, .. } => {
            let boolean = if in_value_path {
                is_boolean(&path.name, None)
            } else {
                is_boolean(&path.name, path.sub.as_deref())
            };
            u32::from(boolean && to_bool(value))
        }
        Filter::Present(_) => 0,
        Filter::And(a, b) | Filter::Or(a, b) => {
            filter_booleans(a, in_value_path) + filter_booleans(b, in_value_path)
        }
        Filter::Not(inner) => filter_booleans(inner, in_value_path),
        Filter::ValuePath { filter, .. } => filter_booleans(filter, true),
    }
}

/// A filter in RFC form: unquoted values quoted, string booleans made booleans; `None` when
/// it is already right (or unreadable either way: the next stage answers for that).
pub fn filter(text: &str, stats: &mut Stats) -> Option<String> {
    let (mut f, unquoted) = match parse_filter(text) {
        Ok(f) => (f, false),
        Err(_) => (
            parse_filter_with(text, &ParseOptions::lenient()).ok()?,
            true,
        ),
    };
    let bools = filter_booleans(&mut f, false);
    if unquoted {
        note(stats, "entra: unquoted filter value quoted");
    }
    for _ in 0..bools {
        note(stats, "entra: string boolean made boolean");
    }
    (unquoted || bools > 0).then(|| f.to_string())
}

/// Does this answer need Entra's 404-to-empty-list treatment? A query (GET with a filter) that
/// the target answers 404 would quarantine the connection; Entra expects an empty ListResponse.
pub fn empty_list_for(method: &http::Method, rest: &str, query: Option<&str>, status: u16) -> bool {
    status == 404
        && method == http::Method::GET
        && Kind::from_rest(rest).is_some()
        && rest.trim_matches('/').split('/').count() == 1
        && query.is_some_and(|q| {
            q.split('&').any(|p| {
                p.get(..7)
                    .is_some_and(|h| h.eq_ignore_ascii_case("filter="))
            })
        })
}

/// The empty ListResponse Entra gets instead of a 404.
pub fn empty_list() -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": []
    })
}
