//! `bulk_oversize = "split"`: an oversize Bulk request goes to the target as consecutive chunks
//! of at most `bulk_max_operations`, each `bulkId:` reference created in an earlier chunk (or
//! earlier in the same one) and replaced by the id the target returned; `failOnErrors` counts
//! across chunks; circular references get 409; the IdP sees one merged BulkResponse. The whole
//! split shares one deadline (the tenant's `timeout_ms`); the Bulk caps bound the chunks.

use super::body::{Body, Message};
use super::exchange::{send, Sent, UpstreamResponse};
use super::translate::Asked;
use super::Gateway;
use crate::policy::Tenant;
use crate::scim::bulk_split;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::message::field;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn operations(v: &Value) -> Vec<Value> {
    crate::scim::message::operations(v)
        .cloned()
        .unwrap_or_default()
}

/// Send `request` (already policed: paths canonical, `failOnErrors` clamped) in chunks; each
/// chunk is translated and sent like any request ([`send`]).
pub async fn split(
    gw: &Gateway<'_>,
    tenant: &Tenant,
    asked: &Asked<'_>,
    request: Value,
    seen: &mut super::observe::Seen<'_>,
) -> Result<UpstreamResponse, ScimError> {
    let ops = operations(&request);
    let fail_on_errors = crate::scim::message::field(&request, "failOnErrors")
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    let plan = bulk_split::plan(&ops, tenant.limits.bulk_max_operations).map_err(|e| {
        ScimError::bad_request(
            Some(ScimType::InvalidValue),
            format!("the Bulk request cannot be split: {e}"),
        )
    })?;
    let mut ids = HashMap::new();
    let mut responses = Vec::new();
    let mut errors = 0usize;
    // One deadline for the whole request: every chunk's exchange ends by it.
    let deadline = Instant::now() + tenant.upstream.timeout;
    for chunk in &plan.chunks {
        if Instant::now() >= deadline {
            return Err(ScimError::gateway_timeout(format!(
                "the split Bulk request did not finish within {} ms",
                tenant.upstream.timeout.as_millis()
            )));
        }
        if fail_on_errors.is_some_and(|budget| errors >= budget) {
            break;
        }
        let mut chunk_ops: Vec<Value> = chunk.iter().filter_map(|&i| ops.get(i).cloned()).collect();
        for op in &mut chunk_ops {
            let segments = |op: &Value| {
                field(op, "path")
                    .and_then(Value::as_str)
                    .map(|p| p.matches('/').count())
            };
            let before = segments(op);
            bulk_split::substitute(op, &ids);
            // An id the target returned now stands in the path: it must be one safe segment.
            if let Some(Value::String(path)) = crate::scim::message::field_mut(op, "path") {
                match super::route::canonical_rest(path) {
                    Ok(c) if Some(c.matches('/').count()) == before => *path = c,
                    _ => {
                        return Err(ScimError::bad_gateway(
                            "the SCIM target returned an id that is not a single path segment",
                        ))
                    }
                }
            }
        }
        let mut body = json!({"schemas": [BULK_REQUEST], "Operations": chunk_ops});
        if let (Some(budget), Some(obj)) = (fail_on_errors, body.as_object_mut()) {
            obj.insert(
                "failOnErrors".into(),
                Value::from(budget.saturating_sub(errors).max(1)),
            );
        }
        let chunk_body = Body::Json(Message::made(body));
        let resp = match send(gw, tenant, asked, chunk_body, Some(deadline), seen).await? {
            Sent::NothingToSend => continue,
            Sent::Answered(resp) => resp,
        };
        let parsed: Option<Value> = serde_json::from_slice(&resp.body).ok();
        if resp.status != 200 {
            // The whole chunk failed: its operations carry the target's answer, and the rest
            // are not sent.
            let results: Vec<Value> = chunk_ops
                .iter()
                .map(|op| {
                    let method = field(op, "method").cloned().unwrap_or(Value::Null);
                    let mut r = json!({"method": method, "status": resp.status.to_string()});
                    if let (Some(id), Some(obj)) = (field(op, "bulkId"), r.as_object_mut()) {
                        obj.insert("bulkId".into(), id.clone());
                    }
                    if let (Some(p), Some(obj)) = (&parsed, r.as_object_mut()) {
                        obj.insert("response".into(), p.clone());
                    }
                    r
                })
                .collect();
            responses.push(
                json!({"schemas": [bulk_split::BULK_RESPONSE_SCHEMA], "Operations": results}),
            );
            break;
        }
        let Some(v) = parsed else {
            return Err(ScimError::bad_gateway(
                "the SCIM target's BulkResponse is not JSON",
            ));
        };
        let resp_ops = operations(&v);
        bulk_split::learn_ids(&chunk_ops, &resp_ops, &mut ids);
        errors += bulk_split::count_errors(&resp_ops);
        responses.push(v);
    }
    if !plan.circular.is_empty() {
        let results: Vec<Value> = plan
            .circular
            .iter()
            .filter_map(|&i| {
                let op = ops.get(i)?;
                let detail = plan
                    .circular_detail(i)
                    .unwrap_or_else(|| "circular bulkId reference".to_string());
                Some(bulk_split::conflict_result(op, &detail))
            })
            .collect();
        responses
            .push(json!({"schemas": [bulk_split::BULK_RESPONSE_SCHEMA], "Operations": results}));
    }
    let merged = bulk_split::merge(responses);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/scim+json"),
    );
    Ok(UpstreamResponse {
        status: 200,
        headers,
        body: Bytes::from(
            crate::scim::json::to_vec(&merged, 1024)
                .map_err(|e| ScimError::internal(e.to_string()))?,
        ),
    })
}
