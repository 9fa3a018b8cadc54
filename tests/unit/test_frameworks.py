"""The framework registry: every registered module provides the whole interface, and the registry turns an
import failure into a fact instead of a crash."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from checks import frameworks


def _top_level_names(name: str) -> set[str]:
    """What the module defines at its top level, read from its source (the framework need not be here)."""
    spec = importlib.util.find_spec(frameworks.MODULES[name])
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))  # closed at once: no ResourceWarning
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("name", frameworks.NAMES)
def test_every_registered_module_defines_the_interface(name):
    """Checked from the source, so it holds in every environment, whichever framework is installed."""
    missing = [member for member in frameworks.INTERFACE if member not in _top_level_names(name)]
    assert not missing, f"{frameworks.MODULES[name]} lacks {missing}"
    declared = frameworks.declared(name)
    assert declared["NAME"] == name
    assert isinstance(declared["CPU_DEVICE"], str) and declared["CPU_DEVICE"]
    assert declared["DISTRIBUTIONS"] and all(isinstance(d, str) for d in declared["DISTRIBUTIONS"])
    smoke = declared["DISTRIBUTED_SMOKE"]
    assert smoke is None or frameworks.source(smoke).is_file()


@pytest.mark.parametrize("name", frameworks.NAMES)
def test_every_extra_check_has_its_interface(name):
    """Each EXTRA_CHECKS module, read from its source: run(device, locked=None) and summary_line(report)."""
    for module in frameworks.declared(name).get("EXTRA_CHECKS", ()):
        origin = frameworks.source(module)  # find_spec would import the framework (its folder's __init__)
        assert origin.is_file(), module
        tree = ast.parse(origin.read_text(encoding="utf-8"))
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        run = functions["run"].args
        assert [a.arg for a in run.args] == ["device", "locked"] and len(run.defaults) == 1, module
        assert [a.arg for a in functions["summary_line"].args.args] == ["report"], module


def test_argparse_choices_come_from_the_registry():
    from checks import bench, verify

    assert sorted(frameworks.NAMES) == ["mlx", "tensorflow", "torch"]
    for parse in (verify.parse_args, bench.parse_args):
        with pytest.raises(SystemExit):
            parse(["--framework", "jax"])
        assert [parse(["--framework", name]).framework for name in frameworks.NAMES] == list(frameworks.NAMES)


def test_an_import_failure_is_a_fact_with_every_line(monkeypatch):
    """TF's plugin error names the dylib on one line and the symbol on the next: both are kept."""
    message = (
        "dlopen(.../libmetal_plugin.dylib, 0x0006): Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii\n"
        "  Referenced from: .../libmetal_plugin.dylib"
    )

    def broken(name):
        raise ImportError(message)

    monkeypatch.setattr(frameworks, "load", broken)
    assert frameworks.doctor_facts("tensorflow") == {"import_error": f"ImportError: {message}"}


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="expected a framework in torch, tensorflow, mlx, got 'jax'"):
        frameworks.load("jax")


def test_the_declared_constants_need_no_framework(root):
    """doctor's host part and replayed facts read them where no framework is here: nothing is imported."""
    code = (
        "import sys; from checks import frameworks; "
        "[frameworks.declared(n) for n in frameworks.NAMES]; "
        "print(sorted({'torch', 'tensorflow', 'mlx'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    assert frameworks.distributions()[:1] == ("torch",)
    assert "tensorflow-metal" in frameworks.distributions()


@pytest.mark.parametrize(
    ("version", "floor"),
    [
        ("1.12.0", "12.3"),
        ("2.4.1", "12.3"),
        ("2.5.1", "13.0"),
        ("2.8.0", "13.0"),
        ("2.11.0+cu130", "14.0"),
        ("2.12.0", "14.0"),
        ("2.15.0", "15.0"),
        (None, "12.3"),
    ],
)
def test_the_torch_module_owns_the_mps_floor(version, floor):
    table = frameworks.declared("torch")["MPS_MACOS_FLOOR"]
    assert frameworks.by_release(table, version) == floor
    if version and importlib.util.find_spec("torch") is not None:
        assert frameworks.load("torch").mps_macos_floor(version) == floor


# What each release's own macOS wheel says (tests/data/audit/torch-mps-floors.json, recorded by
# `python -m tools.mac.mps_binary --floors 1.12.0 ... 2.15.0 --json ...`): the message libtorch_cpu raises
# when MPS is unavailable, the macOS versions MPSDevice.h gates ops on, and the embedded Metal libraries.
FLOORS = json.loads((Path(__file__).parents[1] / "data" / "audit" / "torch-mps-floors.json").read_text())
# Where the table departs from the message, and the public evidence why: 2.5 dropped macOS 12
# (pytorch/pytorch#133141) but kept the 12.3 message until 2.6 (pytorch/pytorch#139425).
NOT_THE_MESSAGE = {"2.5.0": "13.0", "2.5.1": "13.0"}


@pytest.mark.parametrize("version", sorted(FLOORS, key=lambda v: tuple(map(int, v.split(".")))))
def test_the_mps_floor_is_what_each_release_says(version):
    found, table = FLOORS[version], frameworks.declared("torch")["MPS_MACOS_FLOOR"]
    floor = frameworks.by_release(table, version)
    assert floor == NOT_THE_MESSAGE.get(version, found["message"])
    as_tuple = frameworks.release
    # no op is gated below the floor (the floor itself needs no gate: pytorch/pytorch#133141's review) ...
    assert all(as_tuple(gate) >= as_tuple(floor) for gate in found["gates"])
    # ... and where Metal libraries are embedded, one is for a macOS at or below the floor
    assert not found["metallibs"] or as_tuple(found["metallibs"][0]) <= as_tuple(floor)


# --- adding a framework is one module and one registry line ---------------------------------------------

NUMPY_FRAMEWORK = '''
"""A framework made of NumPy float32, to prove that one module and one registry line are enough."""

import math
import time

import numpy as np

from checks.core.sine_fit import FitRun

NAME = "numpyfw"
DISTRIBUTIONS = ("numpy",)
CPU_DEVICE = "cpu"
DISTRIBUTED_SMOKE = None
TIMER = "time.perf_counter"
OUT_OF_MEMORY = (MemoryError,)
block = None


def version():
    return np.__version__


def accelerators():
    return {"why_not": {"gpu": "NumPy has none"}}


def best_devices(info=None):
    return "cpu", [CPU_DEVICE]


def sync_for(device):
    return lambda: None


def doctor_facts():
    return {"version": np.__version__}


def sine_fit(device, init, *, n, steps, lr, on_step=None):
    x = np.linspace(-math.pi, math.pi, n, dtype=np.float32)
    y = np.sin(x)
    p = np.array(init, dtype=np.float32)
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        y_pred = p[0] + p[1] * x + p[2] * x**2 + p[3] * x**3
        losses.append(float(np.square(y_pred - y).sum()))
        if not math.isfinite(losses[-1]):
            break
        g = 2.0 * (y_pred - y)
        p -= np.float32(lr) * np.array([g.sum(), (g * x).sum(), (g * x**2).sum(), (g * x**3).sum()])
    seconds = time.perf_counter() - start
    return FitRun(device, {"x": "cpu"}, losses, [float(v) for v in p], seconds, len(losses), True)


def targets(facts, *, cpu_only=False):
    from checks.core.harness import cpu_name

    return [{"kind": "cpu", "device": CPU_DEVICE, "label": "cpu", "name": cpu_name(facts)}]


class SineFit:
    def __init__(self, device, n, init, lr, form):
        self.n, self.init, self.lr, self.how, self.sync = n, init, lr, f"numpy {form}", lambda: None
        self.coefficients = list(init)

    def step(self):
        run = sine_fit("cpu", self.coefficients, n=self.n, steps=1, lr=self.lr)
        self.coefficients = run.coefficients

    def run(self, steps):
        return sine_fit("cpu", self.init, n=self.n, steps=steps, lr=self.lr).coefficients


def matmul_dtypes(device):
    return ["float32"]


class Matmul:
    def __init__(self, device, n, dtype):
        a = np.ones((n, n), dtype=dtype)
        self.fn, self.sync, self.how = (lambda: a @ a), (lambda: None), "numpy matmul"


class Copy:
    def __init__(self, device, nbytes):
        src, dst = np.ones(nbytes // 4, np.float32), np.empty(nbytes // 4, np.float32)
        self.fn, self.sync, self.how = (lambda: np.copyto(dst, src)), (lambda: None), "np.copyto"
'''


@pytest.fixture
def numpy_framework(tmp_path, monkeypatch):
    """checks' registry with one more line: numpyfw -> a module that exists nowhere else."""
    (tmp_path / "numpyfw_module.py").write_text(NUMPY_FRAMEWORK)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(frameworks, "MODULES", {**frameworks.MODULES, "numpyfw": "numpyfw_module"})
    monkeypatch.setattr(frameworks, "NAMES", (*frameworks.NAMES, "numpyfw"))
    yield "numpyfw"
    sys.modules.pop("numpyfw_module", None)
    frameworks._declared_cache.pop("numpyfw", None)


def test_a_new_framework_needs_only_its_module_and_a_registry_line(numpy_framework, tmp_path, capsys):
    from checks import bench, doctor, verify

    assert not [m for m in frameworks.INTERFACE if m not in _top_level_names(numpy_framework)]
    out = tmp_path / "verify.json"
    assert verify.main(["--framework", numpy_framework, "--allow-cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] and report["chosen"] == {"kind": "cpu", "devices": ["cpu"]}
    assert "distributed" not in report and "ran on CPU: gpu: NumPy has none" in report["notes"][0]
    args = ["--framework", numpy_framework, "--quick", "--sizes", "2000", "--matmul-sizes", "64"]
    assert bench.main([*args, "--copy-mib", "1", "--repeats", "2", "--json", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["framework"] == numpy_framework
    facts = doctor.gather([numpy_framework])
    assert facts[numpy_framework] == {"import_error": None, "version": facts["distributions"]["numpy"]}
    capsys.readouterr()
    assert doctor.main(["--framework", numpy_framework]) in (0, 1)
    assert capsys.readouterr().out.startswith(f"doctor ({numpy_framework}) |")
