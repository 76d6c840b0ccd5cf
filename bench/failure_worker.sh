#!/bin/sh
# Worker for bench/run's failure-detection benchmark. Records its pid under
# $BENCH_PID_DIR (named by rank), then: the rank in $BENCH_CRASH_RANK waits for
# every rank's pid file, writes the crash time (unix seconds) to
# $BENCH_CRASH_FILE and exits 1; every other rank sleeps until it is killed.
echo $$ > "$BENCH_PID_DIR/$RANK.tmp" && mv "$BENCH_PID_DIR/$RANK.tmp" "$BENCH_PID_DIR/$RANK"
if [ "$RANK" = "${BENCH_CRASH_RANK:--1}" ]; then
  while [ "$(ls "$BENCH_PID_DIR" | grep -cv tmp)" -lt "$WORLD_SIZE" ]; do sleep 0.01; done
  date +%s.%N > "$BENCH_CRASH_FILE"
  exit 1
fi
exec sleep 600
