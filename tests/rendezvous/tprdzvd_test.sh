#!/bin/bash
# End-to-end checks of the tprdzvd binary: the `listening on` line, graceful exit on
# SIGTERM/SIGINT, exit code 2 on CLI mistakes, exit code 1 when the port is taken.
set -u

BIN="$1"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# Starts the daemon with the given flags as a coprocess and reads its first stdout line
# (blocking up to 10 s) into LINE; the daemon's pid lands in DAEMON_PID.
start_daemon() {
  coproc DAEMON { exec "$BIN" "$@" 2>"$TMP/stderr.log"; }
  DAEMON_PID=$DAEMON_PID
  LINE=""
  read -r -t 10 LINE <&"${DAEMON[0]}" || true
}

# Sends a signal and checks the exit status.
stop_daemon() {
  local signal="$1"
  kill "-$signal" "$DAEMON_PID"
  wait "$DAEMON_PID"
  local rc=$?
  [[ $rc -eq 0 ]] || fail "exit status $rc after SIG$signal (want 0); stderr: $(cat "$TMP/stderr.log")"
}

# 1. IPv4, port 0, SIGTERM.
start_daemon --port 0
if [[ "$LINE" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
  port="${BASH_REMATCH[1]}"
  # The printed port accepts connections.
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "cannot connect to the printed port $port"
  fi
  # 2. A second daemon on the same port fails with exit 1 and names the address.
  "$BIN" --port "$port" >"$TMP/second.out" 2>"$TMP/second.err"
  rc=$?
  [[ $rc -eq 1 ]] || fail "second daemon on a taken port exited $rc (want 1)"
  grep -q "127.0.0.1:$port" "$TMP/second.err" || fail "bind error does not name the address: $(cat "$TMP/second.err")"
  [[ ! -s "$TMP/second.out" ]] || fail "a daemon that did not bind printed to stdout: $(cat "$TMP/second.out")"
else
  fail "unexpected first line: '$LINE'"
fi
stop_daemon TERM

# 3. SIGINT is graceful too.
start_daemon --port 0 --log-level warn
[[ "$LINE" =~ ^listening\ on\ 127\.0\.0\.1:[0-9]+$ ]] || fail "unexpected first line: '$LINE'"
stop_daemon INT

# 4. IPv6 loopback, when the machine has it.
if grep -q '^00000000000000000000000000000001' /proc/net/if_inet6 2>/dev/null; then
  start_daemon --host ::1 --port 0
  [[ "$LINE" =~ ^listening\ on\ \[::1\]:[0-9]+$ ]] || fail "unexpected IPv6 line: '$LINE'"
  stop_daemon TERM
fi

# 5. CLI mistakes: usage on stderr, exit 2, nothing on stdout.
expect_usage_error() {
  "$BIN" "$@" >"$TMP/bad.out" 2>"$TMP/bad.err"
  local rc=$?
  [[ $rc -eq 2 ]] || fail "'$*' exited $rc (want 2)"
  grep -q "Usage" "$TMP/bad.err" || fail "'$*' printed no usage: $(cat "$TMP/bad.err")"
  [[ ! -s "$TMP/bad.out" ]] || fail "'$*' wrote to stdout"
}
expect_usage_error --no-such-flag
expect_usage_error --port 70000
expect_usage_error --port notanumber
expect_usage_error --job-idle-ttl soon
expect_usage_error --max-key-bytes 0
expect_usage_error --log-level loud
expect_usage_error --tls-cert "$TMP/missing.pem"
expect_usage_error --token-file "$TMP/missing-token"
: >"$TMP/empty-token"
expect_usage_error --token-file "$TMP/empty-token"

# 6. --version and --help succeed.
"$BIN" --version | grep -q "tprdzvd" || fail "--version"
"$BIN" --help >/dev/null || fail "--help exited non-zero"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all tprdzvd checks passed"
