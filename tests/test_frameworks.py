"""The framework registry: every registered module provides the whole interface, and the registry turns an
import failure into a fact instead of a crash."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys

import pytest

from checks import frameworks


def _top_level_names(name: str) -> set[str]:
    """What the module defines at its top level, read from its source (the framework need not be here)."""
    spec = importlib.util.find_spec(frameworks.MODULES[name])
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
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
    assert smoke is None or importlib.util.find_spec(smoke) is not None


@pytest.mark.parametrize("name", frameworks.NAMES)
def test_every_loaded_module_has_the_interface(name):
    """Where the framework is installed: the imported module really has every member, of the right kind."""
    pytest.importorskip(name, reason=f"{name} is not in this environment")
    fw = frameworks.load(name)
    for member in frameworks.INTERFACE:
        assert hasattr(fw, member), member
    for member in ("version", "accelerators", "best_devices", "sync_for", "sine_fit", "doctor_facts"):
        assert callable(getattr(fw, member)), member
    assert all(issubclass(e, BaseException) for e in fw.OUT_OF_MEMORY)
    assert fw.block is None or callable(fw.block)
    assert {k: getattr(fw, k) for k in frameworks.DECLARED} == {
        k: frameworks.declared(name)[k] for k in frameworks.DECLARED
    }
    info = fw.accelerators()
    kind, devices = fw.best_devices(info)
    assert devices and "why_not" in info
    if kind == "cpu":
        assert devices == [fw.CPU_DEVICE]
    assert "import_error" not in fw.doctor_facts()
    assert frameworks.doctor_facts(name)["import_error"] is None


def test_argparse_choices_come_from_the_registry():
    from checks import bench, verify

    assert sorted(frameworks.NAMES) == ["tensorflow", "torch"]
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
    with pytest.raises(ValueError, match="expected a framework in torch, tensorflow, got 'jax'"):
        frameworks.load("jax")


def test_the_declared_constants_need_no_framework(root):
    """doctor's host part and replayed facts read them where no framework is here: nothing is imported."""
    code = (
        "import sys; from checks import frameworks; "
        "[frameworks.declared(n) for n in frameworks.NAMES]; "
        "print(sorted({'torch', 'tensorflow'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    assert frameworks.distributions()[:1] == ("torch",)
    assert "tensorflow-metal" in frameworks.distributions()


@pytest.mark.parametrize(
    ("version", "floor"),
    [
        ("1.12.0", "12.3"),
        ("2.8.0", "12.3"),
        ("2.11.0+cu130", "12.3"),
        ("2.12.0", "14.0"),
        ("2.15.0", "14.0"),
        (None, "12.3"),
    ],
)
def test_the_torch_module_owns_the_mps_floor(version, floor):
    table = frameworks.declared("torch")["MPS_MACOS_FLOOR"]
    assert frameworks.by_release(table, version) == floor
    if version and importlib.util.find_spec("torch") is not None:
        assert frameworks.load("torch").mps_macos_floor(version) == floor
