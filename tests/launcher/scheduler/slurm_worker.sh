#!/bin/sh
# A worker for slurm_e2e_test: prints its host and rank variables on one line;
# with FAIL_RANK, that rank fails and the others wait to be stopped; with
# READY_DIR, it says it is ready there and waits for SIGUSR1, or for SIGTERM,
# whose handler takes a second (a checkpoint) and then marks term.<rank> there.
echo "worker host=$(hostname) RANK=$RANK LOCAL_RANK=$LOCAL_RANK WORLD_SIZE=$WORLD_SIZE LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE GROUP_RANK=$GROUP_RANK MASTER_ADDR=$MASTER_ADDR"
if [ -n "$FAIL_RANK" ]; then
  if [ "$RANK" = "$FAIL_RANK" ]; then
    echo "rank $RANK fails on purpose" >&2
    exit 3
  fi
  sleep 300 &
  wait $!
fi
if [ -n "$READY_DIR" ]; then
  trap 'echo "rank $RANK got SIGUSR1"; exit 0' USR1
  trap 'sleep 1; touch "$READY_DIR/term.$RANK"; exit 0' TERM
  touch "$READY_DIR/ready.$RANK"
  sleep 300 &
  wait $!
  exit 1
fi
