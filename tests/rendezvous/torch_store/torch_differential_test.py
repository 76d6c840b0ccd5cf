"""Differential test: the real PyTorch TCPStore client against PyTorch's own
server and against tplaunch's TCPStore listener; every operation must give the
same result (value, return or exception) on both.

usage: torch_differential_test.py PATH_TO_torch_store_test_server
Exits 0 when all results match, 1 on a difference, 0 with a SKIP line when
PyTorch is not importable (it is optional on CI machines).
"""

import datetime
import subprocess
import sys
import threading

try:
    import torch.distributed as dist
except ImportError as error:  # PyTorch is optional; say so loudly.
    print(f"SKIP: cannot import torch.distributed ({error})")
    sys.exit(0)

TIMEOUT = datetime.timedelta(seconds=20)


def client(port):
    return dist.TCPStore("127.0.0.1", port, is_master=False, timeout=TIMEOUT)


def outcome(fn):
    """The result of fn() or the exception it raised, as comparable text."""
    try:
        return ("ok", repr(fn()))
    except Exception as error:  # Compared, not hidden: part of the contract.
        return ("raised", type(error).__name__, str(error))


def scenario(port):
    """Runs the same operations against the store at `port`; returns results."""
    a = client(port)
    b = client(port)
    results = []

    def record(name, fn):
        results.append((name, outcome(fn)))

    record("set", lambda: a.set("key1", b"val1"))
    record("get", lambda: a.get("key1"))
    record("get from b", lambda: b.get("key1"))
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
    record("wait existing", lambda: a.wait(["key1"]))
    record("wait two existing", lambda: a.wait(["key1", "ctr"]))
    record("wait existing with timeout",
           lambda: a.wait(["key1"], datetime.timedelta(milliseconds=300)))
    record("num_keys", lambda: a.num_keys())
    record("delete_key existing", lambda: a.delete_key("key1"))
    record("delete_key missing", lambda: a.delete_key("missing"))
    record("num_keys after delete", lambda: b.num_keys())
    record("binary value", lambda: a.set("bin", bytes(range(256))))
    record("get binary", lambda: b.get("bin"))
    record("empty value", lambda: a.set("empty", b""))
    record("get empty", lambda: b.get("empty"))
    record("large value", lambda: a.set("large", b"L" * (1 << 20)))
    record("get large", lambda: len(b.get("large")))

    # A get that blocks until another client sets the key.
    def late_set():
        setter = client(port)
        setter.set("late", b"L8")

    timer = threading.Timer(0.3, late_set)
    timer.start()
    record("blocking get released by another client", lambda: a.get("late"))
    timer.join()

    # A wait that blocks until a key is added by another client.
    timer = threading.Timer(0.2, lambda: client(port).add("arrive", 1))
    timer.start()
    record("wait released by add", lambda: b.wait(["arrive", "late"]))
    timer.join()

    # Timeouts are client-side in 1.x; done last on its own client because
    # 1.x leaves the wait parked on the server.
    c = client(port)
    record("wait timeout",
           lambda: c.wait(["never"], datetime.timedelta(milliseconds=300)))
    record("num_keys at end", lambda: a.num_keys())
    return results


def run_against_pytorch():
    server = dist.TCPStore("127.0.0.1", 0, is_master=True,
                           wait_for_workers=False, timeout=TIMEOUT)
    try:
        return scenario(server.port)
    finally:
        del server


def run_against_tplaunch(binary):
    proc = subprocess.Popen([binary, "--port", "0", "--log-level", "warn"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        prefix = "torch store listening on "
        if not line.startswith(prefix):
            raise RuntimeError(f"unexpected first line from server: {line!r}")
        port = int(line[len(prefix):].strip().rsplit(":", 1)[1])
        return scenario(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def short(result):
    text = str(result)
    return text if len(text) <= 100 else text[:100] + "...)"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    expected = run_against_pytorch()
    actual = run_against_tplaunch(sys.argv[1])
    failures = 0
    for (name, want), (_, got) in zip(expected, actual):
        status = "same" if want == got else "DIFFERENT"
        if want != got:
            failures += 1
        print(f"{status:9} {name}: pytorch={short(want)} tplaunch={short(got)}")
    if len(expected) != len(actual):
        print(f"DIFFERENT number of results: {len(expected)} vs {len(actual)}")
        failures += 1
    print(f"{len(expected) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
