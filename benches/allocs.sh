#!/usr/bin/env bash
# Allocation calls a request, by tenant and request kind: benches/allocs.sh [N=4000]
# Starts benches/load/run.sh's targets (HOLD=1: the canned upstream, the passthrough and the full
# Entra -> Webex tenant), puts uprobes on mimalloc's allocation entry points in the gateway's
# binary (perf probe), and counts them with perf stat over whole wrk runs of N answers each
# (benches/load/count.lua stops wrk), divided by the requests the gateway counted. A count, not
# a timing: it does not depend on the machine's speed. Needs root and perf (Debian: linux-perf).
# SCIMGATE_BIN=path counts another build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4000}
command -v perf >/dev/null || { echo "allocs: perf is needed (apt-get install linux-perf)" >&2; exit 1; }
if [ -z "${SCIMGATE_BIN:-}" ]; then cargo build --release --bins --quiet; fi
# A copy: a build during the run must not replace the probed file.
BIN=$(mktemp /tmp/scimgate-allocs.XXXXXX); cp "${SCIMGATE_BIN:-target/release/scimgate}" "$BIN"; chmod 755 "$BIN"
LOG=$(mktemp)
cleanup() {
  perf probe -q -d 'probe_allocs:*' 2>/dev/null || true
  [ -n "${HOLD_PID:-}" ] && kill -- -"$HOLD_PID" 2>/dev/null || true
  rm -f "$BIN" "$LOG"
}
trap cleanup EXIT
perf probe -q -d 'probe_allocs:*' 2>/dev/null || true
perf probe -q -x "$BIN" -a 'probe_allocs:allocs_malloc=mi_malloc_aligned' -a 'probe_allocs:allocs_realloc=mi_realloc_aligned'
setsid env SKIP_MEMORY=1 HOLD=1 SCIMGATE_BIN="$BIN" benches/load/run.sh > "$LOG" 2>&1 &
HOLD_PID=$!
for _ in $(seq 300); do grep -q "Ctrl-C" "$LOG" && break; sleep 0.2; done
PID=$(sed -n 's/.*gateway :[0-9]* (pid \([0-9]*\).*/\1/p' "$LOG")
[ -n "$PID" ] || { cat "$LOG" >&2; exit 1; }
count() { curl -s http://127.0.0.1:18293/metrics | awk '/^scimgate_requests_total/{n+=$2} END{print n+0}'; }
echo "allocation calls a request (mi_malloc_aligned + mi_realloc_aligned), $N answers a run, wrk -t1 -c32"
for mode in list patch; do
  for tenant in pass full; do
    before=$(count)
    perf stat -e 'probe_allocs:*' -x, -p "$PID" -o "$LOG.stat" -- \
      bash -c "sleep 0.2; N=$N wrk -t1 -c32 -d60s -s benches/load/count.lua http://127.0.0.1:18292 -- /$tenant/scim/v2 bench-token $mode > /dev/null; sleep 0.2"
    after=$(count)
    awk -F, -v n=$((after - before)) -v t="$mode, $tenant" \
      '/probe_allocs/{s+=$1} END{printf "  %-12s %6.1f  (%d requests)\n", t, s/n, n}' "$LOG.stat"
    rm -f "$LOG.stat"
  done
done
