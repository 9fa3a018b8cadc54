"""`nox -s lock` cuts uv's failure to one line naming the .in, the offending line and uv's reason (or the
index URL it could not reach): table-driven on uv's real stderr, recorded under tests/data/uv/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.locks import relock

DATA = Path(__file__).resolve().parent.parent / "data" / "uv"
SOURCE = "requirements/torch.in"

CASES = [
    (
        "compile-syntax-error",
        "requirements/torch.in: expected a valid requirement, got 'torch===' (uv: Unexpected end of version "
        "specifier, expected version): fix that line",
    ),
    (
        "compile-unreachable-index",
        "requirements/torch.in: expected the package index to answer, got no answer from "
        "http://127.0.0.1:9/simple/numpy/ (Connection refused (os error 111)): check the network and the "
        "index URL (UV_INDEX_URL, uv.toml)",
    ),
    (
        "compile-unknown-package",
        "requirements/torch.in: expected a resolvable set, got: Because nmupy-does-not-exist-13 was not "
        "found in the package registry and you require nmupy-does-not-exist-13==1.0, we can conclude that "
        "your requirements are unsatisfiable.",
    ),
]


@pytest.mark.parametrize(("recording", "line"), CASES, ids=[c[0] for c in CASES])
def test_uv_compile_failure_is_one_line_naming_the_in_and_why(recording, line):
    assert relock.compile_problem((DATA / f"{recording}.txt").read_text(), SOURCE) == line


def test_an_unknown_failure_keeps_uvs_last_line():
    assert relock.compile_problem("error: something new\n", SOURCE) == (
        "requirements/torch.in: expected a resolvable set, got: error: something new"
    )
