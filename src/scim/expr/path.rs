//! SCIM attribute paths (RFC 7644 §3.10) and PATCH / mapping-rule paths (§3.5.2): parse, print, compare.
//! Printing is canonical (parse → print → parse is the identity); names compare case-insensitively.

use std::fmt;
use std::str::FromStr;

use super::filter::{self, Filter};
use super::{ParseError, ParseOptions};

/// `[urn ":"] name ["." sub]`, e.g. `name.givenName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
/// Case is kept as written; use [`AttrPath::eq_ignore_case`] or [`AttrPath::key`] to compare.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// Schema URN without the trailing `:`, e.g. `urn:ietf:params:scim:schemas:core:2.0:User`.
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A bare attribute name, no URN, no sub-attribute.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// Builder: sets the sub-attribute.
    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    /// Builder: sets the schema URN (without trailing `:`).
    pub fn with_urn(mut self, urn: impl Into<String>) -> Self {
        self.urn = Some(urn.into());
        self
    }

    /// Equal ignoring ASCII case in every part. A missing URN does not match a present one.
    pub fn eq_ignore_case(&self, other: &AttrPath) -> bool {
        fn opt_eq(a: &Option<String>, b: &Option<String>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
        }
        self.name.eq_ignore_ascii_case(&other.name)
            && opt_eq(&self.sub, &other.sub)
            && opt_eq(&self.urn, &other.urn)
    }

    /// The path as text, as `Display` writes it, without the formatting machinery (a PATCH
    /// writes one of these for every operation a map renames).
    pub fn text(&self) -> String {
        let urn = self.urn.as_deref().map_or(0, |u| u.len() + 1);
        let sub = self.sub.as_deref().map_or(0, |s| s.len() + 1);
        let mut out = String::with_capacity(urn + self.name.len() + sub);
        if let Some(urn) = &self.urn {
            out.push_str(urn);
            out.push(':');
        }
        out.push_str(&self.name);
        if let Some(sub) = &self.sub {
            out.push('.');
            out.push_str(sub);
        }
        out
    }

    /// Normalised lookup key: the canonical text, ASCII-lowercased.
    pub fn key(&self) -> String {
        let mut key = self.text();
        key.make_ascii_lowercase();
        key
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl FromStr for AttrPath {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_attr_path(s)
    }
}

/// A PATCH operation's `path` (also used by mapping rules).
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    /// `attrPath`, e.g. `name.givenName`.
    Attr(AttrPath),
    /// `attr[filter]` optionally followed by `.sub`, e.g. `emails[type eq "work"].value`.
    /// `attr` never has a sub-attribute; `filter` holds no value paths.
    ValuePath {
        attr: AttrPath,
        filter: Filter,
        sub: Option<String>,
    },
}

impl PatchPath {
    /// The path as text, as `Display` writes it; an attribute path without the formatting
    /// machinery ([`AttrPath::text`]).
    pub fn text(&self) -> String {
        match self {
            Self::Attr(attr) => attr.text(),
            Self::ValuePath { .. } => self.to_string(),
        }
    }

    /// The attribute the path targets (for a value path, the multi-valued attribute).
    pub fn attr(&self) -> &AttrPath {
        match self {
            Self::Attr(attr) | Self::ValuePath { attr, .. } => attr,
        }
    }

    /// Lets `f` rewrite the target attribute (parent `None`) and then every path in the
    /// value filter (parent `Some(target)`). The trailing `sub` is a plain field, left to the caller.
    pub fn map_paths(&mut self, f: &mut impl FnMut(&mut AttrPath, Option<&AttrPath>)) {
        match self {
            Self::Attr(attr) => f(attr, None),
            Self::ValuePath { attr, filter, .. } => {
                f(attr, None);
                filter.map_paths_under(f, Some(attr));
            }
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attr(attr) => write!(f, "{attr}"),
            Self::ValuePath { attr, filter, sub } => {
                write!(f, "{attr}[{filter}]")?;
                if let Some(sub) = sub {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for PatchPath {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_path(s)
    }
}

/// Parses an attribute path; surrounding whitespace is ignored.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, ParseError> {
    ParseOptions::default().check_len(input)?;
    let (start, text) = trim(input);
    parse_attr_at(text, start)
}

/// Parses a PATCH path with default (strict) filter options.
pub fn parse_path(input: &str) -> Result<PatchPath, ParseError> {
    parse_path_with(input, &ParseOptions::default())
}

/// Parses a PATCH path; `opts` applies to the value filter and the input length.
pub fn parse_path_with(input: &str, opts: &ParseOptions) -> Result<PatchPath, ParseError> {
    opts.check_len(input)?;
    let (start, text) = trim(input);
    // Byte searches: the delimiters are ASCII, and on names this short a plain loop is
    // cheaper than `str`'s character searchers.
    let Some(open) = text.bytes().position(|b| b == b'[') else {
        return parse_attr_at(text, start).map(PatchPath::Attr);
    };
    let attr = parse_attr_at(text.get(..open).unwrap_or_default(), start)?;
    if attr.sub.is_some() {
        return Err(ParseError::new(
            start,
            "a value path's attribute cannot have a sub-attribute",
        ));
    }
    let (filter, after) = filter::parse_bracketed(input, start + open, opts)?;
    let rest = input.get(after..start + text.len()).unwrap_or_default();
    let sub = if rest.is_empty() {
        None
    } else if let Some(sub) = rest.strip_prefix('.') {
        check_name(sub, after + 1)?;
        Some(sub.to_owned())
    } else {
        return Err(ParseError::new(
            after,
            format!(
                "expected \".\" or end of input, found {}",
                filter::quote(rest)
            ),
        ));
    };
    Ok(PatchPath::ValuePath { attr, filter, sub })
}

/// PATCH paths already parsed in this request, by their exact text and options: the IdP's
/// dialect parses each operation's path and the tenant's rules would parse the same text
/// again. A parse is a pure function of the two, so a path taken from here is the one a second
/// parse would give. Each entry is taken once ([`PathMemo::parse`] moves it out); what is not
/// taken is dropped with the request.
#[derive(Debug, Default)]
pub struct PathMemo(Vec<(String, bool, PatchPath)>);

impl PathMemo {
    /// Room for `n` more paths (one per PATCH operation), so keeping them does not grow the
    /// list a step at a time.
    pub fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }

    /// Keeps `path`, parsed from `text` with `opts`, for one later [`PathMemo::parse`].
    pub fn keep(&mut self, text: String, opts: &ParseOptions, path: PatchPath) {
        if opts.max_len == super::DEFAULT_MAX_LEN {
            self.0.push((text, opts.allow_unquoted_values, path));
        }
    }

    /// [`parse_path_with`], or the path kept for the same text and options.
    pub fn parse(&mut self, text: &str, opts: &ParseOptions) -> Result<PatchPath, ParseError> {
        let kept = self.0.iter().position(|(t, lenient, _)| {
            *lenient == opts.allow_unquoted_values
                && opts.max_len == super::DEFAULT_MAX_LEN
                && t == text
        });
        match kept {
            Some(i) => Ok(self.0.swap_remove(i).2),
            None => parse_path_with(text, opts),
        }
    }
}

/// Parses `text` (no surrounding whitespace) as an attribute path; errors are reported at
/// `pos` + the offset within `text`.
pub(crate) fn parse_attr_at(text: &str, pos: usize) -> Result<AttrPath, ParseError> {
    let (urn, rest, rest_pos) = match split_urn(text) {
        Some((urn, rest)) => {
            check_urn(urn, pos)?;
            (Some(urn.to_owned()), rest, pos + urn.len() + 1)
        }
        None => (None, text, pos),
    };
    let (name, sub) = match rest.bytes().position(|b| b == b'.') {
        Some(dot) => (rest.get(..dot).unwrap_or_default(), rest.get(dot + 1..)),
        None => (rest, None),
    };
    check_name(name, rest_pos)?;
    if let Some(sub) = sub {
        let sub_pos = rest_pos + name.len() + 1;
        if let Some(i) = sub.bytes().position(|b| b == b'.') {
            return Err(ParseError::new(
                sub_pos + i,
                "attribute path has more than one '.'",
            ));
        }
        check_name(sub, sub_pos)?;
    }
    Ok(AttrPath {
        urn,
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// True for a valid ATTRNAME: ALPHA or `$`, then ALPHA / DIGIT / `-` / `_` / `$`.
pub fn is_valid_attr_name(name: &str) -> bool {
    check_name(name, 0).is_ok()
}

const fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$')
}

const fn is_urn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '=' | '@' | '%' | '/')
}

/// `is_name_char` and `is_urn_char` of every byte, looked up rather than worked out: the
/// checks below run on every path a request or a rule names. (No byte past ASCII is in either.)
const NAME_BYTE: [bool; 256] = byte_table(false);
const URN_BYTE: [bool; 256] = byte_table(true);

/// The table of `is_urn_char` (`urn`) or `is_name_char`, built at compile time.
const fn byte_table(urn: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut rest: &mut [bool] = &mut table;
    let mut b = 0u8;
    while let [slot, tail @ ..] = rest {
        let c = b as char;
        *slot = b < 128 && if urn { is_urn_char(c) } else { is_name_char(c) };
        rest = tail;
        b = b.wrapping_add(1);
    }
    table
}

/// Byte `b`'s entry in `table`.
fn in_class(table: &[bool; 256], b: u8) -> bool {
    table.get(usize::from(b)).copied().unwrap_or(false)
}

fn check_name(name: &str, pos: usize) -> Result<(), ParseError> {
    // The common case, byte by byte; anything else is looked at char by char for its error.
    if let Some((first, rest)) = name.as_bytes().split_first() {
        if (first.is_ascii_alphabetic() || *first == b'$')
            && rest.iter().all(|&b| in_class(&NAME_BYTE, b))
        {
            return Ok(());
        }
    }
    check_name_chars(name, pos)
}

/// [`check_name`] char by char: the error and where.
fn check_name_chars(name: &str, pos: usize) -> Result<(), ParseError> {
    let mut chars = name.char_indices();
    match chars.next() {
        None => Err(ParseError::new(pos, "expected attribute name")),
        Some((_, c)) if !(c.is_ascii_alphabetic() || c == '$') => Err(ParseError::new(
            pos,
            format!("attribute name must start with a letter, found {c:?}"),
        )),
        _ => match chars.find(|&(_, c)| !is_name_char(c)) {
            Some((i, c)) => Err(ParseError::new(
                pos + i,
                format!("invalid character {c:?} in attribute name"),
            )),
            None => Ok(()),
        },
    }
}

/// Splits `urn:...:name[.sub]` at its last `:` when `text` starts with `urn:` (any case).
fn split_urn(text: &str) -> Option<(&str, &str)> {
    let prefix = text.get(..4)?;
    if !prefix.eq_ignore_ascii_case("urn:") {
        return None;
    }
    let colon = text.bytes().rposition(|b| b == b':')?;
    Some((text.get(..colon)?, text.get(colon + 1..)?))
}

fn check_urn(urn: &str, pos: usize) -> Result<(), ParseError> {
    if !urn.bytes().any(|b| b == b':') {
        return Err(ParseError::new(pos, "schema URN has no namespace"));
    }
    // The common case, byte by byte: URN characters in non-empty segments. Anything else is
    // looked at segment by segment for its error.
    // `prev` starts as a `:` so that a leading `:` counts as an empty segment.
    let mut prev = b':';
    let plain = urn.bytes().all(|b| {
        let good = if b == b':' {
            prev != b':'
        } else {
            in_class(&URN_BYTE, b)
        };
        prev = b;
        good
    });
    if plain && prev != b':' {
        return Ok(());
    }
    check_urn_segments(urn, pos)
}

/// [`check_urn`] segment by segment: the error and where.
fn check_urn_segments(urn: &str, pos: usize) -> Result<(), ParseError> {
    if !urn.contains(':') {
        return Err(ParseError::new(pos, "schema URN has no namespace"));
    }
    let mut seg_pos = pos;
    for seg in urn.split(':') {
        if seg.is_empty() {
            return Err(ParseError::new(seg_pos, "empty segment in schema URN"));
        }
        if let Some((i, c)) = seg.char_indices().find(|&(_, c)| !is_urn_char(c)) {
            return Err(ParseError::new(
                seg_pos + i,
                format!("invalid character {c:?} in schema URN"),
            ));
        }
        seg_pos += seg.len() + 1;
    }
    Ok(())
}

/// Strips surrounding whitespace, returning the byte offset of what remains.
fn trim(input: &str) -> (usize, &str) {
    let text = input.trim_start_matches(filter::is_ws);
    (
        input.len() - text.len(),
        text.trim_end_matches(filter::is_ws),
    )
}

#[cfg(test)]
mod tests {
    use super::super::filter::{parse_filter, strategies, CompareOp};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_byte_tables_are_the_character_classes() {
        for b in 0..=255u8 {
            assert_eq!(in_class(&NAME_BYTE, b), is_name_char(char::from(b)), "{b}");
            assert_eq!(in_class(&URN_BYTE, b), is_urn_char(char::from(b)), "{b}");
        }
        assert!(in_class(&NAME_BYTE, b'$') && !in_class(&NAME_BYTE, b'.'));
        assert!(in_class(&URN_BYTE, b'.') && !in_class(&URN_BYTE, b':'));
    }

    #[test]
    fn text_is_what_display_writes() {
        for p in [
            "displayName",
            "name.givenName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
            "emails[type eq \"work\"].value",
            "members[value eq \"a\\\"b\" or display sw \"x\"]",
            "$ref",
        ] {
            let path = parse_path(p).unwrap();
            assert_eq!(path.text(), path.to_string(), "{p}");
            assert_eq!(path.attr().text(), path.attr().to_string(), "{p}");
            assert_eq!(
                path.attr().key(),
                path.attr().to_string().to_ascii_lowercase()
            );
        }
    }

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn ap(s: &str) -> AttrPath {
        match parse_attr_path(s) {
            Ok(p) => p,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn pp(s: &str) -> PatchPath {
        match parse_path(s) {
            Ok(p) => p,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn perr(s: &str) -> ParseError {
        match parse_path(s) {
            Ok(p) => panic!("{s:?} parsed as {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_memo_gives_what_a_parse_gives_for_the_same_text_and_options_only() {
        let lenient = ParseOptions::lenient();
        let strict = ParseOptions::default();
        let unquoted = "emails[type eq work].value";
        let mut memo = PathMemo::default();
        memo.keep(
            unquoted.to_string(),
            &lenient,
            parse_path_with(unquoted, &lenient).unwrap(),
        );
        // Kept with other options: the strict parse refuses the unquoted value all the same.
        assert!(memo.parse(unquoted, &strict).is_err());
        // Another text is parsed, not taken.
        assert_eq!(memo.parse("title", &lenient), Ok(pp("title")));
        // The same text and options: the kept path, once.
        assert_eq!(
            memo.parse(unquoted, &lenient),
            parse_path_with(unquoted, &lenient)
        );
        assert!(memo.0.is_empty());
        // A path kept under a text it was not parsed from is the caller's mistake to avoid;
        // a text differing only in case is another text.
        memo.keep("title".into(), &lenient, pp("title"));
        assert_eq!(memo.parse("TITLE", &lenient), Ok(pp("TITLE")));
        // Options with another length cap are never kept.
        let short = ParseOptions {
            max_len: 3,
            ..ParseOptions::default()
        };
        memo.0.clear();
        memo.keep("title".into(), &short, pp("title"));
        assert!(memo.parse("title", &short).is_err());
    }

    #[test]
    fn attr_paths() {
        assert_eq!(ap("userName"), AttrPath::new("userName"));
        assert_eq!(
            ap("name.givenName"),
            AttrPath::new("name").with_sub("givenName")
        );
        assert_eq!(ap("$ref"), AttrPath::new("$ref"));
        assert_eq!(
            ap("members.$ref"),
            AttrPath::new("members").with_sub("$ref")
        );
        assert_eq!(ap("x-y_z9"), AttrPath::new("x-y_z9"));
        assert_eq!(
            ap(&format!("{ENTERPRISE}:department")),
            AttrPath::new("department").with_urn(ENTERPRISE)
        );
        assert_eq!(
            ap(&format!("{ENTERPRISE}:manager.value")),
            AttrPath::new("manager")
                .with_sub("value")
                .with_urn(ENTERPRISE)
        );
        // The `urn:` prefix is recognised in any case and kept as written.
        let upper = ap("URN:ietf:params:scim:schemas:core:2.0:User:userName");
        assert_eq!(
            upper.urn.as_deref(),
            Some("URN:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!(ap("  name.givenName \t"), ap("name.givenName"));
    }

    #[test]
    fn attr_path_round_trips_and_compares() {
        for s in [
            "userName",
            "name.givenName",
            "members.$ref",
            &format!("{ENTERPRISE}:manager.value"),
            &format!("{ENTERPRISE}:department"),
        ] {
            assert_eq!(ap(s).to_string(), s);
            assert_eq!(ap(&ap(s).to_string()), ap(s));
        }
        let a = ap("Name.GivenName");
        assert!(a.eq_ignore_case(&ap("name.givenname")));
        assert!(!a.eq_ignore_case(&ap("name")));
        assert!(!a.eq_ignore_case(&ap("name.familyName")));
        assert_eq!(a.key(), "name.givenname");
        let e1 = ap(&format!("{ENTERPRISE}:Department"));
        let e2 = ap(&format!("{}:department", ENTERPRISE.to_uppercase()));
        assert!(e1.eq_ignore_case(&e2));
        assert_eq!(e1.key(), e2.key());
        assert!(!e1.eq_ignore_case(&ap("department")));
        assert!(is_valid_attr_name("$ref") && !is_valid_attr_name("1x") && !is_valid_attr_name(""));
    }

    #[test]
    fn attr_path_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected attribute name"),
            ("  ", 2, "expected attribute name"),
            ("9lives", 0, "must start with a letter"),
            ("name.", 5, "expected attribute name"),
            (".name", 0, "expected attribute name"),
            ("a.b.c", 3, "more than one '.'"),
            ("na me", 2, "invalid character ' '"),
            ("urn:x", 0, "no namespace"),
            ("urn:a:", 6, "expected attribute name"),
            ("urn:a b:c", 5, "invalid character ' ' in schema URN"),
            ("foo:bar", 3, "invalid character ':'"),
            ("nämé", 1, "invalid character 'ä'"),
        ];
        for (input, pos, message) in cases {
            let e = parse_attr_path(input).unwrap_err();
            assert_eq!(e.pos, *pos, "{input:?}: {e}");
            assert!(e.message.contains(message), "{input:?}: {e}");
        }
        assert!(parse_attr_path(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn patch_paths() {
        assert_eq!(pp("name.givenName"), PatchPath::Attr(ap("name.givenName")));
        let work = parse_filter(r#"type eq "work""#).unwrap();
        assert_eq!(
            pp(r#"emails[type eq "work"].value"#),
            PatchPath::ValuePath {
                attr: ap("emails"),
                filter: work.clone(),
                sub: Some("value".into())
            }
        );
        assert_eq!(
            pp(r#"members[value eq "2819c223"]"#),
            PatchPath::ValuePath {
                attr: ap("members"),
                filter: Filter::Compare {
                    path: ap("value"),
                    op: CompareOp::Eq,
                    value: json!("2819c223")
                },
                sub: None
            }
        );
        let urn_vp = pp(&format!(r#"{ENTERPRISE}:emails[type eq "work"]"#));
        assert_eq!(urn_vp.attr().urn.as_deref(), Some(ENTERPRISE));
        for s in [
            r#"emails[type eq "work"].value"#,
            r#"members[value eq "2819c223"]"#,
            r#"addresses[type eq "work" and (primary eq true or locality sw "]")].streetAddress"#,
            "name.givenName",
            &format!("{ENTERPRISE}:manager.value"),
        ] {
            assert_eq!(pp(s).to_string(), s);
        }
        assert_eq!(
            pp(r#" emails[ type  EQ "work" ].value "#).to_string(),
            r#"emails[type eq "work"].value"#
        );
        let lenient = parse_path_with("emails[type eq work]", &ParseOptions::lenient()).unwrap();
        assert_eq!(lenient.to_string(), r#"emails[type eq "work"]"#);
        let p: PatchPath = "members".parse().unwrap();
        assert_eq!(p, PatchPath::Attr(ap("members")));
    }

    #[test]
    fn patch_path_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected attribute name"),
            (
                r#"emails[type eq "work"]value"#,
                22,
                r#"expected "." or end of input, found "value""#,
            ),
            (r#"emails[type eq "work"] .value"#, 22, r#"expected ".""#),
            (r#"emails[type eq "work"]."#, 23, "expected attribute name"),
            (r#"emails[type eq "work"].a.b"#, 24, "invalid character '.'"),
            (r#"name.givenName[x pr]"#, 0, "cannot have a sub-attribute"),
            (
                r#"emails[type eq "work""#,
                21,
                r#"expected "and", "or" or "]""#,
            ),
            ("emails[]", 7, r#"found "]""#),
            ("emails[a[b pr]]", 8, "value paths cannot be nested"),
            ("emails[type eq work]", 15, "expected comparison value"),
            ("[a pr]", 0, "expected attribute name"),
            ("emails [a pr]", 6, "invalid character ' '"),
        ];
        for (input, pos, message) in cases {
            let e = perr(input);
            assert_eq!(e.pos, *pos, "{input:?}: {e}");
            assert!(e.message.contains(message), "{input:?}: {e}");
        }
        assert!(perr(&format!("e[a eq \"{}\"]", "x".repeat(5000)))
            .message
            .contains("too long"));
        let deep = format!("e[{}a pr{}]", "(".repeat(40), ")".repeat(40));
        assert!(perr(&deep).message.contains("nesting"));
    }

    #[test]
    fn patch_path_map_paths() {
        let mut p = pp(r#"emails[type eq "work"].value"#);
        let mut parents = Vec::new();
        p.map_paths(&mut |path, parent| {
            parents.push(parent.map(AttrPath::key));
            path.name = path.name.to_uppercase();
        });
        assert_eq!(parents, [None, Some("emails".into())]);
        assert_eq!(p.to_string(), r#"EMAILS[TYPE eq "work"].value"#);
    }

    fn patch_path() -> impl Strategy<Value = PatchPath> {
        prop_oneof![
            strategies::attr_path().prop_map(PatchPath::Attr),
            (
                strategies::bare_attr_path(),
                strategies::value_filter(),
                prop::option::of(strategies::name())
            )
                .prop_map(|(attr, filter, sub)| PatchPath::ValuePath {
                    attr,
                    filter,
                    sub
                }),
        ]
    }

    proptest! {
        #[test]
        fn generated_attr_paths_round_trip(p in strategies::attr_path()) {
            prop_assert_eq!(parse_attr_path(&p.to_string()), Ok(p.clone()));
            prop_assert!(parse_attr_path(&p.key()).is_ok_and(|q| q.eq_ignore_case(&p)));
        }

        #[test]
        fn generated_patch_paths_round_trip(p in patch_path()) {
            prop_assert_eq!(parse_path(&p.to_string()), Ok(p));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            for r in [parse_attr_path(&s).map(PatchPath::Attr), parse_path(&s)] {
                if let Err(e) = r {
                    prop_assert!(s.is_char_boundary(e.pos));
                }
            }
        }

        #[test]
        fn the_byte_checks_agree_with_the_char_checks(
            s in "[a-zA-Z0-9é$:._~+=@%/ -]{0,12}",
            pos in 0usize..50,
        ) {
            prop_assert_eq!(check_name(&s, pos), check_name_chars(&s, pos));
            prop_assert_eq!(check_urn(&s, pos), check_urn_segments(&s, pos));
        }

        #[test]
        fn path_soup_never_panics_and_reparses(
            s in "[a-zA-Zé$:.\\[\\]\" ()0-9-]{0,40}",
            t in strategies::soup(),
        ) {
            for input in [s, format!("emails[{t}].value")] {
                match parse_path(&input) {
                    Ok(p) => prop_assert_eq!(parse_path(&p.to_string()), Ok(p)),
                    Err(e) => prop_assert!(input.is_char_boundary(e.pos)),
                }
            }
        }
    }
}
