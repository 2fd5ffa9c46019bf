//! RFC 7644 §3.7 Bulk splitting: order an oversize BulkRequest's operations by their
//! `bulkId:` references, cut them into chunks, carry learned ids forward and merge the answers.
//!
//! Decisions:
//! - A reference is a string value that is exactly `bulkId:<id>` anywhere inside `data`, or a
//!   `path` segment `bulkId:<id>`; the `bulkId:` prefix and all keys match case-insensitively.
//! - A reference to a bulkId that no operation carries adds no ordering edge: the operation
//!   stays where it is and the target answers for it (RFC 7644 §3.7.2: 409/400).
//! - Operations in a reference cycle (a self-reference included), and every operation that
//!   depends on one, are left out of the chunks and listed in [`Plan::circular`]; the gateway
//!   answers each with [`conflict_result`] (409). Two operations with the same bulkId make the
//!   request ambiguous and are a [`PlanError`].

use crate::scim::message::{field, field_mut};
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// The schema URI of a BulkResponse.
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// The schema URI of a SCIM error body.
pub use super::error::ERROR_SCHEMA;
/// The prefix of a bulkId reference, e.g. `bulkId:qwerty`.
pub const REFERENCE_PREFIX: &str = "bulkId:";

/// Why a BulkRequest cannot be planned at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Chunks must hold at least one operation.
    #[error("max_ops must be at least 1")]
    ZeroMaxOps,
    /// Two operations carry the same bulkId, so references to it are ambiguous.
    #[error("bulkId {bulk_id:?} is used by more than one operation")]
    DuplicateBulkId {
        /// The repeated bulkId.
        bulk_id: String,
    },
}

/// How to send a BulkRequest: chunks of operation indices, and the operations not to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Indices into the request's operations, in sending order; each chunk holds at most
    /// `max_ops`, and every referenced operation comes in an earlier chunk or earlier in the
    /// same chunk.
    pub chunks: Vec<Vec<usize>>,
    /// Indices (ascending) of operations in a reference cycle or depending on one; not sent.
    pub circular: Vec<usize>,
    /// The bulkIds of each reference cycle, each list in operation order.
    pub cycles: Vec<Vec<String>>,
    /// For each circular operation: the cycle it is in or depends on, and whether it is in it.
    reasons: HashMap<usize, (usize, bool)>,
}

impl Plan {
    /// Why the operation at `index` was left out, for [`conflict_result`]'s detail; `None` if
    /// it is not circular.
    pub fn circular_detail(&self, index: usize) -> Option<String> {
        let (cycle, member) = *self.reasons.get(&index)?;
        let ids = self.cycles.get(cycle)?.join(", ");
        Some(if member {
            format!("Circular bulkId reference among operations with bulkId {ids}")
        } else {
            format!("Operation depends on a circular bulkId reference among bulkId {ids}")
        })
    }

    /// How many operations the plan sends.
    pub fn sent(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }
}

/// Order operations so every referenced bulkId is created in an earlier chunk or earlier in
/// the same chunk, then cut into chunks of at most `max_ops` (>= 1).
///
/// The order is a stable topological sort (Kahn's algorithm with a min-heap on the original
/// index), so a request already in dependency order keeps its order. Operations that cannot
/// be ordered (cycles and their dependents) go to [`Plan::circular`] instead of failing.
pub fn plan(ops: &[Value], max_ops: usize) -> Result<Plan, PlanError> {
    if max_ops == 0 {
        return Err(PlanError::ZeroMaxOps);
    }
    let mut by_bulk_id: HashMap<String, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(id) = bulk_id(op) {
            if by_bulk_id.insert(id.to_owned(), i).is_some() {
                return Err(PlanError::DuplicateBulkId {
                    bulk_id: id.to_owned(),
                });
            }
        }
    }
    // deps[i]: operations i references; dependents[j]: operations referencing j.
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(ops.len());
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, op) in ops.iter().enumerate() {
        let mut mine: Vec<usize> = references(op)
            .iter()
            .filter_map(|r| by_bulk_id.get(r).copied())
            .collect();
        mine.sort_unstable();
        mine.dedup();
        for &j in &mine {
            if let Some(d) = dependents.get_mut(j) {
                d.push(i);
            }
        }
        deps.push(mine);
    }

    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, &n)| n == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(ops.len());
    let mut placed = vec![false; ops.len()];
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        if let Some(p) = placed.get_mut(i) {
            *p = true;
        }
        for &d in dependents.get(i).map(Vec::as_slice).unwrap_or_default() {
            if let Some(w) = waiting.get_mut(d) {
                *w = w.saturating_sub(1);
                if *w == 0 {
                    ready.push(Reverse(d));
                }
            }
        }
    }

    let circular: Vec<usize> = (0..ops.len())
        .filter(|&i| !placed.get(i).copied().unwrap_or(true))
        .collect();
    let (cycles, reasons) = explain_cycles(ops, &deps, &placed, &circular);
    Ok(Plan {
        chunks: order.chunks(max_ops).map(<[usize]>::to_vec).collect(),
        circular,
        cycles,
        reasons,
    })
}

type Explanation = (Vec<Vec<String>>, HashMap<usize, (usize, bool)>);

/// Strongly connected components (iterative Tarjan) of the unplaced operations: the cyclic
/// ones become `cycles`, and each unplaced operation is tied to a cycle it is in or reaches.
fn explain_cycles(
    ops: &[Value],
    deps: &[Vec<usize>],
    placed: &[bool],
    todo: &[usize],
) -> Explanation {
    let n = deps.len();
    let unplaced = |v: usize| !placed.get(v).copied().unwrap_or(true);
    let mut index: Vec<Option<usize>> = vec![None; n];
    let mut low: Vec<usize> = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut cycles: Vec<Vec<String>> = Vec::new();
    let mut reasons: HashMap<usize, (usize, bool)> = HashMap::new();

    for &root in todo {
        if index.get(root).copied().flatten().is_some() {
            continue;
        }
        // Frames of (node, next edge to look at).
        let mut frames: Vec<(usize, usize)> = vec![(root, 0)];
        visit(
            root,
            &mut index,
            &mut low,
            &mut on_stack,
            &mut stack,
            &mut next,
        );
        while let Some(frame) = frames.last_mut() {
            let (v, edge) = *frame;
            let succ = deps.get(v).and_then(|d| d.get(edge)).copied();
            if let Some(w) = succ {
                frame.1 += 1;
                if !unplaced(w) {
                    continue;
                }
                match index.get(w).copied().flatten() {
                    None => {
                        visit(
                            w,
                            &mut index,
                            &mut low,
                            &mut on_stack,
                            &mut stack,
                            &mut next,
                        );
                        frames.push((w, 0));
                    }
                    Some(wi) if on_stack.get(w).copied().unwrap_or(false) => {
                        lower(&mut low, v, wi);
                    }
                    Some(_) => {}
                }
                continue;
            }
            frames.pop();
            let v_low = low.get(v).copied().unwrap_or(0);
            if let Some(&(parent, _)) = frames.last() {
                lower(&mut low, parent, v_low);
            }
            if Some(v_low) != index.get(v).copied().flatten() {
                continue;
            }
            // v roots a component: pop it.
            let mut members = Vec::new();
            while let Some(w) = stack.pop() {
                if let Some(s) = on_stack.get_mut(w) {
                    *s = false;
                }
                members.push(w);
                if w == v {
                    break;
                }
            }
            members.sort_unstable();
            let cyclic = members.len() > 1 || deps.get(v).is_some_and(|d| d.contains(&v));
            let cycle = if cyclic {
                cycles.push(
                    members
                        .iter()
                        .filter_map(|&m| ops.get(m).and_then(bulk_id).map(str::to_owned))
                        .collect(),
                );
                Some(cycles.len() - 1)
            } else {
                // Tarjan emits dependencies first, so an unplaced dependency already has one.
                deps.get(v)
                    .into_iter()
                    .flatten()
                    .find_map(|w| reasons.get(w).map(|&(c, _)| c))
            };
            if let Some(c) = cycle {
                for m in members {
                    reasons.insert(m, (c, cyclic));
                }
            }
        }
    }
    (cycles, reasons)
}

fn visit(
    v: usize,
    index: &mut [Option<usize>],
    low: &mut [usize],
    on_stack: &mut [bool],
    stack: &mut Vec<usize>,
    next: &mut usize,
) {
    if let Some(i) = index.get_mut(v) {
        *i = Some(*next);
    }
    if let Some(l) = low.get_mut(v) {
        *l = *next;
    }
    if let Some(s) = on_stack.get_mut(v) {
        *s = true;
    }
    stack.push(v);
    *next += 1;
}

fn lower(low: &mut [usize], v: usize, to: usize) {
    if let Some(l) = low.get_mut(v) {
        *l = (*l).min(to);
    }
}

/// An operation's own bulkId, if it has a non-empty one.
fn bulk_id(op: &Value) -> Option<&str> {
    field(op, "bulkId")?.as_str().filter(|s| !s.is_empty())
}

/// The bulkId a string refers to, if it is exactly `bulkId:<id>` (prefix in any case).
fn reference(s: &str) -> Option<&str> {
    let prefix = s.get(..REFERENCE_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(REFERENCE_PREFIX) {
        return None;
    }
    s.get(REFERENCE_PREFIX.len()..).filter(|id| !id.is_empty())
}

/// All bulkIds an operation references (path first, then data in document order, no repeats).
pub fn references(op: &Value) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        if !found.iter().any(|f| f == id) {
            found.push(id.to_owned());
        }
    };
    if let Some(path) = field(op, "path").and_then(Value::as_str) {
        path.split('/').filter_map(reference).for_each(&mut add);
    }
    let mut stack: Vec<&Value> = field(op, "data").into_iter().collect();
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(id) = reference(s) {
                    add(id);
                }
            }
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(map) => stack.extend(map.values().rev()),
            _ => {}
        }
    }
    found
}

/// Replace "bulkId:X" by the resolved id for every X in `ids` (in path and anywhere in data);
/// references to ids not in the map are left as they are (the target resolves references
/// within the same chunk).
pub fn substitute(op: &mut Value, ids: &HashMap<String, String>) {
    if ids.is_empty() {
        return;
    }
    if let Some(Value::String(path)) = field_mut(op, "path") {
        if path
            .split('/')
            .any(|seg| reference(seg).is_some_and(|r| ids.contains_key(r)))
        {
            let replaced: Vec<&str> = path
                .split('/')
                .map(|seg| {
                    reference(seg)
                        .and_then(|r| ids.get(r))
                        .map_or(seg, String::as_str)
                })
                .collect();
            *path = replaced.join("/");
        }
    }
    let mut stack: Vec<&mut Value> = field_mut(op, "data").into_iter().collect();
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(id) = reference(s).and_then(|r| ids.get(r)) {
                    *s = id.clone();
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

/// A response operation's HTTP status, from a number or a string such as `"201"`.
fn status(op: &Value) -> Option<u64> {
    match field(op, "status")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            s.get(..end)?.parse().ok()
        }
        _ => None,
    }
}

/// The id a successful response operation reports: the last segment of `location`, else the
/// `id` of its `response` resource.
fn created_id(op: &Value) -> Option<String> {
    let from_location = field(op, "location")
        .and_then(Value::as_str)
        .and_then(|loc| {
            let loc = loc.split(['?', '#']).next().unwrap_or(loc);
            loc.trim_end_matches('/').rsplit('/').next()
        })
        .filter(|seg| !seg.is_empty());
    let from_body = || {
        field(op, "response")
            .and_then(|r| field(r, "id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
    };
    from_location.or_else(from_body).map(str::to_owned)
}

/// From a chunk's request ops and the target's BulkResponse Operations, learn bulkId -> id.
///
/// The id is the last path segment of each response operation's `location` (or, without one,
/// its `response` body's `id`), only for 2xx statuses. A response operation is matched to its
/// request by its `bulkId` (which must be one of the chunk's), else by position — and then
/// only if the methods, where both are given, agree.
pub fn learn_ids(request_ops: &[Value], response_ops: &[Value], ids: &mut HashMap<String, String>) {
    let sent: HashSet<&str> = request_ops.iter().filter_map(bulk_id).collect();
    for (k, res) in response_ops.iter().enumerate() {
        if !status(res).is_some_and(|s| (200..300).contains(&s)) {
            continue;
        }
        let key = match bulk_id(res) {
            Some(b) if sent.contains(b) => Some(b),
            Some(_) => None,
            None => request_ops
                .get(k)
                .filter(|req| same_method(req, res))
                .and_then(bulk_id),
        };
        if let (Some(key), Some(id)) = (key, created_id(res)) {
            ids.insert(key.to_owned(), id);
        }
    }
}

fn same_method(a: &Value, b: &Value) -> bool {
    let method = |v| field(v, "method").and_then(Value::as_str);
    match (method(a), method(b)) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => true,
    }
}

/// Count failed operations (status >= 400) in a response's Operations; an operation without
/// a readable status is not counted.
pub fn count_errors(response_ops: &[Value]) -> usize {
    response_ops
        .iter()
        .filter(|op| status(op).is_some_and(|s| s >= 400))
        .count()
}

/// Merge the chunks' BulkResponses into one, operations in the order the chunks are given
/// (send order); anything that is not a BulkResponse with an `Operations` array adds nothing.
pub fn merge(responses: Vec<Value>) -> Value {
    let mut all = Vec::new();
    for mut response in responses {
        if let Some(Value::Array(ops)) = field_mut(&mut response, "Operations") {
            all.append(ops);
        }
    }
    json!({
        "schemas": [BULK_RESPONSE_SCHEMA],
        "Operations": all,
    })
}

/// A BulkResponse operation for an op the gateway did not send (circular reference): status
/// 409 with a SCIM error body (no `scimType`) whose `detail` is `detail`.
pub fn conflict_result(op: &Value, detail: &str) -> Value {
    let mut out = Map::new();
    if let Some(method) = field(op, "method") {
        out.insert("method".to_owned(), method.clone());
    }
    if let Some(id) = bulk_id(op) {
        out.insert("bulkId".to_owned(), Value::from(id));
    }
    out.insert("status".to_owned(), Value::from("409"));
    out.insert(
        "response".to_owned(),
        json!({
            "schemas": [ERROR_SCHEMA],
            "status": "409",
            "detail": detail,
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(bulk: &str) -> Value {
        json!({"method": "POST", "path": "/Users", "bulkId": bulk,
               "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": bulk}})
    }

    fn group(bulk: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": format!("bulkId:{m}"), "type": "User"}))
            .collect();
        json!({"method": "POST", "path": "/Groups", "bulkId": bulk,
               "data": {"displayName": bulk, "members": members}})
    }

    /// Every op exactly once, chunks within size, and references honoured.
    fn check_plan(ops: &[Value], p: &Plan, max_ops: usize) {
        let mut seen = vec![0usize; ops.len()];
        let mut position = HashMap::new();
        for (pos, &i) in p.chunks.iter().flatten().enumerate() {
            seen[i] += 1;
            position.insert(i, pos);
        }
        for &i in &p.circular {
            seen[i] += 1;
        }
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
        assert!(p.chunks.iter().all(|c| !c.is_empty() && c.len() <= max_ops));
        assert!(p.circular.windows(2).all(|w| w[0] < w[1]));
        let index: HashMap<String, usize> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| bulk_id(op).map(|b| (b.to_owned(), i)))
            .collect();
        for (i, op) in ops.iter().enumerate() {
            for r in references(op) {
                let Some(&j) = index.get(&r) else { continue };
                match (position.get(&i), position.get(&j)) {
                    (Some(pi), Some(pj)) => assert!(pj < pi, "{j} must precede {i}"),
                    (Some(_), None) => panic!("{i} sent but its dependency {j} is not"),
                    (None, _) => {}
                }
            }
        }
        for &i in &p.circular {
            assert!(p.circular_detail(i).is_some(), "no reason for {i}");
        }
    }

    #[test]
    fn two_hundred_fifty_ops_split_into_three_chunks() {
        let mut ops = Vec::new();
        for g in 0..50 {
            let names: Vec<String> = (0..4).map(|u| format!("u{g}-{u}")).collect();
            for n in &names {
                ops.push(user(n));
            }
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            ops.push(group(&format!("g{g}"), &refs));
        }
        assert_eq!(ops.len(), 250);
        let p = plan(&ops, 100).unwrap();
        assert_eq!(p.chunks.len(), 3);
        assert_eq!(
            p.chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        assert!(p.circular.is_empty() && p.cycles.is_empty());
        // Already in dependency order: the order is kept.
        assert_eq!(p.chunks.concat(), (0..250).collect::<Vec<_>>());
        check_plan(&ops, &p, 100);
    }

    #[test]
    fn forward_references_reorder_stably() {
        let ops = vec![
            group("g1", &["a", "b"]),
            user("x"),
            user("a"),
            json!({"method": "PATCH", "path": "/Groups/bulkId:g1",
                   "data": {"Operations": [{"op": "add", "path": "members",
                                            "value": [{"value": "bulkId:c"}]}]}}),
            user("b"),
            user("c"),
        ];
        let p = plan(&ops, 10).unwrap();
        assert_eq!(p.chunks, vec![vec![1, 2, 4, 0, 5, 3]]);
        check_plan(&ops, &p, 10);
        let p = plan(&ops, 2).unwrap();
        assert_eq!(p.chunks, vec![vec![1, 2], vec![4, 0], vec![5, 3]]);
        check_plan(&ops, &p, 2);
    }

    #[test]
    fn cycles_are_excluded_with_their_dependents() {
        let ops = vec![
            user("u"),
            group("a", &["b"]),
            group("b", &["a", "u"]),
            group("c", &["a"]),
            group("self", &["self"]),
            group("d", &["u"]),
            group("e", &["c", "d"]),
        ];
        let p = plan(&ops, 3).unwrap();
        assert_eq!(p.chunks, vec![vec![0, 5]]);
        assert_eq!(p.circular, vec![1, 2, 3, 4, 6]);
        assert_eq!(p.cycles.len(), 2);
        assert!(p.cycles.contains(&vec!["a".to_owned(), "b".to_owned()]));
        assert!(p.cycles.contains(&vec!["self".to_owned()]));
        assert_eq!(
            p.circular_detail(1).unwrap(),
            "Circular bulkId reference among operations with bulkId a, b"
        );
        assert_eq!(
            p.circular_detail(6).unwrap(),
            "Operation depends on a circular bulkId reference among bulkId a, b"
        );
        assert!(p.circular_detail(4).unwrap().contains("bulkId self"));
        assert_eq!(p.circular_detail(0), None);
        assert_eq!(p.sent(), 2);
        check_plan(&ops, &p, 3);
    }

    #[test]
    fn unknown_references_add_no_edge() {
        let ops = vec![group("g", &["nobody"]), user("u")];
        let p = plan(&ops, 5).unwrap();
        assert_eq!(p.chunks, vec![vec![0, 1]]);
        assert!(p.circular.is_empty());
    }

    #[test]
    fn plan_errors() {
        assert_eq!(plan(&[user("a")], 0), Err(PlanError::ZeroMaxOps));
        let dup = vec![
            user("a"),
            json!({"method": "POST", "bulkid": "a", "data": {}}),
        ];
        assert_eq!(
            plan(&dup, 5),
            Err(PlanError::DuplicateBulkId {
                bulk_id: "a".into()
            })
        );
        assert_eq!(
            PlanError::DuplicateBulkId {
                bulk_id: "a".into()
            }
            .to_string(),
            "bulkId \"a\" is used by more than one operation"
        );
        assert_eq!(plan(&[], 5).unwrap(), Plan::default());
    }

    #[test]
    fn odd_operations_do_not_break_planning() {
        let ops = vec![
            json!("not an object"),
            json!({"method": "DELETE", "path": "/Users/bulkId:"}),
            json!({"method": "POST", "bulkId": "", "data": {"x": "bulkId:"}}),
            json!({"method": "POST", "bulkId": 7, "data": null}),
        ];
        let p = plan(&ops, 1).unwrap();
        assert_eq!(p.chunks, vec![vec![0], vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn references_in_path_and_nested_data_any_case() {
        let op = json!({
            "Method": "PATCH",
            "PATH": "/Groups/BULKID:g1",
            "Data": {"Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}, {"value": "bulkid:u2"}]},
                {"op": "replace", "path": "manager", "value": {"value": "bulkId:u1", "note": "xbulkId:no"}},
                {"op": "add", "value": ["bulkId:u3", 5, true, null]}
            ]},
            "bulkId": "ignored:bulkId:self"
        });
        assert_eq!(references(&op), ["g1", "u1", "u2", "u3"]);
        assert!(references(&json!({"path": "/Users", "data": {"a": "bulkId:"}})).is_empty());
        assert!(references(&json!(42)).is_empty());
    }

    #[test]
    fn substitute_in_nested_data_and_path() {
        let mut op = json!({
            "method": "PATCH",
            "path": "/Groups/bulkId:g1",
            "bulkId": "bulkId:u1",
            "data": {"Operations": [{"op": "add", "path": "members",
                "value": [{"value": "bulkId:u1"}, {"value": "bulkId:later"}, {"value": "BulkId:u2"}]}],
                "deep": [[{"x": ["bulkId:u1"]}]]}
        });
        let ids: HashMap<String, String> = [("g1", "G-1"), ("u1", "U-1"), ("u2", "U-2")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        substitute(&mut op, &ids);
        assert_eq!(
            op,
            json!({
                "method": "PATCH",
                "path": "/Groups/G-1",
                "bulkId": "bulkId:u1",
                "data": {"Operations": [{"op": "add", "path": "members",
                    "value": [{"value": "U-1"}, {"value": "bulkId:later"}, {"value": "U-2"}]}],
                    "deep": [[{"x": ["U-1"]}]]}
            })
        );
        assert_eq!(references(&op), ["later"]);
        let before = op.clone();
        substitute(&mut op, &HashMap::new());
        assert_eq!(op, before);
    }

    #[test]
    fn substitute_leaves_unknown_path_references() {
        let mut op = json!({"method": "PUT", "path": "/Users/bulkId:x", "data": {}});
        let ids = HashMap::from([("y".to_owned(), "Y".to_owned())]);
        substitute(&mut op, &ids);
        assert_eq!(op["path"], "/Users/bulkId:x");
    }

    #[test]
    fn learn_ids_by_bulk_id_and_position() {
        let req = vec![user("a"), user("b"), user("c"), user("d"), user("e")];
        let res = vec![
            // Out of order, matched by its bulkId; numeric status.
            json!({"method": "POST", "bulkId": "c", "status": 201,
                   "location": "https://h/v2/Users/C-1"}),
            // No bulkId: matched by position to "b"; trailing slash ignored.
            json!({"method": "POST", "status": "201", "location": "https://h/v2/Users/B-1/"}),
            // Failed: nothing learned.
            json!({"method": "POST", "bulkId": "a", "status": "409",
                   "response": {"schemas": [ERROR_SCHEMA], "status": "409"}}),
            // No location: the response body's id, by position to "d".
            json!({"method": "POST", "status": "200 OK", "response": {"id": "D-1"}}),
            // A bulkId the chunk did not send is ignored.
            json!({"method": "POST", "bulkId": "zzz", "status": "201", "location": "/Users/Z"}),
        ];
        let mut ids = HashMap::new();
        learn_ids(&req, &res, &mut ids);
        let mut got: Vec<_> = ids.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        got.sort_unstable();
        assert_eq!(got, [("b", "B-1"), ("c", "C-1"), ("d", "D-1")]);
    }

    #[test]
    fn learn_ids_basic_cases() {
        let req = vec![user("a"), user("b")];
        let res = vec![
            json!({"method": "POST", "bulkId": "a", "status": "201",
                   "location": "https://h/v2/Users/A-1?x=1"}),
            json!({"method": "POST", "bulkid": "b", "status": 201,
                   "location": "https://h/v2/Users/B-1"}),
        ];
        let mut ids = HashMap::new();
        learn_ids(&req, &res, &mut ids);
        assert_eq!(ids.get("a").map(String::as_str), Some("A-1"));
        assert_eq!(ids.get("b").map(String::as_str), Some("B-1"));

        // By position, with a method mismatch refused.
        let res = vec![
            json!({"status": "201", "location": "/Users/A-2"}),
            json!({"method": "DELETE", "status": "204", "location": "/Users/B-2"}),
        ];
        learn_ids(&req, &res, &mut ids);
        assert_eq!(ids.get("a").map(String::as_str), Some("A-2"));
        assert_eq!(ids.get("b").map(String::as_str), Some("B-1"));

        // Failures, missing statuses and empty locations teach nothing.
        let mut none = HashMap::new();
        let res = vec![
            json!({"method": "POST", "bulkId": "a", "status": 400, "location": "/Users/A"}),
            json!({"method": "POST", "bulkId": "b", "location": "/Users/B"}),
            json!({"method": "POST", "bulkId": "b", "status": "201", "location": "/"}),
            json!({"method": "POST", "bulkId": "b", "status": "abc", "location": "/Users/B"}),
        ];
        learn_ids(&req, &res, &mut none);
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn count_errors_reads_both_status_forms() {
        let res = vec![
            json!({"status": "201"}),
            json!({"status": 400}),
            json!({"status": "409"}),
            json!({"status": 500}),
            json!({"status": "204"}),
            json!({"status": "oops"}),
            json!({}),
            json!({"Status": "412"}),
        ];
        assert_eq!(count_errors(&res), 4);
        assert_eq!(count_errors(&[]), 0);
    }

    #[test]
    fn merge_concatenates_in_order() {
        let r1 = json!({"schemas": [BULK_RESPONSE_SCHEMA],
                        "Operations": [{"bulkId": "a", "status": "201"}, {"bulkId": "b", "status": "201"}]});
        let r2 = json!({"schemas": [BULK_RESPONSE_SCHEMA], "operations": [{"bulkId": "c", "status": "400"}]});
        let junk = json!({"detail": "upstream error"});
        let conflicts = json!({"Operations": [conflict_result(&group("d", &["d"]), "cycle")]});
        let merged = merge(vec![r1, junk, r2, json!(null), conflicts]);
        let ops = merged["Operations"].as_array().unwrap();
        let order: Vec<&str> = ops.iter().map(|o| o["bulkId"].as_str().unwrap()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
        assert_eq!(merged["schemas"], json!([BULK_RESPONSE_SCHEMA]));
        assert_eq!(
            merge(vec![]),
            json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": []})
        );
        // Key order is schemas, Operations (preserve_order).
        let text = serde_json::to_string(&merge(vec![])).unwrap();
        assert!(text.starts_with("{\"schemas\""), "{text}");
    }

    #[test]
    fn conflict_result_shape() {
        let op = json!({"Method": "POST", "path": "/Groups", "BULKID": "g", "data": {}});
        assert_eq!(
            conflict_result(
                &op,
                "Circular bulkId reference among operations with bulkId g"
            ),
            json!({
                "method": "POST",
                "bulkId": "g",
                "status": "409",
                "response": {
                    "schemas": [ERROR_SCHEMA],
                    "status": "409",
                    "detail": "Circular bulkId reference among operations with bulkId g"
                }
            })
        );
        let bare = conflict_result(&json!({}), "x");
        assert!(bare.get("method").is_none() && bare.get("bulkId").is_none());
        assert!(bare["response"].get("scimType").is_none());
        assert_eq!(count_errors(&[bare]), 1);
    }

    #[test]
    fn end_to_end_chunk_loop() {
        // A forward-referencing request split into chunks of 2, with a fake target that
        // assigns ids and rejects unresolved cross-chunk references.
        let ops = vec![
            group("g", &["u1", "u2"]),
            user("u1"),
            user("u2"),
            json!({"method": "PATCH", "path": "/Groups/bulkId:g",
                   "data": {"Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u3"}]}]}}),
            user("u3"),
        ];
        let p = plan(&ops, 2).unwrap();
        let mut ids = HashMap::new();
        let mut responses = Vec::new();
        for chunk in &p.chunks {
            let mut sent: Vec<Value> = chunk.iter().map(|&i| ops[i].clone()).collect();
            for op in &mut sent {
                substitute(op, &ids);
            }
            let in_chunk: HashSet<String> = sent
                .iter()
                .filter_map(|o| bulk_id(o).map(str::to_owned))
                .collect();
            let results: Vec<Value> = sent
                .iter()
                .map(|op| {
                    let unresolved = references(op).iter().any(|r| !in_chunk.contains(r));
                    let b = bulk_id(op).unwrap_or("none");
                    if unresolved {
                        json!({"method": op["method"], "status": "409"})
                    } else {
                        json!({"method": op["method"], "status": "201",
                               "location": format!("https://t/v2/X/id-{b}")})
                    }
                })
                .collect();
            learn_ids(&sent, &results, &mut ids);
            responses.push(json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": results}));
        }
        let merged = merge(responses);
        let ops_out = merged["Operations"].as_array().unwrap();
        assert_eq!(ops_out.len(), 5);
        assert_eq!(count_errors(ops_out), 0);
        assert_eq!(ids.len(), 4);
        assert_eq!(ids["g"], "id-g");
    }

    /// Ops over `n` bulkIds `b0..`, some without one, referencing the given targets.
    fn build(edges: &[Vec<usize>], no_id: &[bool]) -> Vec<Value> {
        edges
            .iter()
            .enumerate()
            .map(|(i, targets)| {
                let members: Vec<Value> = targets
                    .iter()
                    .map(|t| json!({"value": format!("bulkId:b{t}")}))
                    .collect();
                let mut op =
                    json!({"method": "POST", "path": "/Groups", "data": {"members": members}});
                if !no_id.get(i).copied().unwrap_or(false) {
                    op["bulkId"] = json!(format!("b{i}"));
                }
                op
            })
            .collect()
    }

    /// Indices that are on a cycle or can reach one, by brute force.
    fn doomed(ops: &[Value]) -> HashSet<usize> {
        let index: HashMap<String, usize> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| bulk_id(op).map(|b| (b.to_owned(), i)))
            .collect();
        let deps: Vec<Vec<usize>> = ops
            .iter()
            .map(|op| {
                references(op)
                    .iter()
                    .filter_map(|r| index.get(r).copied())
                    .collect()
            })
            .collect();
        let reach = |from: usize| {
            let mut seen = HashSet::new();
            let mut stack = deps[from].clone();
            while let Some(v) = stack.pop() {
                if seen.insert(v) {
                    stack.extend(deps[v].iter().copied());
                }
            }
            seen
        };
        let on_cycle: HashSet<usize> = (0..ops.len()).filter(|&i| reach(i).contains(&i)).collect();
        (0..ops.len())
            .filter(|&i| on_cycle.contains(&i) || reach(i).iter().any(|v| on_cycle.contains(v)))
            .collect()
    }

    proptest! {
        #[test]
        fn plan_on_random_dags(
            (n, raw) in (1usize..60).prop_flat_map(|n| (Just(n), proptest::collection::vec(proptest::collection::vec(0usize..1000, 0..4), n))),
            max_ops in 1usize..12,
            no_id in proptest::collection::vec(proptest::bool::weighted(0.1), 60),
        ) {
            // Only lower-indexed references (every fifth one unknown): never circular.
            let edges: Vec<Vec<usize>> = raw
                .iter()
                .enumerate()
                .map(|(i, ts)| {
                    ts.iter()
                        .map(|&t| if i == 0 || t % 5 == 0 { n + t } else { t % i })
                        .collect()
                })
                .collect();
            let ops = build(&edges, &no_id);
            let p = plan(&ops, max_ops).unwrap();
            check_plan(&ops, &p, max_ops);
            prop_assert!(p.circular.is_empty());
            prop_assert_eq!(p.chunks.len(), n.div_ceil(max_ops));
            // Already topologically ordered: the order is untouched.
            prop_assert_eq!(p.chunks.concat(), (0..n).collect::<Vec<_>>());
        }

        #[test]
        fn plan_on_random_graphs(
            raw in proptest::collection::vec(proptest::collection::vec(0usize..80, 0..3), 0..50),
            max_ops in 1usize..10,
            no_id in proptest::collection::vec(proptest::bool::weighted(0.1), 50),
        ) {
            let ops = build(&raw, &no_id);
            let p = plan(&ops, max_ops).unwrap();
            check_plan(&ops, &p, max_ops);
            let expected = doomed(&ops);
            let got: HashSet<usize> = p.circular.iter().copied().collect();
            prop_assert_eq!(got, expected);
            for cycle in &p.cycles {
                prop_assert!(!cycle.is_empty());
            }
        }
    }
}
