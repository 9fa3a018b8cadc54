"""The lock lifecycle, for real: stamps, `nox -s lock -- --check`, relock, `--upgrade-package`, no conda.

Pure logic runs on copies of the committed files; the session tests run the real `nox -s lock` (real uv,
real PyPI: marked network) on a copy of the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tools import locks
from tools.envs import envspec
from tools.locks import relock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(repo_copy) -> Path:
    return repo_copy


def plan_of(repo: Path) -> dict[str, locks.Lock]:
    return {lock.rel(): lock for lock in locks.plan(repo)}


def pins(path: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in envspec.read_lock(path):
        found.setdefault(entry.name, set()).add(entry.version)
    return found


# --- the stamp, on the committed files ---------------------------------------------------------------


def test_every_committed_lock_is_current():
    for lock in locks.plan():
        if lock.kind == "conda-lock" and not lock.output.exists():
            continue  # made only where conda runs; docs/locks.md "Refreshing conda-lock.yml"
        assert locks.staleness(lock) is None, lock.rel()


def test_one_uv_writes_every_lock_and_every_lock_that_pins_uv_pins_it():
    """uv releases write the same resolution in different bytes, so the uv requirements/tools.txt pins is
    the writer each uv lock's stamp records, and the one uv version any lock installs."""
    pinned = locks.pinned_uv()
    uv_locks = [lock for lock in locks.plan() if lock.kind == "uv"]
    assert {lock.rel(): locks.made_by(lock.output.read_text()) for lock in uv_locks} == {
        lock.rel(): pinned for lock in uv_locks
    }
    pinning = {lock.rel(): pins(lock.output)["uv"] for lock in uv_locks if "uv" in pins(lock.output)}
    assert "requirements/tools.txt" in pinning and "requirements/torch-current-dev.txt" in pinning
    assert pinning == {name: {pinned} for name in pinning}


def test_a_lock_written_by_another_uv_is_stale(repo):
    """--check fails a lock whose stamp names another writer, or none, though its inputs are unchanged."""
    lock = plan_of(repo)["requirements/torch.txt"]
    text = lock.output.read_text()
    pinned = locks.pinned_uv(repo)
    lock.output.write_text(locks.stamped(lock, text, uv_version="0.13.9"))
    assert locks.staleness(lock) == f"made by uv 0.13.9, not the pinned uv {pinned}"
    lock.output.write_text(locks.stamped(lock, locks.strip_stamp(text)))
    assert locks.staleness(lock) == f"made by an unrecorded uv, not the pinned uv {pinned}"
    with pytest.raises(relock.RelockError, match=r"got stale requirements/torch.txt \(made by an unrecorded"):
        relock.check(locks.plan(repo), lambda line: None)
    lock.output.write_text(locks.stamped(lock, text, uv_version=pinned))
    assert locks.staleness(lock) is None


def test_two_uv_pins_are_one_line(repo):
    tools = repo / "requirements" / "tools.txt"
    tools.write_text(tools.read_text().replace("uv==0.13.8", "uv==0.13.9", 1) + "uv==0.13.8\n")
    with pytest.raises(envspec.SpecError) as err:
        locks.pinned_uv(repo)
    assert str(err.value) == (
        "requirements/tools.txt: expected one pinned uv (the uv that writes every lock), got 0.13.8, 0.13.9: "
        "pin `uv==X.Y.Z` in requirements/tools.in and requirements/dev.in"
    )


def test_conda_platforms_are_the_lock_targets():
    """One conda-lock file per environment, for the conda subdirs of exactly its targets."""
    envs = envspec.environments()
    conda = [lock for lock in locks.plan() if lock.kind == "conda-lock"]
    assert [lock.rel() for lock in conda] == [f"requirements/{name}.conda-lock.yml" for name in envs]
    known = envspec.targets()
    for lock in conda:
        assert lock.conda_platforms == [known[t].conda for t in lock.lockable.floors]
    assert conda[0].conda_platforms == ["osx-arm64", "linux-64"]


def test_a_comment_edit_is_not_drift_but_a_pin_edit_is(repo):
    torch_in = repo / "requirements" / "torch.in"
    lock = plan_of(repo)["requirements/torch.txt"]
    torch_in.write_text("# a new comment line\n" + torch_in.read_text().replace("numpy\n", "numpy  # why\n"))
    assert locks.staleness(lock) is None
    torch_in.write_text(torch_in.read_text() + "six\n")
    assert locks.staleness(lock) == "requirements/torch.in changed since it was locked"


def test_each_input_makes_its_locks_stale(repo):
    plan = plan_of(repo)
    yml = repo / "environment-tf.yml"
    yml.write_text(yml.read_text().replace("name: tf-metal", "name: tf-renamed"))
    assert locks.staleness(plan["requirements/tf.txt"]) == "environment-tf.yml changed since it was locked"
    assert locks.staleness(plan["requirements/torch.txt"]) is None

    dev_in = repo / "requirements" / "dev.in"
    dev_in.write_text(dev_in.read_text() + "six\n")
    stale = {name for name, lock in plan.items() if lock.kind == "uv" and locks.staleness(lock)}
    assert stale == {
        "requirements/tf.txt",
        "requirements/torch-dev.txt",
        "requirements/tf-dev.txt",
        "requirements/torch-current-dev.txt",
        "requirements/tf-current-dev.txt",
        "requirements/mlx-dev.txt",
        "requirements/dev.txt",  # the host venv's lock: dev.in alone
    }

    # A target's definition is an input of every lock that serves it.
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('platform_machine = "x86_64"', 'platform_machine = "aarch64"')
    )
    plan = plan_of(repo)
    for name in ("requirements/torch.txt", "requirements/tools.txt"):
        assert locks.staleness(plan[name]) == "resolver environments changed since it was locked"


def test_a_relocked_environment_makes_its_layer_stale(repo):
    """The dev layer is resolved against the environment's lock, so new pins there mean a new dev lock."""
    plan = plan_of(repo)
    torch_txt = repo / "requirements" / "torch.txt"
    torch_txt.write_text(torch_txt.read_text().replace("filelock==3.19.1", "filelock==3.18.0"))
    assert locks.staleness(plan["requirements/torch.txt"]) == "edited by hand after it was locked"
    assert locks.staleness(plan["requirements/torch-dev.txt"]) == (
        "requirements/torch.txt (constraint) changed since it was locked"
    )


def test_an_unstamped_or_missing_lock_is_stale(repo):
    plan = plan_of(repo)
    tools = repo / "requirements" / "tools.txt"
    tools.write_text(locks.strip_stamp(tools.read_text()))
    assert locks.staleness(plan["requirements/tools.txt"]).startswith("no input stamp")
    tools.unlink()
    assert locks.staleness(plan["requirements/tools.txt"]) == "missing"


def test_stamping_twice_is_stable_and_strip_restores_what_uv_wrote():
    lock = plan_of(ROOT)["requirements/torch.txt"]
    text = lock.output.read_text()
    assert locks.stamped(lock, text) == text
    bare = locks.strip_stamp(text)
    assert locks.STAMP_TITLE not in bare
    assert (
        bare.splitlines()[:2] == text.splitlines()[:2]
    )  # uv's header: "... following command:", "nox -s lock"


def test_pin_changes_name_each_moved_package(tmp_path):
    before, after = tmp_path / "before.txt", tmp_path / "after.txt"
    text = (ROOT / "requirements" / "torch.txt").read_text()
    before.write_text(text)
    after.write_text(text.replace("filelock==3.19.1", "filelock==3.18.0"))
    assert locks.pin_changes(before, after) == ["filelock 3.19.1 -> 3.18.0"]
    assert locks.pin_changes(before, before) == []


# --- the real session ----------------------------------------------------------------------------------


def test_the_host_venv_relocks_with_the_tools_uv():
    """dev.txt (the host venv, whose uv the tests relock with) is resolved within tools.txt: one uv version
    writes every lock, so a relock in a test rewrites nothing but what its inputs changed."""

    def uv(name: str) -> set[str]:
        return {e.version for e in envspec.read_lock(ROOT / "requirements" / name) if e.name == "uv"}

    assert uv("dev.txt") == uv("tools.txt") and len(uv("tools.txt")) == 1
    dev = {lock.rel(): lock for lock in locks.plan()}["requirements/dev.txt"]
    assert [c.name for c in dev.constraints] == ["tools.txt"]


# --- frozen environments: seeds never move, current ones do ---------------------------------------------


def test_the_seeds_are_frozen_and_the_current_ones_are_not():
    envs = envspec.environments()
    assert {name for name, env in envs.items() if env.frozen} == {"torch", "tf"}
    assert all(envs[name].frozen.startswith("the seed: ") for name in ("torch", "tf"))
    assert not envs["torch-current"].frozen and not envs["tf-current"].frozen


def test_upgrade_options_skip_every_lock_of_a_frozen_environment():
    """--upgrade and --upgrade-package reach no lock of a frozen environment (its layers included); a plain
    relock and the other locks keep the options they were given."""
    upgrade, one = relock.Options(upgrade=True), relock.Options(upgrade_package=("filelock",))
    for lock in locks.plan():
        if lock.kind != "uv":
            continue
        seed = isinstance(lock.lockable, envspec.Environment) and lock.lockable.name in ("torch", "tf")
        assert bool(relock.frozen(lock)) == seed, lock.rel()
        for opts in (upgrade, one):
            assert relock.options_for(lock, opts) == (relock.Options() if seed else opts), lock.rel()
        assert relock.options_for(lock, relock.Options()) == relock.Options()


def test_upgrade_package_of_a_package_only_a_frozen_lock_has_is_refused(repo, monkeypatch):
    """tensorflow-macos is pinned only in the frozen tf lock: upgrading it would move nothing, so it is an
    error, one line, before anything is resolved."""
    uv = relock.uv_at(Path(sys.executable).parent / "uv")  # the host venv's, as `nox -s lock` runs it
    with pytest.raises(relock.RelockError) as err:
        relock.relock(
            locks.plan(repo), relock.Options(upgrade_package=("tensorflow-macos",)), repo, print, uv
        )
    assert str(err.value) == (
        "--upgrade-package: expected a package pinned in some lock that is not frozen, got 'tensorflow-macos'"
    )
    assert not (repo / ".cache" / "lock-staging").exists()


def test_a_frozen_value_that_is_not_a_reason_is_refused(repo):
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('frozen = "the seed: torch', 'frozen = true\n# "', 1))
    with pytest.raises(envspec.SpecError) as err:
        envspec.environments(repo)
    assert str(err.value) == (
        'pyproject.toml [tool.gpuenv.environments.torch]: expected frozen = "the reason its versions never '
        'move", got True'
    )
