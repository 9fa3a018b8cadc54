"""torch's numerics suite on the CPU with one intra-op thread (suite(), what verify runs) and with two (the
machine's cores), alternated; wall and process CPU seconds per run. Writes numerics-threads.log's lines.

    .nox/env-torch/bin/python docs/records/numerics-threads.py > docs/records/numerics-threads.log
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from checks.core import numerics
from checks.frameworks.torch import numerics as fw

one_thread = fw.suite


@contextlib.contextmanager
def two_threads():  # type: ignore[no-untyped-def]
    torch.set_num_threads(2)
    yield


print(f"# torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at the start")
for run in range(3):
    for name, ctx in (("1 thread", one_thread), ("2 threads", two_threads)):
        fw.suite = ctx  # type: ignore[assignment]
        wall, cpu = time.perf_counter(), time.process_time()
        report = numerics.run(fw, "cpu")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"run {run + 1} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, passed {report['passed']}")
print(f"# load {os.getloadavg()[0]:.2f} at the end")
