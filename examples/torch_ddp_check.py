#!/usr/bin/python3
"""An unmodified-PyTorch worker: the drop-in check for tplaunch (and torchrun).

Initializes torch.distributed with init_process_group("gloo") from the environment the
launcher gives (env://: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), then checks
all_reduce, broadcast, barrier and one DistributedDataParallel step. Exits non-zero with a
message on any mismatch.

    tplaunch --nproc 4 /usr/bin/python3 examples/torch_ddp_check.py
    tplaunch --nproc 4 /usr/bin/python3 examples/torch_ddp_check.py --fail-rank 2

--fail-rank R makes rank R raise after initialization, to exercise failure handling.
--steps N runs N DDP steps (default 1).
"""
import argparse
import datetime
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def check(cond, what):
    if not cond:
        raise AssertionError(f"rank {os.environ.get('RANK')}: {what}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-rank", type=int, default=-1)
    parser.add_argument("--steps", type=int, default=1)
    args = parser.parse_args()

    start = time.monotonic()
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    init_s = time.monotonic() - start
    rank, world = dist.get_rank(), dist.get_world_size()
    check(rank == int(os.environ["RANK"]), "get_rank() differs from RANK")
    check(world == int(os.environ["WORLD_SIZE"]), "get_world_size() differs from WORLD_SIZE")

    if rank == args.fail_rank:
        raise RuntimeError(f"injected failure on rank {rank}")

    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    check(t.item() == world * (world + 1) / 2, f"all_reduce sum is {t.item()}")
    first_allreduce_s = time.monotonic() - start

    b = torch.tensor([float(rank)]) if rank else torch.tensor([42.0])
    dist.broadcast(b, src=0)
    check(b.item() == 42.0, f"broadcast gave {b.item()}")
    dist.barrier()

    torch.manual_seed(0)  # Same initial weights everywhere; DDP also broadcasts them.
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(1000 + rank)  # Each rank its own data shard.
    for _ in range(args.steps):
        x, y = torch.randn(8, 4), torch.randn(8, 1)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    check(all(torch.equal(g, flat) for g in gathered), "DDP weights differ across ranks")

    dist.barrier()
    if rank == 0:
        print(f"torch_ddp_check: OK world_size={world} backend={dist.get_backend()} "
              f"init={init_s:.3f}s first_allreduce={first_allreduce_s:.3f}s", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
