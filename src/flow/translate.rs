//! Steps 5 and 7: the tenant's translation, both ways, on the one parsed message. Requests: the
//! IdP's dialect normalised ([`crate::dialect`]), the shape checked, the tenant's rules applied
//! ([`crate::mapping`]), the target's profile respected. Answers: Zoom errors wrapped, maps run
//! backwards, Okta's paging, `ServiceProviderConfig` limits, target URLs rebased. A tenant that
//! translates nothing returns at once.

use super::body::Body;
use super::exchange::{ExchangeError, UpstreamResponse};
use super::response::{check_redirect, pass_headers, Rebase};
use super::Reply;
use crate::dialect;
use crate::mapping::partial::Partial;
use crate::mapping::{bulk, patch, query, resource, Kind, Stats};
use crate::policy::model::{Idp, Profile};
use crate::policy::Tenant;
use crate::scim::error::ScimError;
use crate::scim::expr::PathMemo;
use crate::scim::message::{check_bulk, check_patch, field, field_mut};
use crate::scim::resource::Resource;
use crate::telemetry::metrics::UpstreamErrorKind;
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

/// A request as the IdP sent it, in its canonical form.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub method: &'a Method,
    /// The canonical path after the tenant route.
    pub rest: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// What changed in a request besides its body; `None` fields stay as the IdP sent them.
#[derive(Debug, Default)]
pub struct RequestChanges {
    /// The path after the tenant route, when the target names an endpoint differently.
    pub rest: Option<String>,
    pub query: Option<String>,
    /// A PATCH whose every operation was dropped (nulls in `drop` mode, drops, Entra's empty
    /// member removals): nothing is left to send, the gateway answers 204 itself.
    pub nothing_to_send: bool,
}

/// Translate a request of `tenant` in place: query, path and the parsed body.
pub fn request(
    tenant: &Tenant,
    asked: &Asked<'_>,
    body: &mut Body,
    stats: &mut Stats,
) -> Result<RequestChanges, ScimError> {
    let mut out = RequestChanges::default();
    if !tenant.translates() {
        return Ok(out);
    }
    let (rules, idp, profile) = (&tenant.rules, tenant.idp, tenant.upstream.profile);
    let (method, rest) = (asked.method, asked.rest);
    let lenient = idp == Idp::Entra;
    let kind = Kind::from_rest(rest);
    let resource = Resource::classify(rest);

    if let Some(q) = asked.query.filter(|q| !q.is_empty()) {
        out.query = translate_query(tenant, kind, q, stats)?;
    }
    if profile == Profile::Gluu {
        out.rest = dialect::profile::gluu_rest(rest, stats);
    }

    let Body::Json(message) = body else {
        return Ok(out);
    };
    let v = &mut message.value;
    let before = stats.total();
    match resource {
        Resource::Bulk if method == Method::POST => {
            // The dialect first (Entra's "Delete" op inside a PATCH operation's data is its
            // spelling of remove), then the shape, then the rules.
            // Bulk operations parse their paths again (`bulk::apply_request`): nothing is kept.
            for_each_bulk_op(v, |m, k, data| {
                dialect_body(idp, &m, k, data, &mut PathMemo::default(), stats)
            });
            check_bulk(v)?;
            if let Some(ops) = crate::scim::message::operations_mut(v) {
                for op in ops.iter_mut() {
                    let method = field(op, "method").and_then(Value::as_str).unwrap_or("");
                    let patch = method.eq_ignore_ascii_case("PATCH");
                    if let Some(data) = field_mut(op, "data") {
                        one_spelling(patch, data)?;
                    }
                }
            }
            bulk::apply_request(rules, v, lenient, stats)?;
            if profile == Profile::Webex {
                dialect::profile::webex_bulk(v, stats)?;
            }
        }
        Resource::Search if method == Method::POST => {
            if let Some(obj) = v.as_object_mut() {
                if idp == Idp::Okta {
                    dialect::okta::integer_paging(obj, stats);
                }
            }
            if idp == Idp::Entra {
                if let Some(Value::String(f)) = field_mut(v, "filter") {
                    if let Some(new) = dialect::entra::filter(f, stats) {
                        *f = new;
                    }
                }
            }
            query::rewrite_search_body(rules, kind, v, lenient, stats)?;
            let filter = field(v, "filter").and_then(Value::as_str);
            if let (Profile::Webex, Some(f)) = (profile, filter) {
                dialect::profile::webex_filter(f)?;
            }
        }
        Resource::Users | Resource::Groups | Resource::Me => {
            if let Some(k) = kind {
                let ops_before = operation_count(v);
                // The paths the dialect parses, for the rules to take.
                let mut memo = PathMemo::default();
                dialect_body(idp, method, k, v, &mut memo, stats);
                if method == Method::PATCH {
                    check_patch(v)?;
                    one_spelling(true, v)?;
                    patch::apply_request(rules, k, v, lenient, &mut memo, stats)?;
                    out.nothing_to_send =
                        ops_before.is_some_and(|n| n > 0) && operation_count(v) == Some(0);
                } else {
                    one_spelling(false, v)?;
                    resource::apply_request(rules, k, v, stats);
                }
            }
        }
        _ => {}
    }
    if stats.total() != before {
        message.raw = None;
    }
    Ok(out)
}

/// The query: Entra's filter dialect, the tenant's maps, Webex's filter limits, the profile's
/// `count` cap. Every parameter is read decoded, by its lower-cased name.
fn translate_query(
    tenant: &Tenant,
    kind: Option<Kind>,
    q: &str,
    stats: &mut Stats,
) -> Result<Option<String>, ScimError> {
    let (idp, profile) = (tenant.idp, tenant.upstream.profile);
    // Borrowed until a step changes it.
    let mut current = std::borrow::Cow::Borrowed(q);
    if idp == Idp::Entra {
        if let Some(new) = query::map_params(&current, |name, value| {
            Ok(if name == "filter" {
                dialect::entra::filter(value, stats)
            } else {
                None
            })
        })? {
            current = new.into();
        }
    }
    let lenient = idp == Idp::Entra;
    if let Some(new) = query::rewrite_query(&tenant.rules, kind, &current, lenient, stats)? {
        current = new.into();
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
        if let Some(new) = dialect::profile::clamp_count(&current, max, stats, what)? {
            current = new.into();
        }
    }
    Ok(match current {
        std::borrow::Cow::Owned(new) => Some(new),
        std::borrow::Cow::Borrowed(_) => None,
    })
}

/// Every attribute key of a resource (`patch = false`) or of a PatchOp's path-less values in
/// its one spelling ([`crate::scim::keys::unqualify`], [`crate::scim::keys::nest_paths`]), so
/// no URN-qualified or dotted spelling slips past a rule; an attribute given twice is refused
/// (400 invalidSyntax), a dotted key that is no attribute path too (400 invalidPath).
fn one_spelling(patch: bool, v: &mut Value) -> Result<(), ScimError> {
    let one = |obj: &mut serde_json::Map<String, Value>| {
        crate::scim::keys::unqualify(obj)
            .map_err(|what| ScimError::invalid_syntax(format!("the request body: {what}")))?;
        crate::scim::keys::nest_paths(obj).map_err(|what| {
            ScimError::bad_request(
                Some(crate::scim::error::ScimType::InvalidPath),
                format!("the request body: {what}"),
            )
        })
    };
    if !patch {
        if let Some(obj) = v.as_object_mut() {
            one(obj)?;
        }
        return Ok(());
    }
    for op in crate::scim::message::operations_mut(v)
        .into_iter()
        .flatten()
    {
        if field(op, "path").is_some() {
            continue;
        }
        if let Some(Value::Object(value)) = field_mut(op, "value") {
            one(value)?;
        }
    }
    Ok(())
}

/// How many operations a PatchOp has.
fn operation_count(v: &Value) -> Option<usize> {
    crate::scim::message::operations(v).map(Vec::len)
}

/// The IdP dialect on one resource or PatchOp body (`method` is the request's or the Bulk
/// operation's); the PATCH paths it parses are kept in `memo`.
fn dialect_body(
    idp: Idp,
    method: &Method,
    kind: Kind,
    v: &mut Value,
    memo: &mut PathMemo,
    stats: &mut Stats,
) {
    match (idp, method) {
        (Idp::Entra, &Method::PATCH) => dialect::entra::patch(kind, v, memo, stats),
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

/// What the IdP gets for the target's answer `(status, headers, body)`: the status (Entra's
/// filtered query that the target answers 404 becomes an empty ListResponse), headers passed
/// and rebased, and the body translated back. `rules` counts the rules applied. Refused (the
/// IdP gets 502): a redirect that leaves the target's base URL, and an answer the tenant must
/// translate that is not JSON.
pub fn respond(
    tenant: &Tenant,
    asked: &Asked<'_>,
    resp: UpstreamResponse,
    public_base: &str,
    rules: &mut u32,
) -> Result<Reply, ExchangeError> {
    let rebase = Rebase {
        upstream: &tenant.upstream,
        public_base,
    };
    check_redirect(&rebase, resp.status, &resp.headers)
        .map_err(|detail| ExchangeError::new(UpstreamErrorKind::InvalidResponse, detail))?;
    let headers = pass_headers(&rebase, &resp.headers);
    let mut stats = Stats::default();
    let answered = answer(tenant, asked, resp.status, &resp.body, &rebase, &mut stats);
    crate::telemetry::metrics::record_rules(&tenant.name, stats.by_kind());
    if !stats.notes.is_empty() {
        tracing::debug!(tenant = %tenant.name, changes = ?stats.notes, "response rewritten");
    }
    *rules += stats.total();
    let (status, body) = answered?;
    let (headers, body) = match body {
        Some(b) if status != resp.status => (
            vec![(
                "content-type",
                http::HeaderValue::from_static("application/scim+json"),
            )],
            Bytes::from(b),
        ),
        Some(b) => (headers, Bytes::from(b)),
        None => (headers, resp.body),
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// The status and, if it changed, the body the IdP gets: Zoom errors wrapped as SCIM errors,
/// maps run backwards, Okta's integer paging, `ServiceProviderConfig` bulk limits lowered to
/// what the gateway enforces, target URLs rebased. A body that must be translated and is not
/// JSON is refused (`invalid_response`): it would reach the IdP in the target's own names.
pub fn answer(
    tenant: &Tenant,
    asked: &Asked<'_>,
    status: u16,
    body: &[u8],
    rebase: &Rebase<'_>,
    stats: &mut Stats,
) -> Result<(u16, Option<Vec<u8>>), ExchangeError> {
    let (method, rest, query) = (asked.method, asked.rest, asked.query);
    if tenant.idp == Idp::Entra && dialect::entra::empty_list_for(method, rest, query, status) {
        dialect::note(stats, "entra: 404 on a query answered as an empty list");
        return Ok((200, serde_json::to_vec(&dialect::entra::empty_list()).ok()));
    }
    let zoom_error = tenant.upstream.profile == Profile::Zoom && status >= 400;
    let spc = status == 200 && Resource::classify(rest) == Resource::ServiceProviderConfig;
    let parse = tenant.rules.maps_responses() || zoom_error || spc || tenant.idp == Idp::Okta;
    if !parse || body.is_empty() {
        return Ok((status, rebase.body(body)));
    }
    if !zoom_error && !spc && tenant.idp != Idp::Okta {
        // Only maps to undo: parse just the members they touch (mapping::partial).
        let mut counted = Stats::default();
        match crate::mapping::partial::response(&tenant.rules, rest, body, &mut counted) {
            Partial::Unchanged => return Ok((status, rebase.body(body))),
            Partial::Mapped(bytes) => {
                stats.absorb(counted);
                let rebased = rebase.body(&bytes);
                return Ok((status, Some(rebased.unwrap_or(bytes))));
            }
            Partial::Whole => {}
        }
    }
    let mut v = serde_json::from_slice::<Value>(body).map_err(|e| {
        ExchangeError::new(
            UpstreamErrorKind::InvalidResponse,
            format!(
                "the SCIM target's answer ({status}) is not JSON the gateway can translate: {e}"
            ),
        )
    })?;
    let before = stats.total();
    if zoom_error {
        if let Some(wrapped) = dialect::profile::zoom_error(status, &v) {
            dialect::note(stats, "zoom: error wrapped as a SCIM error");
            v = wrapped;
        }
    }
    let spc_changed = spc && super::police::service_provider_config(tenant, &mut v);
    crate::mapping::translate::response(&tenant.rules, rest, &mut v, stats);
    if tenant.idp == Idp::Okta {
        if let Some(obj) = v.as_object_mut() {
            if obj.contains_key("Resources") {
                dialect::okta::integer_paging(obj, stats);
            }
        }
    }
    let rebased = rebase.value(&mut v);
    let changed = rebased || spc_changed || stats.total() != before;
    Ok((
        status,
        changed
            .then(|| crate::scim::json::to_vec(&v, body.len() + 64).ok())
            .flatten(),
    ))
}
