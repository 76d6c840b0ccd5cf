#!/bin/bash
# End-to-end checks of the tprdzvd binary: the `listening on` line, graceful exit on
# SIGTERM/SIGINT, exit code 2 on CLI mistakes, exit code 1 when the port is taken; with
# --torch-store-port, the second line, a raw TCPStore client released by SIGTERM, and the
# real PyTorch client sharing keys with tprdzvctl (skipped without /usr/bin/python3 torch).
set -u

BIN="$1"
CTL="${2:-}"
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

expect_usage_error --torch-store-port 70000
expect_usage_error --torch-store-port -1
expect_usage_error --torch-store-port abc
expect_usage_error --torch-store-port 0 --torch-store-job ""

# 6. --torch-store-port 0: both lines, in order, then a second line for the listener.
start_daemon --port 0 --torch-store-port 0
TLINE=""
read -r -t 10 TLINE <&"${DAEMON[0]}" || true
# grpc_port is saved before the second match overwrites BASH_REMATCH.
if [[ "$LINE" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] &&
  grpc_port="${BASH_REMATCH[1]}" &&
  [[ "$TLINE" =~ ^torch\ store\ listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
  tport="${BASH_REMATCH[1]}"
  # A raw PyTorch 1.x client parked in WAIT(["/never"]): type 5, u64 count 1, u64 length 6.
  exec 3<>"/dev/tcp/127.0.0.1/$tport"
  printf '\x05\x01\x00\x00\x00\x00\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00/never' >&3
  read -r -t 0.3 -N 1 byte <&3
  rc=$?
  [[ $rc -gt 128 ]] || fail "the WAIT on a missing key did not park (read status $rc)"

  # 7. The real PyTorch client and tprdzvctl share keys: TCPStore "foo" is gRPC "/foo".
  if [[ -z "$CTL" ]]; then
    fail "no tprdzvctl path given"
  elif ! /usr/bin/python3 -c 'import torch.distributed' 2>/dev/null; then
    echo "SKIP: PyTorch client check (/usr/bin/python3 cannot import torch.distributed)"
  else
    ctl() { "$CTL" --endpoint "127.0.0.1:$grpc_port" --job torch --timeout 10s "$@"; }
    ctl set /from_ctl hello || fail "tprdzvctl set"
    cat >"$TMP/client.py" <<'PY'
import datetime, sys
import torch.distributed as dist
store = dist.TCPStore("127.0.0.1", int(sys.argv[1]), is_master=False,
                      timeout=datetime.timedelta(seconds=10))
store.set("foo", "bar")
print(store.get("from_ctl").decode(), flush=True)
print(store.get("later").decode(), flush=True)  # Blocks until tprdzvctl sets /later.
PY
    /usr/bin/python3 "$TMP/client.py" "$tport" >"$TMP/client.out" 2>"$TMP/client.err" &
    client_pid=$!
    got="$(ctl get /foo)" || fail "tprdzvctl get /foo"
    [[ "$got" == "bar" ]] || fail "gRPC /foo is '$got' (want bar)"
    ctl set /later released || fail "tprdzvctl set /later"
    wait "$client_pid" || fail "PyTorch client failed: $(cat "$TMP/client.err")"
    [[ "$(cat "$TMP/client.out")" == $'hello\nreleased' ]] ||
      fail "PyTorch client read '$(cat "$TMP/client.out")' (want hello, released)"
  fi

  # 8. SIGTERM ends the parked WAIT's connection at once and the daemon exits 0.
  start_ns=$(date +%s%N)
  stop_daemon TERM
  elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
  read -r -t 5 -N 1 byte <&3
  rc=$?
  [[ $rc -eq 1 ]] || fail "the parked TCPStore client was not closed (read status $rc)"
  [[ $elapsed_ms -lt 1900 ]] || fail "shutdown with a parked TCPStore WAIT took ${elapsed_ms} ms"
  exec 3<&-
else
  fail "unexpected lines: '$LINE' / '$TLINE'"
  stop_daemon TERM
fi

# 9. --version and --help succeed.
"$BIN" --version | grep -q "tprdzvd" || fail "--version"
"$BIN" --help >/dev/null || fail "--help exited non-zero"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all tprdzvd checks passed"
