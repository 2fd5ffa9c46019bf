#!/usr/bin/env bash
# Instructions a request, by tenant and request kind: benches/instructions.sh [N=1000]
#   env: MODES="list patch", TENANTS="pass full" (the cases), KEEP=dir (keep each case's callgrind
#   output as dir/cg.<mode>.<tenant>.<part>, to read with `callgrind_annotate --inclusive=yes --tree=caller`)
# Starts benches/load/run.sh's targets (HOLD=1: the canned upstream, both tenants), then a second
# gateway on the same policies under valgrind's callgrind (no admin listener, so no console: its
# per-second budget would record a larger share of the requests at valgrind's pace than at full
# speed). For each case it zeroes the counters, sends N requests (wrk -c4, count.lua), and divides
# the instructions executed meanwhile inside the serving of requests (the gateway's `process_new_http`
# and all it calls, on the worker threads) by the requests wrk counted. Threads that tick with the
# clock (Pingora's timer, the access log's writer) are left out: at valgrind's pace they would
# weigh with the run's length, not with its requests.
# An instruction count, not a timing: it does not depend on how busy the machine is, so it can
# compare builds on a day when timings cannot (SCIMGATE_BIN=path counts another build). What it
# misses: cache misses, contention between the threads, and the kernel; and valgrind counts a
# `rep movsb` copy (glibc's memcpy for large sizes) as one instruction a byte, so copies weigh
# more here than they cost. Needs valgrind (Debian: valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
if [ -z "${SCIMGATE_BIN:-}" ]; then cargo build --release --bins --quiet; fi
W=$(mktemp -d)
BIN="$W/scimgate"; cp "${SCIMGATE_BIN:-target/release/scimgate}" "$BIN"
cleanup() {
  [ -n "${VG:-}" ] && kill "$VG" 2>/dev/null || true
  [ -n "${HOLD_PID:-}" ] && kill -- -"$HOLD_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
. benches/load/hold.sh
hold_start "$BIN" "$W/hold.log"
POL=$HOLD_POL
PORT=18302
send() { # tenant mode n: the requests wrk counted
  N=$3 timeout 120 wrk -t1 -c4 -d100s -s benches/load/count.lua "http://127.0.0.1:$PORT" -- "/$1/scim/v2" bench-token "$2" |
    awk '/requests in/{print $1}'
}
echo "instructions a request (callgrind, inside process_new_http), $N requests a case, wrk -t1 -c4"
# One gateway a case, started fresh under valgrind: warmed with 50 requests (the pool, paths run
# for the first time), counters zeroed, N requests, counters dumped.
for mode in ${MODES:-list patch}; do
  for tenant in ${TENANTS:-pass full}; do
    rm -f "$W"/cg.out*
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" \
      --toggle-collect='*Gateway*process_new_http*' \
      "$BIN" serve --policies "$POL" --listen 127.0.0.1:$PORT --threads 2 > "$W/vg.log" 2>&1 &
    VG=$!
    for _ in $(seq 300); do
      curl -sf -o /dev/null -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$PORT/pass/scim/v2/Users" && break
      sleep 0.2
    done
    send "$tenant" "$mode" 50 > /dev/null
    callgrind_control -z "$VG" > /dev/null
    n=$(send "$tenant" "$mode" "$N")
    callgrind_control -d "$VG" > /dev/null
    for _ in $(seq 100); do ls "$W"/cg.out.* > /dev/null 2>&1 && break; sleep 0.2; done
    sleep 0.5
    ir=$(awk '/^summary:/{s+=$2} END{print s+0}' "$W"/cg.out.*)
    if [ -n "${KEEP:-}" ]; then
      mkdir -p "$KEEP"
      for f in "$W"/cg.out.*; do cp "$f" "$KEEP/cg.$mode.$tenant.${f##*.}"; done
    fi
    kill "$VG"; wait "$VG" 2>/dev/null || true; VG=
    awk -v ir="$ir" -v n="$n" -v t="$mode, $tenant" 'BEGIN{printf "  %-12s %8.0f  (%d requests)\n", t, ir/n, n}'
  done
done
