#!/usr/bin/env bash
# Install what scimgate's tests and demo need on a fresh machine (idempotent):
#   - from Debian's packages when missing: cmake (Pingora's zlib-ng builds with it), prometheus
#     (a test scrapes the gateway with it), openssl (tests make certificates), curl (the demo),
#     redis-server (tests/store_redis.rs starts it on a free loopback port: the shared store),
#     chromium (tests/console.rs walks the console in it, headless)
#   - a Python venv in .venv/ with the real SCIM peers, pinned: scim2-server (the target the
#     tests run the gateway in front of), the conformance testers scim2-tester and scim-sanity,
#     and authlib, the OAuth 2.0 client that drives the gateway's token endpoint in the tests
#   - tests/oauth/node_modules: oidc-provider (npm), the target's token server in the tests
#   - tests/console/node_modules: playwright-core (npm), which drives that chromium (no browser
#     download)
#   - a debug build of scimgate
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SCIMGATE_VENV:-$PWD/.venv}

need=()
for tool in cmake prometheus openssl curl redis-server chromium; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import scim2_server, scim2_tester, scim_sanity, yaml, authlib, requests' 2>/dev/null; then
  echo "setup: installing SCIM peers into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/conformance/requirements.txt
fi
# The SCIM target's token server in tests/oauth_upstream.rs: oidc-provider from npm, pinned by
# tests/oauth/package-lock.json (Node >= 18; Debian's nodejs + npm when node is missing).
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm" >&2
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -d tests/oauth/node_modules/oidc-provider ]; then
  echo "setup: installing the test token server (npm ci --prefix tests/oauth)" >&2
  npm ci --prefix tests/oauth --no-audit --no-fund --loglevel=error
fi
# The console's browser tests: playwright-core, pinned by tests/console/package-lock.json
# (Node >= 20), drives /usr/bin/chromium.
if [ ! -d tests/console/node_modules/playwright-core ]; then
  echo "setup: installing the console's browser driver (npm ci --prefix tests/console)" >&2
  npm ci --prefix tests/console --no-audit --no-fund --loglevel=error
fi
cargo build --quiet --bins
echo "setup: ok (venv $VENV)" >&2
