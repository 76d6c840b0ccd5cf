"""Differential test for PyTorch 2.x: the real TCPStore client of the PyTorch in
the Debian 13 root (scripts/torch2_root.sh) against PyTorch's own server and
against tprdzvd's TCPStore listener; every operation must give the same result
(value, return, or exception type and message) on both.

usage: tcpstore_differential.py TPRDZVD_TORCH_STORE_PORT

Both use_libuv settings: where this PyTorch build has libuv, the whole scenario
runs with use_libuv=False and with use_libuv=True clients (and PyTorch's server
of the same kind); where it has none (Debian's), use_libuv=True must fail the
same way against both servers (PyTorch raises before it connects). Prints one
line per operation and a final "N passed, N failed"; exits 1 on a difference.
"""

import datetime
import sys
import threading

import torch
import torch.distributed as dist

TIMEOUT = datetime.timedelta(seconds=20)
SHORT = datetime.timedelta(milliseconds=300)


def client(port, use_libuv):
    return dist.TCPStore("127.0.0.1", port, is_master=False, timeout=TIMEOUT,
                         use_libuv=use_libuv)


def outcome(fn):
    """The result of fn() or the exception it raised, as comparable text."""
    try:
        return ("ok", repr(fn()))
    except Exception as error:  # Compared, not hidden: part of the contract.
        return ("raised", type(error).__name__, str(error))


def scenario(port, use_libuv):
    """Runs the same operations against the store at `port`; returns results."""
    a = client(port, use_libuv)
    b = client(port, use_libuv)
    results = []

    def record(name, fn):
        results.append((name, outcome(fn)))

    # TCPStore's set, append and multi_set send no reply: another connection's
    # read may reach the server first. A round trip on the writer's connection
    # (num_keys) returns only once the server has taken the write before it.
    def settled(writer, write):
        result = write()
        writer.num_keys()
        return result

    record("set", lambda: a.set("key1", b"val1"))
    record("set str value", lambda: a.set("strval", "text"))
    record("get", lambda: a.get("key1"))
    record("get from b", lambda: b.get("key1"))
    record("get str value", lambda: b.get("strval"))
    record("add 5", lambda: a.add("ctr", 5))
    record("add -2", lambda: a.add("ctr", -2))
    record("add 0", lambda: b.add("ctr", 0))
    record("get counter (ASCII decimal)", lambda: a.get("ctr"))
    record("add big", lambda: a.add("big", 2**62))
    record("get big", lambda: a.get("big"))
    record("compare_set hit", lambda: a.compare_set("key1", b"val1", b"val2"))
    record("compare_set miss", lambda: a.compare_set("key1", b"nope", b"val3"))
    record("get after miss", lambda: a.get("key1"))
    record("compare_set missing, empty expected",
           lambda: a.compare_set("newkey", b"", b"fresh"))
    record("get newkey", lambda: a.get("newkey"))
    record("compare_set missing, non-empty expected",
           lambda: a.compare_set("nokey2", b"x", b"y"))
    record("check existing", lambda: a.check(["key1"]))
    record("check existing and missing", lambda: a.check(["key1", "absent"]))
    record("check missing", lambda: b.check(["absent"]))
    record("wait existing", lambda: a.wait(["key1"]))
    record("wait two existing", lambda: a.wait(["key1", "ctr"]))
    record("wait existing with timeout", lambda: a.wait(["key1"], SHORT))
    record("append to missing key", lambda: settled(a, lambda: a.append("log", b"one")))
    record("append to existing key", lambda: settled(b, lambda: b.append("log", b",two")))
    record("get appended", lambda: a.get("log"))
    record("multi_set",
           lambda: settled(a, lambda: a.multi_set(["m1", "m2", "m3"], [b"x", b"", b"z" * 100])))
    record("multi_get", lambda: b.multi_get(["m1", "m2", "m3", "key1"]))
    record("multi_get empty list", lambda: b.multi_get([]))
    record("multi_set overwrites", lambda: settled(b, lambda: b.multi_set(["m1"], [b"X"])))
    record("get after multi_set", lambda: a.get("m1"))
    record("has_extended_api", lambda: a.has_extended_api())
    record("libuvBackend (client)", lambda: a.libuvBackend)
    record("num_keys", lambda: a.num_keys())
    record("delete_key existing", lambda: a.delete_key("key1"))
    record("delete_key missing", lambda: a.delete_key("missing"))
    record("check deleted", lambda: a.check(["key1"]))
    record("num_keys after delete", lambda: b.num_keys())
    record("binary value", lambda: a.set("bin", bytes(range(256))))
    record("get binary", lambda: b.get("bin"))
    record("empty value", lambda: a.set("empty", b""))
    record("get empty", lambda: b.get("empty"))
    record("large value", lambda: a.set("large", b"L" * (1 << 20)))
    record("get large", lambda: len(b.get("large")))
    record("long key", lambda: a.set("k" * 4000, b"v"))
    record("get long key", lambda: b.get("k" * 4000))
    for op in ("queue_push", "queue_pop", "queue_len"):  # newer than 2.6
        record("has " + op, lambda op=op: hasattr(a, op))

    # A get that blocks until another client sets the key.
    def late_set():
        client(port, use_libuv).set("late", b"L8")

    timer = threading.Timer(0.3, late_set)
    timer.start()
    record("blocking get released by another client", lambda: a.get("late"))
    timer.join()

    # A wait that blocks until a key is added by another client.
    timer = threading.Timer(0.2, lambda: client(port, use_libuv).add("arrive", 1))
    timer.start()
    record("wait released by add", lambda: b.wait(["arrive", "late"]))
    timer.join()

    # Timeouts, each on a client of its own (a timed-out wait may stay parked on
    # the server).
    c = client(port, use_libuv)
    record("wait timeout", lambda: c.wait(["never"], SHORT))
    d = client(port, use_libuv)
    d.set_timeout(SHORT)
    record("get timeout after set_timeout", lambda: d.get("never2"))
    e = client(port, use_libuv)
    record("multi_get of a missing key, timeout",
           lambda: (e.set_timeout(SHORT), e.multi_get(["m1", "never3"]))[1])
    record("num_keys at end", lambda: a.num_keys())
    return results


def pytorch_server(use_libuv):
    return dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                         timeout=TIMEOUT, use_libuv=use_libuv)


def has_libuv():
    try:
        del_me = pytorch_server(True)
        del del_me
        return True
    except RuntimeError:
        return False


def libuv_failure(port):
    """A use_libuv=True client where the build has no libuv."""
    return [("use_libuv=True client", outcome(lambda: client(port, True)))]


def short(result):
    text = str(result)
    return text if len(text) <= 110 else text[:110] + "...)"


def compare(label, expected, actual):
    failures = 0
    for (name, want), (_, got) in zip(expected, actual):
        same = want == got
        failures += not same
        print(f"{'same' if same else 'DIFFERENT':9} [{label}] {name}: "
              f"pytorch={short(want)} tprdzvd={short(got)}")
    if len(expected) != len(actual):
        print(f"DIFFERENT [{label}] number of results: {len(expected)} vs {len(actual)}")
        failures += 1
    return len(expected), failures


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    listener_port = int(sys.argv[1])
    print(f"torch {torch.__version__}; libuv in this build: {has_libuv()}")
    total, failures = 0, 0
    settings = [False, True] if has_libuv() else [False]
    for use_libuv in settings:
        server = pytorch_server(use_libuv)
        try:
            expected = scenario(server.port, use_libuv)
            if not has_libuv():
                expected += libuv_failure(server.port)
        finally:
            del server
        actual = scenario(listener_port, use_libuv)
        if not has_libuv():
            actual += libuv_failure(listener_port)
        n, f = compare(f"use_libuv={use_libuv}", expected, actual)
        total, failures = total + n, failures + f
    if not has_libuv():
        # PyTorch's own server refuses use_libuv=True the same way.
        n, f = compare("use_libuv=True server",
                       [("use_libuv=True server", outcome(lambda: pytorch_server(True)))],
                       libuv_failure(listener_port))
        total, failures = total + n, failures + f
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
