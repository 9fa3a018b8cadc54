"""PyTorch: which accelerators it sees, which to use (mps > cuda > cpu), and the sine fit on a device."""

from __future__ import annotations

import math
import time

import torch

from checks.sine_fit import FitRun

FRAMEWORK = "torch"


def version() -> str:
    return torch.__version__


def accelerators() -> dict:
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
            "Python and macOS >= 12.3"
        )
    if cuda_count == 0:
        info["why_not"]["cuda"] = (
            "this torch build has no CUDA (CPU-only or macOS wheel)"
            if torch.version.cuda is None
            else "torch has CUDA but sees no GPU (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them)"
        )
    return info


def best_devices(info: dict | None = None) -> tuple[str, list[str]]:
    """The best kind (mps > cuda > cpu) and every device of that kind: all GPUs, not only the first."""
    info = info or accelerators()
    if info["mps"]["available"]:
        return "mps", ["mps"]
    if info["cuda"]["available"]:
        return "cuda", [f"cuda:{i}" for i in range(len(info["cuda"]["devices"]))]
    return "cpu", ["cpu"]


def sync_for(device):
    """The device's drain: cuda and mps queue work asynchronously; the CPU runs it before returning."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    if dev.type == "mps":
        return torch.mps.synchronize
    return lambda: None


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
