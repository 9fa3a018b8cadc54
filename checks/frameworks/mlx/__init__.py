"""MLX: what it sees (a Metal or CUDA GPU > cpu), the sine fit on a device, doctor's facts, the bench's forms.

MLX is lazy: an operation records a graph and nothing runs until something is evaluated (`mx.eval`, or a
read such as `.item()`). Its arrays live in unified memory and have no device of their own: the device is
where an operation runs (its stream), chosen here with `mx.stream(device)`. So the fit evaluates every step
(the loss is read back to the host every step, as in the original; the four parameters are evaluated at
the end of the step, or the graph would grow by one step each time) and reports as each array's placement
the device its operations ran on.

MLX has no float64 on the GPU ("float64 is not supported on the GPU", mlx#799): the fit is float32, judged
against the float64 NumPy reference like every framework (checks/core/sine_fit.py).

The bench's fused form is `mx.compile` of one step that returns the loss and the four new parameters:
MLX fuses the elementwise chain feeding each reduction into one kernel; `mx.async_eval` queues the step
without waiting.

The interface is the registry's (checks/frameworks/__init__.py).
"""

from __future__ import annotations

import importlib.metadata
import math
import sys
import time
from typing import Any, Callable

import mlx.core as mx

from checks.core import probe
from checks.core.sine_fit import FitRun

# Declared: literals that frameworks.declared() reads from this source without importing mlx.
NAME = "mlx"
# mlx is the Python package; its backend is a second distribution chosen by mlx's own metadata (macOS:
# mlx-metal) or by the extra the lock asked for (Linux: [cpu] -> mlx-cpu, [cuda12]/[cuda13]).
DISTRIBUTIONS = ("mlx", "mlx-metal", "mlx-cpu", "mlx-cuda-12", "mlx-cuda-13")
BACKENDS = {"mlx-metal": "metal", "mlx-cpu": "cpu", "mlx-cuda-12": "cuda", "mlx-cuda-13": "cuda"}
CPU_DEVICE = "cpu"
DISTRIBUTED_SMOKE = "checks.frameworks.mlx.allsum"
# Optional (frameworks.numerics): the op-level numerics suite's ops (checks/core/numerics.py runs them).
NUMERICS = "checks.frameworks.mlx.numerics"
# mlx's floors: Python 3.10 (Requires-Python of every mlx 0.32.4 wheel), macOS 14.0 (its macOS wheels are
# tagged macosx_14_0_arm64; 0.29.3 was the last release for macOS 13). doctor reads them from here.
PYTHON_FLOOR = "3.10"
MACOS_FLOOR = "14.0"


def version() -> str:
    return mx.__version__


def installed_backends() -> dict[str, str]:
    """The backend distributions installed beside mlx, name -> version (read from their metadata)."""
    found = {}
    for name in BACKENDS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _device(device: str) -> mx.Device:
    """ "gpu", "gpu:1", "cpu" -> an mx.Device; ValueError for anything else."""
    kind, _, index = device.partition(":")
    if kind not in ("gpu", "cpu") or (index and not index.isdigit()):
        raise ValueError(f"expected an MLX device 'gpu', 'gpu:N' or 'cpu', got {device!r}")
    return mx.Device(mx.gpu if kind == "gpu" else mx.cpu, int(index or 0))


def _name(dev: mx.Device) -> str:
    """mx.Device(gpu, 0) -> "gpu:0" (a Device has its type, and only its repr says its index)."""
    return str(dev).removeprefix("Device(").rstrip(")").replace(", ", ":")


# --- what MLX sees ------------------------------------------------------------------------------------


def _gpu_info() -> dict[str, Any]:
    try:
        return {k: v for k, v in mx.device_info(mx.gpu).items() if isinstance(v, (str, int, float))}
    except (RuntimeError, ValueError):
        return {}


def accelerators() -> dict[str, Any]:
    """Metal and CUDA as this mlx sees them, the GPU's details, and why each missing one is missing."""
    metal, cuda = mx.metal.is_available(), mx.cuda.is_available()
    backends = installed_backends()
    info = {
        "backends": backends,
        "metal": {"available": metal},
        "cuda": {"available": cuda},
        "gpu": {"count": mx.device_count(mx.gpu), **(_gpu_info() if metal or cuda else {})},
        "why_not": {},
    }
    if not metal:
        info["why_not"]["metal"] = (
            "Metal exists only on macOS; this is the Linux mlx with "
            + (", ".join(backends) or "no backend distribution")
            if sys.platform != "darwin"
            else "mlx-metal is installed but Metal is not available: it needs an Apple Silicon Mac, a "
            f"native arm64 Python (not Rosetta) and macOS >= {MACOS_FLOOR}"
        )
    if not cuda:
        info["why_not"]["cuda"] = (
            "this mlx has no CUDA backend (mlx-cuda-12 or mlx-cuda-13 is not installed)"
            if not any(BACKENDS[b] == "cuda" for b in backends)
            else "mlx's CUDA backend is installed but sees no GPU (no NVIDIA driver, or CUDA_VISIBLE_DEVICES)"
        )
    # Available is not usable: a real array computed on the GPU before choosing it (checks/core/probe.py).
    info["probe"] = _probe()
    if not probe.usable(info, "gpu"):
        info["why_not"]["metal" if metal else "cuda"] = probe.why_not("gpu", info["probe"]["gpu"])
    return info


def probe_op(device: str) -> Callable[[], float]:
    """checks.core.probe's tiny op on `device` ("gpu", "cpu:0"): sum(2 * [0, 1, 2, 3] + 1), read back."""

    def op() -> float:
        kind, _, index = device.partition(":")
        dev = mx.Device(mx.gpu if kind == "gpu" else mx.cpu, int(index or 0))
        with mx.stream(dev):
            y = (mx.arange(4, dtype=mx.float32) * 2.0 + 1.0).sum()
            mx.eval(y)
        return float(y.item())

    return op


def _probe() -> dict[str, str | None]:
    return probe.devices(probe_op, ["gpu"] if mx.metal.is_available() or mx.cuda.is_available() else [])


def best_devices(info: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """(metal|cuda, ["gpu"]) where MLX has a GPU, else ("cpu", ["cpu"]): one MLX process uses one GPU."""
    info = info or accelerators()
    for kind in ("metal", "cuda"):
        if info[kind]["available"] and probe.usable(info, "gpu"):
            return kind, ["gpu"]
    return "cpu", [CPU_DEVICE]


def sync_for(device):
    """Wait for everything queued on the device's default stream (the CPU's queue is asynchronous too)."""
    stream = mx.default_stream(_device(str(device)))
    return lambda: mx.synchronize(stream)


def float64_on_gpu() -> str | None:
    """What MLX says when float64 meets the GPU: its error text, or None where it ran (or no GPU)."""
    if not (mx.metal.is_available() or mx.cuda.is_available()):
        return None
    try:
        mx.eval(mx.add(mx.array([1.0], dtype=mx.float64), 1.0, stream=mx.gpu))
    except (RuntimeError, ValueError) as exc:
        return str(exc).strip().splitlines()[0]
    return None


def doctor_facts() -> dict[str, Any]:
    """What doctor's MLX rules read: the version, its backend, what it sees, and the float64 probe."""
    return {
        "version": mx.__version__,
        "backends": installed_backends(),
        "metal_available": mx.metal.is_available(),
        "cuda_available": mx.cuda.is_available(),
        "gpu": _gpu_info(),
        "float64_on_gpu_error": float64_on_gpu(),
        "probe": _probe(),
    }


# --- the sine fit, faithful ---------------------------------------------------------------------------


def sine_fit(device: str, init: list[float], *, n: int, steps: int, lr: float, on_step=None) -> FitRun:
    """The canonical loop on `device`, float32, every step evaluated and its loss read back."""
    dev = _device(device)
    with mx.stream(dev):
        ran_on = _name(mx.default_device())
        x = mx.linspace(-math.pi, math.pi, n, dtype=mx.float32)
        y = mx.sin(x)
        a, b, c, d = (mx.array(v, dtype=mx.float32) for v in init)
        mx.eval(x, y, a, b, c, d)

        losses: list[float] = []
        sync = sync_for(device)
        sync()
        start = time.perf_counter()
        for t in range(steps):
            y_pred = a + b * x + c * x**2 + d * x**3
            loss = mx.sum((y_pred - y) ** 2).item()  # the host read every step: part of the program
            losses.append(loss)
            if on_step is not None and t % 100 == 99:
                on_step(t, loss)
            if not math.isfinite(loss):
                break  # diverged: further steps only repeat nan
            grad_y_pred = 2.0 * (y_pred - y)
            a = a - lr * mx.sum(grad_y_pred)
            b = b - lr * mx.sum(grad_y_pred * x)
            c = c - lr * mx.sum(grad_y_pred * x**2)
            d = d - lr * mx.sum(grad_y_pred * x**3)
            mx.eval(a, b, c, d)  # lazy: without it each step's graph would hold every step before it
        sync()
        seconds = time.perf_counter() - start

    arrays = {"x": x, "y": y, "a": a, "b": b, "c": c, "d": d}
    return FitRun(
        device=device,
        placements=dict.fromkeys(arrays, ran_on),
        losses=losses,
        coefficients=[a.item(), b.item(), c.item(), d.item()],
        seconds=seconds,
        steps_run=len(losses),
        on_device=ran_on == _name(dev) and all(v.dtype == mx.float32 for v in arrays.values()),
    )


# --- the bench ----------------------------------------------------------------------------------------

TIMER = "time.perf_counter around `number` calls, mx.synchronize on the device's stream before each reading"
# MLX reports a failed allocation as a RuntimeError ("[metal::malloc] Attempting to allocate ..."); the
# CPU's as MemoryError.
OUT_OF_MEMORY = (RuntimeError, MemoryError)
block = None  # the bench's wall clock (checks.core.harness.wall_block), with sync_for's drain


def targets(facts: dict[str, Any], *, cpu_only: bool = False) -> list[dict[str, Any]]:
    """The GPU where MLX has one (Apple's: named after the chip) and the CPU beside it."""
    from checks.core.harness import cpu_name
    from checks.core.platform_facts import apple_gpu_cores

    info = accelerators()
    kind, _ = best_devices(info)
    out = []
    if kind != "cpu" and not cpu_only:
        target = {"kind": kind, "device": "gpu", "label": "gpu", "name": info["gpu"].get("device_name")}
        if kind == "metal":  # the GPU is part of the chip: its name is the chip's ("Apple M1 Pro")
            target.update(name=facts.get("cpu_brand"), gpu_cores=apple_gpu_cores())
        out.append(target)
    out.append({"kind": "cpu", "device": CPU_DEVICE, "label": "cpu", "name": cpu_name(facts)})
    return out


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


def _step(x, y, p, lr):
    """One step on parameters p = [a, b, c, d]: (loss, new p)."""
    y_pred = p[0] + p[1] * x + p[2] * x * x + p[3] * x * x * x
    r = y_pred - y
    g = 2.0 * r
    grads = mx.stack([mx.sum(g), mx.sum(g * x), mx.sum(g * x * x), mx.sum(g * x * x * x)])
    return mx.sum(r * r), p - lr * grads


class SineFit:
    """One form of the fit at one N on one device: `step()` runs one step, `run(k)` k steps -> a,b,c,d.

    faithful: one step's operations, the loss read back (`.item()`) every step; no_sync: the same,
    queued with mx.async_eval and never read; fused: `mx.compile` of the whole step, queued likewise."""

    def __init__(self, device: str, n: int, init: list[float], lr: float, form: str):
        self.dev = _device(device)
        self.sync = sync_for(device)
        self.lr, self.form = lr, form
        with mx.stream(self.dev):
            self.x = mx.linspace(-math.pi, math.pi, n, dtype=mx.float32)
            self.y = mx.sin(self.x)
            self.p = mx.array(init, dtype=mx.float32)
            mx.eval(self.x, self.y, self.p)
        self.how = {
            "faithful": "lazy graph per step, loss .item() every step",
            "no_sync": "lazy graph per step, mx.async_eval, no host read",
        }.get(form, "")
        self.step = {"faithful": self._faithful, "no_sync": self._no_sync}.get(form) or self._fused()

    def _eager(self):
        with mx.stream(self.dev):
            loss, self.p = _step(self.x, self.y, self.p, self.lr)
        return loss

    def _faithful(self):
        loss = self._eager().item()  # the host read every step: part of the original program
        mx.eval(self.p)
        return loss

    def _no_sync(self):
        loss = self._eager()
        mx.async_eval(loss, self.p)
        return loss

    def _fused(self):
        compiled = mx.compile(_step)
        x, y, lr = self.x, self.y, mx.array(self.lr, dtype=mx.float32)
        try:
            with mx.stream(self.dev):
                mx.eval(compiled(x, y, self.p, lr))  # compile now: the first call traces and builds it
            self.how = "mx.compile of the whole step, mx.async_eval, no host read"
            step_fn = compiled
        except (RuntimeError, ValueError) as exc:
            self.how = f"lazy graph per step (mx.compile failed: {_why(exc)})"
            step_fn = _step

        def step():
            with mx.stream(self.dev):
                loss, self.p = step_fn(x, y, self.p, lr)
            mx.async_eval(loss, self.p)
            return loss

        return step

    def run(self, steps: int) -> list[float]:
        for _ in range(steps):
            self.step()
        self.sync()
        return [float(v) for v in self.p.tolist()]


def matmul_dtypes(device: str) -> list[str]:
    if _device(device).type == mx.cpu:
        return ["float32"]
    return ["float32", "float16", "bfloat16"]


class Matmul:
    """A @ B, n x n, random normal inputs, evaluated on the device each call."""

    def __init__(self, device: str, n: int, dtype: str):
        self.sync = sync_for(device)
        self.fn = None
        dev = _device(device)
        self.how = f"mx.matmul, {dtype}, mx.eval each call"
        try:
            with mx.stream(dev):
                key = mx.random.key(n)
                ka, kb = mx.random.split(key)
                dt = getattr(mx, dtype)
                self.a = mx.random.normal((n, n), key=ka).astype(dt)
                self.b = mx.random.normal((n, n), key=kb).astype(dt)
                mx.eval(self.a, self.b, mx.matmul(self.a, self.b))
        except (RuntimeError, ValueError) as exc:
            self.how = f"{dtype} not supported here: {_why(exc)}"
            return

        def fn():
            with mx.stream(dev):
                mx.eval(mx.matmul(self.a, self.b))

        self.fn = fn


class Copy:
    """A float32 copy on one device (mx.array(src) copies nothing: MLX shares the buffer), read + write."""

    def __init__(self, device: str, nbytes: int):
        self.sync = sync_for(device)
        dev = _device(device)
        with mx.stream(dev):
            self.src = mx.ones((nbytes // 4,), dtype=mx.float32)
            mx.eval(self.src)

        def fn():
            with mx.stream(dev):
                mx.eval(mx.contiguous(self.src[::-1]))  # a reversed view made contiguous: a real copy

        self.fn = fn
        self.how = "mx.contiguous of a reversed float32 view: reads and writes every byte, same device"
