#!/usr/bin/env bash
# Run scimgate with the example policies in front of a real scim2-server on this machine,
# create a user through it, show what the IdP gets back, and keep serving until Ctrl-C.
#   ./scripts/demo.sh          # serve until Ctrl-C
#   ./scripts/demo.sh --once   # show the user, then stop
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
RUN=$PWD/.run; mkdir -p "$RUN"
PORT=${SCIMGATE_PORT:-8080} ADMIN=${SCIMGATE_ADMIN:-9090}

# The example Entra->Webex and Okta->Zoom tenants need their upstream secrets at start;
# these placeholders let them load (their real targets are not reachable from here).
export ACME_WEBEX_TOKEN=${ACME_WEBEX_TOKEN:-placeholder-webex-token}
export GLOBEX_ZOOM_TOKEN=${GLOBEX_ZOOM_TOKEN:-placeholder-zoom-token}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

.venv/bin/scim2-server --hostname 127.0.0.1 --port 8081 > "$RUN/scim2-server.log" 2>&1 &
pids+=($!)
./target/debug/scimgate serve --policies policies --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN" \
  2> "$RUN/scimgate.log" &
pids+=($!)
for _ in $(seq 200); do
  curl -sf -o /dev/null http://127.0.0.1:8081/v2/ServiceProviderConfig \
    && curl -sf -o /dev/null "http://127.0.0.1:$ADMIN/readyz" && break
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$ADMIN/readyz" || { cat "$RUN/scimgate.log" >&2; exit 1; }

TENANT="http://127.0.0.1:$PORT/local/scim/v2"
echo "scim2-server: http://127.0.0.1:8081/v2   scimgate: $TENANT   metrics: http://127.0.0.1:$ADMIN/metrics"
echo
echo "\$ curl -X POST $TENANT/Users -H 'Authorization: Bearer demo-token' ..."
curl -sS -i -X POST "$TENANT/Users" \
  -H 'Authorization: Bearer demo-token' -H 'Content-Type: application/scim+json' \
  -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com",
       "name":{"givenName":"Barbara","familyName":"Jensen"},"active":true}'
echo; echo
echo "\$ curl '$TENANT/Users?filter=userName eq \"bjensen@example.com\"' -H 'Authorization: Bearer demo-token'"
curl -sS -G "$TENANT/Users" -H 'Authorization: Bearer demo-token' \
  --data-urlencode 'filter=userName eq "bjensen@example.com"' | python3 -m json.tool
echo
echo "\$ curl $TENANT/Users   # no token"
curl -sS "$TENANT/Users"; echo
echo
curl -sS "http://127.0.0.1:$ADMIN/metrics" | grep '^scimgate_requests_total'
[ "${1:-}" = "--once" ] && exit 0
echo; echo "serving; logs in $RUN; Ctrl-C stops"
wait
