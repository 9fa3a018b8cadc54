"""PyTorch side of the bench: the three forms of the sine-fit step, matmul and copy, on one device.

The fused form is one step that reads x and y once:
- CUDA: torch.compile (Inductor fuses the loss and the four gradient sums into one pass over x and y)
  captured in a CUDA graph, so a step is one graph launch whatever N; if compiling fails, the eager step
  captured in a CUDA graph (the reason is recorded);
- CPU: torch.compile (Inductor's C++ backend, needs a C++ compiler); eager with the reason if it fails;
- MPS: torch.compile's Metal backend (MPSInductor) is a prototype in torch 2.8; it is tried, and if it
  fails the step runs eagerly with the error recorded. MPS has no graph capture of the CUDA-graph kind.
"""

from __future__ import annotations

import math
import subprocess
import time

import torch
from torch.utils.benchmark import Timer

from checks import bench, torch_unit
from checks.torch_unit import sync_for

TIMER = "torch.utils.benchmark.Timer with a clock that synchronises the device (cuda or mps) first"
# torch.OutOfMemoryError covers CUDA and MPS allocations (torch >= 2.5); MemoryError the CPU's.
OUT_OF_MEMORY = (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), MemoryError)


def version() -> str:
    return torch.__version__


def block(fn, number: int, sync) -> float:
    """One repeat through torch.utils.benchmark: its Timer runs `number` calls between two clock readings.

    Its default clock synchronises CUDA only (not MPS), so the clock given here drains the device itself.
    num_threads is the process's, not Timer's default of 1, so the CPU is measured as a user runs it.
    """

    def clock() -> float:
        sync()
        return time.perf_counter()

    timer = Timer(stmt="fn()", globals={"fn": fn}, timer=clock, num_threads=torch.get_num_threads())
    return timer.timeit(number).mean * number


def apple_gpu_cores() -> int | None:
    """The Mac's GPU core count from system_profiler (the chip name alone does not say which bin)."""
    try:
        out = subprocess.run(
            ["system_profiler", "SPDisplaysDataType", "-json"], capture_output=True, text=True, timeout=30
        )
        import json

        for gpu in json.loads(out.stdout).get("SPDisplaysDataType", []):
            if gpu.get("sppci_cores"):
                return int(gpu["sppci_cores"])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return None


def targets(facts: dict, *, cpu_only: bool = False) -> list[dict]:
    """The best accelerator (every CUDA GPU is alike for a bench: the first) and the CPU beside it."""
    kind, devices = torch_unit.best_devices()
    out = []
    if kind == "cuda" and not cpu_only:
        out.append(
            {"kind": "cuda", "device": devices[0], "label": "cuda", "name": torch.cuda.get_device_name(0)}
        )
    elif kind == "mps" and not cpu_only:
        # The GPU is part of the chip: its name is the chip's (machdep.cpu.brand_string, e.g. "Apple M1 Pro").
        out.append(
            {
                "kind": "mps",
                "device": "mps",
                "label": "mps",
                "name": facts.get("cpu_brand"),
                "gpu_cores": apple_gpu_cores(),
            }
        )
    out.append(
        {
            "kind": "cpu",
            "device": "cpu",
            "label": "cpu",
            "name": bench.cpu_name(facts),
            "threads": torch.get_num_threads(),
        }
    )
    return out


# --- the sine-fit step in three forms ------------------------------------------------------------------


def _rows(n: int, min_cols: int = 2048, max_rows: int = 10000) -> int:
    """Rows to fold N points into for the fused step: the largest divisor of N leaving >= min_cols each."""
    for rows in range(min(max(n // min_cols, 1), max_rows), 0, -1):
        if n % rows == 0:
            return rows
    return 1


def _fused_step(x, y, p, lr: float):
    """One gradient step that a compiler turns into one pass over x and y.

    x and y come folded into [rows, cols]: every row's five sums (the loss and four gradients) are one
    reduction kernel that reads each x and y once and keeps y_pred and the residual in registers, then the
    [5, rows] partials are summed. Written flat, Inductor (torch 2.11, H100) materialises the residual and
    re-reads it: 203 us/step at N=2e7, 24% of the memory roofline; folded, 60 us (78%).
    """
    y_pred = p[0] + p[1] * x + p[2] * x * x + p[3] * x * x * x
    r = y_pred - y
    g = 2.0 * r
    sums_per_row = ((r * r).sum(1), g.sum(1), (g * x).sum(1), (g * x * x).sum(1), (g * x * x * x).sum(1))
    partial = torch.stack(sums_per_row)
    sums = partial.sum(1)
    p.sub_(lr * sums[1:])
    return sums[0]


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


class SineFit:
    """One form of the fit at one N on one device: `step()` runs one step, `run(k)` k steps -> a,b,c,d."""

    def __init__(self, device: str, n: int, init: list[float], lr: float, form: str):
        self.dev = torch.device(device)
        self.sync = sync_for(device)
        self.lr, self.init, self.form = lr, init, form
        self.x = torch.linspace(-math.pi, math.pi, n, device=self.dev, dtype=torch.float32)
        self.y = torch.sin(self.x)
        self.how = ""
        if form == "fused":
            self.p = torch.tensor(init, device=self.dev, dtype=torch.float32)
            self.step = self._fused()
        else:
            self.a, self.b, self.c, self.d = (torch.tensor(v, device=self.dev) for v in init)
            self.step = self._faithful if form == "faithful" else self._no_sync
            self.how = "eager, loss .item() every step" if form == "faithful" else "eager, no host read"

    def _faithful(self):
        loss = self._eager_step()
        return loss.item()  # the host read every step: part of the original program

    def _no_sync(self):
        return self._eager_step()

    def _eager_step(self):
        x, y, lr = self.x, self.y, self.lr
        y_pred = self.a + self.b * x + self.c * x**2 + self.d * x**3
        loss = (y_pred - y).pow(2).sum()
        grad_y_pred = 2.0 * (y_pred - y)
        self.a -= lr * grad_y_pred.sum()
        self.b -= lr * (grad_y_pred * x).sum()
        self.c -= lr * (grad_y_pred * x**2).sum()
        self.d -= lr * (grad_y_pred * x**3).sum()
        return loss

    def _fused(self):
        rows = _rows(self.x.numel())
        x, y, p, lr = self.x.view(rows, -1), self.y.view(rows, -1), self.p, self.lr
        eager = lambda: _fused_step(x, y, p, lr)  # noqa: E731
        step, how = eager, "eager single-pass step"
        try:
            torch.compiler.reset()  # a fresh compile per N: the recompile limit would otherwise fall back
            compiled = torch.compile(_fused_step, dynamic=False, fullgraph=True)
            compiled(x, y, p, lr)
            self.sync()
            step, how = (lambda: compiled(x, y, p, lr)), "torch.compile"
        except Exception as exc:  # Inductor needs a C++ compiler (CPU) or Triton (CUDA); MPS is a prototype
            how = f"eager (torch.compile failed: {_why(exc)})"
        if self.dev.type == "cuda":
            try:
                step, how = self._capture(step, how)
            except RuntimeError as exc:  # a step that syncs or allocates on the host cannot be captured
                how += f" (CUDA graph capture failed: {_why(exc)})"
        elif self.dev.type == "mps":
            how += "; no graph capture on MPS"
        p.copy_(torch.tensor(self.init, dtype=torch.float32))  # warm-up and capture moved it
        self.how = how
        return step

    def _capture(self, step, how):
        """CUDA graph of one step: warm up on a side stream (as CUDA graphs require), capture, replay."""
        side = torch.cuda.Stream(self.dev)
        side.wait_stream(torch.cuda.current_stream(self.dev))
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream(self.dev).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._graph_loss = step()
        return graph.replay, f"{how} + CUDA graph (one replay per step)"

    def run(self, steps: int) -> list[float]:
        for _ in range(steps):
            self.step()
        self.sync()
        if self.form == "fused":
            return [float(v) for v in self.p.tolist()]
        return [float(v) for v in (self.a.item(), self.b.item(), self.c.item(), self.d.item())]


# --- matmul and copy -----------------------------------------------------------------------------------


def matmul_dtypes(device: str) -> list[str]:
    kind = torch.device(device).type
    if kind == "cpu":
        return ["float32", "bfloat16"]
    return ["float32", "float16", "bfloat16"]


class Matmul:
    """C = A @ B into a preallocated C, n x n, random normal inputs (zeros would flatter the GPU's clocks)."""

    def __init__(self, device: str, n: int, dtype: str):
        self.sync = sync_for(device)
        self.fn = None
        dt = getattr(torch, dtype)
        # torch's default float32 matmul is full FP32 (no TF32), so float32 is compared with the FP32 peak.
        self.how = f"torch.mm, {dtype}, float32 matmul precision {torch.get_float32_matmul_precision()!r}"
        try:
            gen = torch.Generator(device="cpu").manual_seed(n)
            self.a = torch.randn(n, n, generator=gen).to(device=device, dtype=dt)
            self.b = torch.randn(n, n, generator=gen).to(device=device, dtype=dt)
            self.c = torch.empty(n, n, device=device, dtype=dt)
            torch.mm(self.a, self.b, out=self.c)
            self.sync()
        except (RuntimeError, TypeError) as exc:  # e.g. bfloat16 on an MPS before macOS 14
            self.how = f"{dtype} not supported here: {_why(exc)}"
            return
        self.fn = lambda: torch.mm(self.a, self.b, out=self.c)


class Copy:
    """dst.copy_(src) on one device: reads nbytes and writes nbytes."""

    def __init__(self, device: str, nbytes: int):
        self.sync = sync_for(device)
        self.src = torch.ones(nbytes // 4, device=device, dtype=torch.float32)
        self.dst = torch.empty_like(self.src)
        self.fn = lambda: self.dst.copy_(self.src)
        self.how = "Tensor.copy_ of float32, same device"
