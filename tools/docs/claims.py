"""Every measured figure the README and docs/ quote, held to the record it comes from (docs/claims.toml).

A *figure* is a number with a unit after it (6.4 GB, 57.2 us, 90%, 40x, 5927 images/s, 3 min 31 s) in the
prose or tables of README.md and docs/*.md. Outside the generated parts (fenced blocks, which show a command
or what it printed; `<!-- name:begin -->` ... `<!-- name:end -->` blocks; the generated pages in GENERATED,
each held to its source by its own test), every figure must be covered by an entry of docs/claims.toml:

- `[[claim]]`: the figure comes from a committed record: `record` (a JSON file, or a log read with
  `pattern`) and `path` (dotted keys into the JSON, `field=value` picking a list's item; one per number in
  the figure, and `record` may be a list too, one per number), times `scale`, over `divide_by` (a number,
  or `record::path` for a ratio of two records); the number as written must be the record's value rounded
  to the digits shown.
- `[[public]]`: the figure is someone else's: `url` and `line`, the line it was read from, which must hold
  each number of the figure.
- `[[setting]]`: not a measurement (a size we chose, a threshold, a tolerance, a product name): `reason`.
- `[[unrecorded]]`: a measurement no committed record backs yet: `reason` says what would record it. The list
  is the debt, printed by `python -m tools.docs.claims`; a figure joins it only by an edit someone reviews.

A number whose unit stands only in its table's header (verify.md's us/step column, say) is not found by
the rule; entries may still claim such numbers, and several do.

Each entry names its `page` and a `text` that must appear there (whitespace runs count as one space); a
figure is covered by an entry whose text, where it stands on the page, contains it and whose `figures` (or,
for settings and unrecorded ones, text) lists it. An entry whose text is no longer on its page fails too, so
the file cannot drift from the pages.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the host venv is Python 3.9; tomli is in its lock (tools/envs/envspec.py reads pyproject.toml so too)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = ROOT / "docs" / "claims.toml"
# Generated whole pages, each held to its source by its own test (named here).
GENERATED = {
    "docs/bench/bench.md": "tests/unit/test_bench.py (benchplot of the committed JSON)",
    "docs/bench/models/models.md": "tests/unit/test_modelbench.py (modelplot of the committed JSON)",
    "docs/tensorflow-metal-matrix.md": "tests/unit/test_wheels.py (nox -s pair -- --matrix)",
}
KINDS = ("claim", "public", "setting", "unrecorded")

_NUMBER = r"\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?"
_NUMBER_ALONE = rf"(?<![\w.]){_NUMBER}"  # not the 16 of float16
_UNIT = (
    r"(?:TFLOP/s|TFLOPS|TB/s|GB/s|MB/s|images/s|tokens/s|us/step|µs/step|GiB|GB|MiB|MB|kB|KB|KiB|"
    r"minutes|min|ms|us|µs|s|%|x|M|k)"
)
_DASH = "\u2013"  # the en dash of a range, as in "1.3 to 2.0 s" written with it
# A number (or a range, or "N min M s") followed by a unit; not inside a word, a version or an identifier.
FIGURE = re.compile(
    rf"(?<![\w.\-/=])(?:{_NUMBER}\s?(?:min|h)\s)?{_NUMBER}(?:\s?[{_DASH}-]\s?{_NUMBER})?\s?{_UNIT}(?![\w/])"
)
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
BLOCK = re.compile(r"<!-- ([\w-]+):begin -->.*?<!-- \1:end -->", re.S)
# A command, a path or an identifier: `-p 127.0.0.1:9000:8080 us-docker...`. Like Markdown's, a span may wrap
# onto the next line of its paragraph (not across a blank line): read per line, its two halves would pair
# with their neighbours' backticks and hide the prose between them.
CODE_SPAN = re.compile(r"`(?:[^`\n]|\n(?![ \t]*\n))+`")
# Numbers with a unit that name a thing rather than measure it, wherever they stand.
NOT_FIGURES = {
    r"\b\d+x (?=H100|H200)": "a machine: how many GPUs of a model (2x H200)",
    r"\b80GB(?= HBM3| and V100)": "a product's name (NVIDIA H100 80GB HBM3, A100 80GB)",
}


@dataclass(frozen=True)
class Found:
    page: str
    line: int
    start: int  # offsets in the page's text
    end: int
    figure: str  # as written, whitespace runs as one space


def pages(root: Path = ROOT) -> list[Path]:
    """README.md and docs/*.md, less the generated pages (each held to its source by its own test)."""
    docs = sorted(p for p in (root / "docs").glob("*.md") if p.relative_to(root).as_posix() not in GENERATED)
    return [root / "README.md", *docs]


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def prose(text: str) -> str:
    """The page with its fenced and generated blocks blanked out (same length and lines): entries quote it."""
    return BLOCK.sub(_blank, FENCE.sub(_blank, text))


def figure_text(text: str) -> str:
    """The prose with code spans and names blanked out too (same length): where figures are looked for."""
    text = CODE_SPAN.sub(_blank, prose(text))
    for pattern in NOT_FIGURES:
        text = re.sub(pattern, _blank, text)
    return text


def figures(page: Path, root: Path = ROOT) -> list[Found]:
    """Every figure in the page's prose and tables, with its line (a figure may wrap: one space here)."""
    text = figure_text(page.read_text())
    rel = page.relative_to(root).as_posix()
    return [
        Found(rel, text.count("\n", 0, m.start()) + 1, m.start(), m.end(), " ".join(m.group(0).split()))
        for m in FIGURE.finditer(text)
    ]


def spans_of(text: str, page_text: str) -> list[tuple[int, int]]:
    """Where the entry's text stands in the page's prose, any whitespace run matching any other."""
    words = text.split()
    if not words:
        return []
    pattern = r"\s+".join(re.escape(w) for w in words)
    return [(m.start(), m.end()) for m in re.finditer(pattern, prose(page_text))]


def numbers(figure: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(_NUMBER_ALONE, figure)]


def _digits(number_text: str) -> int:
    return len(number_text.split(".")[1]) if "." in number_text and "e" not in number_text else 0


def value_at(record: Path, path: str, pattern: str | None = None) -> float:
    """The number at a dotted path of a JSON record (list items by index), or a log's `pattern` group 1."""
    text = record.read_text()
    if pattern is not None:
        found = re.search(pattern, text, re.M)
        if not found:
            raise KeyError(f"pattern {pattern!r} matches nothing")
        return float(found.group(1).replace(",", ""))
    node: Any = json.loads(text)
    for key in path.split("."):
        if isinstance(node, list) and "=" in key:  # the list item whose field has this value: id=t4-...
            field, _, wanted = key.partition("=")
            node = next(item for item in node if str(item.get(field)) == wanted)
        else:
            node = node[int(key)] if isinstance(node, list) else node[key]
    if not isinstance(node, (int, float)) or isinstance(node, bool):
        raise KeyError(f"{path} is {node!r}, not a number")
    return float(node)


def _divisor(spec: float | str, root: Path) -> float:
    """A number, or `record::path`: the figure is a ratio to that record's value."""
    if isinstance(spec, str):
        record, _, path = spec.partition("::")
        return value_at(root / record, path)
    return float(spec)


def check_figure(fig: dict[str, Any], root: Path = ROOT) -> str | None:
    """None if every number of the figure is what its record (or public line) says, else why not."""
    written = re.findall(_NUMBER_ALONE, fig["figure"])
    if "line" in fig:
        # A table row or CSV line: its numbers with and without commas read as thousands separators.
        tokens = re.findall(_NUMBER, fig["line"]) + re.findall(r"\d+(?:\.\d+)?", fig["line"])
        shown = {float(n.replace(",", "")) for n in tokens}
        missing = [n for n in written if float(n.replace(",", "")) not in shown]
        return f"{missing} not in the quoted line {fig['line']!r}" if missing else None
    paths = fig.get("path", [])
    paths = [paths] if isinstance(paths, str) else paths
    patterns = fig.get("pattern", [])
    patterns = [patterns] if isinstance(patterns, str) else patterns
    keys = paths or [""] * len(patterns)
    names = fig["record"] if isinstance(fig["record"], list) else [fig["record"]] * len(keys)
    if not len(keys) == len(names) == len(written):
        counts = f"{len(keys)} path(s)/pattern(s), {len(names)} record(s)"
        return f"{len(written)} number(s) in {fig['figure']!r}, {counts}"
    for i, (text, key, name) in enumerate(zip(written, keys, names)):
        record, where = root / name, f"{name} {key or patterns[i]}"
        if not record.is_file():
            return f"no record {name}"
        try:
            value = value_at(record, key, patterns[i] if patterns else None) * float(fig.get("scale", 1))
            value /= _divisor(fig.get("divide_by", 1), root)
        except (KeyError, IndexError, ValueError, TypeError, StopIteration, OSError) as exc:
            return f"{where}: {exc}"
        if abs(value - float(text.replace(",", ""))) > 0.5 * 10 ** -_digits(text) * (1 + 1e-9):
            return f"{text} written, {where} gives {value:.6g}"
    return None


class ClaimsError(Exception):
    """docs/claims.toml cannot be read as claims: the message says what to fix."""


# What each kind's entries and figures must name.
NEEDS = {"claim": ("page", "text", "figures"), "public": ("page", "text", "figures"),
         "setting": ("page", "text", "reason"), "unrecorded": ("page", "text", "reason")}  # fmt: skip
FIGURE_NEEDS = {"claim": ("figure", "record"), "public": ("figure", "url", "line")}


def load(path: Path = CLAIMS) -> dict[str, list[dict[str, Any]]]:
    """The entries by kind; ClaimsError for a file that is not TOML or an entry missing what it needs."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ClaimsError(f"{path}: expected a TOML claims file, got {exc}") from None
    unknown = set(data) - set(KINDS)
    if unknown:
        raise ClaimsError(f"{path.name}: expected tables {', '.join(KINDS)}, got {sorted(unknown)}")
    out = {kind: list(data.get(kind, [])) for kind in KINDS}
    for kind, entries in out.items():
        for entry in entries:
            missing = [k for k in NEEDS[kind] if k not in entry]
            for fig in entry.get("figures", []) if kind in FIGURE_NEEDS else []:
                missing += [f"figures.{k}" for k in FIGURE_NEEDS[kind] if k not in fig]
                if kind == "claim" and "path" not in fig and "pattern" not in fig:
                    missing.append("figures.path or figures.pattern")
            if missing:
                raise ClaimsError(
                    f"{path.name} [[{kind}]] {entry.get('text')!r}: expected {', '.join(missing)}, got none"
                )
    return out


def problems(root: Path = ROOT, claims: dict[str, list[dict[str, Any]]] | None = None) -> list[str]:
    """Every figure with no entry, every entry off its page, every figure its record contradicts."""
    claims = load(root / "docs" / "claims.toml") if claims is None else claims
    out: list[str] = []
    spans: dict[str, list[tuple[int, int, list[str]]]] = {}
    for kind, entries in claims.items():
        for entry in entries:
            where = f"docs/claims.toml [[{kind}]] {entry.get('page')}: {entry.get('text')!r}"
            page = root / str(entry.get("page"))
            if not page.is_file():
                out.append(f"{where}: no such page")
                continue
            if kind in ("setting", "unrecorded") and not str(entry.get("reason", "")).strip():
                out.append(f"{where}: expected a reason, got none")
            text = " ".join(str(entry.get("text", "")).split())
            where_on_page = spans_of(text, page.read_text())
            if not where_on_page:
                out.append(f"{where}: the text is not on the page (outside fenced and generated blocks)")
                continue
            figs = entry.get("figures", [])
            for fig in figs:
                if fig["figure"] not in text:
                    out.append(f"{where}: figure {fig['figure']!r} is not in the text")
                    continue
                if kind in ("claim", "public"):
                    why = check_figure(fig, root)
                    if why:
                        out.append(f"{where}: {why}")
            covered = [f["figure"] for f in figs] if kind in ("claim", "public") else [text]
            spans.setdefault(entry["page"], []).extend((s, e, covered) for s, e in where_on_page)
    for page in pages(root):
        rel = page.relative_to(root).as_posix()
        for found in figures(page, root):
            if not any(s <= found.start and found.end <= e and any(found.figure in c for c in covered)
                       for s, e, covered in spans.get(rel, [])):  # fmt: skip
                out.append(
                    f"{rel}:{found.line}: {found.figure!r} has no record: add it to docs/claims.toml "
                    "([[claim]] with its record, [[public]] with its source, "
                    "or [[setting]] with why it is none)"
                )
    return out


def main(argv: list[str] | None = None) -> int:
    if argv:
        print(
            f"python -m tools.docs.claims: expected no arguments (it reads {CLAIMS.name}), got {argv}",
            file=sys.stderr,
        )
        return 2
    try:
        found = problems()
    except ClaimsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(found) if found else "every figure in README.md and docs/*.md has its entry")
    debt = load()["unrecorded"]
    if debt:
        print(f"\n{len(debt)} figure(s) still without a record (docs/claims.toml [[unrecorded]]):")
        for entry in debt:
            print(f"  {entry['page']}: {entry['text']!r}: {entry['reason']}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
