"""The published ResNet-50 training figures the model bench is set against (checks/data/model-references.json)
and the comparison: matched on precision class, the one line against a T4, each device's fastest points.
Pure: the model bench (checks/modelbench.py) and its tables (tools/plots/modelplot.py) both read it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REFERENCES = Path(__file__).resolve().parent.parent / "data" / "model-references.json"
REFERENCE_IMAGE_SIZE = 224  # the published figures are all 224x224: other sizes are not compared


def load_references(path: Path = REFERENCES) -> dict[str, Any]:
    """The reference file, checked: each entry has its numbers, a known precision and a source."""
    data = json.loads(path.read_text())
    for ref in data["references"]:
        missing = [
            k
            for k in ("id", "device", "match", "precision", "images_per_s", "source", "quote")
            if not ref.get(k)
        ]
        if missing or precision_class(ref["precision"]) is None:
            raise ValueError(
                f"{path.name}: expected a complete reference, got {ref.get('id')!r} missing {missing}"
            )
    return dict(data)


def precision_class(precision: str) -> str | None:
    """What a figure is comparable with: 'fp32' (float32, and NVIDIA's TF32 float32 training) or 'mixed'
    (fp16 or bf16 autocast/AMP). None for anything else."""
    if precision in ("float32", "tf32"):
        return "fp32"
    if precision in ("float16", "bfloat16", "mixed-fp16", "mixed-bf16"):
        return "mixed"
    return None


def references_for(refs: list[dict[str, Any]], precision: str) -> list[dict[str, Any]]:
    cls = precision_class(precision)
    return [r for r in refs if precision_class(r["precision"]) == cls]


def same_device(ref: dict[str, Any], name: str | None) -> bool:
    return (
        name is not None and re.search(ref["match"], " ".join(name.split()), flags=re.IGNORECASE) is not None
    )


def short_source(url: str) -> str:
    """github.com/OWNER/REPO/... -> OWNER/REPO; any other URL -> its host."""
    m = re.match(r"https?://github\.com/([^/]+/[^/#]+)", url)
    return m.group(1) if m else re.sub(r"^https?://([^/]+).*", r"\1", url)


def compare(images_per_s: float, precision: str, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """measured / published for every reference of the same precision class."""
    return [
        {
            "id": r["id"],
            "device": r["device"],
            "precision": r["precision"],
            "images_per_s": r["images_per_s"],
            "ratio": images_per_s / r["images_per_s"],
        }
        for r in references_for(refs, precision)
    ]


def answer(
    name: str | None,
    kind: str,
    best: dict[str, Any] | None,
    refs: list[dict[str, Any]],
    others: list[dict[str, Any]] | None = None,
) -> str:
    """The one line: how this device trains ResNet-50 against a T4 (published), matched on precision.

    `best` is {"images_per_s", "precision", "batch"}: the fastest measured point; `others` the fastest point
    of each other precision measured. The T4 line uses `best` where a T4 figure of its precision class is
    published, else the fastest of `others` whose class has one (a float32 T4 figure is never set against a
    mixed-precision point). Without either the line says so, and gives the published figure for this same
    device where there is one.
    """
    what = "GPU" if kind != "cpu" else "CPU"
    if not best:
        return f"this {what} ({name}) trained no ResNet-50 point at 224x224: nothing to compare"
    for point in [best, *sorted(others or [], key=lambda p: -p["images_per_s"])]:
        t4 = [r for r in references_for(refs, point["precision"]) if re.search(r"\bT4\b", r["device"])]
        if t4:
            return t4_line(what, name, point, t4[0], best)
    ips, prec = best["images_per_s"], best["precision"]
    published = sorted({r["precision"] for r in refs if re.search(r"\bT4\b", r["device"])})
    line = (
        f"this {what} ({name}) trains ResNet-50 at {ips:.0f} images/s ({prec}, batch {best['batch']}); "
        + (
            f"no published T4 ResNet-50 training figure of its precision class (the T4's: "
            f"{', '.join(published)}) to compare with"
            if published
            else "no published T4 ResNet-50 training figure was found to compare with"
        )
    )
    mine = [r for r in references_for(refs, prec) if same_device(r, name)]
    if mine:
        r = max(mine, key=lambda r: r["images_per_s"])
        line += (
            f"; {ips / r['images_per_s']:.2f}x the best published figure for this device "
            f"({r['images_per_s']:g} images/s, {short_source(r['source'])}, {r['precision']})"
        )
    return line


def t4_line(
    what: str, name: str | None, point: dict[str, Any], ref: dict[str, Any], best: dict[str, Any]
) -> str:
    ips, prec = point["images_per_s"], point["precision"]
    line = (
        f"this {what} ({name}) trains ResNet-50 {ips / ref['images_per_s']:.1f}x as fast as a T4 "
        f"(published: {short_source(ref['source'])}, {ref['precision']}; measured {ips:.0f} images/s, "
        f"{prec}, batch {point['batch']})"
    )
    if point is not best:
        # The fastest point is in a class with no T4 figure: say so rather than cross precisions.
        fastest = f"{best['images_per_s']:.0f} images/s in {best['precision']}"
        line += f"; its fastest point, {fastest}, has no T4 figure"
    return line


def resnet_bests(device: dict[str, Any]) -> list[dict[str, Any]]:
    """The fastest ResNet-50 point of each precision measured on the device."""
    entry = device["models"].get("resnet50")
    return [
        {"images_per_s": p["items_per_s"], "precision": precision, "batch": p["batch"]}
        for precision, res in (entry or {"precisions": {}})["precisions"].items()
        if (p := res.get("best"))
    ]


def best_resnet(device: dict[str, Any]) -> dict[str, Any] | None:
    """The fastest ResNet-50 point on the device over every precision, with its precision."""
    return max(resnet_bests(device), key=lambda p: p["images_per_s"], default=None)
