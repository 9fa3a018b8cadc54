"""The spec files parse and agree: environment table, conda files, .in pins, universal hashed locks."""

from __future__ import annotations

import pytest
from packaging.markers import Marker

from tools.envs import envspec

ENVS = envspec.environments()


def test_table_lists_the_seeds_and_the_current_environments():
    assert {n: e.framework for n, e in ENVS.items()} == {
        "torch": "torch", "tf": "tensorflow", "torch-current": "torch", "tf-current": "tensorflow",
        "mlx": "mlx",
    }  # fmt: skip
    assert {n: e.python for n, e in ENVS.items()} == {
        "torch": "3.9", "tf": "3.9", "torch-current": "3.12", "tf-current": "3.12", "mlx": "3.12",
    }  # fmt: skip


@pytest.mark.parametrize("name", list(ENVS))
def test_conda_file_is_its_python_plus_the_hashed_lock(name):
    doc = envspec.read_conda_file(ENVS[name])
    assert f"python={ENVS[name].python}" in doc["dependencies"]
    pip = next(d["pip"] for d in doc["dependencies"] if isinstance(d, dict))
    assert pip == ["--require-hashes", "--only-binary=:all:", f"-r requirements/{name}.txt"]


@pytest.mark.parametrize("name", list(ENVS))
def test_lock_agrees_with_its_in_file(name):
    assert envspec.lock_problems(ENVS[name]) == []


@pytest.mark.parametrize("name", list(ENVS))
def test_lock_header_names_the_command_that_regenerates_it(name):
    for lock in [ENVS[name].lock, *(ENVS[name].layer_lock(layer) for layer in envspec.layers())]:
        assert "#    nox -s lock" in lock.read_text().splitlines()[1], lock


@pytest.mark.parametrize("name", list(ENVS))
def test_every_locked_line_is_hashed_and_serves_a_target(name):
    entries = envspec.read_lock(ENVS[name].lock)
    assert len(entries) >= len(envspec.read_in(ENVS[name].requirements_in))
    for entry in entries:
        assert entry.hashes and all(h.startswith("sha256:") for h in entry.hashes), entry.name
        assert entry.serves_a_target(ENVS[name]), entry.name


@pytest.mark.parametrize("name", list(ENVS))
def test_targets_match_the_resolver_environments(name):
    """The targets' marker environments (what the tests evaluate) and the resolver environments (what uv
    resolves) are the same set, both derived from [tool.gpuenv.targets]."""
    env = ENVS[name]
    markers = [Marker(m) for m in env.resolver_environments()]
    assert len(markers) == len(env.targets)
    for target in env.targets:
        assert sum(m.evaluate(env.marker_env(target)) for m in markers) == 1
        other = {**env.marker_env(target), "python_version": "3.99", "python_full_version": "3.99.0"}
        assert not any(m.evaluate(other) for m in markers)  # each lock is for its own Python only


def test_each_platform_gets_its_framework():
    def names(env_name, target):
        env = ENVS[env_name]
        return {e.name: e.version for e in envspec.read_lock(env.lock) if e.applies_to(env, target)}

    for target in ENVS["torch"].targets:
        assert names("torch", target)["torch"] == "2.8.0"
    mac, linux = names("tf", "macos-arm64"), names("tf", "linux-x86_64")
    assert mac["tensorflow-macos"] == "2.9.2" and mac["tensorflow-metal"] == "0.5.0"
    assert "tensorflow-cpu" not in mac
    assert linux["tensorflow-cpu"] == "2.9.3" and "tensorflow-metal" not in linux
    assert int(mac["numpy"].split(".")[0]) == 1 == int(linux["numpy"].split(".")[0])

    # The current ones: torch from one lock on three platforms; TF 2.19.1, the newest that loads
    # tensorflow-metal 1.2.0 (docs/tensorflow-metal-matrix.md), as `tensorflow` on the Mac.
    current = {t: names("torch-current", t)["torch"] for t in ENVS["torch-current"].targets}
    assert (
        set(current) == {"macos-arm64", "linux-x86_64", "linux-aarch64"} and len(set(current.values())) == 1
    )
    mac, linux = names("tf-current", "macos-arm64"), names("tf-current", "linux-x86_64")
    assert (
        mac["tensorflow"] == "2.19.1" and mac["tensorflow-metal"] == "1.2.0" and "tensorflow-cpu" not in mac
    )
    assert linux["tensorflow-cpu"] == "2.19.1" and "tensorflow-metal" not in linux


def test_malformed_yaml_is_one_clear_line(tmp_path):
    (tmp_path / "environment-x.yml").write_text("name: x\nchannels: [conda-forge\ndependencies:\n")
    env = envspec.Environment("x", "torch", "X", root=tmp_path)
    with pytest.raises(
        envspec.SpecError, match=r"^environment-x.yml: expected valid YAML, got a syntax error"
    ):
        envspec.read_conda_file(env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just a list\n", "expected a mapping"),
        ("channels: [defaults]\ndependencies: [python=3.9, pip]\n", "expected channels"),
        (
            "channels: [conda-forge, nodefaults]\ndependencies: [python=3.10, pip]\n",
            "expected dependency 'python=3.9'",
        ),
        ("channels: [conda-forge, nodefaults]\ndependencies: [python=3.9, pip]\n", "expected a pip section"),
    ],
)
def test_wrong_conda_file_names_what_is_wrong(tmp_path, text, message):
    (tmp_path / "environment-x.yml").write_text(text)
    with pytest.raises(envspec.SpecError, match=message):
        envspec.read_conda_file(envspec.Environment("x", "torch", "X", root=tmp_path))


def test_lock_missing_a_pin_is_reported(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "pyproject.toml").write_bytes((envspec.ROOT / "pyproject.toml").read_bytes())  # the targets
    (tmp_path / "requirements" / "x.in").write_text("torch==2.8.0\nsix\n")
    lock = ENVS["torch"].lock.read_text()
    (tmp_path / "requirements" / "x.txt").write_text(lock)
    problems = envspec.lock_problems(envspec.Environment("x", "torch", "X", root=tmp_path))
    assert "x.txt: six from x.in is missing for macos-arm64" in problems


def _this_target(env: envspec.Environment) -> str | None:
    """The environment's target this machine is (by its platform markers), or None."""
    from packaging.markers import default_environment

    here = default_environment()
    return next(
        (
            n
            for n, t in env.targets.items()
            if all(here.get(k) == t.markers[k] for k in ("sys_platform", "platform_machine"))
        ),
        None,
    )


@pytest.mark.parametrize("name", ["torch", "torch-current"])
def test_what_the_lock_installs_here_is_what_verify_expects(name):
    """`nox -s verify` passes the lock's distributions for this machine (--locked): torch's lock installs
    torchvision and torchaudio on each of its targets, and so does torch-current's (torchaudio 2.11.1 with
    torch 2.15.0: requirements/torch-current.in)."""
    env = ENVS[name]
    here = envspec.locked_here(env)
    target = _this_target(env)
    if target is None:
        assert here == []  # a machine none of the lock's targets is: nothing is expected
        return
    assert here == sorted({e.name for e in envspec.read_lock(env.lock) if e.applies_to(env, target)})
    assert {"torch", "torchvision", "torchaudio"} <= set(here)


# --- a lock's syntax errors: the file with its folder, the line number, the bad line quoted ---------------


def _broken_lock(tmp_path, old: str, new: str):
    """The real tf lock with one edit, as requirements/tf.txt in a folder of its own."""
    text = ENVS["tf"].lock.read_text()
    assert old in text
    path = tmp_path / "requirements" / "tf.txt"
    path.parent.mkdir()
    edited = text.replace(old, new, 1)
    path.write_text(edited)
    last = new.strip().splitlines()[-1]  # the edited line: its number is what the error must name
    return path, next(n for n, line in enumerate(edited.splitlines(), 1) if line.startswith(last))


def test_a_stray_line_in_a_continuation_is_quoted_with_its_line_number(tmp_path):
    """A line that is not a --hash inside `name==version \\` continuation lines: that line, not the pin."""
    lines = ENVS["tf"].lock.read_text().splitlines()
    hash_line = next(ln for ln in lines if ln.strip().startswith("--hash"))
    path, number = _broken_lock(tmp_path, hash_line + "\n", hash_line + "\nstray words \\\n")
    with pytest.raises(envspec.SpecError) as exc:
        envspec.read_lock(path)
    assert str(exc.value) == (
        f"requirements/tf.txt: expected a pin like name==version, got 'stray words' (line {number}): "
        "fix it or run `nox -s lock`"
    )


def test_a_malformed_pin_is_quoted_with_its_line_number(tmp_path):
    path, number = _broken_lock(tmp_path, "\nnumpy==", "\nnumpy=")
    message = (
        r"^requirements/tf.txt: expected a pin like name==version, got "
        rf"'numpy=1\.\S+ ; .*' \(line {number}\): fix it or run `nox -s lock`$"
    )
    with pytest.raises(envspec.SpecError, match=message):
        envspec.read_lock(path)
