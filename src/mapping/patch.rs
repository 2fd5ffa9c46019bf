//! Rules on a PATCH request (RFC 7644 §3.5.2), operation by operation: a path equal to a map's
//! `from` becomes its `to`; a path above mapped or dropped attributes is rewritten as a path-less
//! operation on a partial resource; path-less values are mapped key by key; null values follow
//! `[nulls]` (`clear` → `{"op":"remove","path":…}`).

use super::resource::{
    apply_transform, drops_transforms_maps, is_whole_extension, strip_nulls, wrap,
};
use super::rules::{Kind, KindRules, NullMode, Rules};
use super::Stats;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::expr::ParseOptions;
use crate::scim::expr::{PatchPath, PathMemo};
use crate::scim::message::{member, member_mut};
use crate::scim::value;
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// Translate every operation of a PatchOp body in place. Paths the IdP's dialect parsed are
/// taken from `memo` rather than parsed again.
pub fn apply_request(
    rules: &Rules,
    kind: Kind,
    body: &mut Value,
    lenient: bool,
    memo: &mut PathMemo,
    stats: &mut Stats,
) -> Result<(), ScimError> {
    let Some(ops) = crate::scim::message::operations_mut(body) else {
        return Ok(());
    };
    let kr = rules.for_kind(kind);
    let mut out = Vec::with_capacity(ops.len());
    for op in ops.drain(..) {
        match op {
            Value::Object(o) => one_op(rules, kr, o, lenient, memo, &mut out, stats)?,
            other => out.push(other),
        }
    }
    *ops = out;
    Ok(())
}

/// `{"op": "remove", "path": path}`.
fn remove_of(path: String) -> Value {
    let mut o = Object::with_capacity(2);
    o.insert("op".into(), Value::String("remove".into()));
    o.insert("path".into(), Value::String(path));
    Value::Object(o)
}

fn key_of(o: &Object, name: &str) -> Option<String> {
    o.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn one_op(
    rules: &Rules,
    kr: &KindRules,
    o: Object,
    lenient: bool,
    memo: &mut PathMemo,
    out: &mut Vec<Value>,
    stats: &mut Stats,
) -> Result<(), ScimError> {
    // The operation's name in lower case, for the three RFC 7644 names.
    let op = member(&o, "op").and_then(Value::as_str);
    let op_name = ["add", "replace", "remove"]
        .into_iter()
        .find(|name| op.is_some_and(|op| op.eq_ignore_ascii_case(name)));
    let path_text = member(&o, "path").and_then(Value::as_str);
    let Some(path_text) = path_text else {
        if matches!(op_name, Some("add" | "replace")) {
            pathless(rules, kr, o, out, stats);
        } else {
            out.push(Value::Object(o));
        }
        return Ok(());
    };
    let opts = ParseOptions {
        allow_unquoted_values: lenient,
        ..ParseOptions::default()
    };
    let path = memo.parse(path_text, &opts).map_err(|e| {
        ScimError::bad_request(
            Some(ScimType::InvalidPath),
            format!(
                "PATCH path {path_text:?} is not valid at {}: {}",
                e.pos, e.message
            ),
        )
    })?;
    match op_name {
        Some("remove") => remove_op(kr, o, path, out, stats),
        Some(name) => set_op(rules, kr, o, name, path, out, stats),
        None => out.push(Value::Object(o)),
    }
    Ok(())
}

/// Same path, ignoring case and the core schema URN.
fn same(a: &PatchPath, b: &PatchPath) -> bool {
    match (a, b) {
        (PatchPath::Attr(x), PatchPath::Attr(y)) => value::attr_eq(x, y, None),
        // Written out, an attribute path has no `[` and a value path has one: never the same.
        (PatchPath::Attr(_), PatchPath::ValuePath { .. })
        | (PatchPath::ValuePath { .. }, PatchPath::Attr(_)) => false,
        // Value paths on different attributes (the common case) differ without writing them.
        (PatchPath::ValuePath { attr: x, .. }, PatchPath::ValuePath { attr: y, .. })
            if !value::attr_eq(x, y, None) =>
        {
            false
        }
        // Written alike (a rule and the operation it maps, the common case): the same text
        // without writing it. (Numbers in a filter compare as numbers here, `0.0` as `-0.0`,
        // as a filter compares them.)
        _ if a == b => true,
        _ => {
            let core = |p: &PatchPath| p.attr().urn.as_deref().is_some_and(value::is_core_urn);
            a.to_string().eq_ignore_ascii_case(&b.to_string())
                || (core(a) || core(b)) && {
                    // Compare value paths with the core URN stripped from their attribute (with
                    // none on either side, this is the comparison above again).
                    let strip = |p: &PatchPath| {
                        let mut p = p.clone();
                        if let PatchPath::ValuePath { attr, .. } = &mut p {
                            if attr.urn.as_deref().is_some_and(value::is_core_urn) {
                                attr.urn = None;
                            }
                        }
                        p.to_string().to_ascii_lowercase()
                    };
                    strip(a) == strip(b)
                }
        }
    }
}

/// Does rule path `r` cover the whole of operation path `p` (same path, or `r` is its attribute)?
fn covers(r: &PatchPath, p: &PatchPath) -> bool {
    same(r, p)
        || matches!(r, PatchPath::Attr(a) if a.sub.is_none() && value::attr_base_eq(a, p.attr(), None))
}

/// Does rule path `r` lie strictly inside operation path `p`?
fn under(r: &PatchPath, p: &PatchPath) -> bool {
    if is_whole_extension(p) {
        let PatchPath::Attr(pa) = p else { return false };
        let ext = format!("{}:{}", pa.urn.as_deref().unwrap_or(""), pa.name);
        return r
            .attr()
            .urn
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(&ext));
    }
    match p {
        // The attributes first: they differ for most rules, and tell them apart cheaply.
        PatchPath::Attr(pa) if pa.sub.is_none() => {
            value::attr_base_eq(r.attr(), pa, None) && !same(r, p)
        }
        _ => false,
    }
}

/// The target's name for an operation path, as the text of its new `path`: an exact map
/// (its target's text, written when the policy was compiled), or a map renaming its attribute.
fn mapped_path(kr: &KindRules, p: &PatchPath) -> Option<String> {
    if let Some(m) = kr.maps.iter().find(|m| same(&m.from, p)) {
        return Some(m.to_text.clone());
    }
    kr.maps.iter().find_map(|m| match (&m.from, &m.to) {
        (PatchPath::Attr(f), PatchPath::Attr(t))
            if f.sub.is_none() && t.sub.is_none() && value::attr_base_eq(f, p.attr(), None) =>
        {
            let mut renamed = p.clone();
            match &mut renamed {
                PatchPath::Attr(a) | PatchPath::ValuePath { attr: a, .. } => {
                    a.urn = t.urn.clone();
                    a.name = t.name.clone();
                }
            }
            Some(renamed.text())
        }
        _ => None,
    })
}

fn remove_op(
    kr: &KindRules,
    mut o: Object,
    path: PatchPath,
    out: &mut Vec<Value>,
    stats: &mut Stats,
) {
    if kr.drops.iter().any(|d| covers(d, &path)) {
        stats.drop += 1;
        return;
    }
    if let Some(new) = mapped_path(kr, &path) {
        stats.map += 1;
        if let Some(p) = member_mut(&mut o, "path") {
            *p = Value::String(new);
        }
        out.push(Value::Object(o));
        return;
    }
    out.push(Value::Object(o));
    // Removing a parent also removes what its mapped children became upstream.
    for m in kr.maps.iter().filter(|m| under(&m.from, &path)) {
        stats.map += 1;
        out.push(remove_of(m.to_text.clone()));
    }
}

#[allow(clippy::too_many_arguments)]
fn set_op(
    rules: &Rules,
    kr: &KindRules,
    mut o: Object,
    op_name: &str,
    path: PatchPath,
    out: &mut Vec<Value>,
    stats: &mut Stats,
) {
    // The value is taken out in place (a `null` left in its slot) and put back there at the
    // end: no key copied, hashed, removed or inserted again, and the IdP's key order kept.
    let Some(mut val) = member_mut(&mut o, "value").map(std::mem::take) else {
        out.push(Value::Object(o));
        return;
    };
    if !rules.nulls.is_noop() && rules.nulls.is_null(&val) {
        match rules.nulls.mode_for(path.attr()) {
            NullMode::Keep => {}
            NullMode::Drop => {
                stats.null += 1;
                return;
            }
            NullMode::Clear => {
                stats.null += 1;
                let target = mapped_path(kr, &path).unwrap_or_else(|| path.text());
                out.push(remove_of(target));
                return;
            }
        }
    }
    if kr.drops.iter().any(|d| covers(d, &path)) {
        stats.drop += 1;
        return;
    }
    let inside =
        kr.maps.iter().any(|m| under(&m.from, &path)) || kr.drops.iter().any(|d| under(d, &path));
    let transformed = kr
        .transforms
        .iter()
        .any(|t| value::attr_base_eq(t.path.attr(), path.attr(), None) || under(&t.path, &path));
    if inside {
        // Rewrite as a path-less operation on the partial resource {path: value}.
        if let Some(mut temp) = wrap(&path, val.clone()) {
            drops_transforms_maps(kr, &mut temp, stats);
            if temp.as_object().is_some_and(|t| t.is_empty()) {
                return;
            }
            let mut new = Object::new();
            new.insert("op".into(), Value::String(op_name.to_string()));
            new.insert("value".into(), temp);
            out.push(Value::Object(new));
            return;
        }
    }
    if transformed {
        if let Some(mut temp) = wrap(&path, val.clone()) {
            for t in &kr.transforms {
                stats.transform += apply_transform(t, &mut temp);
            }
            if let Some(v) = extract(&temp, &path) {
                val = v;
            }
        }
    }
    if let Some(new) = mapped_path(kr, &path) {
        stats.map += 1;
        if let Some(p) = member_mut(&mut o, "path") {
            *p = Value::String(new);
        }
    }
    if let Some(slot) = member_mut(&mut o, "value") {
        *slot = val;
    }
    out.push(Value::Object(o));
}

fn extract(temp: &Value, path: &PatchPath) -> Option<Value> {
    if is_whole_extension(path) {
        return temp.as_object().and_then(|o| o.values().next().cloned());
    }
    value::get(temp, path).cloned()
}

/// A path-less add/replace: its value is a partial resource, mapped key by key; nulls whose
/// mode is `clear` become remove operations.
fn pathless(rules: &Rules, kr: &KindRules, mut o: Object, out: &mut Vec<Value>, stats: &mut Stats) {
    let Some(value_key) = key_of(&o, "value") else {
        out.push(Value::Object(o));
        return;
    };
    let Some(Value::Object(mut val)) = o.shift_remove(&value_key) else {
        out.push(Value::Object(o));
        return;
    };
    let was_empty = val.is_empty();
    let removes = strip_nulls(&rules.nulls, &mut val, stats);
    let mut val = Value::Object(val);
    drops_transforms_maps(kr, &mut val, stats);
    if was_empty || val.as_object().is_some_and(|v| !v.is_empty()) {
        o.insert(value_key, val);
        out.push(Value::Object(o));
    }
    for attr in removes {
        let p = PatchPath::Attr(attr);
        let target = mapped_path(kr, &p).unwrap_or_else(|| p.text());
        out.push(remove_of(target));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile::compile_file;
    use serde_json::json;
    use std::path::Path;

    fn rules() -> Rules {
        let text = r#"tenant = "t"
route = "/t"
[[map]]
from = "title"
to = "nickName"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#;
        compile_file(Path::new("t.toml"), text).unwrap().rules
    }

    fn apply(ops: Value) -> String {
        let mut body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let mut memo = PathMemo::default();
        apply_request(
            &rules(),
            Kind::User,
            &mut body,
            false,
            &mut memo,
            &mut Stats::default(),
        )
        .unwrap();
        serde_json::to_string(&body["Operations"]).unwrap()
    }

    #[test]
    fn a_mapped_path_is_the_targets_text_written_when_the_policy_was_compiled() {
        let text = r#"tenant = "t"
route = "/t"
[nulls]
default = "clear"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[map]]
from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
to = "urn:example:ext:2.0:User:team"
[[map]]
from = "name"
to = "urn:example:ext:2.0:User:fullName"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:8081/v2"
"#;
        let rules = compile_file(Path::new("t.toml"), text).unwrap().rules;
        for m in &rules.user.maps {
            assert_eq!(m.to_text, m.to.to_string());
        }
        let mut body = json!({"Operations": [
            {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "1"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": null},
            {"op": "replace", "path": "name.givenName", "value": "A"},
        ]});
        apply_request(
            &rules,
            Kind::User,
            &mut body,
            false,
            &mut PathMemo::default(),
            &mut Stats::default(),
        )
        .unwrap();
        let paths: Vec<_> = body["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["path"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "phoneNumbers[type eq \"work\"].value",
                "urn:example:ext:2.0:User:team",
                "urn:example:ext:2.0:User:team",
                "urn:example:ext:2.0:User:fullName.givenName",
            ]
        );
    }

    #[test]
    fn an_operation_keeps_its_members_in_the_idps_order_and_spelling() {
        assert_eq!(
            apply(json!([{"Value": "Dr", "op": "Replace", "Path": "title"}])),
            r#"[{"Value":"Dr","op":"Replace","Path":"nickName"}]"#
        );
        assert_eq!(
            apply(json!([{"op": "add", "path": "displayName", "value": "x", "extra": 1}])),
            r#"[{"op":"add","path":"displayName","value":"x","extra":1}]"#
        );
    }
}
