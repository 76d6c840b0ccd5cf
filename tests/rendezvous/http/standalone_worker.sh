#!/bin/sh
# A worker for standalone_view_e2e_test: says its pid (the shell is the worker
# process tplaunch started), then waits (at most 120 s) until $GATE_FILE
# exists and exits 0.
echo "rank $RANK pid $$ waits for the gate"
i=0
while [ ! -e "$GATE_FILE" ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e "$GATE_FILE" ]; then
  echo "rank $RANK: $GATE_FILE did not appear within 120 s" >&2
  exit 9
fi
