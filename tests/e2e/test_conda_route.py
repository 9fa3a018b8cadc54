"""The conda route, `conda env create -f environment-NAME.yml`, proven here without conda.

conda cannot run on our CI machine, so tools/envs/condaenv.py repeats conda's own steps (conda 26.7.1's
source, cited there): parse the yml with ruamel.yaml's round-trip loader, write the pip items into a temporary
requirements file beside the yml, run `<prefix>/bin/python -m pip install -U -r <file> --exists-action=b`.
Here the prefix is a fresh venv of the yml's Python, standing in for conda's python + pip; the result must
be exactly the lock, and the fit must pass in it.

conda's pip step is the same for every yml (the unit tests hold each yml's pip items to exactly its own
lock); what differs is the Python it runs under and how much pip unpacks. By default it runs once per
Python version the ymls name, for the environment with the smallest lock among those whose Linux lock has
no NVIDIA CUDA wheels (today tf on 3.9 and mlx on 3.12; at least one environment always runs); the GitHub
macOS conda job runs real conda for every environment. GPUENV_CONDA_ALL=1 runs it here for all (torch's
gigabytes of CUDA wheels take pip 3-5 minutes on our 2 cores, tf-current's TensorFlow about as long: too
long for every CI run; passed here by hand, see docs/ci.md).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from tools.envs import condaenv, envspec, installed
from tools.session import interpreters

ENVS = envspec.environments()
ROOT = envspec.ROOT
# A small pure-Python wheel in no environment lock, to show the exactness check fails on an extra package.
EXTRA = ["iniconfig==2.0.0"]


def _cuda_wheels(name: str) -> bool:
    env = ENVS[name]
    linux = [e for e in envspec.read_lock(env.lock) if e.applies_to(env, "linux-x86_64")]
    return any(e.name.startswith("nvidia-") for e in linux)


def _smallest_per_python() -> list[str]:
    """Per Python version, the environment without CUDA wheels whose lock has the fewest pins."""
    chosen: dict[str, str] = {}
    for name in (n for n in ENVS if not _cuda_wheels(n)):
        python, size = ENVS[name].python, len(envspec.read_lock(ENVS[name].lock))
        if python not in chosen or size < len(envspec.read_lock(ENVS[chosen[python]].lock)):
            chosen[python] = name
    return sorted(chosen.values(), key=list(ENVS).index)


CONDA_ENVS = list(ENVS) if os.environ.get("GPUENV_CONDA_ALL") else _smallest_per_python() or list(ENVS)[:1]


@pytest.mark.network
@pytest.mark.parametrize("name", CONDA_ENVS)
def test_conda_pip_step_installs_exactly_the_lock_and_the_fit_passes(repo_copy, tmp_path, name):
    # A copy of the repository: conda writes its temporary requirements file beside the yml.
    env = envspec.environments(repo_copy)[name]
    conda_specs = condaenv.dependencies(condaenv.load(env.conda_file))["conda"]
    version = next(d for d in conda_specs if d.startswith("python=")).split("=", 1)[1]
    base = interpreters.find_python(version)
    if base is None:
        pytest.fail(interpreters.missing_message(version))
    prefix = tmp_path / "prefix"
    subprocess.run([base, "-m", "venv", str(prefix)], check=True)
    python = prefix / "bin" / "python"

    done = condaenv.pip_step(env.conda_file, python)
    assert done.returncode == 0, f"conda's pip step failed for {env.conda_file.name}"
    assert not list(repo_copy.glob("condaenv.*.requirements.txt")), "the temporary requirements file stayed"

    report = installed.inspect(python)
    assert envspec.installed_problems(env.lock, report) == []
    # The comparison is not vacuous: a missing, an extra and a moved package are each named.
    numpy = next(d for d in report["installed"] if d["metadata"]["name"].lower() == "numpy")
    others = [d for d in report["installed"] if d is not numpy]
    version = numpy["metadata"]["version"]
    assert envspec.installed_problems(env.lock, {**report, "installed": others}) == [
        f"numpy=={version} is locked but not installed"
    ]
    moved = {"metadata": {"name": "numpy", "version": "1.0"}}
    assert envspec.installed_problems(env.lock, {**report, "installed": [*others, moved]}) == [
        f"numpy is 1.0, {env.lock.name} pins {version}"
    ]
    extra = {"metadata": {"name": "Not_In_Any-Lock", "version": "1.0"}}
    assert envspec.installed_problems(env.lock, {**report, "installed": [*report["installed"], extra]}) == [
        f"not-in-any-lock==1.0 is installed but not in {env.lock.name}"
    ]

    # The GitHub macOS conda job's own step, run as bash would run it there: this venv is CONDA_PREFIX and,
    # as `conda activate` does, its bin comes first on PATH, so `python` is the environment's (3.12 for
    # mlx), not the tools' Python the test runs under.
    step = workflow_step("The conda env is exactly the lock").replace("${{ matrix.env }}", name)
    step_env = {
        **os.environ,
        "CONDA_PREFIX": str(prefix),
        "RUNNER_TEMP": str(tmp_path),
        "PATH": os.pathsep.join([str(prefix / "bin"), os.environ["PATH"]]),
    }
    ok = subprocess.run(
        ["bash", "-e", "-c", step], cwd=repo_copy, env=step_env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[-1] == f"requirements/{name}.txt: installed exactly"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *EXTRA], check=True)
    off = subprocess.run(
        ["bash", "-e", "-c", step], cwd=repo_copy, env=step_env, capture_output=True, text=True
    )
    assert off.returncode == 1
    assert "FAIL: iniconfig==2.0.0 is installed but not in" in off.stdout
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "iniconfig"], check=True)

    verify_json = tmp_path / "verify.json"
    ran = subprocess.run(
        [str(python), "-m", "checks.verify", "--framework", env.framework, "--json", str(verify_json)],
        cwd=repo_copy,
        env={**os.environ, "PYTHONPATH": str(repo_copy), "TF_CPP_MIN_LOG_LEVEL": "1"},
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert json.loads(verify_json.read_text())["passed"] is True


def workflow_step(name_prefix: str) -> str:
    """The `run:` script of the macOS conda job's step whose name starts with `name_prefix`."""
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"]
    return next(s["run"] for s in jobs["macos-conda"]["steps"] if s.get("name", "").startswith(name_prefix))
