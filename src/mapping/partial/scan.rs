//! The scan of [`super`]: an answer's objects read as `(name, raw JSON text)` members in one
//! pass over the text, each value only skipped over.
//!
//! serde_json's `RawValue` did the same job through serde's visitor machinery, and it was a
//! third of the time of mapping a list (issue 15). This reads the text directly. It accepts
//! exactly what serde_json accepts (RFC 8259: the literals, the number grammar, strings without
//! raw control characters and with only valid escapes; the text is already valid UTF-8) and
//! nests at most [`MAX_DEPTH`] deep, less than serde_json's 128. Whatever it refuses goes to the
//! whole-tree path, which decides as it always did. A `\u` escape must be a whole UTF-16 code
//! point (no lone surrogate), as serde_json requires of every string it parses into a `Value`:
//! what the scan accepts, the whole-tree path would have parsed.

use crate::scim::json::special;
use smallvec::SmallVec;
use std::borrow::Cow;

/// Containers nested deeper than this are left to the whole-tree path.
pub(super) const MAX_DEPTH: usize = 100;
// `Scan::value` keeps the containers it opened as bits of a `u128`.
const _: () = assert!(MAX_DEPTH <= 128);

/// A cursor over JSON text.
pub(super) struct Scan<'a> {
    text: &'a str,
    at: usize,
    /// Containers open above the cursor (the caller's too).
    depth: usize,
}

type Scanned<T> = Result<T, ()>;

impl<'a> Scan<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Scan {
            text,
            at: 0,
            depth: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Scanned<u8> {
        self.ws();
        let b = self.peek().ok_or(())?;
        self.at += 1;
        Ok(b)
    }

    /// The next byte after whitespace, not consumed.
    fn ahead(&mut self) -> Option<u8> {
        self.ws();
        self.peek()
    }

    /// Only whitespace is left.
    pub(super) fn end(&mut self) -> Scanned<()> {
        match self.ahead() {
            None => Ok(()),
            Some(_) => Err(()),
        }
    }

    /// A string, the cursor past its opening quote: the span of its content (quotes excluded)
    /// and whether it holds an escape.
    #[inline(always)]
    fn string(&mut self) -> Scanned<(usize, usize, bool)> {
        let start = self.at;
        let mut escaped = false;
        loop {
            self.at += special(self.bytes().get(self.at..).ok_or(())?).ok_or(())?;
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok((start, self.at - 1, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1
                        }
                        Some(b'u') => {
                            self.at += 1;
                            let unit = self.hex4()?;
                            if (0xDC00..0xE000).contains(&unit) {
                                // A trailing surrogate with no leading one.
                                return Err(());
                            }
                            if (0xD800..0xDC00).contains(&unit) {
                                // A leading surrogate: a trailing one must follow.
                                if self.bytes().get(self.at..self.at + 2) != Some(b"\\u") {
                                    return Err(());
                                }
                                self.at += 2;
                                if !(0xDC00..0xE000).contains(&self.hex4()?) {
                                    return Err(());
                                }
                            }
                        }
                        _ => return Err(()),
                    }
                }
                // A raw control character.
                _ => return Err(()),
            }
        }
    }

    /// Four hex digits (a `\\u` escape's), as a UTF-16 code unit.
    fn hex4(&mut self) -> Scanned<u16> {
        let hex = self.bytes().get(self.at..self.at + 4).ok_or(())?;
        let mut unit = 0u16;
        for &c in hex {
            let d = (c as char).to_digit(16).ok_or(())?;
            unit = unit << 4 | d as u16;
        }
        self.at += 4;
        Ok(unit)
    }

    fn digits(&mut self) -> Scanned<()> {
        let from = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        if self.at == from {
            Err(())
        } else {
            Ok(())
        }
    }

    /// A number, the cursor past its first byte `first`.
    fn number(&mut self, first: u8) -> Scanned<()> {
        let from = self.at - 1;
        let first = if first == b'-' {
            let b = self.peek().ok_or(())?;
            self.at += 1;
            b
        } else {
            first
        };
        match first {
            // One leading zero only: a digit after it ends the number and fails the caller.
            b'0' => {}
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.at += 1;
                }
            }
            _ => return Err(()),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
        }
        // serde_json refuses a number beyond f64's range; a float or a long integer is checked.
        let text = self.text.get(from..self.at).ok_or(())?;
        if text.len() > 18 || text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            let finite = text.parse::<f64>().map_err(drop)?.is_finite();
            if !finite {
                return Err(());
            }
        }
        Ok(())
    }

    fn literal(&mut self, rest: &[u8]) -> Scanned<()> {
        if self.bytes().get(self.at..self.at + rest.len()) == Some(rest) {
            self.at += rest.len();
            Ok(())
        } else {
            Err(())
        }
    }

    fn open(&mut self) -> Scanned<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(())
        } else {
            Ok(())
        }
    }

    /// A member name and its colon, the cursor before its opening quote (after whitespace).
    #[inline(always)]
    fn name(&mut self) -> Scanned<Cow<'a, str>> {
        if self.next()? != b'"' {
            return Err(());
        }
        let (from, to, escaped) = self.string()?;
        let name = if escaped {
            // serde_json decodes it (and refuses a lone surrogate, as it does for any name).
            let quoted = self.text.get(from - 1..to + 1).ok_or(())?;
            Cow::Owned(serde_json::from_str::<String>(quoted).map_err(drop)?)
        } else {
            Cow::Borrowed(self.text.get(from..to).ok_or(())?)
        };
        if self.next()? != b':' {
            return Err(());
        }
        Ok(name)
    }

    /// Skip one value; its text.
    pub(super) fn value(&mut self) -> Scanned<&'a str> {
        self.ws();
        let from = self.at;
        // The containers opened here, a bit each (1: an object), the innermost lowest; at most
        // MAX_DEPTH of them, so no allocation.
        let mut objects: u128 = 0;
        let mut open = 0usize;
        loop {
            // A value.
            match self.next()? {
                b'"' => drop(self.string()?),
                b @ (b'{' | b'[') => {
                    let object = b == b'{';
                    self.open()?;
                    if self.ahead() == Some(if object { b'}' } else { b']' }) {
                        self.at += 1;
                        self.depth -= 1;
                    } else {
                        objects = objects << 1 | u128::from(object);
                        open += 1;
                        if object {
                            self.name()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'n' => self.literal(b"ull")?,
                b => self.number(b)?,
            }
            // After a value: close what ends here, or go on to the next element.
            loop {
                if open == 0 {
                    return self.text.get(from..self.at).ok_or(());
                }
                let object = objects & 1 == 1;
                match self.next()? {
                    b',' => {
                        if object {
                            self.name()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return Err(()),
                }
                objects >>= 1;
                open -= 1;
                self.depth -= 1;
            }
        }
    }

    /// An object's members, `each(name, scan)` reading each value (with [`Scan::value`] or its
    /// own way). The cursor before the object (whitespace allowed).
    pub(super) fn object(
        &mut self,
        mut each: impl FnMut(Cow<'a, str>, &mut Self) -> Scanned<()>,
    ) -> Scanned<()> {
        if self.next()? != b'{' {
            return Err(());
        }
        self.open()?;
        if self.ahead() == Some(b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            let name = self.name()?;
            each(name, self)?;
            match self.next()? {
                b',' => {}
                b'}' => {
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(()),
            }
        }
    }

    /// [`Scan::object`], and the object's text (as [`Scan::value`] gives it).
    pub(super) fn object_text(
        &mut self,
        each: impl FnMut(Cow<'a, str>, &mut Self) -> Scanned<()>,
    ) -> Scanned<&'a str> {
        self.ws();
        let from = self.at;
        self.object(each)?;
        self.text.get(from..self.at).ok_or(())
    }

    /// An array's elements, `each(scan)` reading each one. `Ok(false)` (nothing read) when the
    /// value here is not an array.
    pub(super) fn array(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Scanned<()>,
    ) -> Scanned<bool> {
        if self.ahead() != Some(b'[') {
            return Ok(false);
        }
        self.at += 1;
        self.open()?;
        if self.ahead() == Some(b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(true);
        }
        loop {
            each(self)?;
            match self.next()? {
                b',' => {}
                b']' => {
                    self.depth -= 1;
                    return Ok(true);
                }
                _ => return Err(()),
            }
        }
    }

    /// The next value is an object.
    pub(super) fn at_object(&mut self) -> bool {
        self.ahead() == Some(b'{')
    }
}

/// The text of a JSON string value without escapes (as written, quotes off); `None` for any
/// other value or one with an escape.
pub(super) fn plain_string(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// The text of a JSON string value, escapes decoded; `None` for any other value.
pub(super) fn string(raw: &str) -> Option<Cow<'_, str>> {
    match plain_string(raw) {
        Some(s) => Some(Cow::Borrowed(s)),
        None if raw.starts_with('"') => serde_json::from_str::<String>(raw).ok().map(Cow::Owned),
        None => None,
    }
}

/// An array of strings without escapes, each as its text (quotes off); `None` when `raw` is
/// anything else. What [`elements`] and [`plain_string`] give together, in one pass.
pub(super) fn plain_strings(raw: &str) -> Option<SmallVec<[&str; 4]>> {
    let mut scan = Scan::new(raw);
    let mut items = SmallVec::new();
    match scan.array(|s| {
        if s.next()? != b'"' {
            return Err(());
        }
        let (from, to, escaped) = s.string()?;
        if escaped {
            return Err(());
        }
        items.push(s.text.get(from..to).ok_or(())?);
        Ok(())
    }) {
        Ok(true) => Some(items),
        _ => None,
    }
}

/// An array's elements as their text; `None` when `raw` is not an array.
pub(super) fn elements(raw: &str) -> Option<SmallVec<[&str; 4]>> {
    let mut scan = Scan::new(raw);
    let mut items = SmallVec::new();
    match scan.array(|s| {
        items.push(s.value()?);
        Ok(())
    }) {
        Ok(true) => Some(items),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `Scan::value` makes of `text` as a whole document.
    fn skip(text: &str) -> Option<&str> {
        let mut s = Scan::new(text);
        let v = s.value().ok()?;
        s.end().ok()?;
        Some(v)
    }

    #[test]
    fn it_accepts_what_serde_json_accepts_and_refuses_what_it_refuses() {
        let cases = [
            "0",
            "-0",
            "01",
            "-",
            "1.",
            "1.5",
            "1e5",
            "1E+5",
            "1e",
            "-1.25e-3",
            "1e308",
            "1e309",
            "-2e400",
            "1e-400",
            "100195e559999999999999999",
            "123456789012345678901234567890",
            ".5",
            "+1",
            "true",
            "tru",
            "truex",
            "null",
            "nul",
            "false",
            "\"\"",
            "\"a\\\"b\"",
            "\"\\u00e9\"",
            "\"\\u00g9\"",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\ud800\\udc00\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\ud800x\"",
            "\"a\tb\"",
            "\"unterminated",
            "[]",
            "[ ]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{}",
            "{ }",
            "{\"a\":1}",
            "{\"a\" : [1, {\"b\": null}] }",
            "{\"a\":1,}",
            "{\"a\"}",
            "{\"a\":}",
            "{1:2}",
            "{\"a\":1]",
            "[1}",
            "[[[]]]",
            "[[[]]",
            "  {\"a\" :\n true } ",
            "{\"a\\u0041\":1}",
            "1 2",
            "",
            " ",
        ];
        for text in cases {
            let serde = serde_json::from_str::<serde_json::Value>(text).is_ok();
            assert_eq!(skip(text).is_some(), serde, "{text:?}");
        }
    }

    #[test]
    fn a_value_is_its_own_text_and_the_cursor_stops_after_it() {
        let mut s = Scan::new(r#"{"a" : [1, {"b": "x,}"}] , "c":2}"#);
        let mut seen = Vec::new();
        s.object(|name, s| {
            seen.push((name.into_owned(), s.value()?.to_owned()));
            Ok(())
        })
        .unwrap();
        s.end().unwrap();
        assert_eq!(
            seen,
            [
                ("a".to_owned(), r#"[1, {"b": "x,}"}]"#.to_owned()),
                ("c".to_owned(), "2".to_owned())
            ]
        );
    }

    #[test]
    fn names_with_escapes_are_decoded_and_lone_surrogates_refused() {
        let mut s = Scan::new(r#"{"a\u0041":1}"#);
        let mut names = Vec::new();
        s.object(|name, s| {
            names.push(name);
            s.value().map(drop)
        })
        .unwrap();
        assert_eq!(names, [Cow::<str>::Owned("aA".into())]);
        let mut s = Scan::new(r#"{"\ud800":1}"#);
        assert!(s.object(|_, s| s.value().map(drop)).is_err());
    }

    #[test]
    fn serde_json_private_names_are_ordinary_names() {
        // With serde_json's `raw_value` feature, a `Value` parse reads an object whose first
        // name is `$serde_json::private::RawValue` as the JSON text in its string (this one as
        // `1`): a body would mean one thing to the bytes and another to the tree. The crate
        // does not use `RawValue`, and no dependency may turn the feature on (features unify
        // across the build): this fails if one does.
        let text = r#"{"$serde_json::private::RawValue": "1"}"#;
        let v = serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(v["$serde_json::private::RawValue"], "1");
        assert_eq!(skip(text), Some(text));
        let smuggled = r#"[{"$serde_json::private::RawValue": "{\"password\":\"x\"}"}]"#;
        let v = serde_json::from_str::<serde_json::Value>(smuggled).unwrap();
        assert!(v[0].get("password").is_none(), "{v}");
        assert_eq!(skip(smuggled), Some(smuggled));
    }

    #[test]
    fn special_finds_the_first_quote_backslash_or_control_character() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        let mut texts: Vec<Vec<u8>> = vec![b"".to_vec(), b"abc".to_vec()];
        for len in 0..20 {
            for at in 0..len {
                // Every byte value (the test is on bytes, not on UTF-8 text).
                for c in 0..=u8::MAX {
                    let mut t = vec![b'a'; len];
                    t[at] = c;
                    if at + 1 < len {
                        t[at + 1] = b'"';
                    }
                    texts.push(t);
                }
            }
        }
        for t in texts {
            assert_eq!(special(&t), naive(&t), "{t:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(skip(&deep(MAX_DEPTH)).is_some());
        assert!(skip(&deep(MAX_DEPTH + 1)).is_none());
        assert!(skip(&deep(100_000)).is_none());
        let objects = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(skip(&objects).is_none());
    }

    #[test]
    fn plain_strings_is_elements_then_plain_string() {
        let cases = [
            r#"["a","b"]"#,
            r#"[ "a" , "b" ]"#,
            "[]",
            r#"["a\nb"]"#,
            r#"["a",1]"#,
            r#"["a",]"#,
            r#"["a""#,
            r#"{"a":1}"#,
            r#""a""#,
            r#"[["a"]]"#,
            "[\"a\tb\"]",
        ];
        for raw in cases {
            let both = elements(raw).and_then(|items| {
                items
                    .into_iter()
                    .map(plain_string)
                    .collect::<Option<SmallVec<[&str; 4]>>>()
            });
            assert_eq!(plain_strings(raw), both, "{raw}");
        }
    }

    #[test]
    fn strings_and_elements() {
        assert_eq!(plain_string("\"abc\""), Some("abc"));
        assert_eq!(plain_string("\"a\\nb\""), None);
        assert_eq!(string("\"a\\nb\"").as_deref(), Some("a\nb"));
        assert_eq!(string("1"), None);
        assert_eq!(
            elements("[\"a\", 1 ,{}]").as_deref(),
            Some(&["\"a\"", "1", "{}"][..])
        );
        assert_eq!(elements("{}"), None);
        assert_eq!(elements("[1,"), None);
    }
}
