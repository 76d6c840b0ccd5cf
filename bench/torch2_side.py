"""bench/run's section `torch2` (issue #11): tplaunch against torchrun 2.x.

Debian 12's own PyTorch is 1.13; its 2.x lives in the Debian 13 root that
scripts/torch2_root.sh builds (cached outside the clone). torchrun 2.x runs inside
that root; tplaunch runs on the host and starts each PyTorch worker through the
root's python3 (the wrapper `torch2_root.sh wrapper` writes). Both sides pay the
root's entry (a private mount namespace and a chroot, `root_entry_ms` below):
torchrun once per launch, tplaunch once per worker. That cost is measured in the
same run and reported beside the ratios, never subtracted.

Measured, each the median of cfg["reps"] runs:
  launch    N x /bin/true: `tplaunch --nproc N /bin/true` against
            `torchrun --standalone --no-python --nproc-per-node N
             --monitor-interval 0.1 /bin/true` (2.x, in the root).
  allreduce launch to rank 0's first all_reduce of the same PyTorch script
            (bench/worker_lib_torch_first_allreduce.py) under torchrun 2.x (its
            c10d store in the agent, as 2.x does by default) and under tplaunch
            with each of its stores (rank 0's TCPStore; --torch-store agent).
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
TORCH2_ROOT = os.path.join(ROOT, "scripts", "torch2_root.sh")
SCRIPT = os.path.join(BENCH, "worker_lib_torch_first_allreduce.py")
# Debian's 2.x is built without libuv; its agent store ignores USE_LIBUV unless
# the shim (tests/dropin/torch2/libuv_shim/sitecustomize.py) makes it follow it.
LIBUV_SHIM = os.path.join(ROOT, "tests", "dropin", "torch2", "libuv_shim")


def available():
    """The root's status line, or None when it is not built (the section is skipped)."""
    p = subprocess.run([TORCH2_ROOT, "status"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def torch2_version():
    p = subprocess.run([TORCH2_ROOT, "python3", "-c", "import torch; print(torch.__version__)"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() or None


def torch2_env(timing):
    """What both sides' workers need: the timing file, USE_LIBUV=0 with the shim, and
    the directories the root must see (the bench scripts, the shim, the timing file)."""
    return dict(os.environ, TIMING_FILE=timing, USE_LIBUV="0",
                PYTHONPATH=LIBUV_SHIM,
                TPLAUNCH_TORCH2_BINDS=":".join([BENCH, LIBUV_SHIM,
                                                os.path.dirname(timing)]))


def torchrun2(args):
    return [TORCH2_ROOT, "run", "python3", "-m", "torch.distributed.run"] + args


def bench_torch2(bins, cfg, wall, first_allreduce, stats, log):
    """Runs both parts; `wall`, `first_allreduce`, `stats` and `log` are bench/run's."""
    status = available()
    if status is None:
        log("torch2", "skipped: no PyTorch 2.x root (scripts/torch2_root.sh build)")
        return {"skipped": "no PyTorch 2.x root: run scripts/torch2_root.sh build"}
    tmp = tempfile.mkdtemp(prefix="bench_torch2_")
    timing = os.path.join(tmp, "timing.json")
    env = torch2_env(timing)
    python2 = subprocess.run([TORCH2_ROOT, "wrapper", os.path.join(tmp, "bin")],
                             stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    reps = range(cfg["reps"])
    entry = [wall([TORCH2_ROOT, "run", "/bin/true"], env=env) for _ in reps]
    result = {"torch_version": torch2_version(), "root": status.splitlines()[0],
              "root_entry_ms": stats([t for t, rc in entry if rc == 0]),
              "launch_rows": [], "allreduce_rows": []}
    log("torch2", "PyTorch", result["torch_version"], "root entry",
        json.dumps(result["root_entry_ms"]))

    for n in cfg["launch_n"]:
        tp = [wall([bins["tplaunch"], "--nproc", str(n), "/bin/true"]) for _ in reps]
        tr = [wall(torchrun2(["--standalone", "--no-python", "--nproc-per-node", str(n),
                              "--monitor-interval", "0.1", "/bin/true"]), env=env)
              for _ in reps]
        row = {"n": n, "tplaunch_ms": stats([t for t, rc in tp if rc == 0]),
               "tplaunch_failures": sum(rc != 0 for _, rc in tp),
               "torchrun2_ms": stats([t for t, rc in tr if rc == 0]),
               "torchrun2_failures": sum(rc != 0 for _, rc in tr)}
        if row["tplaunch_ms"] and row["torchrun2_ms"]:
            row["speedup"] = row["torchrun2_ms"]["median"] / row["tplaunch_ms"]["median"]
        log("torch2 launch", json.dumps(row))
        result["launch_rows"].append(row)

    for n in cfg["allreduce_n"]:
        tr = [first_allreduce(torchrun2(["--standalone", "--nproc-per-node", str(n),
                                         "--monitor-interval", "0.1", SCRIPT]), timing, env)
              for _ in reps]
        tp = [first_allreduce([bins["tplaunch"], "--nproc", str(n), python2, SCRIPT],
                              timing, env) for _ in reps]
        tp_agent = [first_allreduce([bins["tplaunch"], "--nproc", str(n), "--torch-store",
                                     "agent", python2, SCRIPT], timing, env) for _ in reps]
        row = {"n": n, "torchrun2_torch_ms": stats(tr), "tplaunch_torch_ms": stats(tp),
               "tplaunch_agent_store_torch_ms": stats(tp_agent)}
        for key, name in (("tplaunch_torch_ms", "speedup_same_script"),
                          ("tplaunch_agent_store_torch_ms",
                           "speedup_same_script_agent_store")):
            if row[key] and row["torchrun2_torch_ms"]:
                row[name] = row["torchrun2_torch_ms"]["median"] / row[key]["median"]
        log("torch2 allreduce", json.dumps(row))
        result["allreduce_rows"].append(row)
    shutil.rmtree(tmp, ignore_errors=True)
    return result
