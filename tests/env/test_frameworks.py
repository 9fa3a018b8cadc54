"""The framework registry: every registered module provides the whole interface, and the registry turns an
import failure into a fact instead of a crash."""

from __future__ import annotations

import pytest

from checks import frameworks


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


# --- adding a framework is one module and one registry line ---------------------------------------------
