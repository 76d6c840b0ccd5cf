#!/usr/bin/python3
"""The PyTorch equivalent of examples/train's start for worker_lib_bench: gloo
init_process_group over env:// and one all_reduce; rank 0 writes the wall-clock time
(unix microseconds) at which its first all_reduce completed to $TIMING_FILE."""
import os
import time

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
t = torch.ones(32)
dist.all_reduce(t)
if dist.get_rank() == 0:
    with open(os.environ["TIMING_FILE"], "w") as f:
        f.write('{"first_allreduce_unix_us": %d}\n' % int(time.time() * 1e6))
dist.destroy_process_group()
