#!/usr/bin/env bash
# The load benchmark, one command, loopback only, bounded in time:
#   benches/load/run.sh [seconds=10] [connections=32]      (SCIMGATE_BIN=path: another binary)
#   env: ROUNDS=n (interleaved rounds, median reported), CASES="list patch mix", WRK_THREADS=1,
#        SCIMGATE_THREADS=2, SCIMGATE_ARGS="..." (more serve flags), SKIP_MEMORY=1 (no 1,000-tenant
#        RSS run), HOLD=1 (start everything and wait, to profile by hand), PACE=ms (the paced
#        latency runs' pause between requests, default 2; 0 skips them)
# One canned SCIM upstream (nginx `return`ing SCIM JSON; list, user, create, patch), and the same
# wrk mix (benches/load/mix.lua: 40 % GET list, 30 % GET by id, 15 % POST user, 15 % PATCH) sent
# to: (1) the upstream directly, (2) nginx proxy_pass in front of it (as many workers as the
# gateway has threads), (3) scimgate with a passthrough tenant, (4) scimgate with a full
# Entra -> Webex policy (dialect, six maps, nulls, transform). Then RSS with 1,000 tenants.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10} CONN=${2:-32} THREADS=${SCIMGATE_THREADS:-2}
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# SCIMGATE_BIN=path runs another build (an earlier commit, to compare) instead of this tree's.
if [ -z "${SCIMGATE_BIN:-}" ]; then cargo build --release --bins --quiet; fi
BIN=${SCIMGATE_BIN:-$PWD/target/release/scimgate}
W=$(mktemp -d); chmod 755 "$W"
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
UP=18290 PROXY=18291 GW=18292 ADMIN=18293

# (1) the upstream: canned SCIM answers that name the upstream in meta.location.
python3 - "$W" "$UP" <<'PY'
import json, sys
w, port = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}/v2"
def user(i):
    uid = f"2819c223-7f76-453a-919d-41386190{i:04d}"
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:scim:schemas:extension:cisco:webexidentity:2.0:User"],
            "id": uid, "userName": f"user{i}@example.com", "name": {"givenName": "Test", "familyName": f"User{i}"}, "active": True,
            "emails": [{"type": "work", "value": f"user{i}@example.com", "primary": True}],
            "urn:scim:schemas:extension:cisco:webexidentity:2.0:User": {"extensionAttribute1": "Sales"},
            "meta": {"resourceType": "User", "version": "W/\"1\"", "location": f"{base}/Users/{uid}"}}
lst = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 10, "startIndex": 1, "itemsPerPage": 10,
       "Resources": [user(i) for i in range(10)]}
for name, doc in [("list.json", lst), ("user.json", user(0))]:
    open(f"{w}/{name}", "w").write(json.dumps(doc))
PY
cat > "$W/nginx.conf" <<NGINX
worker_processes $THREADS; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 4096; }
http {
  access_log off; default_type application/scim+json;
  upstream up { server 127.0.0.1:$UP; keepalive 128; }
  server {
    listen 127.0.0.1:$UP; root $W;
    # GET: the list; POST: 405 from the static module, turned into 201 + one user.
    location = /v2/Users { error_page 405 =201 /user.json; try_files /list.json =404; }
    location /v2/Users/ { if (\$request_method = PATCH) { return 204; } try_files /user.json =404; }
    location = /user.json { }
  }
  server { listen 127.0.0.1:$PROXY;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGINX
nginx -c "$W/nginx.conf"

# (3) and (4): one gateway, two tenants.
mkdir -p "$W/pol"
H=$(printf %s bench-token | "$BIN" hash-token)
cat > "$W/pol/pass.toml" <<TOML
tenant = "pass"
route = "/pass/scim/v2"
[auth]
bearer_sha256 = ["$H"]
[upstream]
url = "http://127.0.0.1:$UP/v2"
TOML
cat > "$W/pol/full.toml" <<TOML
tenant = "full"
route = "/full/scim/v2"
idp = "entra"
[auth]
bearer_sha256 = ["$H"]
[upstream]
url = "http://127.0.0.1:$UP/v2"
profile = "webex"
[nulls]
default = "clear"
empty_string_is_null = true
[[map]]
from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
to = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute1"
[[map]]
from = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
to = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute2"
[[map]]
from = 'phoneNumbers[type eq "mobile"].value'
to = 'phoneNumbers[type eq "work"].value'
[[map]]
from = "title"
to = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute3"
[[map]]
from = "nickName"
to = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute4"
[[map]]
from = "userType"
to = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User:extensionAttribute5"
[[transform]]
path = "emails.value"
fn = "lowercase"
TOML
# The gateway runs in a session of its own, as nginx does (it daemonizes) and as a service does
# under systemd (a cgroup of its own). With the kernel's autogroups (CONFIG_SCHED_AUTOGROUP, on
# by default in Debian's kernels) CPU is shared fairly between sessions first, then between the
# threads within one: started from this script's session, the gateway shared one share with
# wrk, the load generator, while nginx's proxy had one apart from it (benches/README.md,
# "Seventeenth round"). `setsid` execs in place here (no job control), so $! is the gateway.
RUST_LOG=warn setsid "$BIN" serve --policies "$W/pol" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN --threads "$THREADS" ${SCIMGATE_ARGS:-} 2>"$W/gw.log" &
echo $! > "$W/gw.pid"
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$ADMIN/readyz && break; sleep 0.1; done
for u in "http://127.0.0.1:$UP/v2/Users" "http://127.0.0.1:$PROXY/v2/Users" "http://127.0.0.1:$GW/pass/scim/v2/Users" "http://127.0.0.1:$GW/full/scim/v2/Users"; do
  curl -sf -o /dev/null -H 'Authorization: Bearer bench-token' "$u" || { echo "$u does not answer" >&2; cat "$W/gw.log" >&2; exit 1; }
done

# HOLD=1: keep the targets running for profiling by hand (perf, strace) instead of measuring.
if [ -n "${HOLD:-}" ]; then
  echo "upstream :$UP, nginx proxy :$PROXY, gateway :$GW (pid $(cat "$W/gw.pid"), /pass and /full), admin :$ADMIN; Ctrl-C ends"
  echo "e.g. wrk -t1 -c32 -d10s -s benches/load/mix.lua http://127.0.0.1:$GW -- /pass/scim/v2 bench-token list"
  sleep infinity
fi
# Each case is sent to the four targets in turn, ROUNDS times (interleaved, so a slow spell of
# the machine hits every target alike); the figures are the median round's.
WT=${WRK_THREADS:-1} ROUNDS=${ROUNDS:-1} CASES=${CASES:-list patch mix}
run() { # file url base mode conns
  wrk -t"$WT" -c"$5" -d"${DUR}s" --latency -s benches/load/mix.lua "$2" -- "$3" bench-token "$4" > "$W/$1.txt"
  awk -v n="$1" '/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} /Non-2xx/{bad=$5} END{printf "%-30s %10s req/s   p50 %-8s p99 %-8s non-2xx %s\n", n, r, p50, p99, (bad==""?0:bad)}' "$W/$1.txt"
}
targets() { # case tag: the case sent to the four targets in turn, files <case>.<target>.<tag>
  run "$1.direct.$2" "http://127.0.0.1:$UP" /v2 "$1" "$CONN"
  run "$1.nginx.$2" "http://127.0.0.1:$PROXY" /v2 "$1" "$CONN"
  run "$1.pass.$2" "http://127.0.0.1:$GW" /pass/scim/v2 "$1" "$CONN"
  run "$1.full.$2" "http://127.0.0.1:$GW" /full/scim/v2 "$1" "$CONN"
}
echo "wrk -t$WT -c$CONN -d${DUR}s, mix.lua; gateway and nginx proxy with $THREADS threads/workers; $(nproc) cores; $ROUNDS round(s)"
# Who shares CPU with whom: the autogroup of each, and whether autogroups are on (1) or off (0).
group() { cat /proc/"$1"/autogroup 2>/dev/null | cut -d' ' -f1 || true; }
echo "scheduling groups: wrk (this script) $(group $$), gateway $(group "$(cat "$W/gw.pid")"), nginx $(group "$(cat "$W/nginx.pid")") (autogroup $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a))"
for r in $(seq "$ROUNDS"); do
  for c in $CASES; do targets "$c" "$r"; done
done
# Latency below saturation: at -c32 a saturated closed loop's latency is its queue (Little's law:
# 32 requests in flight / the rate), so the slower target has the longer one whatever it adds.
# Paced, every connection waits PACE ms after each answer, which puts every target at about
# the same rate (~11-13k req/s here, a third of the gateway's): p99 is then what each adds.
PACE=${PACE:-2}
if [ "$PACE" != 0 ]; then
  for c in list patch; do PAUSE_MS=$PACE targets "$c" paced; done
fi
# Added latency without queueing: one connection, one request at a time, the mix.
run "lat.direct" "http://127.0.0.1:$UP" /v2 mix 1
run "lat.pass" "http://127.0.0.1:$GW" /pass/scim/v2 mix 1
run "lat.full" "http://127.0.0.1:$GW" /full/scim/v2 mix 1
echo "pool: 'failed to acquire reusable stream' lines in the gateway log: $(grep -c "failed to acquire reusable stream" "$W/gw.log" || true)"
# Upstream connections the gateway opened (a pool that discards healthy connections opens more).
echo "upstream connections opened by the gateway: $(curl -s http://127.0.0.1:$ADMIN/metrics | awk '/^scimgate_upstream_connections_opened_total/{n+=$2} END{print n+0}')"
python3 - "$W" "$ROUNDS" "$CASES" "$PACE" <<'PY'
import re, statistics, sys
w, rounds, cases, pace = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
def parse(name):
    t = open(f"{w}/{name}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    def ms(p):
        v = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", t)
        return float(v.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[v.group(2)]
    return rps, ms(50), ms(99)
def med(case, target):
    runs = [parse(f"{case}.{target}.{r}") for r in range(1, rounds + 1)]
    return tuple(statistics.median(x[i] for x in runs) for i in range(3))
for c in cases:
    d, n, p, f = (med(c, t) for t in ["direct", "nginx", "pass", "full"])
    print(f"[{c}] passthrough / nginx req/s:  {p[0]/n[0]:.2f}   full policy / passthrough: {f[0]/p[0]:.2f}")
    print(f"[{c}] p99 above the upstream's own: nginx {n[2]-d[2]:+.2f} ms, passthrough {p[2]-d[2]:+.2f} ms, full {f[2]-d[2]:+.2f} ms")
if pace != "0":
    for c in ["list", "patch"]:
        d, n, p, f = (parse(f"{c}.{t}.paced") for t in ["direct", "nginx", "pass", "full"])
        print(f"[{c}] paced ({pace} ms between requests; {d[0]/1000:.1f}k / {n[0]/1000:.1f}k / {p[0]/1000:.1f}k / {f[0]/1000:.1f}k req/s):"
              f" p99 above the upstream's own: nginx {n[2]-d[2]:+.2f} ms, passthrough {p[2]-d[2]:+.2f} ms, full {f[2]-d[2]:+.2f} ms")
ld, lp, lf = parse("lat.direct"), parse("lat.pass"), parse("lat.full")
print(f"added latency, one connection, passthrough: p50 {lp[1]-ld[1]:+.3f} ms, p99 {lp[2]-ld[2]:+.3f} ms")
print(f"added latency, one connection, full policy: p50 {lf[1]-ld[1]:+.3f} ms, p99 {lf[2]-ld[2]:+.3f} ms")
PY

# Memory: 1,000 tenants.
[ -n "${SKIP_MEMORY:-}" ] && exit 0
kill "$(cat "$W/gw.pid")"; sleep 0.5
mkdir -p "$W/many"
for i in $(seq 1 1000); do
  printf 'tenant = "t%s"\nroute = "/t%s/scim/v2"\nidp = "entra"\n[auth]\nbearer_sha256 = ["%s"]\n[upstream]\nurl = "http://127.0.0.1:%s/v2"\n[[map]]\nfrom = "title"\nto = "nickName"\n[limits]\nrequests_per_second = 25\n' "$i" "$i" "$H" "$UP" > "$W/many/t$i.toml"
done
RUST_LOG=warn setsid "$BIN" serve --policies "$W/many" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN --threads "$THREADS" 2>"$W/many.log" &
echo $! > "$W/gw.pid"
for _ in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:$ADMIN/readyz && break; sleep 0.1; done
for i in $(seq 1 1000 | shuf -n 200); do curl -s -o /dev/null -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$GW/t$i/scim/v2/Users"; done
echo "RSS with 1,000 tenants loaded (after 200 requests to random tenants): $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$(cat "$W/gw.pid")/status)"
