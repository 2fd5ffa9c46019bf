#![no_main]
//! Request-path canonicalisation after the tenant route (`flow::route::canonical_rest`): no
//! panic; an accepted path is `""` or starts with `/`, has no `//`, `;`, `\` or `%25`, no
//! segment that percent-decodes to `.` or `..`, and canonicalising it again changes nothing.

use libfuzzer_sys::fuzz_target;
use scimgate::flow::route::canonical_rest;

#[path = "common.rs"]
mod common;
use common::short;

/// Percent-decoding as an upstream would do it (invalid escapes kept as written).
fn decode(seg: &str) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(rest) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = canonical_rest(rest) else {
        return;
    };
    let (input, out) = (short(rest), short(&c));
    assert!(
        c.is_empty() || c.starts_with('/'),
        "{input} -> {out}: not \"\" and no leading '/'"
    );
    for bad in ["//", ";", "\\", "%25"] {
        assert!(!c.contains(bad), "{input} -> {out}: contains {bad:?}");
    }
    for seg in c.split('/').skip(1) {
        let d = decode(seg);
        assert!(
            d != b"." && d != b"..",
            "{input} -> {out}: segment {seg:?} decodes to a dot segment"
        );
    }
    match canonical_rest(&c) {
        Ok(again) => assert_eq!(again, c, "{input} -> {out}: not idempotent"),
        Err(e) => panic!(
            "{input} -> {out}: canonical form refused: {} {:?}",
            e.status, e.detail
        ),
    }
});
