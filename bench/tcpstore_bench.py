#!/usr/bin/python3
"""PyTorch TCPStore latency, for comparison with store_bench (docs/benchmarks.md).

Starts a TCPStore server in a child process (bench/torch_store_server.py, as tprdzvd
runs in its own process in store_bench), then times set, get of an existing key, and
add from one client in this process, after a warm-up, and prints JSON with the same
fields as store_bench's "latency" section. The client is PyTorch's C++ TCPStore behind
its Python binding, so each call also pays a few microseconds of Python.

Usage: /usr/bin/python3 bench/tcpstore_bench.py [--ops 20000] [--warmup 2000] [--out F]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import timedelta

import torch
from torch.distributed import TCPStore

# Prints "torch store listening on 127.0.0.1:PORT", serves until its stdin closes.
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_store_server.py")


def summarize(us):
    us = sorted(us)
    at = lambda q: us[min(len(us) - 1, int(q * len(us)))]
    return {"p50_us": round(at(0.50), 1), "p90_us": round(at(0.90), 1),
            "p99_us": round(at(0.99), 1), "mean_us": round(sum(us) / len(us), 1),
            "max_us": round(us[-1], 1)}


def time_ops(warmup, ops, op):
    for i in range(warmup):
        op(i)
    us = []
    clock = time.perf_counter_ns
    for i in range(ops):
        start = clock()
        op(i)
        us.append((clock() - start) / 1000.0)
    return us


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--out")
    parser.add_argument("--port", type=int,
                        help="measure an already running server on 127.0.0.1:PORT "
                             "(PyTorch's or tprdzvd's listener) instead of starting one")
    args = parser.parse_args()

    server = None
    if args.port is None:
        server = subprocess.Popen([sys.executable, SERVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
    try:
        port = (args.port if server is None else
                int(server.stdout.readline().rsplit(":", 1)[-1]))
        store = TCPStore("127.0.0.1", port, 1, False, timedelta(seconds=60),
                         wait_for_workers=False)
        value = b"v" * 64
        store.set("existing", value)
        keys = ["k%d" % i for i in range(8)]
        result = {
            "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
            "store": ("PyTorch %s TCPStore (server in a child process)" % torch.__version__
                      if server is not None else "server on 127.0.0.1:%d" % port),
            "latency": {
                "client": "torch.distributed.TCPStore from Python, one client, sequential",
                "warmup": args.warmup, "ops": args.ops, "value_bytes": len(value),
                "set": summarize(time_ops(args.warmup, args.ops,
                                          lambda i: store.set(keys[i % 8], value))),
                # TCPStore's get is WAIT then GET: two round trips.
                "get_existing": summarize(time_ops(args.warmup, args.ops,
                                                   lambda i: store.get("existing"))),
                "add": summarize(time_ops(args.warmup, args.ops,
                                          lambda i: store.add("counter", 1))),
            },
        }
    finally:
        if server is not None:
            server.stdin.close()
            server.wait(timeout=30)
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
