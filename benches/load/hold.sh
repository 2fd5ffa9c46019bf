# Sourced by benches that measure a gateway of their own against run.sh's targets
# (benches/instructions.sh, benches/load/alternate.sh); run from the repository's root.
# hold_start BIN LOG: starts run.sh with HOLD=1 and BIN as its gateway (its own session, so
# `kill -- -"$HOLD_PID"` ends it and what it started), waits for it, and sets HOLD_PID, HOLD_GW
# (the gateway's pid, port 18292) and HOLD_POL (its policies, for another gateway to serve).
hold_start() {
  setsid env SKIP_MEMORY=1 HOLD=1 SCIMGATE_BIN="$1" benches/load/run.sh > "$2" 2>&1 &
  HOLD_PID=$!
  for _ in $(seq 300); do grep -q "Ctrl-C ends" "$2" && break; sleep 0.2; done
  HOLD_GW=$(sed -n 's/.*gateway :18292 (pid \([0-9]*\),.*/\1/p' "$2")
  [ -n "$HOLD_GW" ] || { cat "$2" >&2; return 1; }
  HOLD_POL=$(tr '\0' '\n' < /proc/"$HOLD_GW"/cmdline | grep -A1 -- '^--policies$' | tail -1)
}
