"""Doctor's fact gathering, for real, inside the environment: what it gathers has the shape of every
recorded and hand-written fact set the rules are tested on (tests/unit/test_doctor.py)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from checks import doctor, frameworks
from tools import envspec

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "facts"

# Every recorded or hand-written fact set: each must look like what gathering produces here.
FACT_SETS = sorted(p.stem for p in FACTS.glob("*.json"))


def load(name: str) -> dict:
    return doctor.load_facts(FACTS / f"{name}.json")


ADDED_LATER = {"TF_USE_LEGACY_KERAS"}  # doctor reads it since the current TF (Keras 3) environment


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
                assert set(recorded[key]) == set(live[key]), (name, key)
    for fw in wanted:
        assert live[fw]["import_error"] is None and live[fw]["version"]


# --- the rules as data, and the docs' table made from them --------------------------------------------
