#!/usr/bin/env bash
# Install what scimgate's tests and demo need on a fresh machine (idempotent):
#   - cmake (Pingora's zlib-ng builds with it), via apt when missing
#   - a Python venv in .venv/ with the real SCIM peers, pinned: scim2-server (the target the
#     tests run the gateway in front of) and the conformance testers scim2-tester and scim-sanity
#   - a debug build of scimgate
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SCIMGATE_VENV:-$PWD/.venv}

if ! command -v cmake >/dev/null 2>&1; then
  echo "setup: installing cmake" >&2
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq cmake >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import scim2_server, scim2_tester, scim_sanity' 2>/dev/null; then
  echo "setup: installing SCIM peers into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/conformance/requirements.txt
fi
cargo build --quiet --bins
echo "setup: ok (venv $VENV)" >&2
