#!/bin/sh
# A worker for live_view_browser_test: waits (at most 120 s) until $GATE_FILE
# exists; then rank $FAIL_RANK exits 7 and the others stay until stopped.
i=0
while [ ! -e "$GATE_FILE" ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
if [ "$RANK" = "$FAIL_RANK" ]; then
  echo "rank $RANK: failing on purpose" >&2
  exit 7
fi
i=0
while [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
