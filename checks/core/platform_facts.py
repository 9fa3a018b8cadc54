"""Facts about this machine and Python that decide whether a GPU can be used (standard library only)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from typing import Any


def _sysctl(name: str) -> str | None:
    """Read one sysctl value on macOS; None where the key or the command does not exist."""
    exe = shutil.which("sysctl") or ("/usr/sbin/sysctl" if os.path.exists("/usr/sbin/sysctl") else None)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def cpuinfo(key: str) -> str | None:
    """The first value Linux's /proc/cpuinfo gives for `key` ("model name", "flags"); None elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (avx2, avx512f, ...); none elsewhere (a Mac has no AVX-512)."""
    return set((cpuinfo("flags") or "").split())


def gather() -> dict[str, Any]:
    """Everything below is read, never assumed, so a report shows what the machine really said."""
    system = platform.system()
    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "os": system,
        "os_release": platform.release(),
        "platform": platform.platform(),
        # The architecture this *process* runs as: x86_64 under Rosetta even on an M1.
        "machine": platform.machine(),
        "macos_version": platform.mac_ver()[0] or None,
        "translated": None,
        "hardware_arm64": None,
        "cpu_brand": None,
        "conda_prefix": os.environ.get("CONDA_PREFIX"),
        "conda_subdir": None,
    }
    if system == "Darwin":
        # 1 for a process translated by Rosetta 2; the key is absent on Intel Macs.
        facts["translated"] = _sysctl("sysctl.proc_translated") == "1"
        # The hardware, whatever the process: 1 on Apple Silicon, even seen from an x86_64 Python.
        facts["hardware_arm64"] = _sysctl("hw.optional.arm64") == "1"
        facts["cpu_brand"] = _sysctl("machdep.cpu.brand_string")
    facts["conda_subdir"] = _conda_subdir(facts["conda_prefix"])
    return facts


def _conda_subdir(prefix: str | None) -> str | None:
    """The conda platform (osx-arm64, osx-64, linux-64) of the active conda env, from its own metadata."""
    if not prefix:
        return None
    meta = os.path.join(prefix, "conda-meta")
    try:
        names = sorted(n for n in os.listdir(meta) if n.startswith("python-") and n.endswith(".json"))
    except OSError:
        return None
    for name in names:
        try:
            with open(os.path.join(meta, name)) as f:
                subdir = json.load(f).get("subdir")
        except (OSError, ValueError):
            continue
        if subdir:
            return str(subdir)
    return None


def is_apple_silicon(facts: dict[str, Any]) -> bool:
    """True on an M-series Mac, whether or not this Python runs natively."""
    if facts["os"] != "Darwin":
        return False
    return bool(facts["hardware_arm64"]) or facts["machine"] == "arm64"


def apple_gpu_cores() -> int | None:
    """The Mac's GPU core count from system_profiler (the chip name alone does not say which bin)."""
    try:
        out = subprocess.run(
            ["system_profiler", "SPDisplaysDataType", "-json"], capture_output=True, text=True, timeout=30
        )
        for gpu in json.loads(out.stdout).get("SPDisplaysDataType", []):
            if gpu.get("sppci_cores"):
                return int(gpu["sppci_cores"])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return None
