//! Rules on a whole resource (POST/PUT bodies, Bulk `data`, responses), in a fixed order:
//! nulls → drop → transform → map → set → `schemas` kept consistent. `nulls`, `drop`,
//! `transform` and map `from` name attributes as the IdP sends them; map `to` and `set` as the
//! target receives them. Responses only run the maps backwards.

use super::rules::{Kind, KindRules, NullMode, NullPolicy, Rules, TransformRule};
use super::Stats;
use crate::scim::expr::{AttrPath, PatchPath};
use crate::scim::value;
use serde_json::{Map, Value};

/// Keys SCIM itself owns; no rule touches them.
const RESERVED: [&str; 3] = ["schemas", "id", "meta"];

/// Apply the request rules of `kind` to `res` (a JSON object).
pub fn apply_request(rules: &Rules, kind: Kind, res: &mut Value, stats: &mut Stats) {
    if !res.is_object() {
        return;
    }
    let before = stats.total();
    if let Some(obj) = res.as_object_mut() {
        strip_nulls(&rules.nulls, obj, stats);
    }
    let kr = rules.for_kind(kind);
    drops_transforms_maps(kr, res, stats);
    for set in &kr.sets {
        if set.when.as_ref().is_some_and(|w| !w.matches(res)) {
            continue;
        }
        if set.only_if_absent
            && value::get(res, &set.path).is_some_and(|v| !rules.nulls.is_null(v) && !v.is_null())
        {
            continue;
        }
        if value::put(res, &set.path, set.value.clone()) {
            stats.set += 1;
        }
    }
    if stats.total() != before {
        value::fix_schemas(res, kind.core_urn());
    }
}

/// Drop, transform and map (no nulls, no sets): shared by resources and PATCH value objects.
pub fn drops_transforms_maps(kr: &KindRules, res: &mut Value, stats: &mut Stats) {
    for d in &kr.drops {
        if value::remove(res, d) {
            stats.drop += 1;
        }
    }
    for t in &kr.transforms {
        stats.transform += apply_transform(t, res);
    }
    // Take every source first, then write every target, so maps may swap attributes.
    let taken: Vec<(usize, Value)> = kr
        .maps
        .iter()
        .enumerate()
        .filter_map(|(i, m)| value::take(res, &m.from).map(|v| (i, v)))
        .collect();
    for (i, v) in taken {
        if let Some(m) = kr.maps.get(i) {
            if value::put(res, &m.to, v) {
                stats.map += 1;
            }
        }
    }
}

/// Apply one transform wherever its path points (each element of an array); returns how many
/// values changed.
pub fn apply_transform(t: &TransformRule, res: &mut Value) -> u32 {
    let mut changed = 0;
    value::for_each_mut(res, &t.path, &mut |v| match v {
        Value::Array(items) => {
            for i in items.iter_mut() {
                changed += u32::from(t.func.apply(i));
            }
        }
        other => changed += u32::from(t.func.apply(other)),
    });
    changed
}

/// Run the maps of `kind` backwards on a resource the target sent.
pub fn apply_response(rules: &Rules, kind: Kind, res: &mut Value, stats: &mut Stats) {
    let maps = &rules.for_kind(kind).maps;
    if maps.is_empty() || !res.is_object() {
        return;
    }
    let taken: Vec<(usize, Value)> = maps
        .iter()
        .enumerate()
        .filter_map(|(i, m)| value::take(res, &m.to).map(|v| (i, v)))
        .collect();
    if taken.is_empty() {
        return;
    }
    for (i, v) in taken {
        if let Some(m) = maps.get(i) {
            if value::put(res, &m.from, v) {
                stats.map += 1;
            }
        }
    }
    value::fix_schemas(res, kind.core_urn());
}

/// Remove explicit nulls whose mode is drop or clear from a (partial) resource: top-level
/// attributes, sub-attributes of complex ones, and extension attributes. Returns the attributes
/// removed in `clear` mode: a POST/PUT body just leaves them out, a PATCH turns them into
/// remove operations.
pub fn strip_nulls(
    nulls: &NullPolicy,
    obj: &mut Map<String, Value>,
    stats: &mut Stats,
) -> Vec<AttrPath> {
    let mut cleared = Vec::new();
    if nulls.is_noop() {
        return cleared;
    }
    let mut emptied = Vec::new();
    obj.retain(|key, v| {
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(key)) {
            return true;
        }
        let is_ext = key.len() > 4
            && key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
            && v.is_object();
        if is_ext {
            if let Some(ext) = v.as_object_mut() {
                ext.retain(|name, sv| {
                    keep_value(nulls, Some(key), name, None, sv, &mut cleared, stats)
                });
                if ext.is_empty() {
                    emptied.push(key.clone());
                }
            }
            return true;
        }
        keep_value(nulls, None, key, None, v, &mut cleared, stats)
    });
    for k in emptied {
        obj.shift_remove(&k);
    }
    cleared
}

/// Whether `v`, the value of `urn:name.sub`, stays; a null is dropped or cleared as its mode
/// says. The path is built only for a null (most values are not).
fn keep_value(
    nulls: &NullPolicy,
    urn: Option<&str>,
    name: &str,
    sub: Option<&str>,
    v: &mut Value,
    cleared: &mut Vec<AttrPath>,
    stats: &mut Stats,
) -> bool {
    if nulls.is_null(v) {
        let attr = AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        };
        return match nulls.mode_for(&attr) {
            NullMode::Keep => true,
            NullMode::Drop => {
                stats.null += 1;
                false
            }
            NullMode::Clear => {
                stats.null += 1;
                cleared.push(attr);
                false
            }
        };
    }
    if sub.is_none() {
        if let Value::Object(children) = v {
            let was_empty = children.is_empty();
            children
                .retain(|child, sv| keep_value(nulls, urn, name, Some(child), sv, cleared, stats));
            return was_empty || !children.is_empty();
        }
    }
    true
}

/// A PATCH path that names a whole extension (`urn:…:enterprise:2.0:User`) rather than an
/// attribute in one: the parser reads its last segment as a name; schema names are capitalised.
pub fn is_whole_extension(p: &PatchPath) -> bool {
    match p {
        PatchPath::Attr(a) => {
            a.urn.is_some()
                && a.sub.is_none()
                && a.name.chars().next().is_some_and(char::is_uppercase)
        }
        PatchPath::ValuePath { .. } => false,
    }
}

/// `{path: value}` as a partial resource (for PATCH operations).
pub fn wrap(path: &PatchPath, value: Value) -> Option<Value> {
    let mut temp = Value::Object(Default::default());
    if is_whole_extension(path) {
        let PatchPath::Attr(a) = path else {
            return None;
        };
        let key = format!("{}:{}", a.urn.as_deref().unwrap_or(""), a.name);
        if let Some(obj) = temp.as_object_mut() {
            obj.insert(key, value);
        }
        return Some(temp);
    }
    value::put(&mut temp, path, value).then_some(temp)
}
