#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 10) on its seeded corpus; exit non-zero if any
# target crashes (panic, failed property, sanitizer report, OOM, timeout). CI: fuzz/run.sh 5
# Needs a nightly toolchain (cargo +nightly) and python3 (seed.sh). Crash inputs land in
# fuzz/artifacts/<target>/; reproduce one with: cargo +nightly fuzz run <target> <file>
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-10}
case "$SECONDS_EACH" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked || exit 1
fi
./seed.sh || exit 1

targets=$(cargo +nightly fuzz list) || exit 1
echo "== building fuzz targets" >&2
cargo +nightly fuzz build || exit 1

failed=()
for t in $targets; do
  echo "== fuzz $t for ${SECONDS_EACH}s" >&2
  if ! cargo +nightly fuzz run "$t" "corpus/$t" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "== fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "== fuzz: all targets ran ${SECONDS_EACH}s without a crash" >&2
