#!/usr/bin/env bash
# Everything CI checks, in order: setup, formatting, clippy (-D warnings), unit and integration
# tests (the gateway in front of the real scim2-server, conformance with scim2-tester and
# scim-sanity, a real Prometheus scrape), that the benches build, and that every fuzz target
# builds and runs a few seconds without a finding (nightly + cargo-fuzz, installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --all-targets -- -D warnings
echo "== cargo test" >&2
cargo test --all-targets
echo "== fuzz targets build and run briefly (fuzz/run.sh 5; long runs: benches/README.md)" >&2
./fuzz/run.sh 5
echo "== all checks passed" >&2
