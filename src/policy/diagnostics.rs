//! Policy errors as people read them: `file:line:col: error[code]: message`, with a hint.
//! Codes are stable (documented in policies/README.md) so tests and runbooks can name them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at a byte span of `source` (the whole file text).
    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        let (line, col) = span.map(|s| line_col(source, s.start)).unwrap_or((1, 1));
        Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = source.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let this_line = before.rsplit('\n').next().unwrap_or_default();
    let col = this_line.chars().count() + 1;
    (line, col)
}

impl Diagnostic {
    fn render(&self, severity: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {severity}[{}]: {}",
            self.file.display(),
            self.line,
            self.col,
            self.code,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render("error", f)
    }
}

/// A diagnostic that does not stop a load (codes `W…`, [`super::Tenant::warnings`]), printed
/// `file:line:col: warning[code]: message` with its hint.
#[derive(Debug, Clone, Copy)]
pub struct Warning<'a>(pub &'a Diagnostic);

impl fmt::Display for Warning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.render("warning", f)
    }
}

/// Several diagnostics, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_chars() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 3)); // after "bé" (é is two bytes)
        assert_eq!(line_col(src, 999), (3, 1));
        assert_eq!(line_col(src, 8), (2, 2)); // inside é: snaps back to its start
    }

    #[test]
    fn display_has_location_code_and_hint() {
        let d = Diagnostic::at(Path::new("p/a.toml"), "x\ny", Some(2..3), "E011", "bad")
            .with_hint("do this");
        assert_eq!(
            d.to_string(),
            "p/a.toml:2:1: error[E011]: bad\n  = hint: do this"
        );
    }
}
