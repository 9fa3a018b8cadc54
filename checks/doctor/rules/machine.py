"""The machine: Apple Silicon or not, Rosetta, the conda platform, macOS, the shell's GPU switches, NVIDIA.

Two groups, because the environment's rules sit between them in the report: APPLE (the Mac, and the
shell's MPS switch), then NVIDIA (the driver and CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

from typing import Any

from checks import frameworks
from checks.doctor.rule import (
    Finding,
    macos_reported,
    mps_macos_floor,
    on_apple_silicon,
    on_mac,
    rule,
    under_rosetta,
    version,
)


@rule(
    "apple-silicon",
    symptom="no MPS, no Metal, locks do not install",
    cause="an Intel Mac",
    fix="an Apple Silicon Mac or an NVIDIA Linux box",
)
def apple_silicon(f: dict[str, Any]) -> Finding | None:
    if not on_mac(f):
        return None
    if on_apple_silicon(f):
        brand = f["platform"].get("cpu_brand") or "Apple Silicon"
        return Finding("apple-silicon", "ok", f"Apple Silicon Mac ({brand})")
    return Finding(
        "apple-silicon",
        "fail",
        f"Intel Mac ({f['platform'].get('cpu_brand') or 'x86_64 hardware'})",
        "MPS and tensorflow-metal as locked here need Apple Silicon; this template's locks target macOS "
        "arm64 and Linux x86_64, and torch has shipped no Intel-Mac wheels since 2.2",
        "use an Apple Silicon Mac, or an NVIDIA Linux machine (the same locks drive it unchanged)",
    )


@rule(
    "rosetta",
    symptom="`mps.is_available()` False on an M1/M2/M3",
    cause="Python is x86_64 under Rosetta (`platform.machine()` x86_64, `sysctl.proc_translated` 1)",
    fix="an arm64 Python (Miniforge arm64, python.org universal2), rebuild",
)
def rosetta(f: dict[str, Any]) -> Finding | None:
    if not on_apple_silicon(f):
        return None
    p = f["platform"]
    if not under_rosetta(f):
        return Finding("rosetta", "ok", f"Python runs natively as {p['machine']}")
    return Finding(
        "rosetta",
        "fail",
        f"Python runs as x86_64 under Rosetta on an Apple Silicon Mac (platform.machine()={p['machine']}, "
        f"sysctl.proc_translated={int(bool(p['translated']))}, hw.optional.arm64=1): "
        f"{p['python_executable']}",
        "an x86_64 process never sees MPS or Metal, and pip picks x86_64 wheels (torch has published none "
        "since 2.2.2, so installs fail or fall back to old releases)",
        "install an arm64 Python (Miniforge3-MacOSX-arm64, python.org's universal2 installer, or "
        "`arch -arm64 brew install python@3.9`), rebuild the environments, and check that "
        "`python -c 'import platform; print(platform.machine())'` prints arm64",
    )


@rule(
    "conda-platform",
    symptom="`PackagesNotFoundError: tensorflow-deps`, no MPS",
    cause="an osx-64 conda on Apple Silicon",
    fix="Miniforge3-MacOSX-arm64, recreate the env",
)
def conda_platform(f: dict[str, Any]) -> Finding | None:
    subdir = f["platform"].get("conda_subdir")
    if not subdir:
        return None
    if on_apple_silicon(f) and subdir == "osx-64":
        return Finding(
            "conda-platform",
            "fail",
            f"the active conda environment ({f['platform']['conda_prefix']}) is osx-64",
            "an osx-64 conda installs x86_64 Pythons that run under Rosetta: no MPS, no Metal, and "
            "`PackagesNotFoundError: tensorflow-deps` for Apple's packages",
            "install Miniforge3-MacOSX-arm64 and recreate the environment "
            "(`conda env create -f environment-torch.yml`); or `CONDA_SUBDIR=osx-arm64 conda create ...`",
        )
    return Finding("conda-platform", "ok", f"conda environment platform {subdir}")


def _floors() -> str:
    """The torch module's MPS floors in words: '12.3 from torch 2.0, 14.0 from torch 2.12'."""
    table = frameworks.declared("torch")["MPS_MACOS_FLOOR"]
    rows = sorted(table.items(), key=lambda kv: version(kv[0]))
    return ", ".join(f"{floor} from torch {first}" for first, floor in rows)


@rule(
    "macos-version",
    symptom="MPS not available, correct install",
    cause=f"macOS below what MPS needs ({_floors()}), or an old Python that sees 10.16",
    fix="update macOS; `sw_vers -productVersion`",
)
def macos_version(f: dict[str, Any]) -> Finding | None:
    if not on_apple_silicon(f):
        return None
    reported = macos_reported(f)
    found = version(reported)
    if found[:2] == (10, 16):
        return Finding(
            "macos-version",
            "warn",
            f"macOS reports itself as {reported}",
            "10.16 is what macOS 11+ tells programs built with an old SDK (or SYSTEM_VERSION_COMPAT=1); "
            "the real version is unknown, and such a Python is likely too old to be the one you want",
            "check `sw_vers -productVersion`; unset SYSTEM_VERSION_COMPAT; use a current arm64 Python",
        )
    floor = mps_macos_floor(f)
    if found and found[:2] < version(floor):
        torch = f.get("torch") or {}
        if torch.get("mps_available"):
            # A torch may bring MPS up below the macOS its own message declares: unsupported, not unavailable.
            return Finding(
                "macos-version",
                "warn",
                f"macOS {reported} is below {floor}, yet torch {torch.get('version')}'s MPS came up",
                f"torch {torch.get('version')} says its MPS backend is supported on macOS {floor}+ (its own "
                "message); below that, PyTorch does not promise its MPS kernels work",
                f"update macOS to {floor} or newer (Software Update), or use an environment whose macOS "
                "floor this Mac meets (the README's table)",
            )
        return Finding(
            "macos-version",
            "fail",
            f"macOS {reported} is below {floor}",
            f"torch's MPS backend needs macOS {floor} or newer (tensorflow-metal 0.5.0 needs 12.1), so the "
            "GPU is unavailable even with a correct install",
            f"update macOS to {floor} or newer (Software Update)",
        )
    if found[:1] == (16,):
        # Not a macOS of its own: Apple went from 15 to 26, and Python built with an older SDK reports 26 as
        # 16.0 (python/cpython#135675). Either way it is above every floor: say what it is, fail nothing.
        reported = f"{reported} (macOS 26 as an older-SDK Python reports it, python/cpython#135675)"
    return Finding("macos-version", "ok", f"macOS {reported} (MPS needs {floor}+)")


@rule(
    "mps-fallback",
    symptom="GPU slower than expected, a warning about CPU fallback",
    cause="`PYTORCH_ENABLE_MPS_FALLBACK=1` runs missing ops on the CPU",
    fix="unset it to see which op is missing",
)
def mps_fallback(f: dict[str, Any]) -> Finding | None:
    value = f["env_vars"].get("PYTORCH_ENABLE_MPS_FALLBACK")
    if not on_apple_silicon(f) and value is None:
        return None
    if value == "1":
        return Finding(
            "mps-fallback",
            "warn",
            "PYTORCH_ENABLE_MPS_FALLBACK=1 is set",
            "any op MPS lacks silently runs on the CPU (with a one-time warning), copying tensors back and "
            "forth: the model trains but timings mislead and the GPU may look slower than the CPU",
            "unset it to see which op raises NotImplementedError, then keep it only for that op's sake",
        )
    shown = "unset" if value is None else f"set to {value!r} (only '1' enables it)"
    return Finding(
        "mps-fallback",
        "ok",
        f"PYTORCH_ENABLE_MPS_FALLBACK {shown}: an op MPS lacks raises NotImplementedError naming it",
    )


# CUDA minor-version compatibility: a CUDA 12.x build runs on any driver >= 525 (NVIDIA's "Minor Version
# Compatibility" table: 12.x >= 525, 11.x >= 450, 13.x >= 580).
MIN_DRIVER_FOR_CUDA_MAJOR = {11: 450, 12: 525, 13: 580}


def driver_advice(f: dict[str, Any]) -> tuple[str, str, str]:
    """(status, meaning, fix) of "no NVIDIA driver", for what this process runs: the environment's own torch
    and its CUDA, a framework that is a CPU build on Linux (no driver needed), or the machine alone."""
    t = f.get("torch")
    if t and not t.get("import_error") and t.get("cuda"):
        cuda = t["cuda"]
        floor = MIN_DRIVER_FOR_CUDA_MAJOR.get(version(cuda)[0] if version(cuda) else -1)
        needs = f">= {floor} for this torch {t['version']}'s CUDA {cuda}" if floor else f"for CUDA {cuda}"
        return (
            "warn",
            "no CUDA GPU can be used on this machine: everything runs on the CPU (verify passes and says "
            "'ran on CPU'); expected on a machine without an NVIDIA GPU",
            f"on a machine with an NVIDIA GPU, install NVIDIA's driver ({needs}) and reboot",
        )
    names = [n for n in f.get("frameworks", []) if n != "torch" or t]
    if names:
        what = ", ".join(names)
        built = "a CPU-only torch build" if t else f"{what} as locked for Linux"
        return (
            "ok",
            f"{built} runs on the CPU here and uses no NVIDIA GPU, so this environment needs no driver",
            "",
        )
    floors = ", ".join(f">= {d} for CUDA {m}.x" for m, d in MIN_DRIVER_FOR_CUDA_MAJOR.items() if m >= 12)
    return (
        "warn",
        "no CUDA GPU can be used on this machine: everything runs on the CPU (verify passes and says "
        "'ran on CPU'); expected on a machine without an NVIDIA GPU",
        f"on a machine with an NVIDIA GPU, install NVIDIA's driver ({floors}: "
        "`nox -s \"doctor(env='NAME')\"` names what an environment's torch needs) and reboot",
    )


@rule(
    "nvidia-driver",
    symptom="`cuda.is_available()` False on Linux",
    cause="no driver (`nvidia-smi` missing), or it cannot talk to the kernel module",
    fix="install the driver the environment's torch needs (>= 525 for CUDA 12.x, >= 580 for 13.x), reboot",
)
def nvidia_driver(f: dict[str, Any]) -> Finding | None:
    n = f.get("nvidia")
    if n is None:
        return None
    if n["error"]:
        return Finding(
            "nvidia-driver",
            "fail",
            f"nvidia-smi is installed but failed: {n['error']}",
            "the NVIDIA kernel driver is not loaded or does not match its user-space tools, so no program "
            "can use the GPU",
            "reinstall the driver (`sudo ubuntu-drivers install` or NVIDIA's .run/.deb), then reboot; "
            "`nvidia-smi` must list the GPUs",
        )
    if n["nvidia_smi"] is None:
        if n["proc_driver_version"]:
            return Finding(
                "nvidia-driver",
                "warn",
                f"an NVIDIA kernel module is loaded ({n['proc_driver_version']}) but nvidia-smi is not "
                "on PATH",
                "the driver may work, but its tools are missing, so the GPUs cannot be listed here",
                "install the driver's utilities (e.g. `nvidia-utils-<version>`) or add them to PATH",
            )
        status, meaning, fix = driver_advice(f)
        return Finding(
            "nvidia-driver",
            status,
            "no NVIDIA driver: nvidia-smi is not on PATH and /proc/driver/nvidia does not exist",
            meaning,
            fix,
        )
    if not n["gpus"]:
        return Finding(
            "nvidia-driver",
            "fail",
            f"NVIDIA driver {n['driver_version'] or '?'} is installed but nvidia-smi lists no GPU",
            "the GPUs are absent, unplugged from this container, or excluded",
            "check `nvidia-smi -L`; in a container, pass the GPUs through (`docker run --gpus all`)",
        )
    names = ", ".join(f"{g['index']}: {g['name']}" for g in n["gpus"])
    return Finding(
        "nvidia-driver",
        "ok",
        f"NVIDIA driver {n['driver_version']} (CUDA up to {n['driver_cuda_version']}), "
        f"{len(n['gpus'])} GPU(s): {names}",
    )


@rule(
    "cuda-visible-devices",
    symptom="torch sees no GPU though `nvidia-smi` does",
    cause="`CUDA_VISIBLE_DEVICES` is empty or -1",
    fix="unset it or list the GPUs",
)
def cuda_visible_devices(f: dict[str, Any]) -> Finding | None:
    value = f["env_vars"].get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    if value.strip() in ("", "-1", "NoDevFiles"):
        return Finding(
            "cuda-visible-devices",
            "fail",
            f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU",
            "CUDA programs see no device, so torch runs on the CPU even with a working driver",
            "unset CUDA_VISIBLE_DEVICES, or list the GPUs to use (e.g. CUDA_VISIBLE_DEVICES=0,1)",
        )
    return Finding(
        "cuda-visible-devices", "ok", f"CUDA_VISIBLE_DEVICES={value!r} selects the GPUs torch sees"
    )


APPLE = (apple_silicon, rosetta, conda_platform, macos_version, mps_fallback)
NVIDIA = (nvidia_driver, cuda_visible_devices)
