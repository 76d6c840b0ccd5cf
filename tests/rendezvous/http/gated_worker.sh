#!/bin/sh
# A worker for live_view_browser_test: waits (at most 120 s) until $GATE_FILE
# exists; then rank $FAIL_RANK exits 7 and the others stay until stopped.
i=0
while [ ! -e "$GATE_FILE" ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e "$GATE_FILE" ]; then
  echo "rank $RANK: $GATE_FILE did not appear within 120 s" >&2
  exit 9
fi
if [ "$RANK" = "$FAIL_RANK" ]; then
  echo "rank $RANK: failing on purpose" >&2
  exit 7
fi
exec sleep 120
