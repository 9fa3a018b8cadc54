"""Adding an environment is adding a table row and its files: nothing else in the repository changes.

In a copy of the repository, a third environment on another Python (3.10: TensorFlow 2.9 has cp310 wheels
for both targets, and they are small next to torch's) gets its row in pyproject.toml, its conda file and its
.in; then the real sessions pick it up: `nox -s lock` resolves it for Python 3.10, `verify` builds it with
a Python 3.10 and proves the fit, `wheels` checks its wheels for both targets, and `doctor` inspects it.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, run_nox

from tools import locks
from tools.envs import envspec
from tools.mac import wheelcache
from tools.session import interpreters

pytestmark = [pytest.mark.network, pytest.mark.xdist_group("wheel-cache")]  # it fills the shared cache

ROW = """
[tool.gpuenv.environments.tf310]
framework = "tensorflow"
display = "TensorFlow 2.9 (Python 3.10)"
python = "3.10"
targets = { macos-arm64 = "12.1", linux-x86_64 = "2.28" }
layers = []
"""


def add_environment(repo) -> None:
    """The row, the conda file and the .in: what a maintainer writes by hand."""
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    anchor = "# ---- Locks of their own"
    pyproject.write_text(text.replace(anchor, ROW.lstrip() + "\n" + anchor, 1))
    yml = (repo / "environment-tf.yml").read_text()
    yml = yml.replace("name: tf-metal", "name: tf310").replace("python=3.9", "python=3.10")
    (repo / "environment-tf310.yml").write_text(yml.replace("requirements/tf.txt", "requirements/tf310.txt"))
    shutil.copyfile(repo / "requirements" / "tf.in", repo / "requirements" / "tf310.in")


def test_a_third_environment_on_python_310_is_a_row_and_files(repo_copy):
    if not shutil.which("uv"):
        pytest.skip("uv (the dev layer's) is not on PATH")
    add_environment(repo_copy)
    env = envspec.environments(repo_copy)["tf310"]
    assert env.resolver_environments()[0].startswith("python_version == '3.10' and ")
    # Shared wheel cache: the other environments' wheels are not downloaded again in the copy.
    shared = {"GPUENV_WHEEL_CACHE": str(wheelcache.CACHE)}

    done = run_nox(repo_copy, "-s", "lock", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "requirements/tf310.txt written" in done.stdout + done.stderr
    assert envspec.lock_problems(env) == []
    stamp = locks.read_stamp(env.lock.read_text())
    assert "uv pip compile --universal --python-version 3.10.0 --generate-hashes --only-binary :all:" in stamp
    mac = {e.name: e.version for e in envspec.read_lock(env.lock) if e.applies_to(env, "macos-arm64")}
    assert mac["tensorflow-macos"] == "2.9.2" and mac["tensorflow-metal"] == "0.5.0"
    for other in ("torch", "tf"):  # the seed's locks did not move
        assert (repo_copy / "requirements" / f"{other}.txt").read_bytes() == (
            ROOT / "requirements" / f"{other}.txt"
        ).read_bytes()

    done = run_nox(repo_copy, "-s", "wheels", "--", "--env", "tf310", env=shared, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels = json.loads((repo_copy / "results" / "wheels.json").read_text())
    assert set(wheels["environments"]) == {"tf310"}
    checked = wheels["environments"]["tf310"]
    assert set(checked) >= {"macos-arm64", "linux-x86_64"}
    files = [c["file"] for target in ("macos-arm64", "linux-x86_64") for c in checked[target]]
    assert any(f.startswith("tensorflow_macos-2.9.2-cp310-") for f in files), files

    # Building it needs a Python 3.10, which a newcomer following the README (3.9 and 3.12) may not have: the
    # lock and the wheels above are proven without one; building is proven wherever one is found.
    if interpreters.find_python("3.10") is None:
        pytest.skip(f"verify and doctor of tf310 not run: {interpreters.missing_message('3.10')}")
    done = run_nox(repo_copy, "-s", "verify(env='tf310')", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((repo_copy / "results" / "verify-tf310.json").read_text())
    assert report["passed"] and report["platform"]["python"].startswith("3.10.")

    done = run_nox(repo_copy, "-s", "doctor(env='tf310')", timeout=900)
    out = done.stdout + done.stderr
    assert "Session doctor(env='tf310') was successful" in out, out[-3000:]
    facts = json.loads((repo_copy / "results" / "doctor-tf310.json").read_text())["facts"]
    assert facts["platform"]["python"].startswith("3.10.")
