"""The frameworks checks/ knows, by name: one module each, one interface, this one registry.

    from checks import frameworks
    fw = frameworks.load("torch")          # checks.frameworks.torch; raises what `import torch` raised
    kind, devices = fw.best_devices()

verify, bench, doctor and the distributed smoke find a framework only through this registry, so adding one
(MLX, say) is one folder, checks/frameworks/NAME/ (its module in __init__.py, its extra checks, its
distributed smoke and its model bench beside it), plus its line in MODULES below and its doctor rules
(checks/doctor/rules/NAME.py). Each module imports
its framework at its top: loading it is importing the framework, and an import that fails is a finding
(`doctor_facts` below keeps the exception's text; verify reports it as a failure).

The interface every framework module provides (tests/unit/test_frameworks.py holds every registered module to
it). The declared constants are top-level literals: `declared(name)` reads them from the module's source
without importing anything, for the places that must work where the framework is absent (doctor's host
part, replayed fact sets):

    NAME               the registry name ("torch")
    DISTRIBUTIONS      the distributions doctor reads the versions of, from their metadata, never importing
                       them (a framework whose import dies still has a version)
    CPU_DEVICE         the CPU's device name in the framework ("cpu", "/CPU:0"): the baseline beside a GPU
    DISTRIBUTED_SMOKE  None, or the module verify runs after the fit: `launch() -> report` (with "passed"
                       and "failures"), `rank_lines(report)` and `summary_line(report)` (torch:
                       checks.frameworks.torch.allreduce, an all-reduce under torchrun)

Optional, declared where a framework has it (a module without it has none; `extra_checks` reads it):

    EXTRA_CHECKS       module names verify runs after the fit, each on the chosen device:
                       `run(device, locked=None) -> report` (with "passed" and "failures"; `locked`: the
                       distributions the environment's lock installs on this machine, None where unknown)
                       and `summary_line(report)` (tensorflow: checks.frameworks.tensorflow.keras_fit, a Keras
                       model.fit; torch: checks.torch_extras, torchvision and torchaudio against the CPU)
    NUMERICS           the module of the framework's ops for verify's numerics suite (checks/core/numerics.py
                       runs them: OPS, dtypes, put, get, index, settings, release, sums_in_half, known; each
                       framework's in checks/frameworks/NAME/numerics.py)
    MODEL_BENCH        the module `python -m checks.modelbench` trains real models with
    (checks/frameworks/NAME/models.py:
                       MODELS, precisions(device), Step(...), block, release; its docstring has the interface)

Functions and classes, which need the framework:

    version()                         the framework's version string
    accelerators()                    what it sees, with info["why_not"][accelerator] = the reason wherever
                                      an accelerator is missing
    best_devices(info=None)           (kind, devices): the best kind and every device of it ("cpu" last)
    sync_for(device)                  a callable that drains the device's queued work
    sine_fit(device, init, *, n, steps, lr, on_step=None) -> sine_fit.FitRun
                                      the canonical loop, faithful (the loss read back every step)
    doctor_facts()                    what doctor's rules read about the framework (no "import_error":
                                      doctor_facts(name) below adds it)
    targets(facts, *, cpu_only=False) the bench's devices: [{"kind", "device", "label", "name", ...}]
    SineFit(device, n, init, lr, form), Matmul(device, n, dtype), Copy(device, nbytes)
                                      the bench's forms: each has `how` (what it really ran) and a `sync`;
                                      SineFit has step() and run(k) -> [a, b, c, d]; Matmul and Copy have
                                      fn (Matmul's None where the dtype is not supported)
    matmul_dtypes(device)             the dtypes the bench multiplies in on that device
    TIMER                             one line: how a bench repeat is timed
    OUT_OF_MEMORY                     the exception types an allocation that does not fit raises
    block                             None (the bench's wall clock), or block(fn, number, sync) -> seconds
                                      for one repeat
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

# name -> module. The name is what --framework takes and what facts, reports and tests key on.
MODULES = {
    "torch": "checks.frameworks.torch",
    "tensorflow": "checks.frameworks.tensorflow",
    "mlx": "checks.frameworks.mlx",
}
NAMES = tuple(MODULES)

DECLARED = ("NAME", "DISTRIBUTIONS", "CPU_DEVICE", "DISTRIBUTED_SMOKE")
INTERFACE = (
    *DECLARED,
    "version",
    "accelerators",
    "best_devices",
    "sync_for",
    "sine_fit",
    "doctor_facts",
    "targets",
    "SineFit",
    "Matmul",
    "Copy",
    "matmul_dtypes",
    "TIMER",
    "OUT_OF_MEMORY",
    "block",
)


def _module(name: str) -> str:
    try:
        return MODULES[name]
    except KeyError:
        raise ValueError(f"expected a framework in {', '.join(NAMES)}, got {name!r}") from None


def load(name: str) -> ModuleType:
    """The framework's module, imported (and with it the framework); raises whatever that import raises."""
    return importlib.import_module(_module(name))


def import_error(exc: BaseException) -> str:
    """The exception's own words, every line: TF's plugin error names the dylib and the missing symbol."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def doctor_facts(name: str) -> dict[str, Any]:
    """doctor's facts about one framework: {"import_error": None, ...what it reports} when it imports,
    else {"import_error": the exception's text}: a failed import is a fact, not a crash."""
    try:
        module = load(name)
    except Exception as exc:  # NotFoundError for a TF plugin, ImportError/TypeError for NumPy 2, dyld's
        return {"import_error": import_error(exc)}
    return {"import_error": None, **module.doctor_facts()}


def extra_checks(module: ModuleType) -> tuple[str, ...]:
    """The framework's optional extra checks (EXTRA_CHECKS), () where it declares none."""
    return tuple(getattr(module, "EXTRA_CHECKS", ()) or ())


def numerics(module: ModuleType) -> str | None:
    """The framework's numerics-suite module name (NUMERICS), None where it declares none."""
    return getattr(module, "NUMERICS", None) or None


def model_bench(module: ModuleType) -> str | None:
    """The framework's model-bench module name (MODEL_BENCH), None where it declares none."""
    return getattr(module, "MODEL_BENCH", None) or None


def source(module: str) -> Path:
    """The source file of a module of checks/, found without importing it or the packages above it: a
    framework's folder imports its framework in its __init__.py, so importlib's find_spec of
    checks.frameworks.torch.allreduce would import torch (absent on the host)."""
    top, *parts = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is not None and not parts and spec.origin:
        return Path(spec.origin)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        base = Path(folder).joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    raise ValueError(f"expected the source of {module}, got none")


def literals(module: str) -> dict[str, Any]:
    """A module's top-level UPPER_CASE constants whose values are literals, read from its source with
    `ast`: nothing is imported, so they are there even where the framework is not installed."""
    origin = source(module)
    tree = ast.parse(origin.read_text(encoding="utf-8"), str(origin))
    found = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        value = node.value if isinstance(node, ast.Assign) else None
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id.isupper() and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                continue  # computed, not declared: only the imported module has it
    return found


_declared_cache: dict[str, dict[str, Any]] = {}


def declared(name: str) -> dict[str, Any]:
    """The framework module's declared constants (`literals` of its module), read once."""
    if name not in _declared_cache:
        _declared_cache[name] = literals(_module(name))
    return _declared_cache[name]


def check_name(module: str) -> str:
    """The name an extra check's or a distributed smoke's report and failure lines carry in verify's report
    ("torch_extras: ..."): its REPORT_NAME, else the module's last part. Read without importing it, so a
    check whose import crashes is still reported under its name."""
    try:
        name = literals(module).get("REPORT_NAME")
    except (ValueError, OSError, SyntaxError):
        name = None
    return str(name or module.rpartition(".")[2])


def distributions() -> tuple[str, ...]:
    """Every registered framework's DISTRIBUTIONS, in registry order, each once."""
    names: list[str] = []
    for name in NAMES:
        names += [d for d in declared(name)["DISTRIBUTIONS"] if d not in names]
    return tuple(names)


def release(text: str | None) -> tuple[int, ...]:
    """The leading numeric release of a version string: '2.8.0+cu128' -> (2, 8, 0); () for none."""
    match = re.match(r"(\d+(?:\.\d+)*)", text or "")
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def by_release(table: dict[str, str], version: str | None) -> str:
    """The value of a {first release: value} table for `version`: the row of the newest first release at or
    below it. An unknown version gets the oldest row's value."""
    rows = sorted(table.items(), key=lambda kv: release(kv[0]))
    have = release(version)
    value = rows[0][1]
    for first, row_value in rows:
        if have and have >= release(first):
            value = row_value
    return value
