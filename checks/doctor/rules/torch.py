"""PyTorch inside the environment: does it import, does it have MPS, does it see the NVIDIA GPUs."""

from __future__ import annotations

from checks.doctor.rule import (
    Finding,
    first_line,
    macos_reported,
    mps_macos_floor,
    on_apple_silicon,
    on_mac,
    rule,
    under_rosetta,
    version,
)

# CUDA minor-version compatibility: a CUDA 12.x build runs on any driver >= 525 (NVIDIA's "Minor Version
# Compatibility" table: 12.x >= 525, 11.x >= 450, 13.x >= 580).
MIN_DRIVER_FOR_CUDA_MAJOR = {11: 450, 12: 525, 13: 580}
# torch's macOS arm64 wheels are tagged macosx_14_0 from 2.12 on (PyPI's files; `nox -s wheels` checks the
# torch-current lock's against its 14.0 floor): pip on macOS 13 finds none. Before 2.12: macosx_11_0.
FIRST_TORCH_NEEDING_MACOS_14 = "2.12"
NO_WHEEL = "No matching distribution found for torch"


@rule(
    "torch-import",
    symptom="`import torch` fails",
    cause='e.g. arm64 wheels loaded by an x86_64 Python ("incompatible architecture")',
    fix="rebuild with a native Python",
)
def torch_import(f: dict) -> Finding | None:
    t = f.get("torch")
    if t is None:
        return None
    if t["import_error"]:
        return Finding(
            "torch-import",
            "fail",
            f"`import torch` failed: {first_line(t['import_error'])}",
            "the installed wheels are for another architecture than this Python (see rule rosetta)"
            if "incompatible architecture" in t["import_error"]
            else "no torch device at all can be used",
            "rebuild the environment from the lock with a native Python (`nox -s verify`); if it persists, "
            "report the text above",
        )
    return Finding("torch-import", "ok", f"torch {t['version']} imports")


@rule(
    "torch-macos-wheel",
    symptom=f"`ERROR: {NO_WHEEL}` (pip on macOS 13), or MPS missing after forcing an install",
    cause=f"torch >= {FIRST_TORCH_NEEDING_MACOS_14} has macOS arm64 wheels tagged macosx_14_0 only, and its "
    "MPS needs macOS 14",
    fix="update macOS to 14+, or use the `torch` environment (torch 2.8.0, macOS 12.3+)",
)
def torch_macos_wheel(f: dict) -> Finding | None:
    if not on_apple_silicon(f):
        return None
    macos = version(macos_reported(f))
    installed = (f.get("torch") or {}).get("version") or f["distributions"].get("torch")
    build = f.get("build_error") or ""
    wants_current = version(installed) >= version(FIRST_TORCH_NEEDING_MACOS_14) if installed else False
    no_wheel = NO_WHEEL in build or ("torch" in build and "macosx_14_0" in build)
    if not (wants_current or no_wheel):
        return None
    what = f"torch {installed}" if installed else "the torch the lock pins"
    if macos and macos[:2] < (14, 0):
        return Finding(
            "torch-macos-wheel",
            "fail",
            f"macOS {macos_reported(f)} and {what}: "
            + (f"pip says `{first_line(build)}`" if no_wheel else "a torch built for macOS 14+"),
            f"torch >= {FIRST_TORCH_NEEDING_MACOS_14} ships macOS arm64 wheels tagged macosx_14_0 only, so "
            "pip "
            "on macOS 13 finds no wheel; and its MPS backend needs macOS 14",
            "update macOS to 14 or newer (Software Update), or use the `torch` environment "
            "(torch 2.8.0, macOS 12.3+): `nox -s \"verify(env='torch')\"`",
        )
    if no_wheel:
        return None  # another cause: rule environment-build shows pip's text
    return Finding("torch-macos-wheel", "ok", f"macOS {macos_reported(f)} has wheels for {what} (14.0+)")


@rule(
    "torch-mps",
    symptom="MPS missing",
    cause="torch built without MPS, or built with it but unavailable (the cause is named)",
    fix="the locked macOS arm64 wheel, native Python",
)
def torch_mps(f: dict) -> Finding | None:
    t = f.get("torch")
    if t is None or t["import_error"] or not on_mac(f):
        return None
    if t["mps_available"]:
        return Finding("torch-mps", "ok", f"torch {t['version']}: MPS built and available")
    if not t["mps_built"]:
        return Finding(
            "torch-mps",
            "fail",
            f"torch {t['version']} was built without MPS",
            "only the macOS arm64 wheels have the MPS backend; an x86_64 wheel (Rosetta) or a CPU-only "
            "conda build never uses the GPU",
            "install the lock in an arm64 Python: `nox -s verify`, or `conda env create -f "
            "environment-torch.yml` from an arm64 Miniforge",
        )
    causes = []
    if under_rosetta(f):
        causes.append("Python runs under Rosetta (see rule rosetta)")
    if not on_apple_silicon(f):
        causes.append("this is an Intel Mac")
    macos, floor = version(macos_reported(f)), mps_macos_floor(f)
    if macos and macos[:2] < version(floor):
        causes.append(f"macOS is below {floor} (see rule macos-version)")
    return Finding(
        "torch-mps",
        "fail",
        f"torch {t['version']} has MPS built in but not available",
        "; ".join(causes)
        or "none of the known causes applies: a virtual machine or hosted CI runner has no Metal device",
        "fix the rules marked fail above"
        if causes
        else "run on the Mac itself, not in a VM or a hosted CI runner",
    )


@rule(
    "torch-cuda",
    symptom="torch runs on CPU beside GPUs",
    cause='CPU-only torch; a driver too old for CUDA 12.8 ("found version 11040"); driver older than the '
    "toolkit (warn)",
    fix="the locked CUDA wheel; driver >= 525, better one whose CUDA >= 12.8",
)
def torch_cuda(f: dict) -> Finding | None:
    t, n = f.get("torch"), f.get("nvidia")
    if t is None or t["import_error"] or n is None:
        return None
    gpus = n["gpus"]
    if t["cuda"] is None:
        if gpus:
            return Finding(
                "torch-cuda",
                "fail",
                f"torch {t['version']} is a CPU-only build on a machine with {len(gpus)} NVIDIA GPU(s)",
                "a CPU-only wheel (from the CPU index, or conda's cpu build) never uses the GPU",
                "install the lock (`nox -s verify`: PyPI's Linux wheel is the CUDA 12.8 build) or "
                "`pip install torch --index-url https://download.pytorch.org/whl/cu128`",
            )
        return Finding(
            "torch-cuda", "ok", f"torch {t['version']} is CPU-only; this machine has no NVIDIA GPU"
        )
    built = version(t["cuda"])
    if not gpus:
        return Finding(
            "torch-cuda",
            "warn",
            f"torch {t['version']} is a CUDA {t['cuda']} build but no NVIDIA GPU is usable",
            "it runs on the CPU here; the same environment uses the GPUs on a machine with a driver",
            "nothing, on a CPU-only machine; otherwise fix rule nvidia-driver first",
        )
    driver = version(n["driver_version"])
    floor = MIN_DRIVER_FOR_CUDA_MAJOR.get(built[0]) if built else None
    if floor and driver and driver[0] < floor:
        return Finding(
            "torch-cuda",
            "fail",
            f"NVIDIA driver {n['driver_version']} (CUDA up to {n['driver_cuda_version']}) is too old for "
            f"torch's CUDA {t['cuda']}",
            f"CUDA {built[0]}.x builds need driver >= {floor}; torch says: "
            f"{t['cuda_warning'] or 'CUDA is not available'}",
            f"upgrade the NVIDIA driver to >= {floor} (better: one whose CUDA is >= {t['cuda']}) and reboot",
        )
    seen = len(t["devices"])
    if seen == 0:
        return Finding(
            "torch-cuda",
            "fail",
            f"nvidia-smi lists {len(gpus)} GPU(s) but torch {t['version']} (CUDA {t['cuda']}) sees none",
            f"torch says: {t['cuda_warning'] or 'nothing (CUDA_VISIBLE_DEVICES may hide them)'}",
            "check CUDA_VISIBLE_DEVICES, then `python -c 'import torch; torch.cuda.init()'` for the error",
        )
    driver_cuda = version(n["driver_cuda_version"])
    if driver_cuda and built and driver_cuda[:2] < built[:2]:
        return Finding(
            "torch-cuda",
            "warn",
            f"torch's CUDA {t['cuda']} is newer than the driver's CUDA {n['driver_cuda_version']}",
            "it runs through CUDA minor-version compatibility, but kernels that need a newer driver (PTX "
            "JIT) fail with 'the provided PTX was compiled with an unsupported toolchain'",
            f"upgrade the driver to one whose CUDA is >= {t['cuda']}",
        )
    names = ", ".join(d["name"] for d in t["devices"])
    partial = f" of the {len(gpus)} nvidia-smi lists" if seen < len(gpus) else ""
    return Finding(
        "torch-cuda",
        "ok",
        f"torch {t['version']} (CUDA {t['cuda']}) sees {seen} GPU(s){partial}: {names}",
    )


RULES = (torch_import, torch_macos_wheel, torch_mps, torch_cuda)
