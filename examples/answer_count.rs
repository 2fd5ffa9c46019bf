//! One step of the load benchmark's full-policy case, run `N` times: `benches/answer_count.sh`
//! runs it under callgrind twice and prints the instructions one call executes, a count that
//! holds on any machine (issue 15). The step (second argument):
//! - `answer` (the default): the answer mapping of the list (`mapping::partial::response` on
//!   the full Entra -> Webex policy and the upstream's 10-user list, as `benches/load/run.sh`
//!   sends them);
//! - `mixed`: the same on a list whose users alternate between two shapes (every other one has
//!   a `title`), so no resource is written by the plan made of the one before it;
//! - `patch`: Entra's 6-op PATCH as the gateway takes it on that tenant: the strict parse,
//!   `flow::translate::request` and the bytes that go upstream.
// Bench code may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use http::Method;
use scimgate::flow::body::{Body, Message};
use scimgate::flow::translate::{self, Asked};
use scimgate::mapping::partial::{response, Partial};
use scimgate::mapping::Stats;

// The same allocator as the scimgate binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../benches/common/load_case.rs"]
mod load_case;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a count of calls"))
        .unwrap_or(1000);
    let tenant = load_case::load_bench_full();
    if std::env::args().nth(2).as_deref() == Some("patch") {
        return patch(&tenant, n);
    }
    let list = if std::env::args().nth(2).as_deref() == Some("mixed") {
        load_case::webex_list_mixed()
    } else {
        load_case::webex_list()
    };
    let mut written = 0;
    for _ in 0..n {
        match response(
            &tenant.rules,
            "/Users",
            std::hint::black_box(&list),
            &mut Stats::default(),
        ) {
            Partial::Mapped(bytes) => written += bytes.len(),
            other => panic!("the load list was not mapped: {other:?}"),
        }
    }
    println!("{n} calls, {written} bytes written");
}

fn patch(tenant: &scimgate::policy::Tenant, n: usize) {
    let headers = http::HeaderMap::new();
    let asked = Asked {
        method: &Method::PATCH,
        rest: "/Users/2819c223-7f76-453a-919d-413861904646",
        query: None,
        headers: &headers,
    };
    let raw = Bytes::from_static(load_case::ENTRA_PATCH6.as_bytes());
    let mut written = 0;
    for _ in 0..n {
        let mut body = Body::Json(Message::parse(std::hint::black_box(raw.clone())).unwrap());
        translate::request(tenant, &asked, &mut body, &mut Stats::default()).unwrap();
        match &body {
            Body::Json(m) => written += m.to_upstream(tenant.translates()).unwrap().len(),
            other => panic!("the PATCH lost its body: {other:?}"),
        }
    }
    println!("{n} calls, {written} bytes written");
}
