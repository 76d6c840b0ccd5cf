#!/usr/bin/python3
"""An unmodified-PyTorch worker: the drop-in check for tplaunch (and torchrun).

Checks torchrun's worker environment as PyTorch itself reads it, initializes
torch.distributed with init_process_group("gloo") from that environment (env://: RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT), checks that every rank's view of the job agrees
(all_gather_object), then all_reduce, broadcast, barrier and DistributedDataParallel
steps. Any mismatch raises, naming the rank and what differs; rank 0 prints one
"torch_ddp_check: OK ..." line on success.

    tplaunch --nproc 4 /usr/bin/python3 examples/torch_ddp_check.py
    tplaunch --nproc 4 /usr/bin/python3 examples/torch_ddp_check.py --fail-rank 2

--fail-rank R   rank R raises RuntimeError("injected failure on rank R") right after
                initialization, while the others are blocked in all_reduce.
--steps N       DDP steps (default 1).
--agent-store   expect TORCHELASTIC_USE_AGENT_STORE=True (the launcher hosts the
                TCPStore); by default expect PyTorch to start it on rank 0.

main() is wrapped in torch.distributed.elastic's @record, as torchrun recommends: an
uncaught exception is written to TORCHELASTIC_ERROR_FILE for the launcher's root cause.
"""
import argparse
import datetime
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel

# torchrun's worker contract (torch/distributed/elastic/agent/server/
# local_elastic_agent.py), plus the error file it always sets.
REQUIRED_ENV = (
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK",
    "GROUP_WORLD_SIZE", "ROLE_RANK", "ROLE_NAME", "ROLE_WORLD_SIZE", "MASTER_ADDR",
    "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS",
    "TORCHELASTIC_RUN_ID", "TORCHELASTIC_ERROR_FILE",
)
INT_ENV = (
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK",
    "GROUP_WORLD_SIZE", "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_PORT",
    "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS",
)


def check(cond, what):
    if not cond:
        raise AssertionError(f"rank {os.environ.get('RANK', '?')}: {what}")


def check_local_env(expect_agent_store):
    """This process's environment, as torchrun defines it and PyTorch reads it."""
    env = os.environ
    missing = [v for v in REQUIRED_ENV if v not in env]
    check(not missing, f"not set: {' '.join(missing)}")
    for v in INT_ENV:
        check(env[v].isdigit(), f"{v}={env[v]!r} is not a non-negative integer")
    e = {v: int(env[v]) for v in INT_ENV}
    check(e["RANK"] < e["WORLD_SIZE"], f"RANK={e['RANK']} >= WORLD_SIZE={e['WORLD_SIZE']}")
    check(e["LOCAL_RANK"] < e["LOCAL_WORLD_SIZE"],
          f"LOCAL_RANK={e['LOCAL_RANK']} >= LOCAL_WORLD_SIZE={e['LOCAL_WORLD_SIZE']}")
    check(e["GROUP_RANK"] < e["GROUP_WORLD_SIZE"],
          f"GROUP_RANK={e['GROUP_RANK']} >= GROUP_WORLD_SIZE={e['GROUP_WORLD_SIZE']}")
    check(e["ROLE_RANK"] == e["RANK"], f"ROLE_RANK={e['ROLE_RANK']} != RANK={e['RANK']}")
    check(e["ROLE_WORLD_SIZE"] == e["WORLD_SIZE"],
          f"ROLE_WORLD_SIZE={e['ROLE_WORLD_SIZE']} != WORLD_SIZE={e['WORLD_SIZE']}")
    check(0 < e["MASTER_PORT"] < 65536, f"MASTER_PORT={e['MASTER_PORT']} out of range")
    check(e["TORCHELASTIC_RESTART_COUNT"] <= e["TORCHELASTIC_MAX_RESTARTS"],
          "TORCHELASTIC_RESTART_COUNT > TORCHELASTIC_MAX_RESTARTS")
    # What PyTorch itself derives from the environment.
    check(dist.is_torchelastic_launched(), "dist.is_torchelastic_launched() is False")
    # The private helper PyTorch's env:// rendezvous uses (1.13 .. 2.x); the same test
    # spelled out where it is missing.
    rdzv_module = sys.modules["torch.distributed.rendezvous"]
    use_agent_store = getattr(rdzv_module, "_torchelastic_use_agent_store",
                              lambda: env.get("TORCHELASTIC_USE_AGENT_STORE") == "True")()
    check(use_agent_store == expect_agent_store,
          f"TORCHELASTIC_USE_AGENT_STORE={env.get('TORCHELASTIC_USE_AGENT_STORE')!r}: "
          f"PyTorch reads use_agent_store={use_agent_store}, expected {expect_agent_store}")
    if e["LOCAL_WORLD_SIZE"] > 1:
        check("OMP_NUM_THREADS" in env,
              f"OMP_NUM_THREADS not set with LOCAL_WORLD_SIZE={e['LOCAL_WORLD_SIZE']}")
    if "OMP_NUM_THREADS" in env:
        check(torch.get_num_threads() == int(env["OMP_NUM_THREADS"]),
              f"torch.get_num_threads()={torch.get_num_threads()} but "
              f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}")
    e.update({v: env[v] for v in ("MASTER_ADDR", "TORCHELASTIC_RUN_ID", "ROLE_NAME")})
    e["host"] = socket.gethostname()
    e["pid"] = os.getpid()
    return e


def check_job_env(views):
    """Every rank's environment, gathered: one consistent job."""
    world = len(views)
    check(sorted(v["RANK"] for v in views) == list(range(world)),
          f"RANKs are {sorted(v['RANK'] for v in views)}, not 0..{world - 1}")
    for key in ("WORLD_SIZE", "GROUP_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT",
                "TORCHELASTIC_MAX_RESTARTS", "ROLE_NAME"):
        values = {v[key] for v in views}
        check(len(values) == 1, f"ranks disagree on {key}: {sorted(map(str, values))}")
    nodes = {}
    for v in views:
        nodes.setdefault(v["GROUP_RANK"], []).append(v)
    num_nodes = views[0]["GROUP_WORLD_SIZE"]
    check(sorted(nodes) == list(range(num_nodes)),
          f"GROUP_RANKs are {sorted(nodes)}, GROUP_WORLD_SIZE={num_nodes}")
    offset = 0
    for g in sorted(nodes):
        members = nodes[g]
        lws = {v["LOCAL_WORLD_SIZE"] for v in members}
        check(lws == {len(members)},
              f"node {g}: {len(members)} workers but LOCAL_WORLD_SIZE {sorted(lws)}")
        check(len({v["host"] for v in members}) == 1,
              f"node {g}: workers on several hosts {sorted({v['host'] for v in members})}")
        for v in members:
            check(v["RANK"] == offset + v["LOCAL_RANK"],
                  f"rank {v['RANK']} on node {g}: RANK != {offset} (workers of lower "
                  f"nodes) + LOCAL_RANK {v['LOCAL_RANK']}")
        offset += len(members)
    return num_nodes


@record
def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-rank", type=int, default=-1)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--agent-store", action="store_true")
    args = parser.parse_args()

    local = check_local_env(args.agent_store)
    start = time.monotonic()
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    init_s = time.monotonic() - start
    rank, world = dist.get_rank(), dist.get_world_size()
    check(rank == local["RANK"], f"dist.get_rank()={rank} differs from RANK")
    check(world == local["WORLD_SIZE"], f"dist.get_world_size()={world} differs from WORLD_SIZE")

    if rank == args.fail_rank:
        raise RuntimeError(f"injected failure on rank {rank}")

    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    check(t.item() == world * (world + 1) / 2, f"all_reduce sum is {t.item()}")
    first_allreduce_s = time.monotonic() - start

    views = [None] * world
    dist.all_gather_object(views, local)
    num_nodes = check_job_env(views)

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
        print(f"torch_ddp_check: OK world_size={world} nodes={num_nodes} "
              f"backend={dist.get_backend()} master={local['MASTER_ADDR']}:"
              f"{local['MASTER_PORT']} run_id={local['TORCHELASTIC_RUN_ID']} "
              f"attempt={local['TORCHELASTIC_RESTART_COUNT']} "
              f"omp_threads={torch.get_num_threads()} "
              f"init={init_s:.3f}s first_allreduce={first_allreduce_s:.3f}s", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
