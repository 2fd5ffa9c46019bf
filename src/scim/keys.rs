//! One spelling for the attribute keys of a resource (RFC 7644 §3.10 lets a name be written
//! fully qualified by its schema URN): `"urn:…:core:2.0:User:password"` and a core-URN object
//! `{"urn:…:core:2.0:User": {"password": …}}` are `password`; a flattened extension attribute
//! `"urn:…:enterprise:2.0:User:department"` goes into its extension object. Rules then see every
//! attribute under the one key they look for. The same attribute given twice is refused.

use super::value::{is_core_urn, is_urn_key as is_urn, ENTERPRISE_USER_URN as ENTERPRISE};
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// How many rounds of unwrapping (a core-URN object inside a core-URN object …) are followed.
const MAX_ROUNDS: usize = 8;

/// Bring the keys of `obj` (a resource, or a path-less PATCH value) to one spelling. `Ok(true)`
/// when anything moved; `Err(what)` when one attribute is given twice.
pub fn unqualify(obj: &mut Object) -> Result<bool, String> {
    let mut changed = false;
    for _ in 0..MAX_ROUNDS {
        if !one_round(obj)? {
            return Ok(changed);
        }
        changed = true;
    }
    Err("attribute keys qualified too many times over".to_string())
}

/// One pass over the keys; true when anything moved.
fn one_round(obj: &mut Object) -> Result<bool, String> {
    if !obj.keys().any(|k| is_urn(k)) {
        return Ok(false);
    }
    // Extension containers named by the body: its `schemas` and its URN-keyed objects.
    let mut containers: Vec<String> = obj
        .iter()
        .filter(|(k, v)| is_urn(k) && v.is_object() && !is_core_urn(k))
        .map(|(k, _)| k.clone())
        .collect();
    let schemas = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .and_then(|(_, v)| v.as_array());
    if let Some(schemas) = schemas {
        containers.extend(schemas.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    let mut out = Object::new();
    let mut changed = false;
    for (key, value) in std::mem::take(obj) {
        if is_core_urn(&key) {
            let Value::Object(inner) = value else {
                return Err(format!("{key:?} must hold an object"));
            };
            for (k, v) in inner {
                insert(&mut out, k, v)?;
            }
            changed = true;
            continue;
        }
        match split_qualified(&key, &containers) {
            Some((urn, attr)) if is_core_urn(urn) => {
                insert(&mut out, attr.to_string(), value)?;
                changed = true;
            }
            Some((urn, attr)) => {
                let mut one = Object::new();
                one.insert(attr.to_string(), value);
                insert(&mut out, urn.to_string(), Value::Object(one))?;
                changed = true;
            }
            None => insert(&mut out, key, value)?,
        }
    }
    *obj = out;
    Ok(changed)
}

/// `(urn, attribute)` when `key` is a core or known extension URN, `:`, an attribute name (or a
/// dotted `name.sub`, which [`nest_paths`] then reads as a path).
fn split_qualified<'k>(key: &'k str, containers: &[String]) -> Option<(&'k str, &'k str)> {
    let (urn, attr) = key.rsplit_once(':')?;
    let known = is_core_urn(urn)
        || containers.iter().any(|c| c.eq_ignore_ascii_case(urn))
        || urn.eq_ignore_ascii_case(ENTERPRISE);
    let name = attr
        .split('.')
        .all(|part| !part.is_empty() && super::expr::is_valid_attr_name(part));
    (known && name && is_urn(urn)).then_some((urn, attr))
}

/// Keys that are attribute paths (`name.givenName`, `emails[type eq "work"].value`, as Entra
/// writes path-less PATCH values), at the top and inside extension objects, set in the nested
/// RFC 7643 form so rules see them. A key with `.` or `[` that is no attribute path, or a path
/// whose value the object already holds, is refused: a target could read it either way.
pub fn nest_paths(obj: &mut Object) -> Result<bool, String> {
    let mut changed = nest_in(obj)?;
    for (key, v) in obj.iter_mut() {
        if let (true, Value::Object(ext)) = (is_urn(key), v) {
            changed |= nest_in(ext)?;
        }
    }
    Ok(changed)
}

/// [`nest_paths`] on one object's own keys. Every other key must be an attribute name or a
/// schema URN: `"password "` or `"pass word"` could be one attribute to a lenient target.
fn nest_in(obj: &mut Object) -> Result<bool, String> {
    let is_path = |k: &str| !is_urn(k) && k.contains(['.', '[']);
    if let Some(k) = obj
        .keys()
        .find(|k| !is_path(k) && !is_urn(k) && !super::expr::is_valid_attr_name(k))
    {
        return Err(format!("key {k:?} is not an attribute name"));
    }
    if !obj.keys().any(|k| is_path(k)) {
        return Ok(false);
    }
    let mut plain = Object::new();
    let mut paths = Vec::new();
    for (k, v) in std::mem::take(obj) {
        if is_path(&k) {
            paths.push((k, v));
        } else {
            insert(&mut plain, k, v)?;
        }
    }
    let mut out = Value::Object(plain);
    let opts = super::expr::ParseOptions::lenient();
    for (k, v) in paths {
        let path = super::expr::parse_path_with(&k, &opts)
            .map_err(|e| format!("key {k:?} is not an attribute path ({e})"))?;
        if super::value::get(&out, &path).is_some() {
            return Err(format!("attribute {k:?} is given twice"));
        }
        if !super::value::put(&mut out, &path, v) {
            return Err(format!("key {k:?} does not fit the rest of the value"));
        }
    }
    if let Value::Object(o) = out {
        *obj = o;
    }
    Ok(true)
}

/// Put `key` into `out`: objects under the same key (any case) are merged, anything else given
/// twice is refused.
fn insert(out: &mut Object, key: String, value: Value) -> Result<(), String> {
    let have = out
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        .map(|(_, v)| v);
    match (have, value) {
        (None, value) => {
            out.insert(key, value);
            Ok(())
        }
        (Some(Value::Object(have)), Value::Object(new)) => {
            for (k, v) in new {
                insert(have, k, v)?;
            }
            Ok(())
        }
        (Some(_), _) => Err(format!("attribute {key:?} is given twice")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Result<Value, String> {
        let Value::Object(mut o) = v else { panic!() };
        unqualify(&mut o).map(|_| Value::Object(o))
    }

    #[test]
    fn core_urn_spellings_become_plain_names() {
        let got = run(json!({"userName": "a",
            "urn:ietf:params:scim:schemas:core:2.0:User:password": "x",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER": {"title": "boss", "name": {"givenName": "A"}}}))
        .unwrap();
        assert_eq!(
            got,
            json!({"userName": "a", "password": "x", "title": "boss", "name": {"givenName": "A"}})
        );
    }

    #[test]
    fn flattened_extension_attributes_join_their_object() {
        let ent = ENTERPRISE;
        let got = run(
            json!({"userName": "a", format!("{ent}:department"): "Sales",
            ent: {"employeeNumber": "1"}}),
        )
        .unwrap();
        assert_eq!(
            got,
            json!({"userName": "a", ent: {"employeeNumber": "1", "department": "Sales"}})
        );
        // A URN the body does not name stays as it is.
        let odd = json!({"urn:example:thing:x": 1});
        assert_eq!(run(odd.clone()).unwrap(), odd);
    }

    #[test]
    fn one_attribute_twice_is_refused() {
        for v in [
            json!({"password": "x", "urn:ietf:params:scim:schemas:core:2.0:User:password": "y"}),
            json!({"title": "a", "urn:ietf:params:scim:schemas:core:2.0:User": {"Title": "b"}}),
            json!({ENTERPRISE: {"department": "a"}, format!("{ENTERPRISE}:Department"): "b"}),
            json!({"urn:ietf:params:scim:schemas:core:2.0:User": "x"}),
        ] {
            assert!(run(v.clone()).is_err(), "{v}");
        }
    }

    #[test]
    fn nested_spellings_unwrap_until_one_is_left() {
        let core = "urn:ietf:params:scim:schemas:core:2.0:User";
        let got =
            run(json!({core: {format!("{core}:locale"): "a", core: {"title": "t"}}})).unwrap();
        assert_eq!(got, json!({"locale": "a", "title": "t"}));
        let mut deep = json!({"title": "t"});
        for _ in 0..20 {
            deep = json!({core: deep});
        }
        assert!(run(deep).is_err());
    }

    #[test]
    fn path_keys_are_nested_or_refused() {
        let nest = |v: Value| {
            let Value::Object(mut o) = v else { panic!() };
            nest_paths(&mut o).map(|_| Value::Object(o))
        };
        assert_eq!(
            nest(
                json!({"name.givenName": "A", "emails[type eq \"work\"].value": "a@x",
                ENTERPRISE: {"manager.value": "m"}})
            )
            .unwrap(),
            json!({"name": {"givenName": "A"}, "emails": [{"type": "work", "value": "a@x"}],
                ENTERPRISE: {"manager": {"value": "m"}}})
        );
        // Found by fuzzing: a dotted key that is no path reached the target as a remove path.
        for bad in [
            json!({"password.0:User%2-0and%2": {"x": ""}}),
            json!({"name": {"givenName": "A"}, "name.givenName": "B"}),
            json!({"title.x[": 1}),
            json!({"password ": "x"}),
            json!({"durn:iet#f:paru:ietf:params:scim:schema": ""}),
            json!({ENTERPRISE: {"depart ment": "x"}}),
        ] {
            assert!(nest(bad.clone()).is_err(), "{bad}");
        }
        // A core-qualified dotted key becomes a plain dotted key, then a nested one.
        let Value::Object(mut o) =
            json!({"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName": "A"})
        else {
            panic!()
        };
        unqualify(&mut o).unwrap();
        nest_paths(&mut o).unwrap();
        assert_eq!(Value::Object(o), json!({"name": {"givenName": "A"}}));
    }

    #[test]
    fn plain_bodies_are_left_alone() {
        let v = json!({"userName": "a", ENTERPRISE: {"department": "x"}});
        let Value::Object(mut o) = v.clone() else {
            panic!()
        };
        assert!(!unqualify(&mut o).unwrap());
        assert_eq!(Value::Object(o), v);
    }
}
