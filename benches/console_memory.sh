#!/usr/bin/env bash
# The console's memory bound, measured: RSS of a gateway with the console on (an admin listener) before
# and after 100,000 requests, twice, for a typical provisioning mix and for the worst case
# (every body over the 16 KiB cap, ten tenants, so the 32 MiB budget binds), and the same
# traffic through a gateway without an admin listener (no ring at all) for comparison.
#   benches/console_memory.sh [requests=100000]        (SCIMGATE_BIN=path: another binary)
# Loopback only; nginx answers as the SCIM target (canned JSON), wrk sends.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000} THREADS=${SCIMGATE_THREADS:-2} CONN=${CONN:-32}
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -z "${SCIMGATE_BIN:-}" ]; then cargo build --release --bins --quiet; fi
BIN=${SCIMGATE_BIN:-$PWD/target/release/scimgate}
W=$(mktemp -d); chmod 755 "$W"
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
UP=$(free_port)

# The target: a user for GET and POST, 204 for PATCH.
cat > "$W/user.json" <<'JSON'
{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223","userName":"user@example.com","active":true,"meta":{"resourceType":"User"}}
JSON
cat > "$W/nginx.conf" <<NGINX
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 4096; }
http {
  access_log off; default_type application/scim+json; client_max_body_size 4m;
  server {
    listen 127.0.0.1:$UP; root $W;
    location ~ ^/t[0-9]/v2/Users\$ { error_page 405 =201 /user.json; try_files /user.json =404; }
    location ~ ^/t[0-9]/v2/Users/ { if (\$request_method = PATCH) { return 204; } try_files /user.json =404; }
    location = /user.json { }
  }
}
NGINX
nginx -c "$W/nginx.conf"

# Ten Entra tenants that translate (a map, nulls), so the target's bodies are serialised.
mkdir -p "$W/pol"
H=$(printf %s bench-token | "$BIN" hash-token)
for i in 0 1 2 3 4 5 6 7 8 9; do
  cat > "$W/pol/t$i.toml" <<TOML
tenant = "t$i"
route = "/t$i/scim/v2"
idp = "entra"
[auth]
bearer_sha256 = ["$H"]
[upstream]
url = "http://127.0.0.1:$UP/t$i/v2"
[nulls]
default = "clear"
[[map]]
from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
to = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"
TOML
done

# wrk: requests spread over the ten tenants; a quarter GET, a quarter PATCH, half POST.
cat > "$W/load.lua" <<'LUA'
local pad, n = "", 0
function init(args) pad = string.rep("x", tonumber(args[1])) end
function request()
  n = n + 1
  local t = "/t" .. (n % 10) .. "/scim/v2"
  local h = { ["Authorization"] = "Bearer bench-token", ["Content-Type"] = "application/scim+json" }
  local k = n % 4
  if k == 0 then return wrk.format("GET", t .. "/Users/2819c223", h) end
  if k == 1 then
    return wrk.format("PATCH", t .. "/Users/2819c223", h, '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"},{"op":"Replace","path":"title","value":"' .. pad .. '"}]}')
  end
  return wrk.format("POST", t .. "/Users", h, '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"user' .. n .. '@example.com","active":"True","name":{"givenName":"Test","familyName":"User"},"title":"' .. pad .. '","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"}}')
end
LUA

rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# The share of the process's CPU time spent by the console's thread (scimgate-console).
ring_cpu() {
  local t total=0 ring=0 ticks
  for t in /proc/"$1"/task/*; do
    ticks=$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')
    total=$(( total + ticks ))
    [ "$(cat "$t/comm")" = scimgate-consol ] && ring=$(( ring + ticks ))
  done
  awk -v r="$ring" -v t="$total" 'BEGIN {printf "%.1f%%", t ? 100 * r / t : 0}'
}
start() { # $1: name, $2: on|off (the console comes with the admin listener)
  local port admin console=(); port=$(free_port); admin=$(free_port)
  if [ "$2" = on ]; then
    console=(
      --admin "127.0.0.1:$admin"
    )
  fi
  "$BIN" serve --policies "$W/pol" --listen "127.0.0.1:$port" --threads "$THREADS" \
    --access-log off "${console[@]}" 2> "$W/$1.log" & echo $! > "$W/$1.pid"
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  echo "$port $admin"
}
send() { # $1: port, $2: requests (at least), $3: padding bytes; prints requests/s
  local total=0 secs=0 out
  while [ "$total" -lt "$2" ]; do
    out=$(wrk -t2 -c"$CONN" -d5s -s "$W/load.lua" "http://127.0.0.1:$1" -- "$3")
    total=$(( total + $(awk '/requests in/ {print $1}' <<< "$out") ))
    secs=$(( secs + 5 ))
    if grep -q "Non-2xx" <<< "$out"; then echo "non-2xx answers: $out" >&2; exit 1; fi
  done
  echo "$(( total / secs )) ($total)"
}

printf '%-34s %10s %12s %12s %12s %18s %9s\n' "run (>= $N requests each)" "RSS idle" "after 1st" "after 2nd" "ring" "req/s (requests)" "ring CPU"
for case in "typical:200" "worst:40000"; do
  name=${case%%:*} pad=${case#*:}
  for console in on off; do
    read -r port admin < <(start "$name-$console" "$console")
    pid=$(cat "$W/$name-$console.pid")
    wrk -t1 -c4 -d1s -s "$W/load.lua" "http://127.0.0.1:$port" -- "$pad" > /dev/null; sleep 1
    idle=$(rss "$pid")
    rps=$(send "$port" "$N" "$pad"); sleep 2
    first=$(rss "$pid")
    send "$port" "$N" "$pad" > /dev/null; sleep 2
    second=$(rss "$pid")
    ring="-" cpu="-"
    if [ "$console" = on ]; then
      cpu=$(ring_cpu "$pid")
      ring=$(curl -s "http://127.0.0.1:$admin/api/tenants" | python3 -c \
        'import json, sys; e = json.load(sys.stdin)["exchanges"]; print("%d/%.1fM" % (e["records"], e["bytes"] / 1048576))')
    fi
    printf '%-34s %9sM %11sM %11sM %12s %18s %9s\n' "$name bodies ($pad B), console $console" "$idle" "$first" "$second" "$ring" "$rps" "$cpu"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
