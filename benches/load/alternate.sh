#!/usr/bin/env bash
# Two builds of the gateway, alternated on one upstream, to see a change smaller than a load
# run's spread (issue 15):
#   benches/load/alternate.sh A_BIN B_BIN [pairs=10] [seconds=4] [tenant=full] [mode=patch]
# run.sh's targets are started with HOLD=1 (its own gateway stopped); A_BIN and B_BIN serve
# its policies, with the same flags and RUST_LOG=warn, on ports 18292 and 18302, and exchange
# them halfway (both restarted): a gateway's slot (its port, its process) can be worth a few
# µs a request here, either way. Each pair runs wrk -t1 -c32 against both, A first in odd
# pairs and B first in even ones (whichever runs second in a pair tends to look faster).
# Printed: each run's req/s, p99 and the gateway's CPU a request (user + system,
# /proc/<pid>/stat), then the medians and the median paired B - A, also for each half.
# Run an unchanged case too (the control): its paired difference is the noise floor.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=${1:?A_BIN} B=${2:?B_BIN} PAIRS=${3:-10} SECS=${4:-4} TENANT=${5:-full} MODE=${6:-patch}
LOG=$(mktemp)
cleanup() {
  kill ${APID:-} ${BPID:-} 2>/dev/null
  [ -n "${HOLD_PID:-}" ] && kill -- -"$HOLD_PID" 2>/dev/null
  rm -f "$LOG"
}
trap cleanup EXIT
. benches/load/hold.sh
hold_start "$A" "$LOG"
POL=$HOLD_POL
kill "$HOLD_GW"
while kill -0 "$HOLD_GW" 2>/dev/null; do sleep 0.1; done
# launch BIN PORT: a gateway on run.sh's policies, its admin on PORT + 1; sets LAUNCHED.
launch() {
  # A session (scheduling group) of its own, as run.sh gives its gateway.
  RUST_LOG=warn setsid "$1" serve --policies "$POL" --listen 127.0.0.1:"$2" --admin 127.0.0.1:$(($2 + 1)) \
    --threads "${SCIMGATE_THREADS:-2}" ${SCIMGATE_ARGS:-} 2>/dev/null &
  LAUNCHED=$!
  for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$(($2 + 1))/readyz && return; sleep 0.1; done
  echo "$1 did not start on $2" >&2
  return 1
}
# slots A_PORT B_PORT: (re)start A on the first, B on the second.
slots() {
  kill ${APID:-} ${BPID:-} 2>/dev/null || true
  for p in ${APID:-} ${BPID:-}; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  launch "$A" "$1"; APID=$LAUNCHED APORT=$1
  launch "$B" "$2"; BPID=$LAUNCHED BPORT=$2
  # A second of load on each, not measured: pools filled, first-use costs paid.
  for port in "$1" "$2"; do
    wrk -t1 -c32 -d1s -s benches/load/mix.lua "http://127.0.0.1:$port" -- \
      "/$TENANT/scim/v2" bench-token "$MODE" > /dev/null
  done
}
slots 18292 18302
TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/"$1"/stat; }
RESULTS=$(mktemp)
for r in $(seq "$PAIRS"); do
  # Halfway, the two exchange their ports.
  if [ "$r" = $((PAIRS / 2 + 1)) ]; then slots 18302 18292; fi
  if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  for side in $order; do
    if [ "$side" = A ]; then port=$APORT pid=$APID; else port=$BPORT pid=$BPID; fi
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
python3 - "$RESULTS" "$TENANT" "$MODE" "$PAIRS" <<'PY'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    side, r, rps, p99, cpu = line.split()
    rows.setdefault(int(r), {})[side] = (float(rps), float(p99), float(cpu))
half = int(sys.argv[4]) // 2
def show(title, pairs):
    print(f"{title}, {len(pairs)} pairs (medians): A -> B, paired B - A")
    for i, name in enumerate(["req/s", "p99 ms", "CPU us a request"]):
        a, b = [p["A"][i] for p in pairs], [p["B"][i] for p in pairs]
        d = st.median(p["B"][i] - p["A"][i] for p in pairs)
        print(f"  {name:17s} {st.median(a):10.2f} -> {st.median(b):10.2f}   {d:+.2f}")
done = {r: v for r, v in rows.items() if len(v) == 2}
show(f"{sys.argv[2]} {sys.argv[3]}", list(done.values()))
# Each half on its own: the difference of the two is twice the slot's bias.
show("  A on 18292", [v for r, v in done.items() if r <= half])
show("  A on 18302", [v for r, v in done.items() if r > half])
PY
rm -f "$RESULTS"
