//! Compiled rules: every path parsed, every JSONPath compiled, every value converted, once per
//! policy load. Errors carry the byte span of the offending value for file:line:col diagnostics.

use crate::policy::file::{DropFile, MapFile, NullsFile, SetFile, TransformFile};
use crate::scim::expr::ParseError;
use crate::scim::expr::{parse_attr_path, parse_path, AttrPath, PatchPath};
use crate::scim::value::{self, CORE_GROUP_URN, CORE_USER_URN};
use serde_json::Value;
use std::ops::Range;
use toml::Spanned;

/// The resource type a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn core_urn(self) -> &'static str {
        match self {
            Kind::User => CORE_USER_URN,
            Kind::Group => CORE_GROUP_URN,
        }
    }

    /// The kind a path relative to the tenant route addresses: `/Users…`, `/Me` → User,
    /// `/Groups…` → Group, anything else none.
    pub fn from_rest(rest: &str) -> Option<Kind> {
        let first = rest
            .trim_start_matches('/')
            .split(['/', '?'])
            .next()
            .unwrap_or("");
        if first.eq_ignore_ascii_case("Users") || first.eq_ignore_ascii_case("Me") {
            Some(Kind::User)
        } else if first.eq_ignore_ascii_case("Groups") {
            Some(Kind::Group)
        } else {
            None
        }
    }

    /// The kind a resource in a response declares (`meta.resourceType` or `schemas`).
    pub fn of_resource(resource: &Value) -> Option<Kind> {
        let rt = resource
            .get("meta")
            .and_then(|m| m.get("resourceType"))
            .and_then(Value::as_str);
        match rt {
            Some(t) if t.eq_ignore_ascii_case("User") => return Some(Kind::User),
            Some(t) if t.eq_ignore_ascii_case("Group") => return Some(Kind::Group),
            _ => {}
        }
        let schemas = resource.get("schemas").and_then(Value::as_array)?;
        let has = |urn: &str| {
            schemas
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
        };
        if has(CORE_USER_URN) {
            Some(Kind::User)
        } else if has(CORE_GROUP_URN) {
            Some(Kind::Group)
        } else {
            None
        }
    }
}

/// What an explicit null becomes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullMode {
    /// Forward as sent.
    Keep,
    /// Leave the attribute out (POST/PUT); drop that PATCH operation.
    Drop,
    /// Make the target forget it: left out of POST/PUT, PATCH `{"op":"remove","path":…}`.
    Clear,
}

#[derive(Debug, Clone)]
pub struct NullPolicy {
    pub default: NullMode,
    pub empty_string_is_null: bool,
    pub attributes: Vec<(AttrPath, NullMode)>,
}

impl Default for NullPolicy {
    fn default() -> Self {
        NullPolicy {
            default: NullMode::Keep,
            empty_string_is_null: false,
            attributes: Vec::new(),
        }
    }
}

impl NullPolicy {
    /// True when no null is ever changed.
    pub fn is_noop(&self) -> bool {
        self.default == NullMode::Keep && self.attributes.iter().all(|(_, m)| *m == NullMode::Keep)
    }

    /// Is `v` a null under this policy? (RFC 7643 §2.5: null, `[]` and unassigned are one state.)
    pub fn is_null(&self, v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::String(s) => self.empty_string_is_null && s.is_empty(),
            _ => false,
        }
    }

    /// The mode for an attribute: its own override, else its parent's, else the default.
    pub fn mode_for(&self, attr: &AttrPath) -> NullMode {
        let exact = self
            .attributes
            .iter()
            .find(|(a, _)| value::attr_eq(a, attr, None));
        if let Some((_, m)) = exact {
            return *m;
        }
        if attr.sub.is_some() {
            let parent = AttrPath {
                sub: None,
                ..attr.clone()
            };
            if let Some((_, m)) = self
                .attributes
                .iter()
                .find(|(a, _)| value::attr_eq(a, &parent, None))
            {
                return *m;
            }
        }
        self.default
    }
}

#[derive(Debug, Clone)]
pub struct MapRule {
    pub from: PatchPath,
    pub to: PatchPath,
    /// `to` as text (`PatchPath::text`), written once here: a PATCH operation the map renames
    /// carries it as its new `path`.
    pub to_text: String,
}

/// A compiled `when` JSONPath.
pub struct When {
    pub text: String,
    pub query: jsonpath_rust::parser::model::JpQuery,
}

impl std::fmt::Debug for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "When({:?})", self.text)
    }
}

impl When {
    /// Does the JSONPath match anything in `[resource]`?
    pub fn matches(&self, resource: &Value) -> bool {
        let wrapped = Value::Array(vec![resource.clone()]);
        // jsonpath-rust is not ours: a panic inside it must not take the request down.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            jsonpath_rust::query::js_path_process(&self.query, &wrapped)
                .is_ok_and(|r| !r.is_empty())
        }))
        .unwrap_or(false)
    }
}

#[derive(Debug)]
pub struct SetRule {
    pub path: PatchPath,
    pub value: Value,
    pub only_if_absent: bool,
    pub when: Option<When>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformFn {
    Lowercase,
    Uppercase,
    Trim,
    Boolean,
}

impl TransformFn {
    /// Apply to one value; true when it changed. Non-strings are left alone.
    pub fn apply(self, v: &mut Value) -> bool {
        let Value::String(s) = v else { return false };
        let new = match self {
            TransformFn::Lowercase => Value::String(s.to_lowercase()),
            TransformFn::Uppercase => Value::String(s.to_uppercase()),
            TransformFn::Trim => Value::String(s.trim().to_string()),
            TransformFn::Boolean => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return false,
            },
        };
        if *v == new {
            false
        } else {
            *v = new;
            true
        }
    }
}

#[derive(Debug)]
pub struct TransformRule {
    pub path: PatchPath,
    pub func: TransformFn,
}

/// The rules of one resource type.
#[derive(Debug, Default)]
pub struct KindRules {
    pub maps: Vec<MapRule>,
    pub drops: Vec<PatchPath>,
    pub sets: Vec<SetRule>,
    pub transforms: Vec<TransformRule>,
}

impl KindRules {
    fn is_empty(&self) -> bool {
        self.maps.is_empty()
            && self.drops.is_empty()
            && self.sets.is_empty()
            && self.transforms.is_empty()
    }
}

/// Every rule of a tenant.
#[derive(Debug, Default)]
pub struct Rules {
    pub user: KindRules,
    pub group: KindRules,
    pub nulls: NullPolicy,
}

impl Rules {
    /// No rule at all: requests and responses pass untouched and unparsed.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty() && self.group.is_empty() && self.nulls.is_noop()
    }

    pub fn for_kind(&self, kind: Kind) -> &KindRules {
        match kind {
            Kind::User => &self.user,
            Kind::Group => &self.group,
        }
    }

    /// Responses only change when some resource type has maps.
    pub fn maps_responses(&self) -> bool {
        !self.user.maps.is_empty() || !self.group.maps.is_empty()
    }

    /// Query parameters only change when some resource type has maps.
    pub fn maps_queries(&self) -> bool {
        self.maps_responses()
    }
}

/// One problem in a rule, at a byte span of the policy file.
#[derive(Debug)]
pub struct RuleError {
    pub span: Range<usize>,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<&'static str>,
}

/// The rule sections of a policy file.
pub struct RuleSections<'a> {
    pub nulls: Option<&'a Spanned<NullsFile>>,
    pub maps: &'a [Spanned<MapFile>],
    pub drops: &'a [Spanned<DropFile>],
    pub sets: &'a [Spanned<SetFile>],
    pub transforms: &'a [Spanned<TransformFile>],
}

/// Compile every rule, collecting every error.
pub fn compile(s: RuleSections<'_>) -> Result<Rules, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut rules = Rules::default();
    for m in s.maps {
        let m = m.get_ref();
        let kind = kind(m.resource.as_ref(), &mut errors);
        let (from, to) = (path(&m.from, &mut errors), path(&m.to, &mut errors));
        if let Some(to_path) = &to {
            if !value::put(
                &mut Value::Object(Default::default()),
                to_path,
                Value::String("x".into()),
            ) {
                errors.push(RuleError {
                    span: m.to.span(),
                    code: "E075",
                    message: format!("map target {:?} cannot be written", m.to.get_ref()),
                    hint: Some("a value filter in `to` must be `eq` comparisons joined by `and`, e.g. phoneNumbers[type eq \"work\"].value"),
                });
                continue;
            }
        }
        if let (Some(k), Some(from), Some(to)) = (kind, from, to) {
            let to_text = to.text();
            rules_mut(&mut rules, k)
                .maps
                .push(MapRule { from, to, to_text });
        }
    }
    for d in s.drops {
        let d = d.get_ref();
        if let (Some(k), Some(p)) = (
            kind(d.resource.as_ref(), &mut errors),
            path(&d.path, &mut errors),
        ) {
            rules_mut(&mut rules, k).drops.push(p);
        }
    }
    for t in s.transforms {
        let t = t.get_ref();
        let func = match t.func.get_ref().as_str() {
            "lowercase" => Some(TransformFn::Lowercase),
            "uppercase" => Some(TransformFn::Uppercase),
            "trim" => Some(TransformFn::Trim),
            "boolean" => Some(TransformFn::Boolean),
            other => {
                errors.push(RuleError {
                    span: t.func.span(),
                    code: "E073",
                    message: format!("unknown transform fn {other:?}"),
                    hint: Some(
                        "expected one of \"lowercase\", \"uppercase\", \"trim\", \"boolean\"",
                    ),
                });
                None
            }
        };
        if let (Some(k), Some(p), Some(func)) = (
            kind(t.resource.as_ref(), &mut errors),
            path(&t.path, &mut errors),
            func,
        ) {
            rules_mut(&mut rules, k)
                .transforms
                .push(TransformRule { path: p, func });
        }
    }
    for st in s.sets {
        let st = st.get_ref();
        let when = st.when.as_ref().and_then(|w| match compile_when(w.get_ref()) {
            Ok(query) => Some(When { text: w.get_ref().clone(), query }),
            Err(e) => {
                errors.push(RuleError {
                    span: w.span(),
                    code: "E074",
                    message: format!("`when` is not a valid JSONPath: {e}"),
                    hint: Some("RFC 9535 JSONPath run against [resource], e.g. \"$[?(@.userType == 'Employee')]\""),
                });
                None
            }
        });
        let value = match serde_json::to_value(st.value.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(RuleError {
                    span: st.value.span(),
                    code: "E076",
                    message: format!("unsupported value: {e}"),
                    hint: None,
                });
                None
            }
        };
        let k = kind(st.resource.as_ref(), &mut errors);
        let p = path(&st.path, &mut errors);
        if let Some(p) = &p {
            if !value::put(
                &mut Value::Object(Default::default()),
                p,
                Value::String("x".into()),
            ) {
                errors.push(RuleError {
                    span: st.path.span(),
                    code: "E075",
                    message: format!("set path {:?} cannot be written", st.path.get_ref()),
                    hint: Some("a value filter must be `eq` comparisons joined by `and`"),
                });
                continue;
            }
        }
        if st.when.is_some() && when.is_none() {
            continue;
        }
        if let (Some(k), Some(path), Some(value)) = (k, p, value) {
            rules_mut(&mut rules, k).sets.push(SetRule {
                path,
                value,
                only_if_absent: st.only_if_absent.unwrap_or(false),
                when,
            });
        }
    }
    if let Some(n) = s.nulls {
        let n = n.get_ref();
        if let Some(d) = &n.default {
            if let Some(m) = null_mode(d, &mut errors) {
                rules.nulls.default = m;
            }
        }
        rules.nulls.empty_string_is_null = n
            .empty_string_is_null
            .as_ref()
            .is_some_and(|b| *b.get_ref());
        for (k, v) in &n.attributes {
            let attr = match parse_attr_path(k.get_ref()) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.push(path_error(k, &e));
                    None
                }
            };
            if let (Some(a), Some(m)) = (attr, null_mode(v, &mut errors)) {
                rules.nulls.attributes.push((a, m));
            }
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// jsonpath-rust is not ours: a panic inside its parser becomes a policy error.
fn compile_when(text: &str) -> Result<jsonpath_rust::parser::model::JpQuery, String> {
    std::panic::catch_unwind(|| jsonpath_rust::parser::parse_json_path(text))
        .map_err(|_| "the JSONPath parser failed".to_string())?
        .map_err(|e| one_line(&e.to_string()))
}

/// A parser's multi-line report (pest draws a caret diagram) as one line: "at column C: what".
fn one_line(report: &str) -> String {
    let at = report
        .split("-->")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|lc| lc.split(':').nth(1))
        .map(|c| format!("at column {c}: "))
        .unwrap_or_default();
    let what: Vec<&str> = report
        .lines()
        .filter_map(|l| l.trim().strip_prefix("= "))
        .collect();
    if what.is_empty() {
        report.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        format!("{at}{}", what.join("; "))
    }
}

fn rules_mut(rules: &mut Rules, kind: Kind) -> &mut KindRules {
    match kind {
        Kind::User => &mut rules.user,
        Kind::Group => &mut rules.group,
    }
}

fn kind(r: Option<&Spanned<String>>, errors: &mut Vec<RuleError>) -> Option<Kind> {
    match r.map(|s| (s, s.get_ref().as_str())) {
        None => Some(Kind::User),
        Some((_, "User")) => Some(Kind::User),
        Some((_, "Group")) => Some(Kind::Group),
        Some((s, other)) => {
            errors.push(RuleError {
                span: s.span(),
                code: "E071",
                message: format!("unknown resource {other:?}"),
                hint: Some("expected \"User\" or \"Group\""),
            });
            None
        }
    }
}

fn null_mode(s: &Spanned<String>, errors: &mut Vec<RuleError>) -> Option<NullMode> {
    match s.get_ref().as_str() {
        "keep" => Some(NullMode::Keep),
        "drop" => Some(NullMode::Drop),
        "clear" => Some(NullMode::Clear),
        other => {
            errors.push(RuleError {
                span: s.span(),
                code: "E072",
                message: format!("unknown null mode {other:?}"),
                hint: Some("expected one of \"keep\", \"drop\", \"clear\""),
            });
            None
        }
    }
}

fn path(s: &Spanned<String>, errors: &mut Vec<RuleError>) -> Option<PatchPath> {
    match parse_path(s.get_ref()) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.push(path_error(s, &e));
            None
        }
    }
}

/// The error points inside the string: past the opening quote, at the parser's position.
fn path_error(s: &Spanned<String>, e: &ParseError) -> RuleError {
    let at = s.span().start + 1 + e.pos;
    RuleError {
        span: at..at + 1,
        code: "E070",
        message: format!("{:?} is not a SCIM attribute path: {}", s.get_ref(), e.message),
        hint: Some("e.g. name.givenName, urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department, emails[type eq \"work\"].value"),
    }
}
