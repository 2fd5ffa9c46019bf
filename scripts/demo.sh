#!/usr/bin/env bash
# Run scimgate with the example policies in front of a real scim2-server on this machine, send
# Entra's own shapes through the Entra tenant (policies/contoso-entra-local.toml), print what
# Entra sent beside what scim2-server stored, point at the console, and keep serving until Ctrl-C.
#   ./scripts/demo.sh          # serve until Ctrl-C
#   ./scripts/demo.sh --once   # show the exchanges, then stop
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
RUN=$PWD/.run; mkdir -p "$RUN"
PORT=${SCIMGATE_PORT:-8080} ADMIN=${SCIMGATE_ADMIN:-9090}

# The example Entra->Webex and Okta->Zoom tenants need their upstream secrets at start;
# these placeholders let them load (their real targets are not reachable from here).
export ACME_WEBEX_TOKEN=${ACME_WEBEX_TOKEN:-placeholder-webex-token}
export GLOBEX_ZOOM_SECRET=${GLOBEX_ZOOM_SECRET:-placeholder-zoom-client-secret}

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

# What Entra sent beside what scim2-server stored (two JSON texts as arguments).
side_by_side() {
  python3 - "$1" "$2" <<'PY'
import json, sys
left = json.dumps(json.loads(sys.argv[1]), indent=1, ensure_ascii=False).splitlines()
right = json.dumps(json.loads(sys.argv[2]), indent=1, ensure_ascii=False).splitlines()
width = min(max(len(l) for l in left), 84)
print(f"{'what Entra sent':<{width}} | what scim2-server stored")
print("-" * width + "-+-" + "-" * 60)
for i in range(max(len(left), len(right))):
    l = left[i] if i < len(left) else ""
    r = right[i] if i < len(right) else ""
    print(f"{l:<{width}} | {r}")
PY
}

TENANT="http://127.0.0.1:$PORT/contoso/scim/v2"
TOKEN=demo-entra-token
ENT=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User
STORE=http://127.0.0.1:8081/v2
echo "scim2-server: $STORE   scimgate: $TENANT (policies/contoso-entra-local.toml: idp = \"entra\")"
echo

CREATE='{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "'$ENT'"],
 "externalId": "bjensen", "userName": "BJensen@Contoso.com", "active": "True",
 "name": {"givenName": "Babs", "familyName": "Jensen"}, "title": "Tour Guide",
 "emails": [{"primary": "True", "type": "work", "value": "BJensen@Contoso.com"}],
 "'$ENT'": {"department": "Tour Operations"}}'
echo "1. Entra creates a user: POST $TENANT/Users (string booleans, department, mixed-case email)"
ID=$(curl -sS -X POST "$TENANT/Users" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/scim+json' -d "$CREATE" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
side_by_side "$CREATE" "$(curl -sS "$STORE/Users/$ID")"
echo

PATCH='{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
 "Operations": [
  {"op": "Replace", "path": "active", "value": "False"},
  {"op": "Replace", "path": "'$ENT':department", "value": "Sales"},
  {"op": "Replace", "value": {"name.givenName": "Barbara"}},
  {"op": "Replace", "path": "title", "value": ""}]}'
echo "2. Entra updates it: PATCH $TENANT/Users/$ID (\"Replace\", \"False\", a dotted key, \"\" to clear the title)"
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH "$TENANT/Users/$ID" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/scim+json' -d "$PATCH")
echo "   the gateway answered $STATUS"
side_by_side "$PATCH" "$(curl -sS "$STORE/Users/$ID")"
echo
echo "3. What Entra reads back through the gateway: its own names (department, not division)"
curl -sS "$TENANT/Users/$ID" -H "Authorization: Bearer $TOKEN" \
  | python3 -c 'import json, sys; u = json.load(sys.stdin); print("  ", json.dumps(u.get("'$ENT'")), "active:", json.dumps(u.get("active")))'
echo
echo "4. No token: $(curl -sS -o /dev/null -w '%{http_code}' "$TENANT/Users")"
echo
echo "The console: http://127.0.0.1:$ADMIN/  (tenants, both legs of each exchange, the playground, a live tail)"
echo "             http://127.0.0.1:$ADMIN/tenants/contoso  shows the two exchanges above"
[ "${1:-}" = "--once" ] && exit 0
echo; echo "serving; logs in $RUN; Ctrl-C stops"
wait
