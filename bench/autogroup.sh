#!/bin/bash
# autogroup.sh: what a session per worker is worth under the kernel's autogroup
# scheduling (kernel.sched_autogroup_enabled=1; issue #11). K CPU-bound workers,
# each a fixed amount of work, run while a CPU hog (one busy loop per CPU) runs
# in a session of its own, twice:
#   one_session:  the K workers in one session (as tplaunch started them before
#                 issue #11: all in tplaunch's session, one CPU share among them);
#   session_each: under tplaunch, which now gives every worker its own session.
# With autogroup on, the scheduler shares CPU between sessions first, so the
# first mode gets one share against the hog's and the second K shares. Prints
# one JSON object; nothing fails on a slow machine.
#
#   bench/autogroup.sh [--tplaunch PATH] [--workers K] [--work N]
#
# PATH defaults to bazel-bin/launcher/tplaunch; N is the awk loop count of one
# worker (default 20000000, about 1 s of one CPU here).
set -euo pipefail

tplaunch=bazel-bin/launcher/tplaunch
workers=4
work=20000000
while [ $# -gt 0 ]; do
  case "$1" in
    --tplaunch) tplaunch="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "usage: $0 [--tplaunch PATH] [--workers K] [--work N]" >&2; exit 2 ;;
  esac
done
[ -x "$tplaunch" ] || { echo "$0: $tplaunch is not executable (bazel build //launcher:tplaunch)" >&2; exit 2; }

cpus=$(nproc)
autogroup=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo unknown)
prog="BEGIN { for (i = 0; i < $work; i++) s += i }"

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# The hog: a busy loop per CPU, all in one session of their own.
setsid sh -c "for i in \$(seq $cpus); do (while :; do :; done) & done; wait" &
hog=$!
trap 'kill -KILL -- -$hog 2>/dev/null || true' EXIT
sleep 0.5  # Let the hog reach the CPUs (timing set-up, not synchronisation).

t0=$(now)
setsid sh -c "for i in \$(seq $workers); do awk '$prog' & done; wait"
t1=$(now)
setsid "$tplaunch" --nproc "$workers" --log-prefix '' /usr/bin/awk "$prog"
t2=$(now)

one=$(seconds "$t0" "$t1")
each=$(seconds "$t1" "$t2")
printf '{"cpus": %s, "sched_autogroup_enabled": "%s", "workers": %s, "work": %s, "one_session_s": %s, "session_each_s": %s, "speedup": %s}\n' \
  "$cpus" "$autogroup" "$workers" "$work" "$one" "$each" \
  "$(awk -v a="$one" -v b="$each" 'BEGIN { printf "%.2f", a / b }')"
