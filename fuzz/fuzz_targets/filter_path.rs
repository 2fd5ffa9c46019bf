#![no_main]
//! SCIM filter and PATCH-path parsers (`scim::expr`): no panic on any input; a parse error's
//! `pos` lies on a char boundary inside the input; and printing is canonical: whatever parses
//! (strict or lenient) prints to text that parses back, strictly, to an equal AST
//! (`parse(print(x)) == x`; float values within 1 ULP unless serde_json's `float_roundtrip` is
//! on: see common.rs).

use libfuzzer_sys::fuzz_target;
use scimgate::scim::expr::{
    parse_attr_path, parse_filter_with, parse_path_with, Filter, ParseError, ParseOptions,
    PatchPath,
};

#[path = "common.rs"]
mod common;

/// Re-parse printed text without the length cap: printing may lengthen the input
/// (`1e5` prints as `100000.0`), which is not a round-trip failure.
fn uncapped() -> ParseOptions {
    ParseOptions {
        allow_unquoted_values: false,
        max_len: usize::MAX,
    }
}

/// `a == b`, comparison values compared with [`common::value_eq`].
fn filter_eq(a: &Filter, b: &Filter) -> bool {
    use Filter::*;
    match (a, b) {
        (
            Compare { path, op, value },
            Compare {
                path: p2,
                op: o2,
                value: v2,
            },
        ) => path == p2 && op == o2 && common::value_eq(value, v2),
        (And(a1, b1), And(a2, b2)) | (Or(a1, b1), Or(a2, b2)) => {
            filter_eq(a1, a2) && filter_eq(b1, b2)
        }
        (Not(x), Not(y)) => filter_eq(x, y),
        (
            ValuePath { attr, filter },
            ValuePath {
                attr: a2,
                filter: f2,
            },
        ) => attr == a2 && filter_eq(filter, f2),
        _ => a == b,
    }
}

fn path_eq(a: &PatchPath, b: &PatchPath) -> bool {
    match (a, b) {
        (
            PatchPath::ValuePath { attr, filter, sub },
            PatchPath::ValuePath {
                attr: a2,
                filter: f2,
                sub: s2,
            },
        ) => attr == a2 && sub == s2 && filter_eq(filter, f2),
        _ => a == b,
    }
}

fn check_err(input: &str, e: &ParseError) {
    assert!(
        e.pos <= input.len() && input.is_char_boundary(e.pos),
        "error position {} not on a char boundary of {input:?}: {e}",
        e.pos
    );
    let _ = e.to_string();
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    for opts in [ParseOptions::default(), ParseOptions::lenient()] {
        match parse_filter_with(input, &opts) {
            Ok(f) => {
                let printed = f.to_string();
                match parse_filter_with(&printed, &uncapped()) {
                    Ok(again) => assert!(
                        again == f || filter_eq(&again, &f),
                        "filter {input:?} printed as {printed:?} re-parses differently: {again:?} != {f:?}"
                    ),
                    Err(e) => {
                        panic!("filter {input:?} printed as {printed:?} does not re-parse: {e}")
                    }
                }
            }
            Err(e) => check_err(input, &e),
        }
        match parse_path_with(input, &opts) {
            Ok(p) => {
                let printed = p.to_string();
                match parse_path_with(&printed, &uncapped()) {
                    Ok(again) => assert!(
                        again == p || path_eq(&again, &p),
                        "path {input:?} printed as {printed:?} re-parses differently: {again:?} != {p:?}"
                    ),
                    Err(e) => {
                        panic!("path {input:?} printed as {printed:?} does not re-parse: {e}")
                    }
                }
                let _ = p.attr().key();
            }
            Err(e) => check_err(input, &e),
        }
    }
    match parse_attr_path(input) {
        Ok(a) => {
            let printed = a.to_string();
            match parse_attr_path(&printed) {
                Ok(again) => {
                    assert_eq!(again, a, "attribute path {input:?} printed as {printed:?}")
                }
                Err(e) => {
                    panic!("attribute path {input:?} printed as {printed:?} does not re-parse: {e}")
                }
            }
        }
        Err(e) => check_err(input, &e),
    }
});
