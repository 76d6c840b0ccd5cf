#!/usr/bin/python3
"""A worker for tests/launcher/torch_agent_store_test.cc: unmodified PyTorch under
`tplaunch --torch-store agent`.

Checks that the launcher asked for the agent store (TORCHELASTIC_USE_AGENT_STORE=True),
that init_process_group("gloo") over env:// works with it, and that no rank hosts the
store: nothing in this process listens on MASTER_PORT, while something else does (the
launcher's or tprdzvd's TCPStore listener). Prints one line per rank:

    agent_store_check: rank R ok master=ADDR:PORT attempt=N

--fail-rank R --fail-attempt N makes rank R exit 3 after initialization in attempt N.
"""
import argparse
import datetime
import os
import sys

import torch
import torch.distributed as dist


def fail(what):
    print(f"agent_store_check: rank {os.environ.get('RANK')}: {what}", file=sys.stderr,
          flush=True)
    sys.exit(1)


def listening_inodes(port):
    """Socket inodes in LISTEN state on `port` (IPv4 and IPv6), system-wide."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except FileNotFoundError:
            pass
    return inodes


def my_socket_inodes():
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-rank", type=int, default=-1)
    parser.add_argument("--fail-attempt", type=int, default=0)
    args = parser.parse_args()

    env = os.environ
    if env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        fail(f"TORCHELASTIC_USE_AGENT_STORE={env.get('TORCHELASTIC_USE_AGENT_STORE')!r}")
    port = int(env["MASTER_PORT"])
    attempt = int(env["TORCHELASTIC_RESTART_COUNT"])

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank == args.fail_rank and attempt == args.fail_attempt:
        print(f"agent_store_check: rank {rank} failing in attempt {attempt} on purpose",
              flush=True)
        os._exit(3)

    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    if t.item() != world * (world + 1) / 2:
        fail(f"all_reduce sum is {t.item()}")

    listeners = listening_inodes(port)
    if not listeners:
        fail(f"nothing listens on MASTER_PORT {port}")
    if listeners & my_socket_inodes():
        fail(f"this rank listens on MASTER_PORT {port}: it hosts a store")

    dist.barrier()
    print(f"agent_store_check: rank {rank} ok master={env['MASTER_ADDR']}:{port} "
          f"attempt={attempt}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
