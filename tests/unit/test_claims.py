"""Every measured figure README.md and docs/*.md quote comes from a committed record (docs/claims.toml).

The rule and the entry kinds are in tools/docs/claims.py's docstring. Here: the real pages and claims file
pass, and on a probe repository each way a figure can go wrong is reported: a number with no entry, a number
that is not its record's, a public figure not in the quoted line, an entry whose text left the page.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

from tools.docs import claims


def test_every_figure_in_the_docs_comes_from_its_record():
    assert claims.problems() == []


def test_every_unrecorded_figure_says_what_would_record_it():
    for entry in claims.load()["unrecorded"]:
        assert len(entry["reason"].split()) >= 5, entry


def test_a_generated_page_is_held_to_its_source_by_a_test_that_exists():
    for page, by in claims.GENERATED.items():
        assert (ROOT / page).is_file() and (ROOT / by.split()[0]).is_file(), (page, by)


def test_a_generated_block_is_held_to_its_source_by_a_test_that_exists():
    for name, by in claims.GENERATED_BLOCKS.items():
        test_file, _, test = by.split()[0].partition("::")
        assert (ROOT / test_file).is_file() and f"def {test}(" in (ROOT / test_file).read_text(), (name, by)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("installs 3.96 GB of wheels, 6.8 GB installed", ["3.96 GB", "6.8 GB"]),
        ("| 57.2 us = 83% | 5.7 vs 226 us = 40x |", ["57.2 us", "83%", "226 us", "40x"]),
        (
            "took 3 min 31 s, then 0.6\N{EN DASH}0.7 s and 12.3-19.2 s",
            ["3 min 31 s", "0.6\N{EN DASH}0.7 s", "12.3-19.2 s"],
        ),
        ("5927 images/s at 1.27M tokens/s and 1060 µs/step", ["5927 images/s", "1.27M", "1060 µs/step"]),
        # versions, identifiers, sizes as N and products carry no unit after them
        ("torch 2.8.0, Python 3.9, CUDA 12.8, N=2e7, macOS 14.0, sha256, cu130, `--min-time` 0.05", []),
    ],
)
def test_what_counts_as_a_figure(text, found):
    assert [m.group(0) for m in claims.FIGURE.finditer(text)] == found


def test_a_code_span_that_wraps_a_line_hides_no_figure_after_it():
    # Read per line, the two halves of the wrapped span paired with the next span's backticks and blanked
    # "(quick, 1.7 s)" in docs/verify.md, so that figure had no entry and no test noticed.
    page = "run `python -m checks.verify\n--json out.json` (quick, 1.7 s) and `--numerics full` (26.8 s)\n"
    found = [m.group(0) for m in claims.FIGURE.finditer(claims.figure_text(page))]
    assert found == ["1.7 s", "26.8 s"]
    # a blank line ends a paragraph, and so a span: a lone backtick there hides nothing beyond it
    assert [m.group(0) for m in claims.FIGURE.finditer(claims.figure_text("a ` b\n\nc 2 s `d`\n"))] == ["2 s"]


def _probe(tmp_path: Path, page_text: str, toml: str) -> list[str]:
    (tmp_path / "docs" / "records").mkdir(parents=True)
    (tmp_path / "README.md").write_text("# Probe\n")
    (tmp_path / "docs" / "page.md").write_text(page_text)
    (tmp_path / "docs" / "records" / "run.json").write_text(json.dumps({"a": {"us": 57.24, "frac": 0.834}}))
    (tmp_path / "docs" / "records" / "run.log").write_text("$ du -s --bytes venv\n6818938568\tvenv\n")
    (tmp_path / "docs" / "claims.toml").write_text(toml)
    return claims.problems(tmp_path)


PAGE = """# Page

The fused step takes 57.2 us (83% of the roofline); the venv is 6.8 GB; a public figure is 794.5 TFLOP/s.
A repeat lasts 0.05 s.

```
output in a fence is what a command printed: 12 s
```
"""

GOOD = """
[[claim]]
page = "docs/page.md"
text = "57.2 us (83% of the roofline)"
figures = [
  {figure = "57.2 us", record = "docs/records/run.json", path = "a.us"},
  {figure = "83%", record = "docs/records/run.json", path = "a.frac", scale = 100},
]

[[claim]]
page = "docs/page.md"
text = "the venv is 6.8 GB"
figures = [{figure = "6.8 GB", record = "docs/records/run.log", pattern = '^(\\d+)\\s+venv$', scale = 1e-9}]

[[public]]
page = "docs/page.md"
text = "794.5 TFLOP/s"
figures = [{figure = "794.5 TFLOP/s", url = "https://example.org/table", line = "| H100 SXM | 794.5 | 989 |"}]

[[setting]]
page = "docs/page.md"
text = "A repeat lasts 0.05 s"
reason = "the bench's --min-time default, a choice"
"""


def test_the_probe_passes_as_written(tmp_path):
    assert _probe(tmp_path, PAGE, GOOD) == []


def test_a_figure_with_no_entry_is_reported(tmp_path):
    found = _probe(tmp_path, PAGE + "\nIt ran in 4.2 s.\n", GOOD)
    assert found == [
        "docs/page.md:10: '4.2 s' has no record: add it to docs/claims.toml ([[claim]] with its record, "
        "[[public]] with its source, or [[setting]] with why it is none)"
    ]


def test_a_figure_in_a_block_no_test_regenerates_is_reported(tmp_path):
    # docs/audit.md wrapped its hand-written timings in `<!-- audit-speed:begin -->` ... `:end -->`, and any
    # such pair hid every figure inside it from the rule: only a block a test regenerates is exempt.
    block = "\n<!-- audit-speed:begin -->\nIt ran in 4.2 s.\n<!-- audit-speed:end -->\n"
    assert _probe(tmp_path, PAGE + block, GOOD) == [
        "docs/page.md:11: '4.2 s' has no record: add it to docs/claims.toml ([[claim]] with its record, "
        "[[public]] with its source, or [[setting]] with why it is none)"
    ]


def test_a_figure_in_a_regenerated_block_is_held_by_its_test_instead(tmp_path):
    for name in claims.GENERATED_BLOCKS:
        block = f"\n<!-- {name}:begin -->\n| torch | 4.2 s |\n<!-- {name}:end -->\n"
        assert _probe(tmp_path / name, PAGE + block, GOOD) == []


def test_a_figure_its_record_contradicts_is_reported(tmp_path):
    found = _probe(tmp_path, PAGE.replace("57.2 us", "52.7 us"), GOOD.replace("57.2 us", "52.7 us"))
    assert found == [
        "docs/claims.toml [[claim]] docs/page.md: '52.7 us (83% of the roofline)': "
        "52.7 written, docs/records/run.json a.us gives 57.24"
    ]


def test_a_rounding_the_record_does_not_support_is_reported(tmp_path):
    found = _probe(tmp_path, PAGE.replace("6.8 GB", "6.9 GB"), GOOD.replace("6.8 GB", "6.9 GB"))
    assert len(found) == 1 and "6.9 written, docs/records/run.log" in found[0] and "gives 6.81894" in found[0]


def test_a_public_figure_not_in_its_quoted_line_is_reported(tmp_path):
    found = _probe(tmp_path, PAGE.replace("794.5", "798"), GOOD.replace("794.5 TFLOP/s", "798 TFLOP/s"))
    assert len(found) == 1 and "['798'] not in the quoted line" in found[0]


def test_an_entry_whose_text_left_the_page_is_reported(tmp_path):
    found = _probe(tmp_path, PAGE.replace("A repeat lasts", "Each repeat lasts"), GOOD)
    assert (
        "docs/claims.toml [[setting]] docs/page.md: 'A repeat lasts 0.05 s': the text is not on the page"
        in (found[0])
    )
    assert "'0.05 s' has no record" in found[1]


def test_a_setting_needs_its_reason(tmp_path):
    found = _probe(
        tmp_path, PAGE, GOOD.replace('reason = "the bench\'s --min-time default, a choice"', 'reason = ""')
    )
    assert found == [
        "docs/claims.toml [[setting]] docs/page.md: 'A repeat lasts 0.05 s': expected a reason, got none"
    ]


def test_a_claims_file_that_cannot_be_read_says_what_to_fix(tmp_path):
    broken = tmp_path / "claims.toml"
    broken.write_text('[[claim]]\npage = "README.md"\ntext = "6.8 GB installed"\n')
    with pytest.raises(
        claims.ClaimsError, match=r"\[\[claim\]\] '6.8 GB installed': expected figures, got none"
    ):
        claims.load(broken)
    broken.write_text("[[claim]\n")
    with pytest.raises(claims.ClaimsError, match="expected a TOML claims file, got"):
        claims.load(broken)
    broken.write_text('[[claims]]\npage = "README.md"\n')
    with pytest.raises(
        claims.ClaimsError, match=r"expected tables claim, public, setting, unrecorded, got \['claims'\]"
    ):
        claims.load(broken)


def test_the_rule_reads_the_readme_and_every_written_docs_page():
    shown = {p.relative_to(ROOT).as_posix() for p in claims.pages()}
    assert {"README.md", "docs/bench.md", "docs/mac.md", "docs/models.md", "docs/verify.md"} <= shown
    assert not shown & set(claims.GENERATED)


def test_a_pattern_that_is_no_regex_is_named_not_a_traceback(tmp_path):
    (tmp_path / "run.log").write_text("199.63s call tests/e2e/test_x.py::test_y[torch]\n")
    fig = {"figure": "199.63 s", "record": "run.log", "pattern": r"^([\d.]+s call"}  # a ( left open
    why = claims.check_figure(fig, tmp_path)
    assert why == r"run.log ^([\d.]+s call: missing ), unterminated subpattern at position 1"
