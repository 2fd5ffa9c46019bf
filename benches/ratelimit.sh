#!/usr/bin/env bash
# Rate-limit load run (bounded, loopback): tenant A (25 req/s, burst 50) flooded at ~220 req/s
# for 10 s while tenant B (unlimited) sends 20 req/s; both in front of nginx serving a static
# ListResponse. Prints what got through.   benches/ratelimit.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
cargo build --release --bins --quiet
W=$(mktemp -d); chmod 755 "$W"; trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
UP=18190 GW=18192 ADMIN=18193
mkdir -p "$W/www/v2" "$W/pol"
echo '{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}' > "$W/www/v2/Users"
cat > "$W/nginx.conf" <<NGINX
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 1024; }
http { access_log off; default_type application/scim+json;
  server { listen 127.0.0.1:$UP; root $W/www; location / { try_files \$uri =404; } } }
NGINX
nginx -c "$W/nginx.conf"
hash() { printf %s "$1" | ./target/release/scimgate hash-token; }
for t in a b; do
  limits=""; [ $t = a ] && limits=$'[limits]\nrequests_per_second = 25\nburst = 50'
  printf 'tenant = "%s"\nroute = "/%s"\n[auth]\nbearer_sha256 = ["%s"]\n[upstream]\nurl = "http://127.0.0.1:%s/v2"\n%s\n' \
    "$t" "$t" "$(hash token-$t)" "$UP" "$limits" > "$W/pol/$t.toml"
done
RUST_LOG=warn ./target/release/scimgate serve --policies "$W/pol" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN 2>"$W/gw.log" &
echo $! > "$W/gw.pid"
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$ADMIN/readyz && break; sleep 0.1; done
python3 benches/ratelimit_load.py http://127.0.0.1:$GW/a token-a http://127.0.0.1:$GW/b token-b "$DUR"
curl -s http://127.0.0.1:$ADMIN/metrics | grep -E '^scimgate_(rate_limited_total|requests_total)'
