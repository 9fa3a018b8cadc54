"""The README stays a newcomer's page; every link and path in README.md and docs/ points at something real.

Relative links must name an existing file or folder, and a `#fragment` a heading of that page (GitHub's
anchor rule). Paths and modules written as code (`checks/bench.py`, `checks.verify`) must exist too: when a
file moves, the page that names it fails here instead of sending a reader nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("**/*.md"))]
README_MAX_LINES = 250

# Pages linked before they exist, each with where it comes from. A link to one is accepted only while the
# file is absent; once it exists its links and anchors are checked like any other page's.
PENDING = {"docs/doctor.md": "written with the doctor package (issue 12)"}

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
REPO_PATH = re.compile(r"^(?:\.ci|\.github|checks|docs|examples|requirements|tests|tools)/[\w.\-/]*$")
MODULE = re.compile(r"^(checks|tools)((?:\.\w+)+)$(?<!\.txt)(?<!\.in)(?<!\.json)(?<!\.py)")  # not tools.txt


def _rel(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def _prose(text: str) -> str:
    """The page without its fenced blocks (commands and program output, not links)."""
    return FENCE.sub("", text)


def anchors(page: Path, text: str | None = None) -> set[str]:
    """GitHub's heading anchors: the rendered text lower-cased, punctuation dropped, spaces to hyphens,
    and -1, -2, ... after repeats."""
    seen: dict[str, int] = {}
    out = set()
    for _, title in HEADING.findall(_prose(page.read_text() if text is None else text)):
        rendered = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", rendered.strip().lower()).replace(" ", "-")
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def links(text: str) -> list[str]:
    return LINK.findall(_prose(text))


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """Each relative link of the page (at `page`; its text is read unless given) that points nowhere."""
    text = page.read_text() if text is None else text
    problems = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        where = f"{_rel(page)}: ({target})"
        try:
            shown = _rel(dest)
        except ValueError:
            problems.append(f"{where} leaves the repository")
            continue
        if dest == page:
            if fragment not in anchors(page, text):
                problems.append(f"{where}: no heading #{fragment} on this page")
            continue
        if not dest.exists():
            if not (shown in PENDING and not fragment):
                problems.append(f"{where}: no such file {shown}")
            continue
        if fragment and fragment not in anchors(dest):
            problems.append(f"{where}: {shown} has no heading #{fragment} (it has {sorted(anchors(dest))})")
    return problems


def missing_paths(page: Path, text: str | None = None) -> list[str]:
    """Repository paths and checks/tools modules named in the page's code spans that do not exist."""
    problems = []
    for code in CODE_SPAN.findall(_prose(page.read_text() if text is None else text)):
        if REPO_PATH.match(code) and not (ROOT / code).exists():
            problems.append(f"{_rel(page)}: `{code}` does not exist")
        module = MODULE.match(code)
        if module:
            first = module.group(2).split(".")[1]
            package = ROOT / module.group(1)
            if not ((package / f"{first}.py").exists() or (package / first / "__init__.py").exists()):
                problems.append(f"{_rel(page)}: `{code}` names no module {module.group(1)}.{first}")
    return problems


def test_readme_fits_a_newcomers_screens():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail to a page in docs/"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_path_and_module_named_in_code_exists(page):
    assert missing_paths(page) == []


def _linked_from_readme() -> set[str]:
    targets = [t.partition("#")[0] for t in links(README.read_text()) if not re.match(r"^\w+:", t)]
    return {_rel(ROOT / t) for t in targets if t}


def test_every_docs_page_is_linked_from_the_readme():
    pages = {_rel(p) for p in (ROOT / "docs").glob("*.md")}
    assert pages - _linked_from_readme() == set()
    assert pages >= {
        "docs/verify.md", "docs/bench.md", "docs/mac.md", "docs/nvidia.md", "docs/locks.md",
        "docs/jupyter.md", "docs/ci.md", "docs/bad-input.md",
    }  # fmt: skip


def test_a_pending_page_is_one_the_readme_links():
    """The exception exists only for a page the README already points readers to."""
    assert set(PENDING) <= _linked_from_readme()


PROBE = """# Probe

[ok](verify.md#options) [file](nowhere.md) [anchor](verify.md#no-such-heading) [out](../../outside.md)
[self](#probe) [no self](#nothing) [web](https://example.com/x) ![plot](bench/bench.png)
`checks/moved_away.py` `checks.moved_away` `checks/bench.py` `checks.verify` `results/bench-<env>.json`
`tools.txt` `checks.device.best_device()`

```
[in a code block](not-checked.md) `checks/not_checked_here.py`
```
"""


def test_the_checker_catches_a_broken_link_a_wrong_anchor_and_a_moved_file():
    """Not vacuous: each kind of mistake is reported, naming the page and the target."""
    page = ROOT / "docs" / "_probe.md"
    verify_anchors = sorted(anchors(ROOT / "docs" / "verify.md"))
    assert broken_links(page, PROBE) + missing_paths(page, PROBE) == [
        "docs/_probe.md: (nowhere.md): no such file docs/nowhere.md",
        "docs/_probe.md: (verify.md#no-such-heading): docs/verify.md has no heading #no-such-heading"
        f" (it has {verify_anchors})",
        "docs/_probe.md: (../../outside.md) leaves the repository",
        "docs/_probe.md: (#nothing): no heading #nothing on this page",
        "docs/_probe.md: `checks/moved_away.py` does not exist",
        "docs/_probe.md: `checks.moved_away` names no module checks.moved_away",
    ]


def test_github_anchor_rule():
    text = (
        "# A `code` title: v0.5.0\n## Same\n## Same\n### [Linked](x.md) heading\n```\n# not a heading\n```\n"
    )
    assert anchors(ROOT / "x.md", text) == {"a-code-title-v050", "same", "same-1", "linked-heading"}
