#!/usr/bin/python3
"""PyTorch's own TCPStore server (Debian's 1.13) in a process of its own, for bench/run.

Prints "torch store listening on 127.0.0.1:PORT" (as tprdzvd and the test server do)
and serves until its stdin closes or it receives SIGTERM. The server is the C++
TCPStoreMasterDaemon thread inside this process; this process's own client connection
is idle.
"""
import signal
import sys
from datetime import timedelta

from torch.distributed import TCPStore

store = TCPStore("127.0.0.1", 0, 1, True, timedelta(seconds=300), wait_for_workers=False)
print("torch store listening on 127.0.0.1:%d" % store.port, flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.stdin.read()
