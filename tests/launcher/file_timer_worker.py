"""A worker for placement_e2e_test's file-timer cases.

Usage: file_timer_worker.py HANG_RANK
The rank HANG_RANK acquires scope 'hang_step' with a 0.5 s deadline and hangs;
every other rank acquires 'quick_step' with a 1 s deadline, releases it at once
and outlives the deadline (so a release that was not honoured would kill it),
then exits 0 unless told to wait (HANG_RANK >= 0: it waits to be stopped).
Uses torch's FileTimerClient when torch is importable, else writes the same
JSON lines (FileTimerRequest.to_json) into the FIFO itself.
"""
import json
import os
import signal
import sys
import time

path = os.environ["TORCHELASTIC_TIMER_FILE"]
rank = int(os.environ["RANK"])
hang_rank = int(sys.argv[1])

try:
    from torch.distributed.elastic.timer import FileTimerClient

    client = FileTimerClient(path, signal=signal.SIGKILL)
    acquire = client.acquire
    release = client.release
except ImportError:

    def send(scope, expiration, sig):
        line = json.dumps({"version": 1, "pid": os.getpid(), "scope_id": scope,
                           "expiration_time": expiration, "signal": sig})
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, (line + "\n").encode())
        os.close(fd)

    def acquire(scope, expiration):
        send(scope, expiration, int(signal.SIGKILL))

    def release(scope):
        send(scope, -1, 0)

if rank == hang_rank:
    acquire("hang_step", time.time() + 0.5)
    print("hanging", flush=True)
    time.sleep(120)
    sys.exit(3)

acquire("quick_step", time.time() + 1.0)
release("quick_step")
time.sleep(1.5)
print("released in time", flush=True)
if hang_rank >= 0:
    time.sleep(120)
