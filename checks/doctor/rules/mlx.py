"""MLX inside the environment: the floors it needs (macOS 14, a native arm64 Python, Python 3.10), whether
it imports, whether Metal is there, and float64 on the GPU.

The floors are the mlx framework module's declared constants (checks/frameworks/mlx/__init__.py), read without
importing mlx: these rules apply wherever doctor was asked about mlx, including where it failed to import.
"""

from __future__ import annotations

from typing import Any

from checks import frameworks
from checks.doctor.rule import (
    Finding,
    first_line,
    macos_reported,
    on_apple_silicon,
    on_mac,
    rule,
    under_rosetta,
    version,
)


def _floors() -> tuple[str, str]:
    declared = frameworks.declared("mlx")
    return declared["PYTHON_FLOOR"], declared["MACOS_FLOOR"]


def _asked(f: dict[str, Any]) -> dict[str, Any] | None:
    return f.get("mlx")


@rule(
    "mlx-python",
    symptom="`pip install mlx` finds no version (ERROR: No matching distribution found for mlx)",
    cause="Python below 3.10: mlx 0.32.4's wheels declare Requires-Python >=3.10 (their METADATA)",
    fix="Python 3.12 (the environment's), e.g. `conda env create -f environment-mlx.yml`",
)
def mlx_python(f: dict[str, Any]) -> Finding | None:
    if _asked(f) is None:
        return None
    floor, _ = _floors()
    have = f["platform"]["python"]
    if version(have)[:2] >= version(floor):
        return Finding("mlx-python", "ok", f"Python {have} >= {floor}, as mlx requires")
    return Finding(
        "mlx-python",
        "fail",
        f"Python {have} is below {floor}",
        f"mlx's wheels declare Requires-Python >={floor}: pip finds no mlx for this Python at all",
        "build the environment with its own Python 3.12 (`nox -s verify`, or `conda env create -f "
        "environment-mlx.yml`)",
    )


@rule(
    "mlx-macos",
    symptom="pip finds no mlx wheel on this Mac, or an old mlx without Metal",
    cause="macOS below 14.0: mlx 0.32's macOS wheels are tagged macosx_14_0_arm64 (0.29.3 was the last for "
    "macOS 13)",
    fix="update macOS to 14 or later (or pin mlx==0.29.3 in a fork that must run on macOS 13)",
)
def mlx_macos(f: dict[str, Any]) -> Finding | None:
    if _asked(f) is None or not on_mac(f):
        return None
    _, floor = _floors()
    reported = macos_reported(f)
    if version(reported)[:2] >= version(floor):
        return Finding("mlx-macos", "ok", f"macOS {reported} >= {floor}, as mlx's wheels require")
    return Finding(
        "mlx-macos",
        "fail",
        f"macOS {reported} is below {floor}",
        f"the locked mlx and mlx-metal wheels are tagged macosx_{floor.replace('.', '_')}_arm64: pip on this "
        "macOS finds none, and mlx's Metal backend needs macOS 14 APIs",
        "update macOS (System Settings > General > Software Update); a fork for macOS 13 pins mlx==0.29.3",
    )


@rule(
    "mlx-rosetta",
    symptom='no matching distribution for mlx, or `import mlx.core` fails with "incompatible architecture"',
    cause="an x86_64 Python under Rosetta on an Apple Silicon Mac: mlx has macOS wheels for arm64 only",
    fix="a native arm64 Python (Miniforge arm64, python.org universal2), rebuild",
)
def mlx_rosetta(f: dict[str, Any]) -> Finding | None:
    if _asked(f) is None or not on_apple_silicon(f):
        return None
    if not under_rosetta(f):
        return Finding("mlx-rosetta", "ok", "Python runs natively as arm64, as mlx requires")
    return Finding(
        "mlx-rosetta",
        "fail",
        f"Python runs as {f['platform']['machine']} under Rosetta",
        "mlx publishes macOS wheels for arm64 only: an x86_64 Python finds none, or cannot load arm64 ones",
        "install an arm64 Python (Miniforge3-MacOSX-arm64) and rebuild; `python -c 'import platform; "
        "print(platform.machine())'` must print arm64",
    )


@rule(
    "mlx-import",
    symptom="`import mlx.core` fails",
    cause="no backend wheel (Linux without mlx[cpu] or mlx[cuda13]), another architecture, or a macOS "
    "too old for the binary",
    fix="rebuild from the lock (`nox -s verify`)",
)
def mlx_import(f: dict[str, Any]) -> Finding | None:
    m = _asked(f)
    if m is None:
        return None
    if m["import_error"]:
        return Finding(
            "mlx-import",
            "fail",
            f"`import mlx.core` failed: {first_line(m['import_error'])}",
            "no MLX device at all can be used",
            "rebuild the environment from its lock (`nox -s verify`); on Linux the lock installs mlx[cpu] "
            "(docs/mlx.md), and the rules above name a wrong Python, macOS or architecture",
        )
    backends = ", ".join(f"{k} {v}" for k, v in m["backends"].items()) or "no backend distribution"
    return Finding("mlx-import", "ok", f"mlx {m['version']} imports ({backends})")


@rule(
    "mlx-metal",
    symptom="verify: `device: cpu` with mlx on an Apple Silicon Mac (mx.metal.is_available() is False)",
    cause="mlx-metal missing from the environment, or a virtual machine / hosted CI runner without Metal",
    fix="install the lock (mlx pulls mlx-metal on macOS); run on the Mac itself",
)
def mlx_metal(f: dict[str, Any]) -> Finding | None:
    m = _asked(f)
    if m is None or m["import_error"] or not on_mac(f):
        return None
    if m["metal_available"]:
        name = (m.get("gpu") or {}).get("device_name") or "the GPU"
        return Finding("mlx-metal", "ok", f"mlx {m['version']}: Metal available ({name})")
    missing = "mlx-metal" not in m["backends"]
    return Finding(
        "mlx-metal",
        "fail",
        f"mlx {m['version']}: Metal is not available",
        "mlx-metal (libmlx.dylib and mlx.metallib) is not installed"
        if missing
        else "mlx-metal is installed, so no Metal device is visible: a virtual machine or hosted CI runner "
        "(no GPU passthrough), or the causes the rules above mark fail",
        "reinstall from the lock (`nox -s verify`)" if missing else "run on the Mac itself",
    )


@rule(
    "mlx-float64",
    symptom='"float64 is not supported on the GPU" (raised by an mlx operation on the GPU)',
    cause="MLX has no float64 on Metal or CUDA (mlx#799); NumPy's float64 arrays become float64 mlx arrays",
    fix="convert to float32 (`mx.array(a, dtype=mx.float32)`), or run that operation with stream=mx.cpu",
)
def mlx_float64(f: dict[str, Any]) -> Finding | None:
    m = _asked(f)
    if m is None or m["import_error"] or not (m["metal_available"] or m["cuda_available"]):
        return None
    error = m.get("float64_on_gpu_error")
    if error is None:
        return Finding("mlx-float64", "ok", "float64 runs on this MLX GPU")
    return Finding(
        "mlx-float64",
        "warn",
        f'float64 on the GPU raises: "{error}"',
        "code that passes NumPy's default float64 arrays to mlx fails on the GPU (checks/ keeps the fit in "
        "float32 and its float64 reference in NumPy)",
        "create arrays as float32 (`mx.array(a, dtype=mx.float32)`), or put float64 work on the CPU: "
        "`mx.add(a, b, stream=mx.cpu)` / `with mx.stream(mx.cpu):`",
    )


@rule(
    "mlx-metallib",
    symptom='"Failed to load the default metallib. This library is using language version 4.0 which is not '
    'supported on this OS", or on macOS 26.0/26.1 an mlx-metal whose library is for 26.2',
    cause="mlx.metallib linked for a newer macOS than this one: a wheel forced onto an older macOS, or "
    "mlx-metal's macosx_26_0 wheel, built for 26.2, which pip installs on 26.0 and 26.1 "
    "(ml-explore/mlx#4525)",
    fix="update macOS to the version the library names (Software Update), or rebuild from the lock so pip "
    "picks the wheel for this macOS",
)
def mlx_metallib(f: dict[str, Any]) -> Finding | None:
    libraries = f.get("metallibs")
    if not libraries or not on_mac(f):
        return None
    reported = macos_reported(f)
    for where, header in sorted(libraries.items()):
        if "error" in header:
            return Finding(
                "mlx-metallib",
                "fail",
                f"{where} is not a readable Metal library: {header['error']}",
                "Metal refuses it: mlx has no GPU kernels",
                "reinstall from the lock (`nox -s verify`)",
            )
        needs = header["os_version"] if header["target_os"] == "macOS" else None
        if needs is None or version(reported)[:2] >= version(needs)[:2]:
            continue
        language = "/".join(header.get("language_versions") or []) or "unknown"
        same_major = version(reported)[0] == version(needs)[0]
        return Finding(
            "mlx-metallib",
            "warn" if same_major else "fail",
            f"{where} is a Metal library for macOS {needs} (its header); this Mac runs {reported}",
            (
                f"its Metal language ({language}) is this macOS's, so Metal loads it, but it was built for "
                f"{needs}: pip installs mlx-metal's macosx_{version(needs)[0]}_0 wheel on every "
                f"{version(needs)[0]}.x (ml-explore/mlx#4525: on an M5-class GPU MLX then picks kernels "
                f"that need {needs}; not verified on such a Mac)"
            )
            if same_major
            else f'Metal refuses a library whose language ({language}) this macOS lacks: "Failed to load '
            'the default metallib", and mlx has no GPU',
            f"update macOS to {needs} or later (System Settings > General > Software Update)"
            + (
                ""
                if same_major
                else ", or rebuild from the lock (`nox -s verify`): pip picks the wheel for this macOS"
            ),
        )
    shown = ", ".join(
        f"{w} for macOS {h['os_version']}" for w, h in sorted(libraries.items()) if "error" not in h
    )
    return Finding("mlx-metallib", "ok", f"{shown}; this Mac runs {reported}")


RULES = (mlx_python, mlx_macos, mlx_rosetta, mlx_import, mlx_metal, mlx_metallib, mlx_float64)
