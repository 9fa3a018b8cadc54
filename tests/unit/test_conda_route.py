"""The conda route, `conda env create -f environment-NAME.yml`, proven here without conda.

conda cannot run on our CI machine, so tools/envs/condaenv.py repeats conda's own steps (conda 26.7.1's
source, cited there): parse the yml with ruamel.yaml's round-trip loader, write the pip items into a temporary
requirements file beside the yml, run `<prefix>/bin/python -m pip install -U -r <file> --exists-action=b`.
Here the prefix is a fresh venv of the yml's Python, standing in for conda's python + pip; the result must
be exactly the lock, and the fit must pass in it.
"""

from __future__ import annotations

import shutil

import pytest

from tools.envs import condaenv, envspec

ENVS = envspec.environments()
ROOT = envspec.ROOT
BEFORE_FIX = ROOT / "tests" / "data" / "conda" / "environment-torch-before-fix.yml"


@pytest.mark.parametrize("name", list(ENVS))
def test_conda_parser_sees_only_strings_in_the_pip_list(name):
    items = condaenv.pip_items(condaenv.load(ENVS[name].conda_file))
    assert all(type(item) is str for item in items), items
    assert items == ["--require-hashes", "--only-binary=:all:", f"-r requirements/{name}.txt"]


def test_the_unquoted_option_was_a_mapping_and_is_refused(tmp_path):
    items = condaenv.pip_items(condaenv.load(BEFORE_FIX))
    assert items[1] == {"--only-binary=:all": None}  # what conda's parser made of it
    with pytest.raises(TypeError):  # conda's own next step, `"\n".join(specs)`, fails on it
        "\n".join(items)
    with pytest.raises(condaenv.CondaFileError, match=r"^expected every pip item to be a string, got "):
        condaenv.write_requirements(items, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no half-written requirements file left behind

    shutil.copyfile(BEFORE_FIX, tmp_path / "environment-torch.yml")
    with pytest.raises(envspec.SpecError) as caught:
        envspec.read_conda_file(envspec.Environment("torch", "torch", "X", root=tmp_path))
    assert str(caught.value) == (
        "environment-torch.yml: expected every pip item to be a plain string, got CommentedMap "
        "{'--only-binary=:all': None} (quote it: a trailing ':' makes YAML read a mapping)"
    )


@pytest.mark.parametrize(
    ("pip_list", "got"),
    [
        ('["--require-hashes", "-r requirements/x.txt"]', "['--require-hashes', '-r requirements/x.txt']"),
        (
            '["--require-hashes", "--only-binary=:all:", "-r requirements/x.txt", "six"]',
            "['--require-hashes', '--only-binary=:all:', '-r requirements/x.txt', 'six']",
        ),
        (
            '["--require-hashes", "--only-binary=:all:", "-r requirements/y.txt"]',
            "['--require-hashes', '--only-binary=:all:', '-r requirements/y.txt']",
        ),
    ],
)
def test_the_pip_list_must_be_exactly_the_lock(tmp_path, pip_list, got):
    (tmp_path / "environment-x.yml").write_text(
        f"name: x\nchannels: [conda-forge, nodefaults]\ndependencies:\n  - python=3.9\n  - pip\n"
        f"  - pip: {pip_list}\n"
    )
    with pytest.raises(envspec.SpecError) as caught:
        envspec.read_conda_file(envspec.Environment("x", "torch", "X", root=tmp_path))
    assert str(caught.value) == (
        "environment-x.yml: expected a pip section of exactly "
        f"['--require-hashes', '--only-binary=:all:', '-r requirements/x.txt'], got {got}"
    )


def test_requirements_file_is_written_as_conda_writes_it(tmp_path):
    written = condaenv.write_requirements(["--require-hashes", "-r requirements/x.txt"], tmp_path)
    assert written.parent == tmp_path
    assert written.name.startswith("condaenv.") and written.name.endswith(".requirements.txt")
    assert written.read_text() == "--require-hashes\n-r requirements/x.txt"  # joined, no final newline
    assert condaenv.pip_command(tmp_path / "bin" / "python", written) == [
        str(tmp_path / "bin" / "python"), "-m", "pip", "install", "-U", "-r", str(written),
        "--exists-action=b",
    ]  # fmt: skip
