//! Filters (RFC 7644 §3.4.2.2): AST, bounded recursive-descent parser, canonical printer.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::path::{self, AttrPath};
use super::{ParseError, ParseOptions, MAX_DEPTH};

/// Comparison operators of RFC 7644 §3.4.2.2 (`pr` is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Co,
        Self::Sw,
        Self::Ew,
        Self::Gt,
        Self::Ge,
        Self::Lt,
        Self::Le,
    ];

    /// Canonical lowercase keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// Case-insensitive keyword lookup (`EQ`, `Eq`, `eq`).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM filter. Grouping parentheses leave no node; `and`/`or` chains are left-associative.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`; `value` is a JSON string, number, boolean or null.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `path pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    /// `not (filter)`
    Not(Box<Filter>),
    /// `attr[filter]`; paths inside `filter` are relative to `attr`. The parser rejects nesting.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Lets `f` rewrite every attribute path. The second argument is the enclosing value path's
    /// attribute (already rewritten) for paths inside `attr[...]`, else `None`.
    pub fn map_paths(&mut self, f: &mut impl FnMut(&mut AttrPath, Option<&AttrPath>)) {
        self.map_paths_under(f, None);
    }

    /// Read-only counterpart of [`Filter::map_paths`], visiting in the same order.
    pub fn visit_paths(&self, f: &mut impl FnMut(&AttrPath, Option<&AttrPath>)) {
        self.visit_paths_under(f, None);
    }

    fn visit_paths_under(
        &self,
        f: &mut impl FnMut(&AttrPath, Option<&AttrPath>),
        parent: Option<&AttrPath>,
    ) {
        match self {
            Self::Compare { path, .. } | Self::Present(path) => f(path, parent),
            Self::And(a, b) | Self::Or(a, b) => {
                a.visit_paths_under(f, parent);
                b.visit_paths_under(f, parent);
            }
            Self::Not(inner) => inner.visit_paths_under(f, parent),
            Self::ValuePath { attr, filter } => {
                f(attr, parent);
                filter.visit_paths_under(f, Some(attr));
            }
        }
    }

    pub(crate) fn map_paths_under(
        &mut self,
        f: &mut impl FnMut(&mut AttrPath, Option<&AttrPath>),
        parent: Option<&AttrPath>,
    ) {
        match self {
            Self::Compare { path, .. } | Self::Present(path) => f(path, parent),
            Self::And(a, b) | Self::Or(a, b) => {
                a.map_paths_under(f, parent);
                b.map_paths_under(f, parent);
            }
            Self::Not(inner) => inner.map_paths_under(f, parent),
            Self::ValuePath { attr, filter } => {
                f(attr, parent);
                filter.map_paths_under(f, Some(attr));
            }
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Self::Present(path) => write!(f, "{path} pr"),
            Self::And(a, b) => {
                write_operand(f, a, matches!(**a, Self::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, b, matches!(**b, Self::And(..) | Self::Or(..)))
            }
            Self::Or(a, b) => {
                write!(f, "{a} or ")?;
                write_operand(f, b, matches!(**b, Self::Or(..)))
            }
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

/// Parenthesise where the left-associative, `and`-over-`or` grammar would otherwise regroup.
fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}

impl FromStr for Filter {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_filter(s)
    }
}

/// Parses a filter with default (strict) options.
pub fn parse_filter(input: &str) -> Result<Filter, ParseError> {
    parse_filter_with(input, &ParseOptions::default())
}

/// Parses a filter; rejects trailing input.
pub fn parse_filter_with(input: &str, opts: &ParseOptions) -> Result<Filter, ParseError> {
    opts.check_len(input)?;
    let mut p = Parser::new(input, opts, 0);
    let filter = p.parse_or(0)?;
    let next = p.peek()?;
    match next.tok {
        Tok::End => Ok(filter),
        _ => Err(unexpected(&next, "\"and\", \"or\" or end of input")),
    }
}

/// Parses `[valFilter]` starting at byte `open` (which must hold `[`); returns the filter and the
/// byte offset just past `]`. Used for PATCH paths; the caller checks the input length.
pub(crate) fn parse_bracketed(
    input: &str,
    open: usize,
    opts: &ParseOptions,
) -> Result<(Filter, usize), ParseError> {
    let mut p = Parser::new(input, opts, open);
    let filter = p.parse_value_filter(0)?;
    Ok((filter, p.pos))
}

/// Whitespace tolerated between tokens.
pub(crate) fn is_ws(c: char) -> bool {
    c.is_ascii_whitespace()
}

#[derive(Debug)]
enum Tok<'a> {
    /// One of `( ) [ ]`.
    Punct(char),
    /// A decoded JSON string literal.
    Str(String),
    /// A maximal run of anything but whitespace, brackets and `"`: path, keyword, number, bare value.
    Word(&'a str),
    End,
}

#[derive(Debug)]
struct Lexed<'a> {
    tok: Tok<'a>,
    start: usize,
    end: usize,
}

const VALUE_EXPECTED: &str = "comparison value (string, number, true, false or null)";

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    opts: &'a ParseOptions,
    in_value_path: bool,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, opts: &'a ParseOptions, pos: usize) -> Self {
        Self {
            src,
            pos,
            opts,
            in_value_path: false,
        }
    }

    /// Lexes the token at `self.pos` without consuming it (set `self.pos = tok.end` to consume).
    fn peek(&self) -> Result<Lexed<'a>, ParseError> {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let text = rest.trim_start_matches(is_ws);
        let start = self.pos + (rest.len() - text.len());
        let Some(c) = text.chars().next() else {
            return Ok(Lexed {
                tok: Tok::End,
                start,
                end: start,
            });
        };
        if "()[]".contains(c) {
            return Ok(Lexed {
                tok: Tok::Punct(c),
                start,
                end: start + 1,
            });
        }
        if c == '"' {
            return lex_string(text, start);
        }
        let len = text
            .find(|c: char| is_ws(c) || "()[]\"".contains(c))
            .unwrap_or(text.len());
        Ok(Lexed {
            tok: Tok::Word(text.get(..len).unwrap_or_default()),
            start,
            end: start + len,
        })
    }

    /// `depth + 1`, or an error if that exceeds [`MAX_DEPTH`].
    fn nest(&self, depth: usize, pos: usize) -> Result<usize, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(ParseError::new(
                pos,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(depth + 1)
    }

    fn eat_keyword(&mut self, keyword: &str) -> Result<bool, ParseError> {
        let t = self.peek()?;
        if matches!(t.tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword)) {
            self.pos = t.end;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_close(&mut self, close: char) -> Result<(), ParseError> {
        let t = self.peek()?;
        if matches!(t.tok, Tok::Punct(c) if c == close) {
            self.pos = t.end;
            return Ok(());
        }
        Err(unexpected(&t, &format!("\"and\", \"or\" or \"{close}\"")))
    }

    fn parse_or(&mut self, depth: usize) -> Result<Filter, ParseError> {
        let mut left = self.parse_and(depth)?;
        while self.eat_keyword("or")? {
            let right = self.parse_and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, depth: usize) -> Result<Filter, ParseError> {
        let mut left = self.parse_unary(depth)?;
        while self.eat_keyword("and")? {
            let right = self.parse_unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `( filter )`, `not ( filter )`, or an attribute expression.
    fn parse_unary(&mut self, depth: usize) -> Result<Filter, ParseError> {
        let t = self.peek()?;
        match t.tok {
            Tok::Punct('(') => self.parse_group(depth),
            Tok::Word(word) => {
                self.pos = t.end;
                self.parse_attr_expr(word, t.start, depth)
            }
            _ => Err(unexpected(&t, "attribute path, \"(\" or \"not\"")),
        }
    }

    /// `( filter )` at the current position.
    fn parse_group(&mut self, depth: usize) -> Result<Filter, ParseError> {
        let t = self.peek()?;
        if !matches!(t.tok, Tok::Punct('(')) {
            return Err(unexpected(&t, "\"(\""));
        }
        let inner = self.nest(depth, t.start)?;
        self.pos = t.end;
        let filter = self.parse_or(inner)?;
        self.expect_close(')')?;
        Ok(filter)
    }

    /// After a word: `not (...)`, `attr[...]`, `attr pr` or `attr op value`.
    fn parse_attr_expr(
        &mut self,
        word: &'a str,
        start: usize,
        depth: usize,
    ) -> Result<Filter, ParseError> {
        let next = self.peek()?;
        if word.eq_ignore_ascii_case("not") {
            // `not` is only an attribute name when an operator or `[` follows it.
            match next.tok {
                Tok::Punct('(') => return Ok(Filter::Not(Box::new(self.parse_group(depth)?))),
                Tok::Punct('[') => {}
                Tok::Word(w) if is_operator(w) => {}
                _ => return Err(unexpected(&next, "\"(\" after \"not\"")),
            }
        }
        let path = path::parse_attr_at(word, start)?;
        match next.tok {
            Tok::Punct('[') => {
                if self.in_value_path {
                    return Err(ParseError::new(next.start, "value paths cannot be nested"));
                }
                if path.sub.is_some() {
                    return Err(ParseError::new(
                        start,
                        "a value path's attribute cannot have a sub-attribute",
                    ));
                }
                let filter = self.parse_value_filter(depth)?;
                Ok(Filter::ValuePath {
                    attr: path,
                    filter: Box::new(filter),
                })
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => {
                self.pos = next.end;
                Ok(Filter::Present(path))
            }
            Tok::Word(w) => match CompareOp::from_keyword(w) {
                Some(op) => {
                    self.pos = next.end;
                    let value = self.parse_value()?;
                    Ok(Filter::Compare { path, op, value })
                }
                None => Err(unexpected(&next, "comparison operator")),
            },
            _ => Err(unexpected(&next, "comparison operator")),
        }
    }

    /// `[ filter ]` at the current position; the filter may not contain value paths.
    fn parse_value_filter(&mut self, depth: usize) -> Result<Filter, ParseError> {
        let t = self.peek()?;
        if !matches!(t.tok, Tok::Punct('[')) {
            return Err(unexpected(&t, "\"[\""));
        }
        let inner = self.nest(depth, t.start)?;
        self.pos = t.end;
        self.in_value_path = true;
        let filter = self.parse_or(inner);
        self.in_value_path = false;
        let filter = filter?;
        self.expect_close(']')?;
        Ok(filter)
    }

    fn parse_value(&mut self) -> Result<Value, ParseError> {
        let t = self.peek()?;
        let value = match t.tok {
            Tok::Str(s) => Value::String(s),
            Tok::Word(w) => self.word_value(w, &t)?,
            _ => return Err(unexpected(&t, VALUE_EXPECTED)),
        };
        self.pos = t.end;
        Ok(value)
    }

    /// A bare-word comparison value: keyword literal, JSON number, or (lenient) a string.
    fn word_value(&self, word: &str, t: &Lexed<'_>) -> Result<Value, ParseError> {
        for (keyword, value) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if word.eq_ignore_ascii_case(keyword) {
                return Ok(value);
            }
        }
        match serde_json::from_str::<serde_json::Number>(word) {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) if self.opts.allow_unquoted_values => Ok(Value::String(word.to_owned())),
            Err(e) if word.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => Err(
                ParseError::new(t.start, format!("invalid number {}: {e}", quote(word))),
            ),
            Err(_) => Err(unexpected(t, VALUE_EXPECTED)),
        }
    }
}

fn is_operator(word: &str) -> bool {
    word.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(word).is_some()
}

/// Lexes the JSON string starting at `text`'s leading `"` (byte `start` of the input).
fn lex_string(text: &str, start: usize) -> Result<Lexed<'_>, ParseError> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let raw = text.get(..=i).unwrap_or_default();
                return match serde_json::from_str::<String>(raw) {
                    Ok(s) => Ok(Lexed {
                        tok: Tok::Str(s),
                        start,
                        end: start + i + 1,
                    }),
                    Err(e) => Err(ParseError::new(
                        start,
                        format!("invalid string literal: {e}"),
                    )),
                };
            }
            _ => {}
        }
    }
    Err(ParseError::new(start, "unterminated string literal"))
}

fn unexpected(t: &Lexed<'_>, expected: &str) -> ParseError {
    let found = match &t.tok {
        Tok::End => "end of input".to_owned(),
        Tok::Punct(c) => format!("\"{c}\""),
        Tok::Str(_) => "a string".to_owned(),
        Tok::Word(w) => quote(w),
    };
    ParseError::new(t.start, format!("expected {expected}, found {found}"))
}

/// Debug-quotes `text`, cut to 40 chars so hostile input cannot bloat error messages.
pub(crate) fn quote(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

/// Proptest strategies for generated ASTs, shared with the path tests.
#[cfg(test)]
pub(crate) mod strategies {
    use super::{AttrPath, CompareOp, Filter};
    use proptest::prelude::*;
    use serde_json::Value;

    pub fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-zA-Z][a-zA-Z0-9_$-]{0,8}",
            1 => prop::sample::select(vec!["$ref", "not", "and", "or", "pr", "eq", "true"])
                .prop_map(str::to_owned),
        ]
    }

    pub fn attr_path() -> impl Strategy<Value = AttrPath> {
        let urn = "(urn|URN|Urn):[a-z][a-z0-9-]{0,6}(:[a-zA-Z0-9.]{1,6}){0,4}";
        (prop::option::of(urn), name(), prop::option::of(name()))
            .prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
    }

    /// An attribute path without a sub-attribute, as value paths require.
    pub fn bare_attr_path() -> impl Strategy<Value = AttrPath> {
        attr_path().prop_map(|p| AttrPath { sub: None, ..p })
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::String),
            "[ -~]{0,12}".prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Decimals of at most 10 digits: exact under serde_json's default float parser.
            (-1_000_000_000i64..1_000_000_000, 0u32..8).prop_map(|(m, e)| {
                Value::from(format!("{m}e-{e}").parse::<f64>().unwrap_or(0.0))
            }),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    fn leaf() -> impl Strategy<Value = Filter> {
        prop_oneof![
            3 => (attr_path(), prop::sample::select(CompareOp::ALL.to_vec()), value())
                .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
            1 => attr_path().prop_map(Filter::Present),
        ]
    }

    fn combine(inner: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    }

    /// Filters without value paths (the content of `attr[...]`).
    pub fn value_filter() -> impl Strategy<Value = Filter> {
        leaf().prop_recursive(4, 24, 2, combine)
    }

    pub fn filter() -> impl Strategy<Value = Filter> {
        let value_path =
            (bare_attr_path(), value_filter()).prop_map(|(attr, f)| Filter::ValuePath {
                attr,
                filter: Box::new(f),
            });
        prop_oneof![3 => leaf(), 1 => value_path].prop_recursive(4, 24, 2, combine)
    }

    /// Token soup biased towards the grammar, to reach deep into the parser.
    pub fn soup() -> impl Strategy<Value = String> {
        let tokens = vec![
            "userName",
            "eq",
            "EQ",
            "pr",
            "and",
            "OR",
            "not",
            "(",
            ")",
            "[",
            "]",
            "\"x\"",
            "\"a\\\"b\"",
            "\"bad\\q\"",
            "\"open",
            "1",
            "-2.5e3",
            "01",
            "true",
            "Null",
            "emails",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            "urn:x",
            "a.b.c",
            ".",
            "é",
            "名前",
            "$ref",
            "",
            " ",
            "\t",
        ];
        prop::collection::vec(prop::sample::select(tokens), 0..40).prop_map(|v| v.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::expr::DEFAULT_MAX_LEN;
    use proptest::prelude::*;
    use serde_json::json;

    fn p(s: &str) -> Filter {
        match parse_filter(s) {
            Ok(f) => f,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn err(s: &str) -> ParseError {
        match parse_filter(s) {
            Ok(f) => panic!("{s:?} parsed as {f:?}"),
            Err(e) => e,
        }
    }

    fn attr(s: &str) -> AttrPath {
        path::parse_attr_path(s).unwrap()
    }

    fn cmp(path: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare {
            path: attr(path),
            op,
            value,
        }
    }

    fn pr(path: &str) -> Filter {
        Filter::Present(attr(path))
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn vp(a: &str, f: Filter) -> Filter {
        Filter::ValuePath {
            attr: attr(a),
            filter: Box::new(f),
        }
    }

    fn assert_round_trip(f: &Filter) {
        let printed = f.to_string();
        assert_eq!(&p(&printed), f, "printed as {printed}");
    }

    const RFC_EXAMPLES: &[&str] = &[
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];

    #[test]
    fn rfc_examples_parse_and_round_trip() {
        for s in RFC_EXAMPLES {
            let f = p(s);
            assert_round_trip(&f);
            // Every example is already canonical except for redundant grouping parentheses.
            if *s != r#"userType eq "Employee" and (emails.type eq "work")"# {
                assert_eq!(f.to_string(), *s);
            }
        }
    }

    #[test]
    fn rfc_example_structures() {
        assert_eq!(
            p(r#"userType eq "Employee" and (emails.type eq "work")"#),
            and(
                cmp("userType", CompareOp::Eq, json!("Employee")),
                cmp("emails.type", CompareOp::Eq, json!("work"))
            )
        );
        assert_eq!(
            p(r#"userType ne "E" and not (emails co "a" or emails.value co "b")"#),
            and(
                cmp("userType", CompareOp::Ne, json!("E")),
                not(or(
                    cmp("emails", CompareOp::Co, json!("a")),
                    cmp("emails.value", CompareOp::Co, json!("b"))
                ))
            )
        );
        assert_eq!(
            p(r#"emails[type eq "work" and value co "@x"] or ims[type eq "xmpp"]"#),
            or(
                vp(
                    "emails",
                    and(
                        cmp("type", CompareOp::Eq, json!("work")),
                        cmp("value", CompareOp::Co, json!("@x"))
                    )
                ),
                vp("ims", cmp("type", CompareOp::Eq, json!("xmpp")))
            )
        );
        let urn = p(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#);
        let Filter::Compare { path, .. } = urn else {
            panic!("not a comparison")
        };
        assert_eq!(
            path.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!(path.name, "userName");
    }

    #[test]
    fn all_operators_case_insensitive() {
        for op in CompareOp::ALL {
            let upper = format!("a {} 1", op.as_str().to_uppercase());
            assert_eq!(p(&upper), cmp("a", op, json!(1)));
            assert_eq!(CompareOp::from_keyword(op.as_str()), Some(op));
        }
        assert_eq!(CompareOp::from_keyword("pr"), None);
        assert_eq!(p("a PR"), pr("a"));
        assert_eq!(
            p("a pr AND b Pr oR c pR"),
            or(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(p("NOT (a pr)"), not(pr("a")));
        assert_eq!(p(r#"USERNAME Eq "x""#).to_string(), r#"USERNAME eq "x""#);
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(
            p("a pr or b pr and c pr"),
            or(pr("a"), and(pr("b"), pr("c")))
        );
        assert_eq!(
            p("a pr and b pr or c pr"),
            or(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(
            p("a pr and b pr and c pr"),
            and(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(p("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
        assert_eq!(
            p("(a pr or b pr) and c pr"),
            and(or(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(p("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
        assert_eq!(p("((((a pr))))"), pr("a"));
    }

    #[test]
    fn printer_uses_minimal_correct_parens() {
        let cases = [
            (
                and(or(pr("a"), pr("b")), pr("c")),
                "(a pr or b pr) and c pr",
            ),
            (
                and(pr("a"), or(pr("b"), pr("c"))),
                "a pr and (b pr or c pr)",
            ),
            (
                and(pr("a"), and(pr("b"), pr("c"))),
                "a pr and (b pr and c pr)",
            ),
            (
                and(and(pr("a"), pr("b")), pr("c")),
                "a pr and b pr and c pr",
            ),
            (or(pr("a"), or(pr("b"), pr("c"))), "a pr or (b pr or c pr)"),
            (or(and(pr("a"), pr("b")), pr("c")), "a pr and b pr or c pr"),
            (or(pr("a"), and(pr("b"), pr("c"))), "a pr or b pr and c pr"),
            (not(not(pr("a"))), "not (not (a pr))"),
            (vp("e", or(pr("a"), pr("b"))), "e[a pr or b pr]"),
        ];
        for (f, text) in cases {
            assert_eq!(f.to_string(), text);
            assert_round_trip(&f);
        }
    }

    #[test]
    fn literals() {
        let v = |s: &str| match p(&format!("a eq {s}")) {
            Filter::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(v(r#""a\"b\\c\u00e9\n""#), json!("a\"b\\cé\n"));
        assert_eq!(v(r#""""#), json!(""));
        assert_eq!(v(r#""with ) and ] inside""#), json!("with ) and ] inside"));
        assert_eq!(v("42"), json!(42));
        assert_eq!(v("-3"), json!(-3));
        assert_eq!(v("1.5"), json!(1.5));
        assert_eq!(v("1e3"), json!(1000.0));
        assert_eq!(v("-2.5E-2"), json!(-0.025));
        assert_eq!(v("18446744073709551615"), json!(u64::MAX));
        assert_eq!(v("true"), json!(true));
        assert_eq!(v("FALSE"), json!(false));
        assert_eq!(v("Null"), Value::Null);
        assert_eq!(p(r#"a eq "x\ty""#).to_string(), r#"a eq "x\ty""#);
    }

    #[test]
    fn whitespace_is_tolerated() {
        let f = and(cmp("userName", CompareOp::Eq, json!("x")), pr("b"));
        assert_eq!(p("  userName   eq \t \"x\"\n and  b pr  "), f);
        assert_eq!(p("(userName eq \"x\")and(b pr)"), f);
        assert_eq!(p("not(b pr)"), not(pr("b")));
        assert_eq!(p("e[ a pr ]"), vp("e", pr("a")));
    }

    #[test]
    fn unquoted_values_only_when_lenient() {
        let lenient = ParseOptions::lenient();
        let f = parse_filter_with("externalId eq jyoung and n eq 5 and b eq TRUE", &lenient);
        assert_eq!(
            f,
            Ok(and(
                and(
                    cmp("externalId", CompareOp::Eq, json!("jyoung")),
                    cmp("n", CompareOp::Eq, json!(5))
                ),
                cmp("b", CompareOp::Eq, json!(true))
            ))
        );
        assert_eq!(
            parse_filter_with("id eq 12ab", &lenient),
            Ok(cmp("id", CompareOp::Eq, json!("12ab")))
        );
        let e = err("externalId eq jyoung");
        assert_eq!(e.pos, 14);
        assert!(e.message.starts_with("expected comparison value"), "{e}");
    }

    #[test]
    fn errors_report_positions() {
        let cases: &[(&str, usize, &str)] = &[
            (
                r#"userName foo "x""#,
                9,
                r#"expected comparison operator, found "foo""#,
            ),
            ("userName eq", 11, "expected comparison value"),
            (r#"userName eq "x"#, 12, "unterminated string literal"),
            (r#"a eq "\q""#, 5, "invalid string literal"),
            ("a eq 01", 5, "invalid number \"01\""),
            (
                "(userName pr",
                12,
                r#"expected "and", "or" or ")", found end of input"#,
            ),
            (
                "userName pr)",
                11,
                r#"expected "and", "or" or end of input, found ")""#,
            ),
            ("userName pr and", 15, "expected attribute path"),
            ("userName pr userName pr", 12, r#"found "userName""#),
            (
                "",
                0,
                "expected attribute path, \"(\" or \"not\", found end of input",
            ),
            ("()", 1, r#"found ")""#),
            ("1abc pr", 0, "attribute name must start with a letter"),
            ("user*Name pr", 4, "invalid character '*' in attribute name"),
            ("a.b.c pr", 3, "more than one '.'"),
            ("a. pr", 2, "expected attribute name"),
            ("urn:foo pr", 0, "schema URN has no namespace"),
            ("urn:a::b pr", 6, "empty segment"),
            (r#"emails[value[x pr]]"#, 12, "value paths cannot be nested"),
            (r#"emails.x[type pr]"#, 0, "cannot have a sub-attribute"),
            (
                r#"emails[type eq "work""#,
                21,
                r#"expected "and", "or" or "]""#,
            ),
            ("not userName pr", 4, r#"expected "(" after "not""#),
            ("not", 3, r#"expected "(" after "not""#),
            ("a eq [", 5, "expected comparison value"),
            (r#"a eq "x" b"#, 9, r#"found "b""#),
        ];
        for (input, pos, message) in cases {
            let e = err(input);
            assert_eq!(e.pos, *pos, "{input:?}: {e}");
            assert!(e.message.contains(message), "{input:?}: {e}");
        }
        assert_eq!(
            err(r#"userName foo "x""#).to_string(),
            r#"at 9: expected comparison operator, found "foo""#
        );
    }

    #[test]
    fn error_positions_after_multibyte_chars_are_char_boundaries() {
        for input in [
            r#"displayName eq "héllo" xyz"#,
            r#"名前 eq "x""#,
            r#"a eq "€" añd b pr"#,
            "naïve pr",
            "a eq é",
            r#"a eq "€"#,
            "urn:ü:x:name pr",
        ] {
            let e = err(input);
            assert!(input.is_char_boundary(e.pos), "{input:?}: {e}");
        }
        let s = r#"displayName eq "héllo" xyz"#;
        assert_eq!(err(s).pos, s.find("xyz").unwrap());
        assert_eq!(err("naïve pr").pos, 2);
    }

    #[test]
    fn keywords_usable_as_attribute_names() {
        assert_eq!(p("not eq 1"), cmp("not", CompareOp::Eq, json!(1)));
        assert_eq!(p("not pr and and pr"), and(pr("not"), pr("and")));
        assert_eq!(p("not[or pr]"), vp("not", pr("or")));
        assert_eq!(p("pr pr"), pr("pr"));
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(p(&nested(MAX_DEPTH)), pr("a"));
        let e = err(&nested(MAX_DEPTH + 1));
        assert_eq!(e.pos, MAX_DEPTH);
        assert!(e.message.contains("nesting deeper than 32"), "{e}");

        let nots = |n: usize| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
        assert!(parse_filter(&nots(MAX_DEPTH)).is_ok());
        assert!(err(&nots(MAX_DEPTH + 1)).message.contains("nesting"));

        // A value path counts as a level too.
        let in_vp = format!(
            "e[{}a pr{}]",
            "(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_filter(&in_vp).is_ok());
        let too_deep = format!("e[{}a pr{}]", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(err(&too_deep).message.contains("nesting"));

        // Hostile: thousands of open parens stay bounded (length cap first, then depth).
        let e = parse_filter_with(
            &"(".repeat(100_000),
            &ParseOptions {
                max_len: 1 << 20,
                ..Default::default()
            },
        );
        assert!(e.unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn length_is_limited() {
        let long = format!("a eq \"{}\"", "x".repeat(5000));
        let e = err(&long);
        assert_eq!(e.pos, 0);
        assert!(e.message.contains("too long"), "{e}");
        let fits = format!("a eq \"{}\"", "x".repeat(DEFAULT_MAX_LEN - 7));
        assert_eq!(fits.len(), DEFAULT_MAX_LEN);
        assert!(parse_filter(&fits).is_ok());
        let roomy = ParseOptions {
            max_len: 10_000,
            ..ParseOptions::default()
        };
        assert!(parse_filter_with(&long, &roomy).is_ok());
        let tight = ParseOptions {
            max_len: 5,
            ..ParseOptions::default()
        };
        assert!(parse_filter_with("a pr", &tight).is_ok());
        assert!(parse_filter_with("ab pr", &tight).is_ok());
        assert!(parse_filter_with("abc pr", &tight).is_err());
    }

    #[test]
    fn long_flat_chains_are_fine() {
        let s = vec!["a pr"; 400].join(" and ");
        let f = p(&s);
        assert_eq!(f.to_string(), s);
    }

    #[test]
    fn map_paths_renames_with_parent_context() {
        let mut f = p(r#"userName eq "x" and emails[type eq "work"] and not (Emails.value pr)"#);
        let mut seen = Vec::new();
        f.map_paths(&mut |path, parent| {
            seen.push((path.to_string(), parent.map(ToString::to_string)));
            if path.eq_ignore_case(&AttrPath::new("emails")) {
                path.name = "mail".into();
            } else if path.eq_ignore_case(&AttrPath::new("emails").with_sub("value")) {
                *path = AttrPath::new("mail");
            } else if parent.is_some_and(|p| p.name == "mail") && path.name == "type" {
                path.name = "kind".into();
            }
        });
        assert_eq!(
            f.to_string(),
            r#"userName eq "x" and mail[kind eq "work"] and not (mail pr)"#
        );
        let expected = [
            ("userName", None),
            ("emails", None),
            ("type", Some("mail")),
            ("Emails.value", None),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(p, q)| (p.to_string(), q.map(str::to_owned)))
            .collect();
        assert_eq!(seen, expected);

        let mut visited = Vec::new();
        f.visit_paths(&mut |path, parent| visited.push((path.key(), parent.map(AttrPath::key))));
        assert_eq!(visited[2], ("kind".into(), Some("mail".into())));
        assert_eq!(visited.len(), 4);
    }

    #[test]
    fn from_str_works() {
        let f: Filter = "a pr".parse().unwrap();
        assert_eq!(f, pr("a"));
    }

    proptest! {
        #[test]
        fn generated_filters_round_trip(f in strategies::filter()) {
            let printed = f.to_string();
            let parsed = parse_filter(&printed);
            prop_assert_eq!(parsed, Ok(f), "printed: {}", printed);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = parse_filter(&s);
            let _ = parse_filter_with(&s, &ParseOptions::lenient());
        }

        #[test]
        fn token_soup_never_panics_and_reparses(s in strategies::soup()) {
            for opts in [ParseOptions::default(), ParseOptions::lenient()] {
                match parse_filter_with(&s, &opts) {
                    Ok(f) => prop_assert_eq!(parse_filter(&f.to_string()), Ok(f)),
                    Err(e) => prop_assert!(s.is_char_boundary(e.pos) && e.pos <= s.len()),
                }
            }
        }
    }
}
