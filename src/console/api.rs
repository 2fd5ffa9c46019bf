//! `POST /api/translate`, the playground: a policy and a request (or a target's answer) in,
//! what the target would get (or the IdP would get back) out, through the very phases the
//! gateway runs ([`crate::flow::dry_run::preview`], as `scimgate translate`). Nothing is sent
//! anywhere and no secret is read.
//!
//! Asked: `{"policy": "<TOML text>", "request": {"method", "path", "body"}, "direction":
//! "request" | "response", "status": 200}` (`body` JSON, or a string sent as it is; `status`
//! only for a response). Answered (200): `{"upstream": {"method", "path", "body"}}` for a
//! request (`{"split": […]}` for a split Bulk, `{"upstream": null, "gateway_answers": 204}` when
//! nothing would be sent), `{"idp": {"status", "body"}}` for a response, or
//! `{"gateway_answers": status, "error": <SCIM error body>}` when the gateway would refuse it.
//! A policy that does not compile: 400 `{"policy_errors": [{"line", "col", "code", "message",
//! "hint"}], "text": "…"}`; a malformed question: 400 `{"error": "…"}`.

use crate::flow::dry_run::{preview, Direction};
use crate::policy::diagnostics::Diagnostics;
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

/// The largest question accepted (policy and body together), bytes.
pub const MAX_QUESTION_BYTES: usize = 2 << 20;

/// The name the playground's policy compiles under (in diagnostics).
const PLAYGROUND_FILE: &str = "playground.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    policy: String,
    request: Asked,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    status: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    method: String,
    path: String,
    #[serde(default)]
    body: Option<Value>,
}

/// The answer to one question: HTTP status and JSON body.
pub fn translate(question: &[u8]) -> (u16, Value) {
    let q: Question = match serde_json::from_slice(question) {
        Ok(q) => q,
        Err(e) => {
            return (
                400,
                json!({"error": format!("the question is not understood: {e}")}),
            )
        }
    };
    let direction = match q.direction.as_deref() {
        None | Some("request") => Direction::Request,
        Some("response") => Direction::Response,
        Some(other) => {
            return (
                400,
                json!({"error": format!("direction {other:?} is neither \"request\" nor \"response\"")}),
            )
        }
    };
    let Ok(method) =
        http::Method::from_bytes(q.request.method.trim().to_ascii_uppercase().as_bytes())
    else {
        return (
            400,
            json!({"error": format!("{:?} is not an HTTP method", q.request.method)}),
        );
    };
    let status = q.status.unwrap_or(200);
    if !(100..=599).contains(&status) {
        return (
            400,
            json!({"error": format!("status {status} is not an HTTP status")}),
        );
    }
    let tenant = match crate::policy::compile::compile_file(Path::new(PLAYGROUND_FILE), &q.policy) {
        Ok(t) => Arc::new(t),
        Err(errors) => {
            let list: Vec<Value> = errors
                .iter()
                .map(|d| {
                    json!({"line": d.line, "col": d.col, "code": d.code, "message": d.message, "hint": d.hint})
                })
                .collect();
            return (
                400,
                json!({"policy_errors": list, "text": Diagnostics(errors).to_string()}),
            );
        }
    };
    let body: Option<Vec<u8>> = match q.request.body {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.into_bytes()),
        Some(v) => Some(serde_json::to_vec(&v).unwrap_or_default()),
    };
    let path = q.request.path.trim();
    match preview(&tenant, direction, status, &method, path, body.as_deref()) {
        Ok(out) => (200, shape(direction, out)),
        Err(e) => {
            let body: Value = serde_json::from_slice(&e.body()).unwrap_or(Value::Null);
            (200, json!({"gateway_answers": e.status, "error": body}))
        }
    }
}

/// The dry run's answer in the API's shape.
fn shape(direction: Direction, out: Value) -> Value {
    match direction {
        Direction::Response => json!({"idp": out}),
        Direction::Request
            if out.get("split").is_some() || out.get("gateway_answers").is_some() =>
        {
            out
        }
        Direction::Request => json!({"upstream": out}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
tenant = "pg"
route = "/pg/scim/v2"
idp = "entra"
[auth]
bearer_sha256 = ["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
[upstream]
url = "http://127.0.0.1:9/v2"
[nulls]
default = "clear"
[[map]]
from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
to = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"
"#;

    fn ask(v: Value) -> (u16, Value) {
        translate(v.to_string().as_bytes())
    }

    #[test]
    fn a_request_is_translated_by_the_gateways_phases() {
        let (status, out) = ask(json!({
            "policy": POLICY,
            "request": {"method": "patch", "path": "/Users/42", "body": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "Replace", "path": "active", "value": "False"},
                    {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"}
                ]}},
            "direction": "request"
        }));
        assert_eq!(status, 200, "{out}");
        let up = &out["upstream"];
        assert_eq!(up["method"], "PATCH", "{out}");
        assert_eq!(up["path"], "/Users/42", "{out}");
        let ops = up["body"]["Operations"].as_array().unwrap();
        assert_eq!(ops[0]["op"], "replace", "{out}");
        assert_eq!(ops[0]["value"], false, "{out}");
        assert!(
            ops[1]["path"].as_str().unwrap().ends_with(":division"),
            "{out}"
        );
    }

    #[test]
    fn a_response_is_mapped_back() {
        let (status, out) = ask(json!({
            "policy": POLICY,
            "request": {"method": "GET", "path": "/Users/42", "body": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "42",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"division": "Sales"}}},
            "direction": "response", "status": 200
        }));
        assert_eq!(status, 200, "{out}");
        let user = &out["idp"]["body"];
        assert_eq!(
            user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "Sales",
            "{out}"
        );
    }

    #[test]
    fn refusals_and_policy_errors_are_answers() {
        let (status, out) = ask(json!({
            "policy": POLICY,
            "request": {"method": "POST", "path": "/Users", "body": "{\"a\":1,\"A\":2}"}
        }));
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["gateway_answers"], 400, "{out}");
        assert_eq!(out["error"]["status"], "400", "{out}");

        let (status, out) = ask(json!({
            "policy": "tenant = \"x\"\nroute = \"/x\"\nbogus = 1\n",
            "request": {"method": "GET", "path": "/Users"}
        }));
        assert_eq!(status, 400, "{out}");
        assert_eq!(out["policy_errors"][0]["code"], "E001", "{out}");
        assert!(
            out["text"]
                .as_str()
                .unwrap()
                .starts_with("playground.toml:"),
            "{out}"
        );

        let (status, out) = translate(b"not json");
        assert_eq!(status, 400);
        assert!(out["error"].is_string());
        let (status, _) = ask(json!({"policy": POLICY, "request": {"method": "G T", "path": "/"}}));
        assert_eq!(status, 400);
    }
}
