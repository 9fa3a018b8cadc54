"""The YAML hook (tools/envs/yamlcheck.py): conda's parser on every YAML file, our checks on environment
files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from tools.envs import yamlcheck


def tracked_yaml() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "*.yml", "*.yaml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in names]


def test_every_yaml_file_of_the_repository_passes():
    files = tracked_yaml() or sorted(ROOT.glob("environment-*.yml"))  # a copy without .git: the ymls
    assert any(f.name.startswith("environment-") for f in files)
    assert [(f, yamlcheck.problem(f)) for f in files if yamlcheck.problem(f)] == []


def test_a_repeated_key_fails_as_conda_would(tmp_path):
    """Hand-written input: PyYAML keeps the last `name:`, conda's round-trip loader refuses the file."""
    bad = tmp_path / "workflow.yml"
    bad.write_text("name: one\non: push\nname: two\n")
    assert yamlcheck.problem(bad) == (
        f'{bad}: expected valid YAML, got a syntax error at line 3: found duplicate key "name" with value '
        '"two" (original value: "one")'
    )


def test_an_environment_file_is_checked_as_verify_checks_it(tmp_path):
    """The real environment-tf.yml, then with conda's defaults channel added: envspec's one line."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "requirements").mkdir()
    yml = tmp_path / "environment-tf.yml"
    yml.write_text((ROOT / "environment-tf.yml").read_text())
    assert yamlcheck.problem(yml, tmp_path) is None
    yml.write_text(yml.read_text().replace("  - nodefaults\n", "  - nodefaults\n  - defaults\n"))
    assert yamlcheck.problem(yml, tmp_path) == (
        f"{yml}: expected channels [conda-forge, nodefaults], got ['conda-forge', 'nodefaults', 'defaults']"
    )


def test_an_environment_file_without_its_row_is_named(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    yml = tmp_path / "environment-vision.yml"
    shutil.copy(ROOT / "environment-torch.yml", yml)
    assert yamlcheck.problem(yml, tmp_path).startswith(
        "environment-vision.yml: expected a row [tool.gpuenv.environments.vision] in pyproject.toml"
    )


def test_the_hook_exits_1_and_prints_one_line_per_bad_file(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("a: 1\n")
    bad.write_text("a: [1\n")
    done = subprocess.run(
        [sys.executable, "-m", "tools.envs.yamlcheck", str(good), str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"{bad}: expected valid YAML, got a syntax error at line 2: "
        "expected ',' or ']', but got '<stream end>'"
    ]
