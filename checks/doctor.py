"""Why is the GPU not used? Gather facts, then apply rules that each say ok / warn / fail, why, and the fix.

    python -m checks.doctor                       # the machine: OS, CPU, Rosetta, macOS, NVIDIA driver
    python -m checks.doctor --framework torch     # ... plus what torch inside this environment sees
    python -m checks.doctor --save-facts f.json   # record the facts (tests replay recorded machines)
    python -m checks.doctor --facts f.json        # replay recorded facts through the rules, no gathering

Gathering reads the machine (sysctl, sw_vers, nvidia-smi, the framework itself) and never guesses; the
rules are pure functions of the facts, so a fact set recorded on an M1 under Rosetta or an H100 box gives
the same findings anywhere. Standard library only, plus the framework when --framework asks for it.
Exit status: 0 when no finding fails, 1 when one does, 2 for bad arguments or an unreadable facts file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import traceback
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from checks import platform_facts

SCHEMA_VERSION = 1
FRAMEWORKS = ("torch", "tensorflow")
ENV_VARS = ("PYTORCH_ENABLE_MPS_FALLBACK", "CUDA_VISIBLE_DEVICES", "SYSTEM_VERSION_COMPAT")
# Distributions whose installed versions decide the rules, read from their metadata without importing
# them (a TF whose import dies still has a version).
DISTRIBUTIONS = ("torch", "numpy", "tensorflow", "tensorflow-macos", "tensorflow-cpu", "tensorflow-metal")

# MPS needs macOS 12.3 for torch of this era (torch 2.8; facts.md, pytorch#100879).
MPS_MACOS_FLOOR = (12, 3)
# TF (major, minor) -> the tensorflow-metal to pair it with, from the data file `nox -s pair` uses too (its
# sources are in the file): Apple's table, then the binaries' rows where they differ from it or Apple is
# silent (written by `nox -s pair -- --matrix` from the real wheels: docs/tensorflow-metal-matrix.md).
# None: no tensorflow-metal release loads into that TensorFlow.
_PAIRS = json.loads((Path(__file__).resolve().parent / "data" / "tensorflow-metal-pairs.json").read_text())


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.split("."))


APPLE_METAL_FOR_TF = {
    _minor_key(minor): row["metal"] for row in _PAIRS["pairs"] for minor in row["tensorflow"]
}
BINARIES_METAL_FOR_TF = {_minor_key(row["tensorflow"]): row["metal"] for row in _PAIRS.get("binaries", [])}
METAL_FOR_TF = {**APPLE_METAL_FOR_TF, **BINARIES_METAL_FOR_TF}
NEWEST_PAIR = _PAIRS.get("newest_pair") or {}
MATRIX_DOC = "docs/tensorflow-metal-matrix.md"
# TensorFlow builds against NumPy 2 from 2.18 on; every earlier release dies at import under NumPy 2.
TF_FIRST_NUMPY2 = (2, 18)
# CUDA minor-version compatibility: a CUDA 12.x build runs on any driver >= 525 (NVIDIA's "Minor Version
# Compatibility" table: 12.x >= 525, 11.x >= 450, 13.x >= 580).
MIN_DRIVER_FOR_CUDA_MAJOR = {11: 450, 12: 525, 13: 580}
PAIR_HINT = "`nox -s pair -- tensorflow-macos==2.9.2 tensorflow-metal==0.7.0` lists the missing symbols"

# --------------------------------------------------------------------------------------------- facts


def _run(cmd: list[str], timeout: float = 20) -> tuple[int | None, str]:
    """(exit status, stdout+stderr); None as the status where the command could not run at all."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def _nvidia() -> dict:
    """The NVIDIA driver as nvidia-smi reports it: version, the newest CUDA it supports, each GPU."""
    exe = shutil.which("nvidia-smi")
    facts: dict = {
        "nvidia_smi": exe,
        "proc_driver_version": None,
        "driver_version": None,
        "driver_cuda_version": None,
        "gpus": [],
        "error": None,
    }
    proc = Path("/proc/driver/nvidia/version")
    if proc.exists():  # the kernel module is loaded even where nvidia-smi is not installed
        facts["proc_driver_version"] = proc.read_text(errors="replace").splitlines()[0].strip()
    if exe is None:
        return facts
    status, out = _run([exe])
    if status != 0:
        facts["error"] = out.splitlines()[0] if out else f"nvidia-smi exited with {status}"
        return facts
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", out)
    facts["driver_cuda_version"] = cuda.group(1) if cuda else None
    query = "index,name,driver_version,memory.total,pci.bus_id"
    status, out = _run([exe, f"--query-gpu={query}", "--format=csv,noheader,nounits"])
    if status != 0:
        facts["error"] = out.splitlines()[0] if out else f"nvidia-smi --query-gpu exited with {status}"
        return facts
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 5:
            index, name, driver, memory, bus = parts
            facts["gpus"].append({"index": int(index), "name": name, "memory_mib": memory, "pci_bus_id": bus})
            facts["driver_version"] = driver
    return facts


def _macos() -> dict | None:
    """sw_vers' product version: the real one even where an old Python's mac_ver() says 10.16."""
    if platform.system() != "Darwin":
        return None
    status, out = _run(["sw_vers", "-productVersion"])
    return {"sw_vers": out if status == 0 else None}


def _distributions() -> dict:
    from importlib import metadata

    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _import_error(exc: BaseException) -> str:
    """The exception's own words, all lines: TF's plugin error names the dylib and the missing symbol."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _torch() -> dict:
    facts: dict = {"import_error": None}
    try:
        import torch
    except Exception as exc:
        facts["import_error"] = _import_error(exc)
        return facts
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
    facts.update(
        version=torch.__version__,
        cuda=torch.version.cuda,
        cuda_available=cuda_available,
        cuda_driver=driver or None,
        cuda_warning=" ".join(str(w.message) for w in caught) or None,
        devices=[
            {
                "name": torch.cuda.get_device_name(i),
                "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
            }
            for i in range(count)
        ],
        mps_built=torch.backends.mps.is_built(),
        mps_available=torch.backends.mps.is_available(),
    )
    return facts


def _tensorflow() -> dict:
    facts: dict = {"import_error": None}
    try:
        import tensorflow as tf
    except Exception as exc:  # NotFoundError for a plugin, ImportError/AttributeError for NumPy 2
        facts["import_error"] = _import_error(exc)
        return facts
    facts.update(
        version=tf.__version__,
        built_with_cuda=tf.test.is_built_with_cuda(),
        gpus=[d.name for d in tf.config.list_physical_devices("GPU")],
        physical_devices=[f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()],
    )
    return facts


def gather(frameworks: list[str], *, env_python: str | None = None, build_error: str | None = None) -> dict:
    """Every fact the rules read. `env_python` ("" where none was found) and `build_error` come from
    `nox -s doctor`, which knows them; the framework is imported only when no build error is given."""
    facts: dict = {
        "schema_version": SCHEMA_VERSION,
        "frameworks": list(frameworks),
        "platform": platform_facts.gather(),
        "macos": _macos(),
        "env_vars": {k: os.environ.get(k) for k in ENV_VARS},
        "nvidia": _nvidia() if platform.system() == "Linux" else None,
        "distributions": _distributions(),
        "env_python": None if env_python is None else {"path": env_python or None},
        "build_error": build_error,
        "torch": None,
        "tensorflow": None,
    }
    if build_error is None:
        if "torch" in frameworks:
            facts["torch"] = _torch()
        if "tensorflow" in frameworks:
            facts["tensorflow"] = _tensorflow()
    return facts


# -------------------------------------------------------------------------------------------- rules


@dataclass
class Finding:
    """One rule's verdict: `summary` says what was found, `meaning` why it matters, `fix` what to do."""

    rule: str
    status: str  # ok | warn | fail
    summary: str
    meaning: str = ""
    fix: str = ""


def _version(text: str | None) -> tuple[int, ...]:
    """Leading numeric release of a version string: '2.8.0+cu128' -> (2, 8, 0); () if none."""
    if not text:
        return ()
    match = re.match(r"(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def _is_mac(f: dict) -> bool:
    return f["platform"]["os"] == "Darwin"


def _apple_silicon(f: dict) -> bool:
    return platform_facts.is_apple_silicon(f["platform"])


def _tf_version(f: dict) -> str | None:
    d = f["distributions"]
    return d.get("tensorflow-macos") or d.get("tensorflow") or d.get("tensorflow-cpu")


def _rosetta(f: dict) -> bool:
    p = f["platform"]
    return _apple_silicon(f) and (bool(p["translated"]) or p["machine"] == "x86_64")


def rule_apple_silicon(f: dict) -> Finding | None:
    if not _is_mac(f):
        return None
    if _apple_silicon(f):
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


def rule_rosetta(f: dict) -> Finding | None:
    if not _apple_silicon(f):
        return None
    p = f["platform"]
    if not _rosetta(f):
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


def rule_conda_platform(f: dict) -> Finding | None:
    subdir = f["platform"].get("conda_subdir")
    if not subdir:
        return None
    if _apple_silicon(f) and subdir == "osx-64":
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


def rule_macos_version(f: dict) -> Finding | None:
    if not _apple_silicon(f):
        return None
    reported = (f.get("macos") or {}).get("sw_vers") or f["platform"]["macos_version"]
    version = _version(reported)
    if version[:2] == (10, 16):
        return Finding(
            "macos-version",
            "warn",
            f"macOS reports itself as {reported}",
            "10.16 is what macOS 11+ tells programs built with an old SDK (or SYSTEM_VERSION_COMPAT=1); "
            "the real version is unknown, and such a Python is likely too old to be the one you want",
            "check `sw_vers -productVersion`; unset SYSTEM_VERSION_COMPAT; use a current arm64 Python",
        )
    if version and version[:2] < MPS_MACOS_FLOOR:
        floor = ".".join(map(str, MPS_MACOS_FLOOR))
        return Finding(
            "macos-version",
            "fail",
            f"macOS {reported} is below {floor}",
            f"torch's MPS backend needs macOS {floor} or newer (tensorflow-metal 0.5.0 needs 12.1), so the "
            "GPU is unavailable even with a correct install",
            f"update macOS to {floor} or newer (Software Update)",
        )
    return Finding("macos-version", "ok", f"macOS {reported} (MPS needs 12.3+)")


def rule_mps_fallback(f: dict) -> Finding | None:
    value = f["env_vars"].get("PYTORCH_ENABLE_MPS_FALLBACK")
    if not _apple_silicon(f) and value is None:
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


def rule_env_python(f: dict) -> Finding | None:
    searched = f.get("env_python")  # only nox looks for the Python that builds the environments
    if searched is None:
        return None
    if searched["path"] is None:
        return _no_python39()
    return Finding("env-python", "ok", f"environments are built with {searched['path']}")


def _no_python39() -> Finding:
    return Finding(
        "env-python",
        "fail",
        "no Python 3.9 found to build the environments (python3.9 on PATH, pyenv's or uv's)",
        "every lock is resolved for CPython 3.9 (torch 2.8 and tensorflow-macos 2.9.2 are the last "
        "releases with 3.9 wheels), so no environment can be built",
        "`pyenv install 3.9`, `uv python install 3.9` or `conda create -n py39 python=3.9`, and put its "
        "bin folder on PATH (on a Mac: an arm64 build)",
    )


def rule_build(f: dict) -> Finding | None:
    if not f.get("build_error"):
        return None
    hint = (
        "this template's locks target macOS arm64 and Linux x86_64 with CPython 3.9: on another platform "
        "no wheel fits; otherwise rerun `nox -s verify` for the installer's full output"
    )
    return Finding(
        "environment-build",
        "fail",
        f"the environment did not build: {f['build_error']}",
        "nothing inside it could be checked",
        hint,
    )


def rule_torch_import(f: dict) -> Finding | None:
    t = f.get("torch")
    if t is None:
        return None
    if t["import_error"]:
        return Finding(
            "torch-import",
            "fail",
            f"`import torch` failed: {_first_line(t['import_error'])}",
            "the installed wheels are for another architecture than this Python (see rule rosetta)"
            if "incompatible architecture" in t["import_error"]
            else "no torch device at all can be used",
            "rebuild the environment from the lock with a native Python (`nox -s verify`); if it persists, "
            "report the text above",
        )
    return Finding("torch-import", "ok", f"torch {t['version']} imports")


def rule_torch_mps(f: dict) -> Finding | None:
    t = f.get("torch")
    if t is None or t["import_error"] or not _is_mac(f):
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
    if _rosetta(f):
        causes.append("Python runs under Rosetta (see rule rosetta)")
    if not _apple_silicon(f):
        causes.append("this is an Intel Mac")
    version = _version((f.get("macos") or {}).get("sw_vers") or f["platform"]["macos_version"])
    if version and version[:2] < MPS_MACOS_FLOOR:
        causes.append("macOS is below 12.3 (see rule macos-version)")
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


def rule_nvidia_driver(f: dict) -> Finding | None:
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
        return Finding(
            "nvidia-driver",
            "warn",
            "no NVIDIA driver: nvidia-smi is not on PATH and /proc/driver/nvidia does not exist",
            "no CUDA GPU can be used on this machine: everything runs on the CPU (verify passes and says "
            "'ran on CPU'); expected on a machine without an NVIDIA GPU",
            "on a machine with an NVIDIA GPU, install NVIDIA's driver (>= 525 for the CUDA 12.8 torch wheel) "
            "and reboot",
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


def rule_cuda_visible_devices(f: dict) -> Finding | None:
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


def rule_torch_cuda(f: dict) -> Finding | None:
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
    built = _version(t["cuda"])
    if not gpus:
        return Finding(
            "torch-cuda",
            "warn",
            f"torch {t['version']} is a CUDA {t['cuda']} build but no NVIDIA GPU is usable",
            "it runs on the CPU here; the same environment uses the GPUs on a machine with a driver",
            "nothing, on a CPU-only machine; otherwise fix rule nvidia-driver first",
        )
    driver = _version(n["driver_version"])
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
    driver_cuda = _version(n["driver_cuda_version"])
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


def rule_tf_import(f: dict) -> Finding | None:
    t = f.get("tensorflow")
    if t is None:
        return None
    error = t["import_error"]
    if not error:
        return Finding("tf-import", "ok", f"tensorflow {t['version']} imports")
    tf_version, metal = _tf_version(f), f["distributions"].get("tensorflow-metal")
    if "libmetal_plugin" in error or ("Symbol not found" in error and metal):
        key = _version(tf_version)[:2]
        want = METAL_FOR_TF.get(key, "the version Apple's table pairs")
        symbol = re.search(r"Symbol not found: (\S+)", error)
        fix = (
            f"install the pair {_pair_source(key)} gives: tensorflow-metal=={want} for TensorFlow "
            f"{tf_version} "
            f"(the lock does: `nox -s verify`); {PAIR_HINT}"
            if want
            else f"no tensorflow-metal loads into TensorFlow {tf_version}: {_newest_pair_fix()}; {PAIR_HINT}"
        )
        return Finding(
            "tf-import",
            "fail",
            f"`import tensorflow` failed loading the Metal plugin: {_first_line(error)}",
            f"tensorflow-metal {metal} does not pair with TensorFlow {tf_version}: the plugin needs "
            f"{symbol.group(1) if symbol else 'a symbol'} that this TensorFlow does not export where the "
            "plugin binds it, and TF loads every plugin at import, so the whole import dies",
            fix,
        )
    # The exception itself rarely names NumPy (TF 2.9.3 under NumPy 2.0.2 raises "TypeError: Unable to
    # convert function return value to a Python type!"; NumPy's own warning goes to stderr), so the
    # installed versions decide, and the text only where they are unknown.
    if _numpy_conflict(f) or "_ARRAY_API" in error or "compiled using NumPy 1.x" in error:
        return Finding(
            "tf-import",
            "fail",
            f"`import tensorflow` failed under NumPy {f['distributions'].get('numpy')}: {_first_line(error)}",
            f"TensorFlow {tf_version} is compiled against NumPy 1.x, so NumPy 2 breaks its import "
            "(see rule numpy-tf)",
            '`pip install "numpy<2"` (the lock pins 1.26.4: `nox -s verify`)',
        )
    return Finding(
        "tf-import",
        "fail",
        f"`import tensorflow` failed: {_first_line(error)}",
        "no TensorFlow device at all can be used",
        "rebuild the environment from the lock (`nox -s verify`); if it persists, report the text above",
    )


def _numpy_conflict(f: dict) -> bool:
    tf_version, numpy = _tf_version(f), f["distributions"].get("numpy")
    return bool(tf_version and numpy) and (
        _version(numpy)[:1] >= (2,) and _version(tf_version)[:2] < TF_FIRST_NUMPY2
    )


def rule_numpy_tf(f: dict) -> Finding | None:
    tf_version, numpy = _tf_version(f), f["distributions"].get("numpy")
    if not tf_version or not numpy:
        return None
    if _numpy_conflict(f):
        return Finding(
            "numpy-tf",
            "fail",
            f"NumPy {numpy} with TensorFlow {tf_version}",
            "TensorFlow before 2.18 is compiled against NumPy 1.x; NumPy 2 breaks `import tensorflow` "
            "('A module that was compiled using NumPy 1.x cannot be run in NumPy 2')",
            '`pip install "numpy<2"` (requirements/tf.in pins it; the lock has 1.26.4)',
        )
    return Finding("numpy-tf", "ok", f"NumPy {numpy} suits TensorFlow {tf_version}")


def rule_tf_metal_pair(f: dict) -> Finding | None:
    tf_version = _tf_version(f)
    if not _apple_silicon(f) or not tf_version:
        return None
    metal = f["distributions"].get("tensorflow-metal")
    key = _version(tf_version)[:2]
    want = METAL_FOR_TF.get(key)
    if key in METAL_FOR_TF and want is None:
        return Finding(
            "tf-metal-pair",
            "fail",
            f"TensorFlow {tf_version} with "
            f"{f'tensorflow-metal {metal}' if metal else 'no tensorflow-metal'}; "
            "no tensorflow-metal release loads into it",
            f"read from the wheels ({MATRIX_DOC}): every tensorflow-metal release misses symbols in "
            f"TensorFlow {'.'.join(map(str, key))}, so TF has no GPU device on a Mac (and with the plugin "
            "installed, `import tensorflow` dies)",
            _newest_pair_fix(),
        )
    if metal is None:
        return Finding(
            "tf-metal-pair",
            "fail",
            f"TensorFlow {tf_version} without tensorflow-metal",
            "without Apple's Metal plugin TensorFlow has no GPU device on a Mac",
            f"`pip install tensorflow-metal=={want or '<the version Apple pairs>'}` (the lock does)",
        )
    if want and metal != want:
        return Finding(
            "tf-metal-pair",
            "fail",
            f"tensorflow-metal {metal} with TensorFlow {tf_version}; {_pair_source(key)} pairs {want}",
            "a plugin built for another TensorFlow fails to load ('Symbol not found ... libmetal_plugin') "
            "or misbehaves",
            f"`pip install tensorflow-metal=={want}` (the lock does); {PAIR_HINT}",
        )
    return Finding("tf-metal-pair", "ok", f"tensorflow-metal {metal} pairs with TensorFlow {tf_version}")


def _pair_source(key: tuple[int, ...]) -> str:
    """Who pairs this TF minor: Apple's table, or the wheels where they say otherwise (naming Apple's)."""
    if key in BINARIES_METAL_FOR_TF:
        apple = APPLE_METAL_FOR_TF.get(key)
        return (
            f"the wheels ({MATRIX_DOC}; Apple's table says {apple})"
            if apple
            else f"the wheels ({MATRIX_DOC})"
        )
    return "Apple's table"


def _newest_pair_fix() -> str:
    tf, metal = NEWEST_PAIR.get("tensorflow"), NEWEST_PAIR.get("metal")
    if not tf:
        return f"use a TensorFlow that a tensorflow-metal release loads into ({MATRIX_DOC})"
    return f"the newest pair that loads is {tf} with tensorflow-metal=={metal} ({MATRIX_DOC})"


def rule_tf_gpu(f: dict) -> Finding | None:
    t = f.get("tensorflow")
    if t is None or t["import_error"]:
        return None
    if t["gpus"]:
        return Finding("tf-gpu", "ok", f"TensorFlow sees {len(t['gpus'])} GPU(s): {', '.join(t['gpus'])}")
    if _is_mac(f):
        return Finding(
            "tf-gpu",
            "fail",
            "TensorFlow imports but registers no Metal GPU",
            "tensorflow-metal is missing, or loaded without finding a Metal device (a VM, a hosted runner)",
            "see rules tf-metal-pair and rosetta; run on the Mac itself",
        )
    gpus = (f.get("nvidia") or {}).get("gpus") or []
    if not t["built_with_cuda"]:
        return Finding(
            "tf-gpu",
            "warn" if gpus else "ok",
            f"TensorFlow {t['version']} is a CPU build"
            + (f" beside {len(gpus)} NVIDIA GPU(s)" if gpus else ""),
            "the tf environment is tensorflow-cpu on Linux by design (TF 2.9's CUDA build needs CUDA 11.2 "
            "and cuDNN 8.1 installed system-wide); use the torch environment for the GPUs"
            if gpus
            else "",
            "`pip install tensorflow==2.9.3` plus CUDA 11.2/cuDNN 8.1 if TF must use the GPU" if gpus else "",
        )
    return Finding(
        "tf-gpu",
        "fail" if gpus else "warn",
        "TensorFlow has CUDA but sees no GPU",
        "its CUDA libraries (cudart, cuDNN) did not load, or no driver is present",
        "run `python -c 'import tensorflow'` with TF_CPP_MIN_LOG_LEVEL=0 to see which library is missing",
    )


# Applied in order: the machine, then the Python, then the framework inside the environment.
RULES = (
    rule_apple_silicon,
    rule_rosetta,
    rule_conda_platform,
    rule_macos_version,
    rule_mps_fallback,
    rule_env_python,
    rule_build,
    rule_nvidia_driver,
    rule_cuda_visible_devices,
    rule_torch_import,
    rule_torch_mps,
    rule_torch_cuda,
    rule_tf_import,
    rule_numpy_tf,
    rule_tf_metal_pair,
    rule_tf_gpu,
)


def diagnose(facts: dict) -> list[Finding]:
    """Every rule that applies to these facts, in order."""
    return [found for rule in RULES if (found := rule(facts)) is not None]


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # TF's plugin error puts the useful part ("Symbol not found: ...") on its first line.
    return lines[0] if lines else text


# ---------------------------------------------------------------------------------------------- cli


def report_lines(facts: dict, findings: list[Finding]) -> list[str]:
    p = facts["platform"]
    what = ", ".join(facts["frameworks"]) or "host"
    lines = [
        f"doctor ({what}) | Python {p['python']} {p['machine']} | {p['os']} "
        + (f"macOS {p['macos_version']}" if p["macos_version"] else p["os_release"])
    ]
    for f in findings:
        lines.append(f"  {f.status:<4}  {f.rule}: {f.summary}")
        if f.meaning:
            lines.append(f"        why: {f.meaning}")
        if f.fix:
            lines.append(f"        fix: {f.fix}")
    fails = [f.rule for f in findings if f.status == "fail"]
    warns = [f.rule for f in findings if f.status == "warn"]
    lines.append(
        (f"FAIL: {', '.join(fails)}" if fails else "no failures")
        + (f" | warnings: {', '.join(warns)}" if warns else "")
    )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m checks.doctor", description=__doc__.split("\n")[0])
    p.add_argument(
        "--framework",
        action="append",
        choices=FRAMEWORKS,
        default=[],
        help="also import this framework here and report what it sees (repeatable)",
    )
    p.add_argument("--facts", type=Path, metavar="PATH", help="replay recorded facts instead of gathering")
    p.add_argument("--save-facts", type=Path, metavar="PATH", help="write the gathered facts here")
    p.add_argument("--json", type=Path, metavar="PATH", help="write facts and findings as JSON here")
    p.add_argument(
        "--env-python",
        metavar="PATH",
        help="(nox) the Python the environments are built with; an empty string: none was found",
    )
    p.add_argument("--build-error", metavar="TEXT", help="(nox) the environment failed to build with this")
    return p.parse_args(argv)


def load_facts(path: Path) -> dict:
    """Recorded facts; exits with status 2 and one line saying what is wrong with the file."""
    try:
        facts = json.loads(path.read_text())
    except OSError as exc:
        _bad_input(f"expected a readable facts file, got {path}: {exc.strerror}")
    except ValueError as exc:
        _bad_input(f"expected JSON facts in {path}, got invalid JSON: {exc}")
    if not isinstance(facts, dict) or facts.get("schema_version") != SCHEMA_VERSION:
        got = facts.get("schema_version") if isinstance(facts, dict) else type(facts).__name__
        _bad_input(
            f"expected facts with schema_version {SCHEMA_VERSION} in {path}, got {got!r}: "
            "record them again with --save-facts"
        )
    missing = [k for k in ("platform", "env_vars", "distributions", "frameworks") if k not in facts]
    if missing:
        _bad_input(f"expected keys {missing} in {path}, got a partial fact set")
    return facts


def _bad_input(message: str) -> None:
    print(f"doctor: {message}", file=sys.stderr)
    raise SystemExit(2)


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # never leave half a file for a later --facts to read
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.facts:
        facts = load_facts(args.facts)
    else:
        facts = gather(args.framework, env_python=args.env_python, build_error=args.build_error)
    findings = diagnose(facts)
    print("\n".join(report_lines(facts, findings)))
    if args.save_facts:
        _write(args.save_facts, facts)
        print(f"facts: {args.save_facts}")
    if args.json:
        _write(args.json, {"facts": facts, "findings": [asdict(f) for f in findings]})
        print(f"report: {args.json}")
    return 1 if any(f.status == "fail" for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
