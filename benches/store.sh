#!/usr/bin/env bash
# The shared store's cost (issue 13), loopback, release build, nginx as the target, Debian's
# redis-server as the store:
#   1. latency added by --store: one replica, a tenant at 1,000/s (never over quota), at 20/s and
#      at 1,000/s, without a store, with the default lease (100 ms) and with --store-lease-ms 0;
#   2. store calls per admitted request (quota calls = EVALSHA in redis INFO commandstats; the
#      heartbeat is EVAL) for one replica and for three, at 20/s and 1,000/s.
# Prints one line per run.   benches/store.sh [seconds]   (≈ 14 runs of that many seconds)
# ROUNDS=N repeats part 1 (interleaved); ONLY=latency or ONLY=calls runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi
cargo build --release --bins --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/scimgate
W=$(mktemp -d); chmod 755 "$W"
UP=18270 RP=18271 GW=18272 ADMIN=18282
cleanup() { stop_gws; kill $(cat "$W"/nginx.pid "$W"/redis.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/www/v2" "$W/pol"
echo '{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}' > "$W/www/v2/Users"
cat > "$W/nginx.conf" <<NGINX
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 1024; }
http { access_log off; default_type application/scim+json;
  server { listen 127.0.0.1:$UP; root $W/www; location / { try_files \$uri =404; } } }
NGINX
nginx -c "$W/nginx.conf"
redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
  --daemonize yes --pidfile "$W/redis.pid"
for _ in $(seq 50); do [ "$(redis-cli -p $RP ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
TOKEN=bench-token
HASH=$(printf %s "$TOKEN" | "$BIN" hash-token)
# slow: the issue's tenant (20/s, burst 10); fast: 1,000/s, burst 1,000.
for t in slow:20:10 fast:1000:1000; do
  IFS=: read -r name rps burst <<<"$t"
  printf 'tenant = "%s"\nroute = "/%s"\n[auth]\nbearer_sha256 = ["%s"]\n[upstream]\nurl = "http://127.0.0.1:%s/v2"\n[limits]\nrequests_per_second = %s\nburst = %s\n' \
    "$name" "$name" "$HASH" "$UP" "$rps" "$burst" > "$W/pol/$name.toml"
done

PIDS=()
start_gws() { # N extra-args...
  local n=$1; shift
  for i in $(seq 0 $((n - 1))); do
    RUST_LOG=warn "$BIN" serve --policies "$W/pol" --listen 127.0.0.1:$((GW + i)) \
      --admin 127.0.0.1:$((ADMIN + i)) --threads 2 --access-log off "$@" 2>>"$W/gw.log" &
    PIDS+=($!)
  done
  for i in $(seq 0 $((n - 1))); do
    for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$((ADMIN + i))/readyz && break; sleep 0.05; done
  done
  sleep 1.2 # one heartbeat: every replica counted
}
stop_gws() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; PIDS=(); }
calls() { redis-cli -p $RP info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0; }
urls() { # N tenant
  local out=""; for i in $(seq 0 $(($1 - 1))); do out+="${out:+,}http://127.0.0.1:$((GW + i))/$2"; done; echo "$out"
}
run() { # label replicas tenant rate store-args...
  local label=$1 n=$2 tenant=$3 rate=$4; shift 4
  redis-cli -p $RP flushall >/dev/null
  start_gws "$n" "$@"
  local before; before=$(calls)
  local out; out=$(python3 benches/store_load.py "$(urls "$n" "$tenant")" "$TOKEN" "$DUR" "$rate")
  local after; after=$(calls)
  stop_gws
  python3 - "$label" "$out" "$before" "$after" <<'PY'
import json, sys
label, out, before, after = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
calls = after - before
ok = out["ok"]
print(f"{label:<44} sent {out['sent']:>6}  200 {ok:>6}  max/s {out['max_ok_in_1s']:>5}  "
      f"p50 {out['p50_ms']} ms  p99 {out['p99_ms']} ms  store calls {calls:>5} "
      f"({calls / max(ok, 1):.3f}/admitted)  statuses {out['statuses']}")
PY
}

ROUNDS=${ROUNDS:-1}
if [ "${ONLY:-all}" != calls ]; then
  echo "== 1. latency added (one replica, tenant fast: 1,000/s; $ROUNDS round(s), interleaved)"
  for round in $(seq "$ROUNDS"); do
    for rate in 20 1000; do
      run "no store, ${rate}/s" 1 fast $rate
      run "--store, lease 100 ms, ${rate}/s" 1 fast $rate --store redis://127.0.0.1:$RP
      run "--store, lease 0, ${rate}/s" 1 fast $rate --store redis://127.0.0.1:$RP --store-lease-ms 0
    done
  done
fi
if [ "${ONLY:-all}" != latency ]; then
  echo "== 2. store calls per admitted request"
  run "1 replica, slow (20/s), offered 20/s" 1 slow 20 --store redis://127.0.0.1:$RP
  run "1 replica, slow (20/s), offered 120/s" 1 slow 120 --store redis://127.0.0.1:$RP
  run "3 replicas, slow (20/s), offered 120/s" 3 slow 120 --store redis://127.0.0.1:$RP
  run "3 replicas, slow (20/s), offered 120/s, lease 0" 3 slow 120 --store redis://127.0.0.1:$RP --store-lease-ms 0
  run "3 replicas, slow (20/s), offered 20/s" 3 slow 20 --store redis://127.0.0.1:$RP
  run "1 replica, fast (1,000/s), offered 1,000/s" 1 fast 1000 --store redis://127.0.0.1:$RP
  run "3 replicas, fast (1,000/s), offered 1,000/s" 3 fast 1000 --store redis://127.0.0.1:$RP
  run "3 replicas, no store, slow, offered 120/s" 3 slow 120
fi
