#!/usr/bin/env bash
# Two builds of the gateway, alternated on one upstream, to see a change smaller than a load
# run's spread (issue 15):
#   benches/load/alternate.sh A_BIN B_BIN [pairs=10] [seconds=4] [tenant=full] [mode=patch]
# run.sh's targets are started with HOLD=1 and A_BIN on the usual port (18292); B_BIN serves
# the same policies on 18302, with the same flags and RUST_LOG=warn. Each pair runs wrk -t1
# -c32 against both, A first in odd pairs and B first in even ones (whichever runs second in
# a pair tends to look faster here). Printed: each run's req/s, p99 and the gateway's CPU a
# request (user + system, /proc/<pid>/stat), then the medians and the median paired B - A.
# Run an unchanged case too (the control): its paired difference is the noise floor.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=${1:?A_BIN} B=${2:?B_BIN} PAIRS=${3:-10} SECS=${4:-4} TENANT=${5:-full} MODE=${6:-patch}
LOG=$(mktemp)
cleanup() {
  [ -n "${BPID:-}" ] && kill "$BPID" 2>/dev/null
  [ -n "${HOLD_PID:-}" ] && kill -- -"$HOLD_PID" 2>/dev/null
  rm -f "$LOG"
}
trap cleanup EXIT
. benches/load/hold.sh
hold_start "$A" "$LOG"
APID=$HOLD_GW POL=$HOLD_POL
RUST_LOG=warn "$B" serve --policies "$POL" --listen 127.0.0.1:18302 --admin 127.0.0.1:18303 \
  --threads "${SCIMGATE_THREADS:-2}" ${SCIMGATE_ARGS:-} 2>/dev/null &
BPID=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18303/readyz && break; sleep 0.1; done
TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/"$1"/stat; }
RESULTS=$(mktemp)
for r in $(seq "$PAIRS"); do
  if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  for side in $order; do
    if [ "$side" = A ]; then port=18292 pid=$APID; else port=18302 pid=$BPID; fi
    c0=$(cpu "$pid")
    out=$(wrk -t1 -c32 -d"${SECS}s" --latency -s benches/load/mix.lua "http://127.0.0.1:$port" -- \
      "/$TENANT/scim/v2" bench-token "$MODE")
    c1=$(cpu "$pid")
    echo "$out" | awk -v s="$side" -v r="$r" -v c0="$c0" -v c1="$c1" -v t="$TCK" '
      /requests in/ {n = $1} /Requests\/sec/ {rps = $2}
      / 99%/ {p = $2; ms = p + 0; if (p ~ /us$/) ms /= 1000; else if (p ~ /[0-9]s$/ && p !~ /ms$/) ms *= 1000}
      END {printf "%s %d %.0f %.3f %.1f\n", s, r, rps, ms, (c1 - c0) / t * 1e6 / n}' | tee -a "$RESULTS"
  done
done
python3 - "$RESULTS" "$TENANT" "$MODE" <<'PY'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    side, r, rps, p99, cpu = line.split()
    rows.setdefault(r, {})[side] = (float(rps), float(p99), float(cpu))
pairs = [v for v in rows.values() if len(v) == 2]
print(f"{sys.argv[2]} {sys.argv[3]}, {len(pairs)} pairs (medians): A -> B, paired B - A")
for i, name in enumerate(["req/s", "p99 ms", "CPU us a request"]):
    a, b = [p["A"][i] for p in pairs], [p["B"][i] for p in pairs]
    d = st.median(p["B"][i] - p["A"][i] for p in pairs)
    print(f"  {name:17s} {st.median(a):10.2f} -> {st.median(b):10.2f}   {d:+.2f}")
PY
rm -f "$RESULTS"
