#!/bin/bash
# bench/hand_launch.sh N PROGRAM [ARGS...]: the floor tplaunch's launch is measured
# against (bench section 1). Starts N copies of PROGRAM the way a launcher must at the
# least: each with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and
# MASTER_PORT in its environment, all running at once, then waits for every one and
# exits non-zero if any failed. No store, no output capture, no process tracking.
n=$1
shift
for ((r = 0; r < n; r++)); do
  RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n \
    MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 "$@" &
done
rc=0
for ((r = 0; r < n; r++)); do
  wait -n || rc=1
done
exit $rc
