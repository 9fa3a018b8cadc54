"""Doctor's fact gathering, for real, inside the environment: what it gathers has the shape of every
recorded and hand-written fact set the rules are tested on (tests/unit/test_doctor.py)."""

from __future__ import annotations

import os
import shutil
import sys
import traceback
from pathlib import Path

import pytest

from checks import doctor, frameworks
from checks.doctor.rules import torch as torch_rules
from tools.envs import envspec

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "facts"

# Every recorded or hand-written fact set: each must look like what gathering produces here.
FACT_SETS = sorted(p.stem for p in FACTS.glob("*.json"))


def load(name: str) -> dict:
    return doctor.load_facts(FACTS / f"{name}.json")


ADDED_LATER = {"TF_USE_LEGACY_KERAS"}  # doctor reads it since the current TF (Keras 3) environment
# Framework facts gathered since sets were recorded (rules read them with .get): the device probe's results,
# torchvision's and torchaudio's libraries loaded beside torch.
FRAMEWORK_ADDED_LATER = {"probe", "extensions"}


def test_live_gathering_has_the_schema_of_the_recorded_sets():
    """Gathering runs for real here; hand-written sets must look exactly like what it produces."""
    under_test = os.environ.get("GPUENV_UNDER_TEST")
    envs = envspec.environments()
    wanted = [envs[under_test].framework] if under_test in envs else []
    live = doctor.gather(wanted)
    assert live["platform"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert live["platform"]["os"] in ("Linux", "Darwin")
    if live["platform"]["os"] == "Linux":
        assert live["nvidia"]["nvidia_smi"] == shutil.which("nvidia-smi")
    assert FACT_SETS
    for name in FACT_SETS:
        recorded = load(name)
        assert set(recorded) - {"_source"} == set(live), name
        assert set(recorded["platform"]) == set(live["platform"]), name
        # Variables read since a set was recorded are absent from it (a rule reads them with .get).
        assert set(live["env_vars"]) - ADDED_LATER <= set(recorded["env_vars"]) <= set(live["env_vars"]), name
        for key in frameworks.NAMES:
            if (
                recorded[key]
                and live[key]
                and not recorded[key]["import_error"]
                and not live[key]["import_error"]
            ):
                new = set(live[key]) - set(recorded[key])
                assert set(recorded[key]) <= set(live[key]) and new <= FRAMEWORK_ADDED_LATER, (name, key)
    for fw in wanted:
        assert live[fw]["import_error"] is None and live[fw]["version"]


# --- error texts (--error-file): torch's own messages, and a real error of this torch ------------------


def _torch_library(name: str) -> Path | None:
    """torch/lib/<name>.dylib or .so of the torch installed here, None where this build has none."""
    torch = pytest.importorskip("torch", reason="torch is not in this environment")
    lib = Path(torch.__file__).parent / "lib"
    return next((p for p in (lib / f"{name}.dylib", lib / f"{name}.so") if p.exists()), None)


def test_the_error_rules_texts_are_in_this_torchs_binaries():
    """Each literal the rules' texts are made of is a whole C string in this torch's own library: the MPS
    messages in a macOS build's libtorch_cpu, the CUDA one in a CUDA build's libc10_cuda."""
    checked = 0
    for rule, (library, literals) in torch_rules.LITERALS.items():
        path = _torch_library(library)
        if path is None or (library == "libtorch_cpu" and sys.platform != "darwin"):
            continue  # MPS code is compiled into macOS builds only; a CPU-only build has no libc10_cuda
        data = path.read_bytes()
        missing = [text for text in literals if b"\0" + text.encode() + b"\0" not in data]
        assert not missing, f"{rule}: not in {path}: {missing}"
        checked += 1
    if not checked:
        pytest.skip("this torch build has neither MPS nor CUDA")


def test_a_real_torch_error_given_to_doctor_is_quoted_not_misread():
    """A real error of this torch (a shape mismatch) through the real gathering: no MPS or CUDA rule claims
    it, and error-text quotes torch's own line."""
    torch = pytest.importorskip("torch", reason="torch is not in this environment")
    try:
        torch.nn.Linear(20, 1)(torch.randn(64, 10))
    except RuntimeError:
        text = traceback.format_exc()
    found = {f.rule: f for f in doctor.diagnose(doctor.gather(["torch"], error_text=text))}
    assert not {r.id for r in doctor.RULES if r.error} & set(found)
    last = [ln for ln in text.splitlines() if ln.startswith("RuntimeError: ")][-1]
    assert "shapes cannot be multiplied (64x10 and 20x1)" in last
    assert found["error-text"].summary == f"no rule explains the error given: `{last}`"


# --- the rules as data, and the docs' table made from them --------------------------------------------
