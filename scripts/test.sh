#!/usr/bin/env bash
# Everything CI checks, in order: setup, formatting, clippy (-D warnings), unit and integration
# tests (the gateway in front of the real scim2-server, conformance with scim2-tester and
# scim-sanity, a real Prometheus scrape), and that the benches build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --all-targets -- -D warnings
echo "== cargo test" >&2
cargo test --all-targets
echo "== all checks passed" >&2
