#!/usr/bin/env bash
# The soak run (a bench, not CI): the release gateway under a mixed load for MINUTES, watched for
# memory and descriptor growth and panics.
#   benches/soak/run.sh [MINUTES=10]        (SCIMGATE_BIN=path: another binary)
# scim2-server (the project's .venv, as scripts/demo.sh starts it) behind two tenants, `pass`
# (passthrough) and `entra` (Entra dialect, maps, nulls, set, transform); a third tenant, `bad`,
# in front of benches/soak/faulty_upstream.py, which hangs, trickles, resets, closes, sends
# garbage or 20 MiB on request. benches/soak/driver.py sends ~90 % good SCIM requests (user
# lifecycles: POST, GET by id, PATCH, GET filter, GET list, DELETE) and ~10 % faulty clients,
# checks every answer, samples the gateway's VmRSS and open fds every 10 s, stops, waits 30 s,
# samples again and prints the summary. Results: target/soak/<UTC time>/ (samples.csv,
# summary.txt, metrics.txt, gateway.log, policies/).
set -euo pipefail
cd "$(dirname "$0")/../.."
MINUTES=${1:-10} THREADS=${SCIMGATE_THREADS:-2}
SCIM=18390 BAD=18391 GW=18392 ADMIN=18393
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
[ -x .venv/bin/scim2-server ] || ./scripts/setup.sh
if [ -z "${SCIMGATE_BIN:-}" ]; then cargo build --release --bins --quiet; fi
BIN=${SCIMGATE_BIN:-$PWD/target/release/scimgate}
OUT=${SOAK_OUT:-$PWD/target/soak/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT

.venv/bin/scim2-server --hostname 127.0.0.1 --port $SCIM > "$OUT/scim2-server.log" 2>&1 &
echo $! > "$W/scim.pid"
python3 benches/soak/faulty_upstream.py $BAD > "$OUT/faulty-upstream.log" 2>&1 &
echo $! > "$W/bad.pid"

# The policies stay with the results (deleting them under a running gateway is a reload).
POL=$OUT/policies
mkdir -p "$POL"
TOKEN=soak-token
H=$(printf %s "$TOKEN" | "$BIN" hash-token)
cat > "$POL/pass.toml" <<TOML
tenant = "pass"
route = "/pass/scim/v2"
[auth]
bearer_sha256 = ["$H"]
[upstream]
url = "http://127.0.0.1:$SCIM/v2"
timeout_ms = 10000
# scim2-server (wsgiref) closes every connection and listens with a backlog of 5: under load
# the kernel drops SYNs (TcpExtListenOverflows) and the retries come 1 s and 3 s later.
connect_timeout_ms = 5000
[limits]
max_body_bytes = 1048576
TOML
# policies/acme-entra-webex.toml, aimed at scim2-server: the generic profile (scim2-server
# knows no Webex extension) and a map onto an enterprise attribute it stores.
cat > "$POL/entra.toml" <<TOML
tenant = "entra"
route = "/entra/scim/v2"
idp = "entra"
[auth]
bearer_sha256 = ["$H"]
[upstream]
url = "http://127.0.0.1:$SCIM/v2"
profile = "generic"
timeout_ms = 10000
connect_timeout_ms = 5000
[limits]
max_body_bytes = 1048576
[nulls]
default = "clear"
empty_string_is_null = true
[nulls.attributes]
"nickName" = "drop"
[[map]]
from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
to = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[drop]]
path = "x509Certificates"
[[set]]
path = "preferredLanguage"
value = "en_US"
only_if_absent = true
[[transform]]
path = "emails.value"
fn = "lowercase"
TOML
cat > "$POL/bad.toml" <<TOML
tenant = "bad"
route = "/bad/scim/v2"
[auth]
bearer_sha256 = ["$H"]
[upstream]
url = "http://127.0.0.1:$BAD/v2"
timeout_ms = 2000
connect_timeout_ms = 1000
max_response_bytes = 1048576
TOML

# Defaults for every edge limit (header 10 s, body 30 s, idle 60 s, 10000 connections); the
# access log is written, to /dev/null (a 10-minute file would be hundreds of MB).
RUST_LOG=warn "$BIN" serve --policies "$POL" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN \
  --threads "$THREADS" --access-log /dev/null 2> "$OUT/gateway.log" &
echo $! > "$W/gw.pid"
for _ in $(seq 300); do
  curl -sf -o /dev/null http://127.0.0.1:$SCIM/v2/ServiceProviderConfig \
    && curl -sf -o /dev/null http://127.0.0.1:$ADMIN/readyz \
    && curl -s -o /dev/null http://127.0.0.1:$BAD/ && break
  sleep 0.1
done
for path in pass/scim/v2/Users entra/scim/v2/Users bad/scim/v2/Users/ok; do
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$GW/$path" \
    || { echo "/$path does not answer 200" >&2; cat "$OUT/gateway.log" >&2; exit 1; }
done
echo "soak: $MINUTES min against $("$BIN" --version 2>/dev/null || echo "$BIN") (pid $(cat "$W/gw.pid")), $(nproc) cores; results in $OUT"
python3 benches/soak/driver.py --gateway 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN --pid "$(cat "$W/gw.pid")" \
  --log "$OUT/gateway.log" --token "$TOKEN" --minutes "$MINUTES" --out "$OUT"
