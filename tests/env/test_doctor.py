"""Doctor: the rules on recorded and hand-written fact sets, and the fact gathering for real, here.

tests/data/facts/linux-x86_64-*.json are recorded on our CI machine with the real gathering
(`python -m checks.doctor [--framework F] --save-facts PATH`; tf-numpy2 in the tf lock with NumPy 2.0.2
installed over it). The others are written by hand, each reproducing one failure mode; `_source` says so.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from checks import doctor
from tools import envspec

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "facts"

# Every fact set, and exactly the findings (rule -> status) it must give: a rule that starts firing where
# it should not, or stops firing, fails here.
EXPECTED = {
    "linux-x86_64-cpu-host": {"env-python": "ok", "nvidia-driver": "warn"},
    "linux-x86_64-cpu-torch": {"nvidia-driver": "warn", "torch-import": "ok", "torch-cuda": "warn"},
    "linux-x86_64-cpu-tf": {"nvidia-driver": "warn", "tf-import": "ok", "numpy-tf": "ok", "tf-gpu": "ok"},
    "linux-x86_64-tf-numpy2": {"nvidia-driver": "warn", "tf-import": "fail", "numpy-tf": "fail"},
    # Recorded on the lent 2x H200 box (its own python3 3.12 + torch 2.11.0+cu130, driver 580.159.04).
    "linux-h200x2-torch": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "ok"},
    "linux-2gpu-tf-cpu": {"nvidia-driver": "ok", "tf-import": "ok", "numpy-tf": "ok", "tf-gpu": "warn"},
    "linux-driver-too-old": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "fail"},
    "linux-driver-minor-compat": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "warn"},
    "linux-cpu-torch-on-gpus": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "fail"},
    "linux-nvidia-smi-fails": {"nvidia-driver": "fail"},
    "linux-cuda-visible-devices-empty": {
        "nvidia-driver": "ok",
        "cuda-visible-devices": "fail",
        "torch-import": "ok",
        "torch-cuda": "fail",
    },
    "linux-no-python39": {"env-python": "fail", "nvidia-driver": "ok"},
    "linux-no-python312": {"env-python": "fail", "nvidia-driver": "ok"},
    "mac-intel": {"apple-silicon": "fail"},
    "mac-intel-build-error": {"apple-silicon": "fail", "environment-build": "fail"},
    "mac-m1-torch-ok": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "ok",
    },
    "mac-m1-rosetta-torch": {
        "apple-silicon": "ok",
        "rosetta": "fail",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "fail",
    },
    "mac-m1-rosetta-arm64-wheel": {
        "apple-silicon": "ok",
        "rosetta": "fail",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "fail",
    },
    "mac-m1-rosetta-conda-osx64": {
        "apple-silicon": "ok",
        "rosetta": "fail",
        "conda-platform": "fail",
        "macos-version": "ok",
        "mps-fallback": "ok",
    },
    "mac-m1-macos-12.0": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "fail",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "fail",
    },
    "mac-m1-macos-compat-10.16": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "warn",
        "mps-fallback": "ok",
    },
    "mac-m1-torch-no-mps": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "fail",
    },
    "mac-m1-mps-fallback": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "warn",
        "torch-import": "ok",
        "torch-mps": "ok",
    },
    "mac-m1-tf-ok": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "ok",
        "numpy-tf": "ok",
        "tf-metal-pair": "ok",
        "tf-gpu": "ok",
    },
    "mac-m1-tf-metal-0.7.0": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "fail",
        "numpy-tf": "ok",
        "tf-metal-pair": "fail",
    },
    "mac-m1-tf-2.18-metal-1.1.0": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "fail",
        "numpy-tf": "ok",
        "tf-metal-pair": "fail",
    },
    "mac-m1-tf-no-metal": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "ok",
        "numpy-tf": "ok",
        "tf-metal-pair": "fail",
        "tf-gpu": "fail",
    },
    "mac-m1-tf-numpy2": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "fail",
        "numpy-tf": "fail",
        "tf-metal-pair": "ok",
    },
}


def load(name: str) -> dict:
    return doctor.load_facts(FACTS / f"{name}.json")


def findings(name: str) -> dict[str, doctor.Finding]:
    return {f.rule: f for f in doctor.diagnose(load(name))}


ADDED_LATER = {"TF_USE_LEGACY_KERAS"}  # doctor reads it since the current TF (Keras 3) environment


def test_live_gathering_has_the_schema_of_the_recorded_sets():
    """Gathering runs for real here; hand-written sets must look exactly like what it produces."""
    under_test = os.environ.get("GPUENV_UNDER_TEST")
    envs = envspec.environments()
    frameworks = [envs[under_test].framework] if under_test in envs else []
    live = doctor.gather(frameworks)
    assert live["platform"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert live["platform"]["os"] in ("Linux", "Darwin")
    if live["platform"]["os"] == "Linux":
        assert live["nvidia"]["nvidia_smi"] == shutil.which("nvidia-smi")
    for name in EXPECTED:
        recorded = load(name)
        assert set(recorded) - {"_source"} == set(live), name
        assert set(recorded["platform"]) == set(live["platform"]), name
        # Variables read since a set was recorded are absent from it (a rule reads them with .get).
        assert set(live["env_vars"]) - ADDED_LATER <= set(recorded["env_vars"]) <= set(live["env_vars"]), name
        for key in ("torch", "tensorflow"):
            if (
                recorded[key]
                and live[key]
                and not recorded[key]["import_error"]
                and not live[key]["import_error"]
            ):
                assert set(recorded[key]) == set(live[key]), (name, key)
    for fw in frameworks:
        key = "tensorflow" if fw == "tensorflow" else "torch"
        assert live[key]["import_error"] is None and live[key]["version"]


# --- the Pythons that build the environments (schema 2: one per version) ------------------------------


# --- the MPS floor comes from the torch framework module ----------------------------------------------


# --- the rules as data, and the docs' table made from them --------------------------------------------
