#!/bin/sh
# A worker that checks the environment tplaunch gives it (torchrun's variables plus
# TPLAUNCH_*), prints one summary line, and exits non-zero naming what is wrong.
#   tplaunch --nproc 4 examples/check_env.sh
fail() { echo "check_env: rank ${RANK:-?}: $*" >&2; exit 1; }
for v in RANK LOCAL_RANK GROUP_RANK ROLE_RANK ROLE_NAME LOCAL_WORLD_SIZE WORLD_SIZE \
         GROUP_WORLD_SIZE ROLE_WORLD_SIZE MASTER_ADDR MASTER_PORT \
         TORCHELASTIC_RESTART_COUNT TORCHELASTIC_MAX_RESTARTS TORCHELASTIC_RUN_ID \
         TORCH_NCCL_ASYNC_ERROR_HANDLING TPLAUNCH_RDZV_ENDPOINT TPLAUNCH_RUN_ID \
         TPLAUNCH_ATTEMPT TPLAUNCH_LOCAL_ADDR; do
  eval "val=\${$v+set}"
  [ "$val" = set ] || fail "$v is not set"
done
isnum() { case "$1" in ''|*[!0-9]*) return 1;; esac; return 0; }
for v in RANK LOCAL_RANK GROUP_RANK LOCAL_WORLD_SIZE WORLD_SIZE GROUP_WORLD_SIZE MASTER_PORT; do
  eval "val=\$$v"
  isnum "$val" || fail "$v='$val' is not a number"
done
[ "$RANK" -lt "$WORLD_SIZE" ] || fail "RANK=$RANK >= WORLD_SIZE=$WORLD_SIZE"
[ "$LOCAL_RANK" -lt "$LOCAL_WORLD_SIZE" ] || fail "LOCAL_RANK=$LOCAL_RANK >= LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE"
[ "$ROLE_RANK" = "$RANK" ] || fail "ROLE_RANK=$ROLE_RANK != RANK=$RANK"
[ "$ROLE_WORLD_SIZE" = "$WORLD_SIZE" ] || fail "ROLE_WORLD_SIZE != WORLD_SIZE"
[ "$MASTER_PORT" -ge 1 ] && [ "$MASTER_PORT" -le 65535 ] || fail "MASTER_PORT=$MASTER_PORT out of range"
[ "$TORCHELASTIC_RUN_ID" = "$TPLAUNCH_RUN_ID" ] || fail "run ids differ"
[ "$TORCHELASTIC_RESTART_COUNT" = "$TPLAUNCH_ATTEMPT" ] || fail "restart count != attempt"
[ "$TPLAUNCH_LOCAL_ADDR" != "127.0.1.1" ] || fail "TPLAUNCH_LOCAL_ADDR is 127.0.1.1"
if [ "$LOCAL_WORLD_SIZE" -gt 1 ] && [ -z "$OMP_NUM_THREADS" ]; then
  fail "OMP_NUM_THREADS is not set with LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE"
fi
echo "check_env ok: rank=$RANK local_rank=$LOCAL_RANK world_size=$WORLD_SIZE node=$GROUP_RANK/$GROUP_WORLD_SIZE master=$MASTER_ADDR:$MASTER_PORT attempt=$TPLAUNCH_ATTEMPT"
