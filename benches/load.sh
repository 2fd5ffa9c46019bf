#!/usr/bin/env bash
# Load run: wrk against (1) nginx serving a 10-user ListResponse directly, (2) nginx proxy_pass in
# front of it, (3) scimgate (release build) in front of it, on this machine's loopback.
# The ListResponse names the upstream in every meta.location, so scimgate parses and rebases it.
#   benches/load.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10} CONN=${2:-64}
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bins --quiet
W=$(mktemp -d); [ -n "${KEEP:-}" ] && echo "$W"; trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
UP=18090 PROXY=18091 GW=18092 ADMIN=18093
chmod 755 "$W"; mkdir -p "$W/www/v2"
python3 - "$W/www/v2/Users" "$UP" <<'PY'
import json, sys
path, port = sys.argv[1], sys.argv[2]
res = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": f"2819c223-7f76-453a-919d-41386190{i:04d}",
        "userName": f"user{i}@example.com", "name": {"givenName": "Test", "familyName": f"User{i}"}, "active": True,
        "meta": {"resourceType": "User", "version": "W/\"1\"", "location": f"http://127.0.0.1:{port}/v2/Users/2819c223-7f76-453a-919d-41386190{i:04d}"}}
       for i in range(10)]
json.dump({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 10, "startIndex": 1,
           "itemsPerPage": 10, "Resources": res}, open(path, "w"))
PY
cat > "$W/nginx.conf" <<NGINX
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 4096; }
http {
  access_log off; default_type application/scim+json;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$UP; root $W/www; location / { try_files \$uri =404; } }
  server { listen 127.0.0.1:$PROXY; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGINX
nginx -c "$W/nginx.conf"
mkdir -p "$W/pol"
cat > "$W/pol/bench.toml" <<TOML
tenant = "bench"
route = "/bench/scim/v2"
[auth]
bearer_sha256 = ["$(printf %s bench-token | ./target/release/scimgate hash-token)"]
[upstream]
url = "http://127.0.0.1:$UP/v2"
TOML
# A session (scheduling group) of its own, as nginx has: see benches/load/run.sh.
RUST_LOG=warn setsid ./target/release/scimgate serve --policies "$W/pol" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN 2>"$W/gw.log" &
echo $! > "$W/gw.pid"
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$ADMIN/readyz && break; sleep 0.1; done
for url in http://127.0.0.1:$UP/v2/Users http://127.0.0.1:$PROXY/v2/Users http://127.0.0.1:$GW/bench/scim/v2/Users; do
  first=$(curl -s -H 'Authorization: Bearer bench-token' "$url"); size=${#first}
  case "$first" in *ListResponse*) ;; *) echo "$url did not answer the ListResponse: $first" >&2; cat "$W/gw.log" >&2; exit 1 ;; esac
done
case "$first" in *"127.0.0.1:$GW/bench/scim/v2/Users/"*) ;; *) echo "scimgate did not rebase meta.location" >&2; exit 1 ;; esac
echo "GET /Users (10-user ListResponse, $size bytes through scimgate), wrk -t2 -c$CONN -d${DUR}s, $(nproc) cores"
run() { printf '%-28s' "$1"; shift; wrk -t2 -c"$CONN" -d"${DUR}s" --latency "$@" | awk '/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} END{printf "%10s req/s   p50 %-8s p99 %s\n", r, p50, p99}'; }
run "nginx static (upstream)" http://127.0.0.1:$UP/v2/Users
run "nginx proxy_pass" http://127.0.0.1:$PROXY/v2/Users
run "scimgate" -H 'Authorization: Bearer bench-token' http://127.0.0.1:$GW/bench/scim/v2/Users
