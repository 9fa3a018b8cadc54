"""Does a device really work? One real allocation and one tiny op on it, before anything chooses it.

A framework can report a device available that cannot hold a single tensor. GitHub's hosted Apple Silicon
runners do: `torch.backends.mps.is_available()` is True there, and the first tensor on "mps" fails with
"MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, max allowed: 7.93 GB).
Tried to allocate 256 bytes on private pool" (actions/runner-images#9918, open since 2024-05; the same on
pytorch/vision's CI, pytorch/vision#8433). A CUDA GPU can do the same (another process holds it in
exclusive mode, its memory is full, a driver fault).

So each framework's `accelerators()` probes every device it would choose, with its own op (`probe_op(device)`
in checks/frameworks/NAME/__init__.py; this module is framework-free), and records the outcome in
`info["probe"]` ({device: None when it worked, else one line of what failed}); `best_devices()` skips the
devices that failed, verify notes them, and doctor's rule `device-probe` explains them. The
op computes sum(2 * [0, 1, 2, 3] + 1) = 16 in float32 on the device and reads it back: an allocation, a
kernel and a copy to the host.
"""

from __future__ import annotations

from typing import Any, Callable

# sum(2 * [0, 1, 2, 3] + 1): exact in float32, so any other value is a wrong result, not rounding.
EXPECTED = 16.0


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


def attempt(op: Callable[[], float]) -> str | None:
    """None when `op()` returns EXPECTED; else one line: what it raised, or the wrong value it returned."""
    try:
        got = op()
    except Exception as exc:  # whatever the framework raises (RuntimeError for MPS/CUDA, TF's own errors)
        return _one_line(exc)
    if got != EXPECTED:
        return f"a tiny op returned {got!r}, expected {EXPECTED!r}"
    return None


def devices(op_for: Callable[[str], Callable[[], float]], names: list[str]) -> dict[str, str | None]:
    """{device: None | what failed} for each device name, probed with the framework's op."""
    return {name: attempt(op_for(name)) for name in names}


def usable(info: dict[str, Any], device: str) -> bool:
    """Whether `device` passed its probe (a report made before probing existed has none: usable)."""
    return (info.get("probe") or {}).get(device) is None


def failed(info: dict[str, Any]) -> dict[str, str]:
    """The devices that reported available but failed the probe, with what failed."""
    return {d: why for d, why in (info.get("probe") or {}).items() if why is not None}


def why_not(device: str, error: str) -> str:
    """The reason a device that reports itself available is not used."""
    return (
        f"{device} reports available but cannot run a tiny op ({error}); GitHub's hosted macOS runners do "
        "this (actions/runner-images#9918): run with --device cpu there, else see `nox -s doctor`"
    )
