//! The answer mapping of the load benchmark's list (`mapping::partial::response` on the full
//! Entra -> Webex policy and the upstream's 10-user list, as `benches/load/run.sh` sends them),
//! run `N` times: `benches/answer_count.sh` runs it under callgrind twice and prints the
//! instructions one call executes, a count that holds on any machine (issue 15).
// Bench code may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
    let list = load_case::webex_list();
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
