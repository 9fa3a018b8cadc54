"""The facts doctor's rules read, gathered from this machine, or read back from a recorded file.

Gathering reads the machine (sysctl, sw_vers, nvidia-smi, the environment variables that switch GPUs,
installed distributions' metadata, and each framework asked for, through the registry) and never guesses.
A fact set is plain JSON, so one recorded on an M1 under Rosetta or an H100 box replays anywhere.

Schema 2 (this one): `env_python` is {"X.Y": {"path": interpreter or None, "environments": [names]}} per
Python version the environments need, or None where nox did not say; schema 1 had one {"path": ...}.
`error_text` is what a user's own program printed (`--error`, `--error-file`: a traceback or a log), or None;
it came later within schema 2, so a fact set without it reads as None (an optional fact, not a new shape).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from checks import frameworks
from checks.core import platform_facts

SCHEMA_VERSION = 2
ENV_VARS = (
    "PYTORCH_ENABLE_MPS_FALLBACK", "CUDA_VISIBLE_DEVICES", "SYSTEM_VERSION_COMPAT", "TF_USE_LEGACY_KERAS",
)  # fmt: skip
# Distributions whose installed versions decide the rules, read from their metadata without importing
# them (a TF whose import dies still has a version): NumPy, which every environment has, and each
# registered framework's.
DISTRIBUTIONS = ("numpy", *frameworks.distributions())
REQUIRED = ("platform", "env_vars", "distributions", "frameworks")
# The inner shape of each fact (as every recording has it): the rules index into these.
SHAPES = {"platform": dict, "env_vars": dict, "distributions": dict, "frameworks": list}
OPTIONAL_SHAPES = {"macos": dict, "nvidia": dict, "build_error": str, "error_text": str, "metallibs": dict}
# Optional facts added within schema 2: a fact set recorded before them has none (None when read back).
ADDED_IN_SCHEMA_2 = ("error_text", "metallibs")
# Distributions whose Metal libraries (.metallib) doctor reads the header of (checks/core/metallib.py): the
# macOS each was linked for, which pip cannot see (ml-explore/mlx#4525).
METALLIB_DISTRIBUTIONS = ("mlx-metal",)
# A log can be long; the error that ended the program is at its end, so the fact keeps the last part.
ERROR_TEXT_MAX_CHARS = 1 << 20


class FactsError(ValueError):
    """A facts file that cannot be replayed; the message is one line saying what is wrong with it."""


def _run(cmd: list[str], timeout: float = 20) -> tuple[int | None, str]:
    """(exit status, stdout+stderr); None as the status where the command could not run at all."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def nvidia() -> dict[str, Any]:
    """The NVIDIA driver as nvidia-smi reports it: version, the newest CUDA it supports, each GPU."""
    exe = shutil.which("nvidia-smi")
    facts: dict[str, Any] = {
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


def macos() -> dict[str, Any] | None:
    """sw_vers' product version: the real one even where an old Python's mac_ver() says 10.16."""
    if platform.system() != "Darwin":
        return None
    status, out = _run(["sw_vers", "-productVersion"])
    return {"sw_vers": out if status == 0 else None}


def distributions() -> dict[str, Any]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def metallibs() -> dict[str, Any] | None:
    """{"mlx-metal 0.32.4: mlx/lib/mlx.metallib": {"os_version", "target_os", "file_version",
    "language_versions" (of its first functions)}} for each installed Metal library of
    METALLIB_DISTRIBUTIONS; None where none is installed (a file that is not one: its "error")."""
    from importlib import metadata

    from checks.core import metallib

    found: dict[str, Any] = {}
    for name in METALLIB_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            if not str(file).endswith(".metallib"):
                continue
            key = f"{name} {dist.version}: {file}"
            path = Path(str(dist.locate_file(file)))
            try:
                with path.open("rb") as stream:
                    head = stream.read(4096)  # the header and the first functions' versions
                header = metallib.read(head, path.stat().st_size)
            except (OSError, metallib.MetallibError) as exc:
                found[key] = {"error": str(exc)}
                continue
            found[key] = {
                "target_os": header.target_os,
                "os_version": header.os_version,
                "file_version": header.file_version,
                "language_versions": header.language_versions,
            }
    return found or None


def gather(
    names: list[str],
    *,
    env_python: dict[str, Any] | None = None,
    build_error: str | None = None,
    error_text: str | None = None,
) -> dict[str, Any]:
    """Every fact the rules read. `env_python` ({"3.9": {"path": ... or None, "environments": [...]}}) and
    `build_error` come from `nox -s doctor`, which knows them; `error_text` from the user (what their
    program printed); the frameworks named are imported (through the registry, an import failure becoming
    a fact) only when no build error is given."""
    facts: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "frameworks": list(names),
        "platform": platform_facts.gather(),
        "macos": macos(),
        "env_vars": {k: os.environ.get(k) for k in ENV_VARS},
        "nvidia": nvidia() if platform.system() == "Linux" else None,
        "distributions": distributions(),
        "env_python": env_python,
        "build_error": build_error,
        "error_text": error_tail(error_text),
        "metallibs": metallibs(),
        # One key per registered framework: None where it was not asked.
        **{name: None for name in frameworks.NAMES},
    }
    if build_error is None:
        for name in names:
            facts[name] = frameworks.doctor_facts(name)
    return facts


def error_tail(text: str | None) -> str | None:
    """The error text as the fact keeps it: its last ERROR_TEXT_MAX_CHARS characters."""
    return None if text is None else text[-ERROR_TEXT_MAX_CHARS:]


def _check_shapes(facts: dict[str, Any], path: Path) -> None:
    """FactsError naming the first fact with the right key but the wrong inner shape."""
    kinds = {dict: "an object", list: "a list", str: "a string"}
    for key, kind in SHAPES.items():
        if not isinstance(facts[key], kind):
            got = json.dumps(facts[key])[:60]
            raise FactsError(f"expected {key} as {kinds[kind]} in {path}, got {got}: record them again")
    for key, kind in OPTIONAL_SHAPES.items():
        if facts.get(key) is not None and not isinstance(facts[key], kind):
            got = json.dumps(facts[key])[:60]
            raise FactsError(
                f"expected {key} as {kinds[kind]} or null in {path}, got {got}: record them again"
            )


def read(path: Path) -> dict[str, Any]:
    """A recorded fact set, checked enough to replay; FactsError (one line) for one that cannot be."""
    try:
        facts = json.loads(path.read_text())
    except OSError as exc:
        raise FactsError(f"expected a readable facts file, got {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise FactsError(f"expected JSON facts in {path}, got invalid JSON: {exc}") from None
    if not isinstance(facts, dict) or facts.get("schema_version") != SCHEMA_VERSION:
        got = facts.get("schema_version") if isinstance(facts, dict) else type(facts).__name__
        why = " (schema 1 has one env_python path; 2 has one per Python version)" if got == 1 else ""
        raise FactsError(
            f"expected facts with schema_version {SCHEMA_VERSION} in {path}, got {got!r}{why}: "
            "record them again with --save-facts"
        )
    missing = [k for k in REQUIRED if k not in facts]
    if missing:
        raise FactsError(f"expected keys {missing} in {path}, got a partial fact set")
    _check_shapes(facts, path)
    env_python = facts.get("env_python")
    if env_python is not None and not (
        isinstance(env_python, dict)
        and all(isinstance(w, dict) and {"path", "environments"} <= set(w) for w in env_python.values())
    ):
        raise FactsError(
            f'expected env_python as {{"X.Y": {{"path": ..., "environments": [...]}}}} in {path}, '
            f"got {json.dumps(env_python)}"
        )
    for name in frameworks.NAMES:  # a framework registered after these facts were recorded was not asked
        facts.setdefault(name, None)
    for key in ADDED_IN_SCHEMA_2:
        facts.setdefault(key, None)
    return facts
