//! The console's pages, rendered on the server from the same views the API answers
//! ([`super::view`]). Every value that comes from a policy, a request or a target goes through
//! [`esc`]; the pages load no inline script (the `Content-Security-Policy` forbids it) and one
//! small hand-written script, `assets/console.js`, for the playground and the live tail.

use super::view::TenantView;
use serde_json::Value;
use std::fmt::Write;

/// HTML-escape text for an element or a quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page.
pub fn page(title: &str, body: &str, footer: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>scimgate · {title}</title>\
<link rel=\"stylesheet\" href=\"/assets/console.css\">\
<script src=\"/assets/console.js\" defer></script></head>\n<body>\
<header><a class=\"brand\" href=\"/\">scimgate</a><nav>\
<a href=\"/\">Tenants</a><a href=\"/tail\">Live tail</a><a href=\"/playground\">Playground</a>\
</nav></header>\n<main>\n{body}\n</main>\n<footer>{footer}</footer></body></html>\n",
        title = esc(title)
    )
}

fn or_dash(v: Option<String>) -> String {
    v.map_or_else(|| "—".to_string(), |s| esc(&s))
}

/// The tenants page's body.
pub fn tenants(rows: &[TenantView], not_loaded: &[String]) -> String {
    let mut b = String::from("<h1>Tenants</h1>\n");
    if rows.is_empty() {
        b.push_str("<p>No tenant is served.</p>\n");
    } else {
        b.push_str(
            "<table id=\"tenants\"><thead><tr><th>Tenant</th><th>Route</th><th>IdP</th>\
<th>Target</th><th>Policy</th><th>Loaded at (UTC)</th><th title=\"requests per second, last 10 s\">req/s</th>\
<th title=\"last minute\">4xx</th><th title=\"last minute\">5xx</th><th title=\"last minute\">429</th>\
<th>Hold</th><th>Guard</th><th>Last reload error</th></tr></thead><tbody>\n",
        );
        for t in rows {
            let hold = t
                .held_for_s
                .map(|s| format!("held {s:.1} s"))
                .unwrap_or_else(|| "—".to_string());
            let _ = writeln!(
                b,
                "<tr class=\"tenant\" data-tenant=\"{name}\"><td><a href=\"/tenants/{name}\">{name}</a>{pii}</td>\
<td><code>{route}</code></td><td>{idp}</td><td>{profile}<br><small><code>{upstream}</code></small></td>\
<td><code>{file}</code><br><small title=\"SHA-256 of the file as loaded: {sha}\">sha256 {short}</small></td>\
<td>{loaded}</td><td class=\"num\">{rps:.1}</td><td class=\"num\">{c4}</td><td class=\"num\">{c5}</td>\
<td class=\"num\">{c429}</td><td>{hold}</td><td>{guard}</td><td class=\"error\">{error}</td></tr>",
                name = esc(&t.tenant),
                pii = if t.pii {
                    " <small class=\"pii\" title=\"[log] pii = true: personal values are shown\">pii</small>"
                } else {
                    ""
                },
                route = esc(&t.route),
                idp = esc(t.idp),
                profile = esc(t.profile),
                upstream = esc(&t.upstream),
                file = esc(&t.policy_file),
                sha = esc(&t.content_sha256),
                short = esc(t.content_sha256.get(..12).unwrap_or(&t.content_sha256)),
                loaded = esc(&t.loaded_at.replace('T', " ")),
                rps = t.requests_per_second,
                c4 = t.last_minute_4xx,
                c5 = t.last_minute_5xx,
                c429 = t.last_minute_429,
                hold = esc(&hold),
                guard = or_dash(t.guard.clone()),
                error = or_dash(t.last_reload_error.clone()),
            );
        }
        b.push_str("</tbody></table>\n");
    }
    if !not_loaded.is_empty() {
        b.push_str("<h2>Policy files not loaded</h2>\n<ul id=\"not-loaded\">");
        for p in not_loaded {
            let _ = write!(b, "<li class=\"error\"><code>{}</code></li>", esc(p));
        }
        b.push_str("</ul>\n");
    }
    b
}

/// A tenant's page: its row, then its exchanges (newest first), updated live.
pub fn tenant(t: &TenantView, exchanges: &[Value]) -> String {
    let name = esc(&t.tenant);
    let mut b = format!(
        "<h1>Tenant <span id=\"tenant-name\">{name}</span></h1>\n<dl class=\"facts\">\
<dt>Route</dt><dd><code>{route}</code></dd><dt>IdP</dt><dd>{idp}</dd><dt>Target</dt><dd>{profile} <code>{upstream}</code></dd>\
<dt>Policy</dt><dd><code>{file}</code> sha256 <code>{short}</code>, loaded {loaded}</dd>\
<dt>Personal values</dt><dd>{pii}</dd><dt>Last reload error</dt><dd class=\"error\">{error}</dd></dl>\n\
<p><a href=\"/playground?tenant={name}\">Try this policy in the playground</a> · \
<a href=\"/api/tenants/{name}/exchanges\">JSON</a></p>\n",
        route = esc(&t.route),
        idp = esc(t.idp),
        profile = esc(t.profile),
        upstream = esc(&t.upstream),
        file = esc(&t.policy_file),
        short = esc(t.content_sha256.get(..12).unwrap_or(&t.content_sha256)),
        loaded = esc(&t.loaded_at.replace('T', " ")),
        pii = if t.pii {
            "shown ([log] pii = true)"
        } else {
            "redacted (set [log] pii = true in the policy to show them)"
        },
        error = or_dash(t.last_reload_error.clone()),
    );
    let _ = write!(
        b,
        "<h2>Last exchanges</h2>\n<p id=\"live\" class=\"live\" data-stream=\"{name}\">live tail: connecting…</p>\n<div id=\"exchanges\">\n"
    );
    if exchanges.is_empty() {
        b.push_str("<p class=\"empty\">No exchange yet.</p>\n");
    }
    for (i, x) in exchanges.iter().enumerate() {
        b.push_str(&exchange(x, i < 5));
        b.push('\n');
    }
    b.push_str("</div>\n");
    b
}

/// The live tail of every tenant, or of one.
pub fn tail(tenants: &[String], selected: Option<&str>) -> String {
    let mut options = String::from("<option value=\"\">all tenants</option>");
    for t in tenants {
        let sel = if Some(t.as_str()) == selected {
            " selected"
        } else {
            ""
        };
        let _ = write!(options, "<option value=\"{0}\"{sel}>{0}</option>", esc(t));
    }
    format!(
        "<h1>Live tail</h1>\n<form method=\"get\" action=\"/tail\" class=\"inline\"><label>Tenant \
<select name=\"tenant\" id=\"tail-tenant\">{options}</select></label> <button>Show</button></form>\n\
<p id=\"live\" class=\"live\" data-stream=\"{stream}\">live tail: connecting…</p>\n\
<div id=\"exchanges\"><p class=\"empty\">Waiting for exchanges…</p></div>\n",
        stream = esc(selected.unwrap_or(""))
    )
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn body_block(leg: &Value) -> String {
    let text = match leg.get("body") {
        None | Some(Value::Null) => return "<p class=\"nobody\">no body</p>".to_string(),
        Some(Value::String(t)) => t.clone(),
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
    };
    let note = if leg.get("truncated").and_then(Value::as_bool) == Some(true) {
        format!(
            "<p class=\"note\">first bytes of {} shown</p>",
            leg.get("body_bytes").and_then(Value::as_u64).unwrap_or(0)
        )
    } else {
        String::new()
    };
    format!("<pre class=\"body\">{}</pre>{note}", esc(&text))
}

/// One exchange (also what the live tail inserts).
pub fn exchange(x: &Value, open: bool) -> String {
    let status = x.get("status").and_then(Value::as_u64).unwrap_or(0);
    let class = match status {
        200..=299 => "s2xx",
        400..=499 => "s4xx",
        500..=599 => "s5xx",
        _ => "sother",
    };
    let at = s(x, "at");
    let time = at.get(11..19).unwrap_or(at);
    let idp = x.get("idp").cloned().unwrap_or(Value::Null);
    let answer = x.get("answer").cloned().unwrap_or(Value::Null);
    let upstream = match x.get("upstream") {
        Some(up) if !up.is_null() => {
            let status = up
                .get("status")
                .and_then(Value::as_u64)
                .map_or_else(|| "no answer".to_string(), |s| s.to_string());
            let ms = up
                .get("duration_ms")
                .and_then(Value::as_f64)
                .map(|m| format!(" in {m:.1} ms"))
                .unwrap_or_default();
            let calls = up.get("calls").and_then(Value::as_u64).unwrap_or(1);
            let more = if calls > 1 {
                format!(" (first of {calls} calls)")
            } else {
                String::new()
            };
            format!(
                "<section class=\"leg upstream\"><h4>Target got{more}</h4><p><code>{} {}</code> → {}{}</p>{}</section>",
                esc(s(up, "method")),
                esc(s(up, "path")),
                esc(&status),
                esc(&ms),
                body_block(up)
            )
        }
        _ => "<section class=\"leg upstream\"><h4>Target got</h4><p class=\"nobody\">nothing: the gateway answered itself</p></section>".to_string(),
    };
    let mut rules = String::new();
    if let Some(kinds) = x.get("rule_kinds").and_then(Value::as_object) {
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        if !list.is_empty() {
            let _ = write!(rules, "request rules: {}", list.join(", "));
        }
    }
    if let Some(notes) = x.get("notes").and_then(Value::as_array) {
        let list: Vec<&str> = notes.iter().filter_map(Value::as_str).collect();
        if !list.is_empty() {
            let _ = write!(
                rules,
                "{}{}",
                if rules.is_empty() { "" } else { " · " },
                list.join("; ")
            );
        }
    }
    let redacted = if x.get("redacted").and_then(Value::as_bool) == Some(true) {
        " <small class=\"redacted\">personal values redacted</small>"
    } else {
        ""
    };
    format!(
        "<details class=\"exchange {class}\" data-seq=\"{seq}\" data-tenant=\"{tenant}\"{open}>\
<summary><span class=\"time\">{time}</span> <span class=\"status\">{status}</span> \
<span class=\"method\">{method}</span> <code class=\"path\">{path}</code> \
<span class=\"ms\">{ms:.1} ms</span> <span class=\"tname\">{tenant}</span> <span class=\"nrules\">{nrules} rules</span>{redacted}</summary>\
<div class=\"legs\"><section class=\"leg idp\"><h4>IdP sent</h4><p><code>{method} {path}</code></p>{idp_body}</section>\
{upstream}<section class=\"leg answer\"><h4>IdP got back</h4><p>{status}</p>{answer_body}</section></div>\
<p class=\"applied\">{rules}</p></details>",
        seq = x.get("seq").and_then(Value::as_u64).unwrap_or(0),
        tenant = esc(s(x, "tenant")),
        open = if open { " open" } else { "" },
        time = esc(time),
        method = esc(s(x, "method")),
        path = esc(s(&idp, "path")),
        ms = x.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0),
        nrules = x.get("rules").and_then(Value::as_u64).unwrap_or(0),
        idp_body = body_block(&idp),
        answer_body = body_block(&answer),
        rules = esc(&rules),
    )
}

/// A sample for the playground: Entra's own shapes.
const SAMPLE_BODY: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {"op": "Replace", "path": "active", "value": "False"},
    {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
    {"op": "Replace", "value": {"name.givenName": "Barbara", "title": ""}}
  ]
}"#;

/// The playground: a policy (a served tenant's file, or any text) and a request.
pub fn playground(tenants: &[String], selected: Option<&str>, policy: &str) -> String {
    let mut options = String::from("<option value=\"\">(paste a policy)</option>");
    for t in tenants {
        let sel = if Some(t.as_str()) == selected {
            " selected"
        } else {
            ""
        };
        let _ = write!(options, "<option value=\"{0}\"{sel}>{0}</option>", esc(t));
    }
    format!(
        "<h1>Playground</h1>\n<p>What the target would get for a request (or the IdP for a target's answer), \
through the gateway's own phases (<code>POST /api/translate</code>, as <code>scimgate translate</code>). Nothing is sent.</p>\n\
<form id=\"playground\" class=\"playground\">\n\
<div class=\"col\"><label>Policy of <select id=\"pg-tenant\" name=\"tenant\">{options}</select></label>\n\
<textarea id=\"pg-policy\" name=\"policy\" rows=\"22\" spellcheck=\"false\">{policy}</textarea></div>\n\
<div class=\"col\"><div class=\"row\"><label>Direction <select id=\"pg-direction\" name=\"direction\">\
<option value=\"request\">request (IdP → target)</option><option value=\"response\">response (target → IdP)</option></select></label>\
<label>Status <input id=\"pg-status\" name=\"status\" value=\"200\" size=\"4\"></label></div>\n\
<div class=\"row\"><label>Method <input id=\"pg-method\" name=\"method\" value=\"PATCH\" size=\"7\"></label>\
<label class=\"grow\">Path <input id=\"pg-path\" name=\"path\" value=\"/Users/2819c223\"></label></div>\n\
<label>Body<textarea id=\"pg-body\" name=\"body\" rows=\"14\" spellcheck=\"false\">{sample}</textarea></label>\n\
<button id=\"pg-run\" type=\"submit\">Translate</button></div>\n</form>\n\
<h2>Result</h2>\n<pre id=\"pg-result\" class=\"body\">(not run yet)</pre>\n",
        policy = esc(policy),
        sample = esc(SAMPLE_BODY),
    )
}

/// The login form (`--admin-token-env`).
pub fn login(failed: bool) -> String {
    let msg = if failed {
        "<p class=\"error\" id=\"login-error\">That is not the admin token.</p>"
    } else {
        ""
    };
    format!(
        "<h1>Sign in</h1>\n<p>This console needs the admin token (<code>serve --admin-token-env</code>).</p>{msg}\n\
<form method=\"post\" action=\"/login\" class=\"login\"><label>Admin token \
<input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" autofocus></label> \
<button type=\"submit\">Sign in</button></form>\n"
    )
}

/// The footer: what the ring holds.
pub fn footer(usage: Option<super::ring::Usage>) -> String {
    match usage {
        Some(u) => format!(
            "{} exchanges kept, {:.1} MiB of {:.0} MiB (at most {} per tenant); {} dropped under load; \
{} successes not recorded past {} a second per tenant and thread · \
<a href=\"/api/tenants\">/api/tenants</a> · <a href=\"/metrics\">/metrics</a>",
            u.records,
            u.bytes as f64 / 1048576.0,
            u.limit_bytes as f64 / 1048576.0,
            u.limit_per_tenant,
            u.dropped,
            u.sampled,
            u.limit_per_second
        ),
        None => "<a href=\"/api/tenants\">/api/tenants</a> · <a href=\"/metrics\">/metrics</a>".to_string(),
    }
}

/// Used by the tenant page when the ring has no view for a tenant.
pub fn not_found(what: &str) -> String {
    format!("<h1>Not found</h1><p>{}</p>", esc(what))
}
