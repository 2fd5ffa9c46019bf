#!/usr/bin/env bash
# Install what scimgate's tests and demo need on a fresh machine (idempotent):
#   - from Debian's packages when missing: cmake (Pingora's zlib-ng builds with it), prometheus
#     (a test scrapes the gateway with it), openssl (tests make certificates), curl (the demo)
#   - a Python venv in .venv/ with the real SCIM peers, pinned: scim2-server (the target the
#     tests run the gateway in front of) and the conformance testers scim2-tester and scim-sanity
#   - a debug build of scimgate
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SCIMGATE_VENV:-$PWD/.venv}

need=()
for tool in cmake prometheus openssl curl; do
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
if ! "$VENV/bin/python" -c 'import scim2_server, scim2_tester, scim_sanity, yaml' 2>/dev/null; then
  echo "setup: installing SCIM peers into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/conformance/requirements.txt
fi
cargo build --quiet --bins
echo "setup: ok (venv $VENV)" >&2
