use super::*;
use crate::console::record::{Draft, Outcome};
use http::Method;
use std::time::Duration;

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // 2000-02-29
    assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
    let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // last second of 2025
    assert_eq!(rfc3339(t), "2025-12-31T23:59:59.000Z");
}

fn record(pii: bool) -> Record {
    let mut d = Draft::default();
    d.start();
    d.idp_body(&bytes::Bytes::copy_from_slice(
        br#"{"userName":"bjensen","active":"True"}"#,
    ));
    d.upstream(
        &Method::POST,
        "/v2/Users",
        Some(&bytes::Bytes::from_static(
            br#"{"userName":"bjensen","active":true}"#,
        )),
    );
    d.finish(Outcome {
        method: &Method::POST,
        path: "/t/scim/v2/Users",
        query: Some("count=1&x=secret-ish"),
        tenant: "t",
        pii,
        resource: "Users",
        upstream_status: Some(201),
        upstream_ms: Some(1.234),
        rules: 1,
        status: 201,
        answer: b"not json at all bjensen",
        elapsed: Duration::from_millis(2),
    })
    .unwrap()
}

#[test]
fn an_exchange_shows_both_legs_redacted_unless_pii() {
    let x = exchange(&record(false));
    assert_eq!(x["redacted"], true);
    assert_eq!(x["idp"]["body"]["userName"], REDACTED, "{x}");
    assert_eq!(x["idp"]["body"]["active"], "True", "{x}");
    assert_eq!(x["upstream"]["body"]["active"], true, "{x}");
    assert_eq!(x["upstream"]["status"], 201);
    assert_eq!(x["upstream"]["path"], "/v2/Users");
    assert_eq!(
        x["idp"]["path"],
        format!("/t/scim/v2/Users?count=1&x={REDACTED}")
    );
    assert!(!x.to_string().contains("bjensen"), "{x}");

    let x = exchange(&record(true));
    assert_eq!(x["redacted"], false);
    assert_eq!(x["idp"]["body"]["userName"], "bjensen");
    assert_eq!(x["answer"]["body"], "not json at all bjensen");
}
