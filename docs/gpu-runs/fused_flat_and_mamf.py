"""Two figures docs/bench.md quotes, measured on a lent GPU and written as one JSON record.

1. The fused sine-fit step at N=2e7 as checks.bench runs it (x and y folded into rows) against the same
   step written flat (one 1-D reduction per sum), both torch.compile'd and replayed from a CUDA graph,
   timed by checks.bench.measure exactly as the bench times them.
2. bf16 matmul TFLOP/s measured two ways: the bench's (median of sustained repeats through
   torch.utils.benchmark) and the public Maximum Achievable Matmul FLOPS table's (mean of 100 products
   after 50 warm-up products, at the shape that table gives for the H100 SXM and at n=8192).

Run from the repository root on the GPU machine: `python3 docs/gpu-runs/fused_flat_and_mamf.py OUT.json`.
fused-flat-and-mamf-h100.json is this file's run on the lent H100 (torch 2.11.0+cu130, 2026-12-06): the
machine was sent the same code without its docstrings and comments (ast.unparse of this file, with the
repository root taken from the working directory), since a command there is limited to 2,000 characters.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from checks import bench
from checks.frameworks import torch as backend

N = 20_000_000
INIT = [0.1, -0.2, 0.3, -0.4]


def _flat_step(x, y, p, lr: float):
    """The fused step written flat: x and y as one row each, every sum a reduction over all N."""
    x, y = x.reshape(-1), y.reshape(-1)
    y_pred = p[0] + p[1] * x + p[2] * x * x + p[3] * x * x * x
    r = y_pred - y
    g = 2.0 * r
    sums = torch.stack(((r * r).sum(), g.sum(), (g * x).sum(), (g * x * x).sum(), (g * x * x * x).sum()))
    p.sub_(lr * sums[1:])
    return sums[0]


def fused(form: str) -> dict:
    folded_step, folded_rows = backend._fused_step, backend._rows
    if form == "flat":
        backend._fused_step, backend._rows = _flat_step, (lambda n, *a: 1)
    try:
        fit = backend.SineFit("cuda", N, INIT, bench.fit_lr(N), "fused")
        t = bench.measure(fit.step, sync=fit.sync, repeats=7, min_time=0.05, block=backend.block)
        coef = fit.run(10)
    finally:
        backend._fused_step, backend._rows = folded_step, folded_rows
    gbs = bench.gbs(bench.fit_min_bytes(N), t.median_s)
    return {
        "n": N,
        "us_per_step": 1e6 * t.median_s,
        "roofline_gbs": gbs,
        "how": fit.how,
        "timing": t.to_json(),
        "coefficients_after": coef,
        "finite": all(map(math.isfinite, coef)),
    }


def mamf_mean(m: int, n: int, k: int, warmup: int = 50, iters: int = 100) -> float:
    """TFLOP/s as the MAMF finder reports it: the mean over `iters` products after `warmup`, CUDA events."""
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, k, device="cuda", dtype=torch.bfloat16).t()
    for _ in range(warmup):
        torch.mm(a, b)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        torch.mm(a, b)
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3 / iters
    return 2 * m * n * k / seconds / 1e12


def sustained(n: int) -> float:
    mm = backend.Matmul("cuda", n, "bfloat16")
    t = bench.measure(mm.fn, sync=mm.sync, repeats=7, min_time=0.05, block=backend.block)
    return bench.tflops(bench.matmul_flops(n), t.median_s)


def main() -> None:
    out = Path(sys.argv[1])
    report = {
        "command": "python3 docs/gpu-runs/fused_flat_and_mamf.py OUT.json",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "fused_at_2e7": {"folded": fused("folded"), "flat": fused("flat")},
        "bf16_matmul_tflops": {
            "mamf_mean_100_after_50_at_2048x2048x13312": mamf_mean(2048, 2048, 13312),
            "mamf_mean_100_after_50_at_8192": mamf_mean(8192, 8192, 8192),
            "mean_10_after_10_at_8192": mamf_mean(8192, 8192, 8192, warmup=10, iters=10),
            "bench_sustained_median_at_8192": sustained(8192),
        },
    }
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
