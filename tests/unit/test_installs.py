"""A failed install is named by its cause, from the installer's own output (real uv and pip output recorded
under tests/data/installs/): one line saying what went wrong and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.session import venvs

DATA = Path(__file__).resolve().parent.parent / "data" / "installs"
FILES = ["requirements/torch.txt"]

# (recording, words the line must carry: the cause, what went wrong, what to do)
CASES = [
    ("uv-hash", ["hash mismatch", "typing-extensions==4.16.0", "nox -s lock"]),
    ("pip-hash", ["hash mismatch", "typing-extensions==4.16.0", "nox -s lock"]),
    ("uv-nowheel", ["no wheel", "tensorflow-metal==1.2.0", "for this platform or Python"]),
    ("uv-nopython", ["no wheel", "numpy==2.2.0", "for this platform or Python"]),
    ("pip-nowheel", ["no wheel", "tensorflow-metal==1.2.0", "for this platform or Python"]),
    ("uv-conflict", ["resolver conflict", "typing-extensions==4.16.0 and typing-extensions==4.15.0"]),
    ("pip-conflict", ["resolver conflict", "typing-extensions==4.15.0 and typing-extensions==4.16.0"]),
    ("uv-offline", ["offline", "filelock", "UV_OFFLINE"]),
    ("uv-unreachable", ["unreachable", "http://127.0.0.1:9/simple/filelock/", "index URL"]),
    ("pip-unreachable", ["unreachable", "Connection refused", "index URL"]),
]


@pytest.mark.parametrize(("recording", "words"), CASES, ids=[c[0] for c in CASES])
def test_an_install_failure_is_named_by_its_cause(recording, words):
    line = venvs.install_problem((DATA / f"{recording}.txt").read_text(), FILES)
    assert "\n" not in line
    assert line.startswith("expected requirements/torch.txt to install, got ")
    assert line.endswith("; the half-built venv was removed")
    for word in words:
        assert word in line, line


def test_no_version_is_offline_only_when_uv_was_told_so():
    """With the lock's markers, uv offline says only "there is no version of filelock": UV_OFFLINE tells."""
    output = (DATA / "uv-offline-lock.txt").read_text()
    offline = venvs.install_problem(output, FILES, offline=True)
    assert "got nothing to install offline (filelock==3.19.1 is not in uv's cache" in offline
    online = venvs.install_problem(output, FILES)
    assert "got no filelock==3.19.1 on the package index" in online
    assert "check the index URL" in online


def test_uv_offline_is_read_from_the_environment():
    assert venvs.uv_offline({"UV_OFFLINE": "1"}) and venvs.uv_offline({"UV_OFFLINE": "true"})
    assert not venvs.uv_offline({"UV_OFFLINE": "0"}) and not venvs.uv_offline({})


def test_other_failures_point_at_the_installer_output():
    line = venvs.install_problem("error: something new\n", FILES)
    assert line == (
        "expected requirements/torch.txt to install, got the installer error above (error: something new); "
        "the half-built venv was removed"
    )


def test_the_install_output_is_shown_and_kept(tmp_path, capsys):
    code, out = venvs.run_install(["python", "-c", "import sys; print('to out'); sys.exit('to err')"])
    assert code == 1
    assert "to out" in out and "to err" in out
    shown = capsys.readouterr().out
    assert "to out" in shown and "to err" in shown
