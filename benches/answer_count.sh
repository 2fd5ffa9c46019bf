#!/usr/bin/env bash
# Instructions one call of the answer mapping executes on the load benchmark's list
# (examples/answer_count.rs: mapping::partial::response, the full Entra -> Webex policy, the
# upstream's 10-user list), by callgrind: a run of 100+N calls less a run of 100, over N.
# A count, not a time: it holds on any machine, so it compares two commits on a slow day.
#   benches/answer_count.sh [N=1000]        (KEEP=dir: keep callgrind's output there)
#   STEP=mixed: the list with every other user given a title (no two in a row of one shape)
#   STEP=patch: Entra's 6-op PATCH on the same tenant (strict parse, translation, bytes up)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
cargo build --release --example answer_count --quiet
BIN=target/release/examples/answer_count
OUT=${KEEP:-$(mktemp -d)}
mkdir -p "$OUT"
STEP=${STEP:-answer}
count() { # calls -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$STEP.$1" "$BIN" "$1" "$STEP" 2>&1 |
    awk '/Collected :/{print $4}'
}
base=$(count 100)
full=$(count $((100 + N)))
case $STEP in
  patch) what="Entra's 6-op PATCH (parse, translate, bytes up)" ;;
  mixed) what="answer mapping of the load list, users of two shapes in turn" ;;
  *) what="answer mapping of the load list" ;;
esac
echo "$what: $(((full - base) / N)) instructions a call ($N calls)"
[ -n "${KEEP:-}" ] || rm -rf "$OUT"
