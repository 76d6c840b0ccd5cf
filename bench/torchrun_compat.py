#!/usr/bin/python3
"""Runs Debian's torchrun (PyTorch 1.13) on Python 3.11, for benchmarks and tests.

PyTorch 1.13's Std.from_str looks values up by iterating the IntFlag, which skips the
zero member (NONE) since Python 3.11, so torchrun crashes at start with
"'NoneType' object has no attribute 'get'". This wrapper replaces the lookup with
Std(int(v)) and then runs torch.distributed.run unchanged. Arguments are torchrun's.
"""
import re
import sys

from torch.distributed.elastic.multiprocessing import api


def _std_from_str(vm):
    if re.fullmatch(r"\d", vm):
        return api.Std(int(vm))
    if re.fullmatch(r"(\d:\d,)*\d:\d", vm):
        return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
    raise ValueError(f"{vm} is neither a digit nor a mapping like 0:1,1:2")


api.Std.from_str = staticmethod(_std_from_str)

if __name__ == "__main__":
    from torch.distributed import run

    sys.argv[0] = "torchrun"
    run.main()
