//! Entry points: one IdP request into the target's request, one target answer into the IdP's.
//! A tenant without rules returns at once, and nothing is parsed that no rule can touch.

use super::rules::{Kind, Rules};
use super::{bulk, patch, query, resource, Stats};
use crate::scim::error::ScimError;
use crate::scim::resource::Resource;
use http::Method;
use serde_json::Value;

/// What changed in a request; `None` fields stay as the IdP sent them.
#[derive(Debug, Default)]
pub struct RequestChanges {
    pub query: Option<String>,
    pub body: Option<Vec<u8>>,
}

/// Translate a request. `rest` is the path after the tenant route; `lenient` accepts unquoted
/// filter values (Entra's older dialect).
pub fn request(
    rules: &Rules,
    lenient: bool,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
    stats: &mut Stats,
) -> Result<RequestChanges, ScimError> {
    let mut out = RequestChanges::default();
    if rules.is_empty() {
        return Ok(out);
    }
    let kind = Kind::from_rest(rest);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        out.query = query::rewrite_query(rules, kind, q, lenient, stats)?;
    }
    let Some(body) = body else { return Ok(out) };
    let resource = Resource::classify(rest);
    let is = |m: &Method| method == m;
    let wanted = match resource {
        Resource::Users | Resource::Groups | Resource::Me => {
            is(&Method::POST) || is(&Method::PUT) || is(&Method::PATCH)
        }
        Resource::Bulk => is(&Method::POST),
        Resource::Search => is(&Method::POST) && rules.maps_queries(),
        _ => false,
    };
    if !wanted {
        return Ok(out);
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(out);
    };
    let before = stats.total();
    match (resource, kind) {
        (Resource::Bulk, _) => bulk::apply_request(rules, &mut v, lenient, stats)?,
        (Resource::Search, k) => query::rewrite_search_body(rules, k, &mut v, lenient, stats)?,
        (_, Some(k)) if is(&Method::PATCH) => {
            patch::apply_request(rules, k, &mut v, lenient, stats)?
        }
        (_, Some(k)) => resource::apply_request(rules, k, &mut v, stats),
        (_, None) => {}
    }
    if stats.total() != before {
        out.body = serde_json::to_vec(&v).ok();
    }
    Ok(out)
}

/// Map a target's answer back in place; true when anything changed.
pub fn response(rules: &Rules, rest: &str, v: &mut Value, stats: &mut Stats) -> bool {
    if !rules.maps_responses() {
        return false;
    }
    let before = stats.total();
    let default_kind = Kind::from_rest(rest);
    if let Some(items) = v.get_mut("Resources").and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            if let Some(k) = Kind::of_resource(item).or(default_kind) {
                resource::apply_response(rules, k, item, stats);
            }
        }
    } else if v.get("Operations").is_some() {
        bulk::apply_response(rules, v, stats);
    } else if let Some(k) = Kind::of_resource(v).or(default_kind) {
        resource::apply_response(rules, k, v, stats);
    }
    stats.total() != before
}

/// Which way `scimgate translate` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// What the gateway would do with one request or answer of `tenant`, without the network:
/// for a request `{"method", "path", "body"}` as the target would receive them (path relative to
/// `upstream.url`); for a response `{"body"}` as the IdP would receive it. Errors are the SCIM
/// error the gateway would answer.
pub fn preview(
    tenant: &crate::policy::Tenant,
    direction: Direction,
    method: &Method,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Value, ScimError> {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let rest = path.strip_prefix(tenant.route.as_str()).unwrap_or(path);
    let rest = crate::flow::route::sanitize(rest)?;
    let mut stats = Stats::default();
    match direction {
        Direction::Request => {
            let resource = Resource::classify(&rest);
            let body = match (body, crate::flow::body::body_use(method, resource)) {
                (Some(b), crate::flow::body::BodyUse::Json) => {
                    crate::flow::body::check_json(b)?;
                    Some(b)
                }
                (b, crate::flow::body::BodyUse::Opaque) => b,
                _ => None,
            };
            let lenient = tenant.idp == crate::policy::model::Idp::Entra;
            let changes = request(
                &tenant.rules,
                lenient,
                method,
                &rest,
                query,
                body,
                &mut stats,
            )?;
            let query = changes.query.as_deref().or(query).filter(|q| !q.is_empty());
            let out_body = match (changes.body, body) {
                (Some(b), _) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                (None, Some(b)) => serde_json::from_slice(b).unwrap_or(Value::Null),
                (None, None) => Value::Null,
            };
            let path = match query {
                Some(q) => format!("{rest}?{q}"),
                None => rest.clone(),
            };
            Ok(serde_json::json!({"method": method.as_str(), "path": path, "body": out_body}))
        }
        Direction::Response => {
            let mut v: Value = match body {
                Some(b) if !b.trim_ascii().is_empty() => {
                    serde_json::from_slice(b).map_err(|e| {
                        ScimError::invalid_syntax(format!("the response body is not JSON: {e}"))
                    })?
                }
                _ => Value::Null,
            };
            response(&tenant.rules, &rest, &mut v, &mut stats);
            Ok(serde_json::json!({"body": v}))
        }
    }
}
