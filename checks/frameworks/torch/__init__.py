"""PyTorch: what it sees (mps > cuda > cpu), the sine fit on a device, doctor's facts, and the bench's forms.

The bench's fused form is one step that reads x and y once:
- CUDA: torch.compile (Inductor fuses the loss and the four gradient sums into one pass over x and y)
  captured in a CUDA graph, so a step is one graph launch whatever N; if compiling fails, the eager step
  captured in a CUDA graph (the reason is recorded);
- CPU: torch.compile (Inductor's C++ backend, needs a C++ compiler); eager with the reason if it fails;
- MPS: torch.compile's Metal backend (MPSInductor) is a prototype in torch 2.8; it is tried, and if it
  fails the step runs eagerly with the error recorded. MPS has no graph capture of the CUDA-graph kind.

The interface is the registry's (checks/frameworks/__init__.py).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable

import torch

from checks import frameworks
from checks.core import probe
from checks.core.sine_fit import FitRun

# Declared: literals that frameworks.declared() reads from this source without importing torch.
NAME = "torch"
DISTRIBUTIONS = ("torch",)
CPU_DEVICE = "cpu"
DISTRIBUTED_SMOKE = "checks.frameworks.torch.allreduce"
# Optional (frameworks.numerics): the op-level numerics suite's ops (checks/core/numerics.py runs them).
NUMERICS = "checks.frameworks.torch.numerics"
# Optional (frameworks.extra_checks): torchvision's ResNet step and nms, torchaudio's MelSpectrogram.
EXTRA_CHECKS = ("checks.frameworks.torch.extras",)
# Which macOS MPS needs, by torch release: {first torch release: macOS}. Read from each release's macOS
# wheel (tests/data/audit/torch-mps-floors.json, `python -m tools.mac.mps_binary --floors ...`): the macOS
# its own "The MPS backend is supported on macOS X+" message names, 12.3 up to 2.4, 13.0 from 2.6, 14.0
# from 2.9, 15.0 from 2.15 (whose wheels are still tagged macosx_14_0). 2.5 is the one exception: it still
# printed 12.3, but pytorch/pytorch#133141 had dropped macOS 12 (its MPSDevice.h gates start at 13.1) and
# MPS is unavailable there (pytorch/pytorch#139425, the maintainer: "you need MacOS 13.0"). The one copy in
# checks/: doctor reads it from here without importing torch (frameworks.declared).
MPS_MACOS_FLOOR = {"1.12": "12.3", "2.5": "13.0", "2.9": "14.0", "2.15": "15.0"}
# Optional (frameworks.model_bench): the real-model training bench, `python -m checks.modelbench`.
MODEL_BENCH = "checks.frameworks.torch.models"


def version() -> str:
    return torch.__version__


def mps_macos_floor(torch_version: str | None = None) -> str:
    """The macOS MPS needs for this torch (or the given version): "12.3" ... "15.0"."""
    return frameworks.by_release(MPS_MACOS_FLOOR, torch_version or version())


# --- what torch sees ----------------------------------------------------------------------------------


def accelerators() -> dict[str, Any]:
    """What this torch build and machine offer, with the reason wherever an accelerator is missing."""
    mps_built = torch.backends.mps.is_built()
    mps_available = torch.backends.mps.is_available()
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    info = {
        "mps": {"built": mps_built, "available": mps_available},
        "cuda": {
            "built": torch.version.cuda is not None,
            "cuda_version": torch.version.cuda,
            "available": cuda_count > 0,
            "devices": [torch.cuda.get_device_name(i) for i in range(cuda_count)],
        },
        "why_not": {},
    }
    if not mps_available:
        info["why_not"]["mps"] = (
            "this torch build has no MPS backend (only PyPI's macOS arm64 wheels have it)"
            if not mps_built
            else "MPS is built in but not available: it needs an Apple Silicon Mac, an arm64 (not Rosetta) "
            f"Python and macOS >= {mps_macos_floor()}"
        )
    if cuda_count == 0:
        info["why_not"]["cuda"] = (
            "this torch build has no CUDA (CPU-only or macOS wheel)"
            if torch.version.cuda is None
            else "torch has CUDA but sees no GPU (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them)"
        )
    # Available is not usable (hosted macOS runners): a real tensor on each device before choosing it.
    info["probe"] = _probe(mps_available, cuda_count)
    if not probe.usable(info, "mps"):
        info["why_not"]["mps"] = probe.why_not("mps", info["probe"]["mps"])
    if cuda_count and not _usable_cuda(info):
        info["why_not"]["cuda"] = "; ".join(probe.why_not(d, e) for d, e in probe.failed(info).items())
    return info


def probe_op(device: str) -> Callable[[], float]:
    """checks.core.probe's tiny op on `device`: sum(2 * [0, 1, 2, 3] + 1), read back to the host."""

    def op() -> float:
        x = torch.arange(4, dtype=torch.float32, device=device)
        return float((x * 2.0 + 1.0).sum().item())

    return op


def _probe(mps_available: bool, cuda_count: int) -> dict[str, str | None]:
    return probe.devices(probe_op, ["mps"] * mps_available + [f"cuda:{i}" for i in range(cuda_count)])


def _usable_cuda(info: dict[str, Any]) -> list[str]:
    return [d for d in (f"cuda:{i}" for i in range(len(info["cuda"]["devices"]))) if probe.usable(info, d)]


def best_devices(info: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """The best kind (mps > cuda > cpu) and every usable device of that kind: all GPUs that passed the
    probe, not only the first."""
    info = info or accelerators()
    if info["mps"]["available"] and probe.usable(info, "mps"):
        return "mps", ["mps"]
    if info["cuda"]["available"] and _usable_cuda(info):
        return "cuda", _usable_cuda(info)
    return "cpu", [CPU_DEVICE]


def sync_for(device):
    """The device's drain: cuda and mps queue work asynchronously; the CPU runs it before returning."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    if dev.type == "mps":
        return torch.mps.synchronize
    return lambda: None


def doctor_facts() -> dict[str, Any]:
    """What doctor's torch rules read: the build (CUDA, MPS), what it sees, and CUDA's warning if any."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cuda_available = torch.cuda.is_available()  # warns with the reason when the driver is unusable
    count = torch.cuda.device_count() if cuda_available else 0
    driver = None
    if torch.version.cuda is not None:
        try:
            driver = torch._C._cuda_getDriverVersion()  # e.g. 12080: the driver's CUDA, as torch sees it
        except (AttributeError, RuntimeError):
            driver = None
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": cuda_available,
        "cuda_driver": driver or None,
        "cuda_warning": " ".join(str(w.message) for w in caught) or None,
        "devices": [
            {
                "name": torch.cuda.get_device_name(i),
                "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
            }
            for i in range(count)
        ],
        "mps_built": torch.backends.mps.is_built(),
        "mps_available": torch.backends.mps.is_available(),
        "probe": _probe(torch.backends.mps.is_available(), count),
        "extensions": extension_facts(),
    }


# The compiled libraries `import torchvision` and `import torchaudio` load beside torch:
# torchvision/extension.py loads `_C` by torch.ops.load_library; torchaudio/_extension/__init__.py loads
# `lib/libtorchaudio` and `lib/_torchaudio` (2.8.0: libtorchaudio first, which _torchaudio links; 2.11.1:
# the other way round, neither linking the other). A package built against another torch fails right
# there ("undefined symbol: ..." on Linux, dyld's "Symbol not found" on macOS). doctor loads them itself
# rather than importing the packages: torchvision's import also pulls in torch._dynamo (~10 s,
# docs/verify.md).
EXTENSION_LIBRARIES = {"torchvision": ("_C",), "torchaudio": ("lib/libtorchaudio", "lib/_torchaudio")}


def extension_facts() -> dict[str, Any]:
    """{package: None where not installed, else {"version", "load_error": None or the loader's own words,
    "library": the file that failed}} for torchvision and torchaudio, loaded beside this torch."""
    import importlib.machinery
    import importlib.metadata
    import importlib.util
    from pathlib import Path

    found: dict[str, Any] = {}
    for name, stems in EXTENSION_LIBRARIES.items():
        try:
            installed = importlib.metadata.version(name)
            spec = importlib.util.find_spec(name)
        except (importlib.metadata.PackageNotFoundError, ImportError, ValueError):
            found[name] = None
            continue
        folders = list(spec.submodule_search_locations or []) if spec else []
        found[name] = {"version": installed, "load_error": None, "library": None}
        for stem in stems:
            files = [
                Path(folder) / f"{stem}{suffix}"
                for folder in folders
                for suffix in importlib.machinery.EXTENSION_SUFFIXES
                if (Path(folder) / f"{stem}{suffix}").is_file()
            ]
            if not files:  # a build without it (torchaudio's loader skips a missing one too)
                continue
            try:
                torch.ops.load_library(str(files[0]))
            except OSError as exc:  # torch >= 2.9 wraps the loader's error: its cause has the symbol
                cause = exc.__cause__ or exc
                found[name].update(load_error=str(cause), library=f"{name}/{stem}{files[0].suffix}")
                break
    return found


# --- the sine fit, faithful ---------------------------------------------------------------------------


def sine_fit(device: str, init: list[float], *, n: int, steps: int, lr: float, on_step=None) -> FitRun:
    """The canonical loop, unchanged but for timing and the divergence stop; float32 on `device`."""
    dev = torch.device(device)
    dtype = torch.float32
    x = torch.linspace(-math.pi, math.pi, n, device=dev, dtype=dtype)
    y = torch.sin(x)
    a, b, c, d = (torch.tensor(v, device=dev, dtype=dtype) for v in init)

    losses: list[float] = []
    sync = sync_for(dev)
    sync()
    start = time.perf_counter()
    for t in range(steps):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum().item()  # the host read every step: part of the program
        losses.append(loss)
        if on_step is not None and t % 100 == 99:
            on_step(t, loss)
        if not math.isfinite(loss):
            break  # diverged: further steps only repeat nan
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x**2).sum()
        grad_d = (grad_y_pred * x**3).sum()
        a -= lr * grad_a
        b -= lr * grad_b
        c -= lr * grad_c
        d -= lr * grad_d
    sync()
    seconds = time.perf_counter() - start

    tensors = {"x": x, "y": y, "a": a, "b": b, "c": c, "d": d}
    placements = {k: str(v.device) for k, v in tensors.items()}
    on_device = all(
        v.device.type == dev.type and (dev.index is None or v.device.index == dev.index)
        for v in tensors.values()
    )
    return FitRun(
        device=str(dev),
        placements=placements,
        losses=losses,
        coefficients=[a.item(), b.item(), c.item(), d.item()],
        seconds=seconds,
        steps_run=len(losses),
        on_device=on_device,
    )


# --- the bench ----------------------------------------------------------------------------------------

TIMER = "torch.utils.benchmark.Timer with a clock that synchronises the device (cuda or mps) first"
# torch.OutOfMemoryError covers CUDA and MPS allocations (torch >= 2.5); MemoryError the CPU's.
OUT_OF_MEMORY = (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), MemoryError)


def block(fn, number: int, sync) -> float:
    """One repeat through torch.utils.benchmark: its Timer runs `number` calls between two clock readings.

    Its default clock synchronises CUDA only (not MPS), so the clock given here drains the device itself.
    num_threads is the process's, not Timer's default of 1, so the CPU is measured as a user runs it.
    Imported here, not at the top: torch.utils.benchmark pulls in cpp_extension, which logs a CUDA_HOME
    warning on machines without the CUDA toolkit, into every verify and best_device() otherwise.
    """
    from torch.utils.benchmark import Timer

    def clock() -> float:
        sync()
        return time.perf_counter()

    timer = Timer(stmt="fn()", globals={"fn": fn}, timer=clock, num_threads=torch.get_num_threads())
    return timer.timeit(number).mean * number


def targets(facts: dict[str, Any], *, cpu_only: bool = False) -> list[dict[str, Any]]:
    """The best accelerator (every CUDA GPU is alike for a bench: the first) and the CPU beside it."""
    from checks.core.harness import cpu_name
    from checks.core.platform_facts import apple_gpu_cores

    kind, devices = best_devices()
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
            "device": CPU_DEVICE,
            "label": "cpu",
            "name": cpu_name(facts),
            "threads": torch.get_num_threads(),
        }
    )
    return out


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
    re-reads it: 199 us/step at N=2e7, 24% of the memory roofline
    (docs/gpu-runs/fused-flat-and-mamf-h100.json); folded, 57.2 us (83%, docs/bench/bench-h100-cuda.json).
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
