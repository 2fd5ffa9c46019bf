//! The SCIM expression grammar, one module: attribute paths and PATCH paths (RFC 7644 §3.10,
//! §3.5.2) and filters (§3.4.2.2), which contain each other (`emails[type eq "work"].value`).
//! Parse, print canonically (parse → print → parse is the identity), compare names
//! case-insensitively. Hand-written because no maintained crate both parses and prints SCIM
//! filters with a round-trip guarantee; inputs and nesting are bounded.

mod filter;
mod path;

pub use filter::{parse_filter, parse_filter_with, CompareOp, Filter};
pub use path::{
    is_valid_attr_name, parse_attr_path, parse_path, parse_path_with, AttrPath, PatchPath, PathMemo,
};

#[cfg(test)]
pub(crate) use filter::strategies;

/// Default for [`ParseOptions::max_len`]: inputs longer than this many bytes are rejected.
pub const DEFAULT_MAX_LEN: usize = 4096;
/// Deepest nesting accepted; each `(`, `not (` and value-path `[` is one level.
pub const MAX_DEPTH: usize = 32;

/// A parse failure; `pos` is a byte offset into the input, always on a char boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {pos}: {message}")]
pub struct ParseError {
    pub pos: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(pos: usize, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

/// Parser knobs; `Default` is strict RFC syntax with a 4096-byte input cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Read a bare comparison value that is not `true`/`false`/`null`/a number as a string
    /// (`externalId eq jyoung`, as Microsoft Entra sends).
    pub allow_unquoted_values: bool,
    /// Longest accepted input in bytes. It also bounds the size (and `and`/`or` chain depth) of the AST.
    pub max_len: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            allow_unquoted_values: false,
            max_len: DEFAULT_MAX_LEN,
        }
    }
}

impl ParseOptions {
    /// Default options plus `allow_unquoted_values`.
    pub fn lenient() -> Self {
        Self {
            allow_unquoted_values: true,
            ..Self::default()
        }
    }

    pub(crate) fn check_len(&self, input: &str) -> Result<(), ParseError> {
        if input.len() > self.max_len {
            return Err(ParseError::new(
                0,
                format!(
                    "input too long: {} bytes (max {})",
                    input.len(),
                    self.max_len
                ),
            ));
        }
        Ok(())
    }
}
