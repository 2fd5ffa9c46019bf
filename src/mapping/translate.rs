//! Entry points: one IdP request into the target's request, one target answer into the IdP's.
//! A tenant without rules returns at once, and nothing is parsed that no rule can touch.

use super::rules::{Kind, Rules};
use super::{bulk, patch, query, resource, Stats};
use crate::dialect;
use crate::policy::model::{Idp, Profile};
use crate::policy::Tenant;
use crate::scim::error::ScimError;
use crate::scim::message::{field, field_mut};
use crate::scim::resource::Resource;
use http::Method;
use serde_json::Value;

/// What changed in a request; `None` fields stay as the IdP sent them.
#[derive(Debug, Default)]
pub struct RequestChanges {
    /// The path after the tenant route, when the target names an endpoint differently.
    pub rest: Option<String>,
    pub query: Option<String>,
    pub body: Option<Vec<u8>>,
    /// A PATCH whose every operation was dropped (nulls in `drop` mode, drops, Entra's empty
    /// member removals): nothing is left to send, the gateway answers 204 itself.
    pub nothing_to_send: bool,
}

/// Translate a request of `tenant`: the IdP's dialect normalised, the tenant's rules applied,
/// the target's profile respected. `rest` is the path after the tenant route. A tenant with a
/// generic IdP, no rules and a generic target returns at once, parsing nothing.
pub fn request(
    tenant: &Tenant,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
    stats: &mut Stats,
) -> Result<RequestChanges, ScimError> {
    let mut out = RequestChanges::default();
    let (rules, idp, profile) = (&tenant.rules, tenant.idp, tenant.upstream.profile);
    if rules.is_empty() && idp == Idp::Generic && profile == Profile::Generic {
        return Ok(out);
    }
    let lenient = idp == Idp::Entra;
    let kind = Kind::from_rest(rest);
    let resource = Resource::classify(rest);

    if let Some(q) = query.filter(|q| !q.is_empty()) {
        let mut current = q.to_string();
        let mut changed = false;
        if idp == Idp::Entra {
            if let Some(new) = query::map_params(&current, |name, value| {
                Ok(if name == "filter" {
                    dialect::entra::filter(value, stats)
                } else {
                    None
                })
            })? {
                current = new;
                changed = true;
            }
        }
        if let Some(new) = query::rewrite_query(rules, kind, &current, lenient, stats)? {
            current = new;
            changed = true;
        }
        if profile == Profile::Webex {
            query::map_params(&current, |name, value| {
                if name == "filter" {
                    dialect::profile::webex_filter(value)?;
                }
                Ok(None)
            })?;
        }
        if let Some((max, what)) = dialect::profile::max_count(profile) {
            if let Some(new) = dialect::profile::clamp_count(&current, max, stats, what) {
                current = new;
                changed = true;
            }
        }
        if changed {
            out.query = Some(current);
        }
    }
    if profile == Profile::Gluu {
        out.rest = dialect::profile::gluu_rest(rest, stats);
    }

    let Some(body) = body else { return Ok(out) };
    let is = |m: &Method| method == m;
    let wanted = match resource {
        Resource::Users | Resource::Groups | Resource::Me => {
            is(&Method::POST) || is(&Method::PUT) || is(&Method::PATCH)
        }
        Resource::Bulk | Resource::Search => is(&Method::POST),
        _ => false,
    };
    if !wanted {
        return Ok(out);
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(out);
    };
    let before = stats.total();
    match resource {
        Resource::Bulk => {
            for_each_bulk_op(&mut v, |m, k, data| dialect_body(idp, &m, k, data, stats));
            bulk::apply_request(rules, &mut v, lenient, stats)?;
            if profile == Profile::Webex {
                dialect::profile::webex_bulk(&mut v, stats)?;
            }
        }
        Resource::Search => {
            if let Some(obj) = v.as_object_mut() {
                if idp == Idp::Okta {
                    dialect::okta::integer_paging(obj, stats);
                }
            }
            if idp == Idp::Entra {
                if let Some(Value::String(f)) = field_mut(&mut v, "filter") {
                    if let Some(new) = dialect::entra::filter(f, stats) {
                        *f = new;
                    }
                }
            }
            query::rewrite_search_body(rules, kind, &mut v, lenient, stats)?;
            let filter = field(&v, "filter").and_then(Value::as_str);
            if let (Profile::Webex, Some(f)) = (profile, filter) {
                dialect::profile::webex_filter(f)?;
            }
        }
        _ => {
            if let Some(k) = kind {
                let ops_before = operation_count(&v);
                dialect_body(idp, method, k, &mut v, stats);
                if is(&Method::PATCH) {
                    patch::apply_request(rules, k, &mut v, lenient, stats)?;
                    out.nothing_to_send =
                        ops_before.is_some_and(|n| n > 0) && operation_count(&v) == Some(0);
                } else {
                    resource::apply_request(rules, k, &mut v, stats);
                }
            }
        }
    }
    if stats.total() != before {
        out.body = serde_json::to_vec(&v).ok();
    }
    Ok(out)
}

/// How many operations a PatchOp has.
fn operation_count(v: &Value) -> Option<usize> {
    crate::scim::message::operations(v).map(Vec::len)
}

/// The IdP dialect on one resource or PatchOp body (`method` is the request's or the Bulk
/// operation's).
fn dialect_body(idp: Idp, method: &Method, kind: Kind, v: &mut Value, stats: &mut Stats) {
    match (idp, method) {
        (Idp::Entra, &Method::PATCH) => dialect::entra::patch(kind, v, stats),
        (Idp::Entra, _) => {
            if let Some(obj) = v.as_object_mut() {
                dialect::entra::resource(kind, obj, true, stats);
            }
        }
        (Idp::Okta, &Method::PATCH) => dialect::okta::patch(v, stats),
        (Idp::Okta, &Method::PUT) => {
            if let Some(obj) = v.as_object_mut() {
                dialect::okta::strip_read_only(obj, stats);
            }
        }
        _ => {}
    }
}

/// Call `f(method, kind, data)` for every Bulk operation with a resource path and data.
fn for_each_bulk_op(body: &mut Value, mut f: impl FnMut(Method, Kind, &mut Value)) {
    let Some(ops) = crate::scim::message::operations_mut(body) else {
        return;
    };
    for op in ops.iter_mut() {
        let method = field(op, "method").and_then(Value::as_str).unwrap_or("");
        let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
            continue;
        };
        let kind = field(op, "path")
            .and_then(Value::as_str)
            .and_then(Kind::from_rest);
        if let (Some(k), Some(d)) = (kind, field_mut(op, "data")) {
            f(method, k, d);
        }
    }
}

/// The request an answer is for, as the IdP sent it.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub method: &'a Method,
    /// The path after the tenant route.
    pub rest: &'a str,
    pub query: Option<&'a str>,
}

/// What the IdP gets for the target's answer: the status (Entra's filtered query that the
/// target answers 404 becomes an empty ListResponse), and the body, if it changed: Zoom errors
/// wrapped as SCIM errors, maps run backwards, Okta's integer paging, `ServiceProviderConfig`
/// bulk limits lowered to what the gateway enforces, target URLs rebased.
pub fn answer(
    tenant: &Tenant,
    asked: Asked<'_>,
    status: u16,
    body: &[u8],
    rebase: &crate::flow::response::Rebase<'_>,
    stats: &mut Stats,
) -> (u16, Option<Vec<u8>>) {
    let Asked {
        method,
        rest,
        query,
    } = asked;
    if tenant.idp == Idp::Entra && dialect::entra::empty_list_for(method, rest, query, status) {
        dialect::note(stats, "entra: 404 on a query answered as an empty list");
        return (200, serde_json::to_vec(&dialect::entra::empty_list()).ok());
    }
    let zoom_error = tenant.upstream.profile == Profile::Zoom && status >= 400;
    let spc = status == 200 && Resource::classify(rest) == Resource::ServiceProviderConfig;
    let parse = tenant.rules.maps_responses() || zoom_error || spc || tenant.idp == Idp::Okta;
    if !parse || body.is_empty() {
        return (status, rebase.body(body));
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return (status, None);
    };
    let before = stats.total();
    if zoom_error {
        if let Some(wrapped) = dialect::profile::zoom_error(status, &v) {
            dialect::note(stats, "zoom: error wrapped as a SCIM error");
            v = wrapped;
        }
    }
    let spc_changed = spc && crate::flow::police::service_provider_config(tenant, &mut v);
    response(&tenant.rules, rest, &mut v, stats);
    if tenant.idp == Idp::Okta {
        if let Some(obj) = v.as_object_mut() {
            if obj.contains_key("Resources") {
                dialect::okta::integer_paging(obj, stats);
            }
        }
    }
    let rebased = rebase.value(&mut v);
    let changed = rebased || spc_changed || stats.total() != before;
    (
        status,
        changed.then(|| serde_json::to_vec(&v).ok()).flatten(),
    )
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
/// `upstream.url`); for a response (to a request with `method` and `path`, answered with
/// `status`) `{"status", "body"}` as the IdP would receive them. Errors are the SCIM
/// error the gateway would answer.
pub fn preview(
    tenant: &crate::policy::Tenant,
    direction: Direction,
    status: u16,
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
            let changes = request(tenant, method, &rest, query, body, &mut stats)?;
            if changes.nothing_to_send {
                return Ok(serde_json::json!({"gateway_answers": 204, "upstream": null}));
            }
            let query = changes.query.as_deref().or(query).filter(|q| !q.is_empty());
            let rest = changes.rest.clone().unwrap_or(rest);
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
            let body = body.unwrap_or(b"");
            if !body.trim_ascii().is_empty() {
                serde_json::from_slice::<Value>(body).map_err(|e| {
                    ScimError::invalid_syntax(format!("the response body is not JSON: {e}"))
                })?;
            }
            let public = crate::flow::response::public_base(tenant, Some("gateway.invalid"), true);
            let rebase = crate::flow::response::Rebase {
                upstream: &tenant.upstream,
                public_base: &public,
            };
            let asked = Asked {
                method,
                rest: &rest,
                query,
            };
            let (status, changed) = answer(tenant, asked, status, body, &rebase, &mut stats);
            let out: Value = match changed {
                Some(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                None if body.trim_ascii().is_empty() => Value::Null,
                None => serde_json::from_slice(body).unwrap_or(Value::Null),
            };
            Ok(serde_json::json!({"status": status, "body": out}))
        }
    }
}
