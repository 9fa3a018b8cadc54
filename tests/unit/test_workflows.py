"""The GitHub workflows validate offline against the maintained schema and run what the README promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.envs import envspec

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess:
    """check-jsonschema's vendored copy of SchemaStore's github-workflow schema: no network needed."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as the string "on".
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflows_validate_against_the_github_workflow_schema():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} == {"ci.yml", "relock.yml"}
    done = check_jsonschema(*files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    """Not vacuous: a misspelt key (`run-on` for `runs-on`) fails, naming the file."""
    broken = tmp_path / "ci.yml"
    broken.write_text(
        (WORKFLOWS / "ci.yml").read_text().replace("runs-on: ubuntu-24.04", "run-on: ubuntu-24.04")
    )
    done = check_jsonschema(broken)
    assert done.returncode == 1
    assert str(broken) in done.stdout + done.stderr


def test_ci_on_linux_is_the_one_ci_script():
    """CI is defined once: the GitHub Linux job runs .ci/run: locks checked, then tests, then verify."""
    job = load("ci.yml")["jobs"]["linux"]
    assert job["runs-on"].startswith("ubuntu")
    assert [s["run"] for s in job["steps"] if "run" in s][-1] == "bash .ci/run"
    commands = (ROOT / ".ci" / "run").read_text()
    order = [commands.index(c) for c in ("nox -s lock -- --check", "nox -s tests", "nox -s verify")]
    assert order == sorted(order), "the drift check must run first, before anything is built"
    # The host tools from their lock, hashes required, by the tools' own Python (lockinstall refuses a lock
    # that installs nothing there); the README's test command as a newcomer runs it, with the newest uv.
    assert '"$tools/bin/python" tools/session/lockinstall.py requirements/tools.txt' in commands
    assert '"--require-hashes"' in (ROOT / "tools" / "session" / "lockinstall.py").read_text()
    assert 'PATH="$PWD/$newcomer/bin:$system_path" uvx nox -s tests' in commands


def test_ci_on_macos_verifies_every_environment_by_conda_and_by_nox():
    jobs = load("ci.yml")["jobs"]
    conda, nox = jobs["macos-conda"], jobs["macos-nox"]
    assert conda["runs-on"] == nox["runs-on"] == "macos-15"  # arm64 (Apple Silicon); macos-14 is retired
    rows = conda["strategy"]["matrix"]["include"]
    envs = envspec.environments()
    assert {r["env"] for r in rows} == set(envs)
    for row in rows:
        env = envs[row["env"]]
        assert row["framework"] == env.framework
        assert row["conda-env"] == envspec.read_conda_file(env)["name"], "must activate the yml's own name"
    setup = next(s for s in conda["steps"] if s.get("uses", "").startswith("conda-incubator/setup-miniconda"))
    assert setup["with"]["environment-file"] == "environment-${{ matrix.env }}.yml"
    assert setup["with"]["miniforge-version"]  # Miniforge: a native arm64 conda, not an x86_64 one
    # The hosted Mac's MPS reports available and cannot allocate (actions/runner-images#9918): say CPU.
    assert "python -m checks.verify --framework ${{ matrix.framework }} --device cpu" in runs(conda)
    assert "nox -s verify -- --device cpu" in runs(nox)


def test_every_job_that_builds_environments_installs_their_pythons():
    """The Pythons come from the table (envspec.pythons: 3.9 for the seeds, 3.12 for the current ones)."""
    wanted = sorted(envspec.pythons(), key=lambda v: tuple(map(int, v.split("."))))
    line = "uv python install " + " ".join(wanted)
    jobs = [
        ("ci.yml", "linux"),
        ("ci.yml", "macos-nox"),
        ("ci.yml", "start-with-uv"),
        ("relock.yml", "relock"),
    ]
    for name, job in jobs:
        assert line in runs(load(name)["jobs"][job]), (name, job, line)


def test_ci_says_why_macos_runs_without_the_gpu():
    text = (WORKFLOWS / "ci.yml").read_text()
    assert "Metal Performance Shaders (MPS) are not supported" in text
    assert "docs.github.com" in text


def test_relock_is_scheduled_and_opens_a_pull_request():
    doc = load("relock.yml")
    assert doc["on"]["schedule"][0]["cron"]
    job = doc["jobs"]["relock"]
    commands = runs(job)
    assert "nox -s lock -- --upgrade" in commands
    assert commands.index("nox -s lock -- --upgrade") < commands.index("nox -s verify")
    assert "conda-lock" in commands  # this runner has conda, so it refreshes conda-lock.yml too
    pr = next(s for s in job["steps"] if s.get("uses", "").startswith("peter-evans/create-pull-request"))
    assert "conda-lock.yml" in pr["with"]["add-paths"] and "requirements/*.txt" in pr["with"]["add-paths"]
    # Least privilege: nothing at the workflow level, the writes on the one job that needs them (zizmor).
    assert doc["permissions"] == {}
    assert job["permissions"] == {"contents": "write", "pull-requests": "write", "actions": "write"}


def test_relock_dispatches_ci_on_its_branch():
    """A pull request opened with GITHUB_TOKEN starts no workflow (GitHub's "Triggering a workflow from a
    workflow"; workflow_dispatch is the exception): the job dispatches ci.yml on the branch it pushed."""
    job = load("relock.yml")["jobs"]["relock"]
    names = [s.get("id") or s.get("uses", "").split("@")[0] for s in job["steps"]]
    dispatch = job["steps"][-1]
    assert names.index("pr") == len(names) - 2, "dispatch right after the pull request step"
    assert dispatch["run"] == 'gh workflow run ci.yml --repo "$GITHUB_REPOSITORY" --ref "$BRANCH"'
    assert dispatch["env"]["BRANCH"] == "${{ steps.pr.outputs.pull-request-branch }}"
    assert "steps.pr.outputs.pull-request-operation == 'created'" in dispatch["if"]
    assert "workflow_dispatch" in load("ci.yml")["on"]  # ci.yml accepts the dispatch
    readme = (ROOT / "README.md").read_text()
    assert "Allow GitHub Actions to create and approve pull requests" in readme


# GitHub's hosted-runner labels now in service and those retired, with their sources and the date read.
LABELS = json.loads((ROOT / "tests" / "data" / "github-runner-labels.json").read_text())


@pytest.mark.parametrize("name", ["ci.yml", "relock.yml"])
def test_every_job_runs_on_a_label_github_still_serves(name):
    """A job on a retired label fails before its first step (macos-14 since 2026-11-02)."""
    for job_id, job in load(name)["jobs"].items():
        label = job["runs-on"]
        assert label not in LABELS["retired"], (name, job_id, LABELS["retired"].get(label))
        assert label in LABELS["current"], (name, job_id, label)
        if label.startswith("macos"):
            assert LABELS["current"][label]["arch"] == "arm64", (job_id, "Apple Silicon, not an Intel Mac")


def test_the_label_check_catches_the_retired_macos_14():
    assert "macos-14" in LABELS["retired"] and "macos-14" not in LABELS["current"]


def _tools_uv() -> str:
    [uv] = [e for e in envspec.read_lock(ROOT / "requirements" / "tools.txt") if e.name == "uv"]
    return uv.version


def test_setup_uv_installs_the_uv_the_tools_lock_pins():
    """Unpinned, setup-uv installs the newest uv; one uv makes and installs every lock (pyproject.toml)."""
    steps = [
        step
        for name in ("ci.yml", "relock.yml")
        for job in load(name)["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("astral-sh/setup-uv@")
    ]
    assert len(steps) == 5  # linux, start-with-uv, macos-conda, macos-nox; relock
    for step in steps:
        assert step["with"]["version"] == _tools_uv() == "0.13.8"


def test_the_linux_jobs_that_build_every_environment_free_disk_first():
    """.ci/run outgrows the 14 GB of SSD a hosted runner is guaranteed (docs/ci.md): the preinstalled SDKs
    go before anything is built."""
    for name, job_id, first_build in (
        ("ci.yml", "linux", "bash .ci/run"),
        ("relock.yml", "relock", "nox -s"),
    ):
        steps = load(name)["jobs"][job_id]["steps"]
        free = next(i for i, s in enumerate(steps) if s.get("name", "").startswith("Free disk space"))
        build = next(i for i, s in enumerate(steps) if first_build in s.get("run", ""))
        assert free < build, (name, job_id)
        assert "sudo rm -rf /usr/local/lib/android /usr/share/dotnet" in steps[free]["run"]


def test_the_conda_job_builds_the_tools_venv_with_the_tools_python():
    """`python` there is the conda environment's (3.12 for three of them); requirements/tools.txt pins for
    the tools' X.Y only (tests/e2e/test_conda_route.py runs the step as the job does)."""
    steps = load("ci.yml")["jobs"]["macos-conda"]["steps"]
    step = next(s for s in steps if s.get("name", "").startswith("The conda env is exactly the lock"))["run"]
    assert "python -m venv" not in step
    assert "[tool.gpuenv.standalone.tools]" in step
    assert '"$(uv python find --no-project "$tools_python")" -m venv' in step
    install = next(i for i, s in enumerate(steps) if s.get("run") == "uv python install 3.9")
    exact = next(i for i, s in enumerate(steps) if s.get("name", "").startswith("The conda env is exactly"))
    assert install < exact and envspec.standalone()["tools"].python == "3.9"


# Each pinned action's own action.yml at that commit, recorded from its repository
# (`git show SHA:action.yml`): what it runs on and which inputs it declares.
ACTIONS = ROOT / "tests" / "data" / "actions"


def _pins() -> set[tuple[str, str]]:
    found = set()
    for name in ("ci.yml", "relock.yml"):
        for match in re.finditer(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})", (WORKFLOWS / name).read_text()):
            found.add((match[1], match[2]))
    return found


def test_every_action_runs_on_node_24_and_takes_the_inputs_we_give_it():
    """GitHub removed Node 20 from its runners (September 2026): each action at its pinned commit declares
    `runs.using: node24`, and every `with:` key a step passes is an input it declares. A new pin (a
    Dependabot bump) needs its action.yml recorded here first."""
    pins = _pins()
    assert len(pins) == 5
    for action, sha in pins:
        path = ACTIONS / f"{action.replace('/', '+')}@{sha}.yml"
        assert path.exists(), f"record it: git show {sha}:action.yml (in {action}) > {path.relative_to(ROOT)}"
        manifest = yaml.safe_load(path.read_text())
        assert manifest["runs"]["using"] == "node24", (action, manifest["runs"]["using"])
        for name in ("ci.yml", "relock.yml"):
            for job in load(name)["jobs"].values():
                for step in job["steps"]:
                    if step.get("uses") == f"{action}@{sha}":
                        assert set(step.get("with", {})) <= set(manifest["inputs"]), (action, step["with"])


PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")


@pytest.mark.parametrize("name", ["ci.yml", "relock.yml"])
def test_every_action_is_pinned_to_a_commit_with_its_release_named(name):
    """`uses: owner/repo@<40-hex sha> # vX.Y.Z`: a tag can be moved, a commit cannot (zizmor's unpinned-uses);
    the comment is what Dependabot reads and rewrites. One commit per action, so no job lags behind."""
    text = (WORKFLOWS / name).read_text()
    lines = [ln for ln in text.splitlines() if re.match(r"^\s*(?:- )?uses:", ln)]
    assert lines, name
    pins = {}
    for line in lines:
        match = PINNED.match(line)
        assert match, f"{name}: expected `uses: owner/repo@<sha> # vX.Y.Z`, got {line.strip()!r}"
        action, sha, release = match.groups()
        assert pins.setdefault(action, (sha, release)) == (sha, release), (name, action)


def test_dependabot_moves_the_actions_weekly_in_one_group():
    doc = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    [update] = doc["updates"]  # github-actions only: the Python locks are relock.yml's job
    assert (update["package-ecosystem"], update["directory"]) == ("github-actions", "/")
    assert update["schedule"]["interval"] == "weekly"
    assert update["groups"]["actions"]["patterns"] == ["*"]
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.dependabot",
         str(ROOT / ".github" / "dependabot.yml")], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_one_tool_starts_run_on_a_fresh_runner():
    """The README's quick start with uv alone (uv installs the Pythons) and with pipx alone."""
    jobs = load("ci.yml")["jobs"]
    uv, pipx = runs(jobs["start-with-uv"]), runs(jobs["start-with-pipx"])
    assert "uv python install 3.9 3.12" in uv
    assert "uvx nox -s \"verify(env='tf')\"" in uv and "./noxfile.py -s" in uv
    assert "pipx run nox -s" in pipx
    assert not any("setup-python" in s.get("uses", "") for j in jobs.values() for s in j["steps"])
