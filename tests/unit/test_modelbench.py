"""The model bench's pure logic: the published references and their sources, precision matching, the
one-line answer, argument checks, and the committed H100 results and tables (real recorded runs)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

from checks import frameworks, modelbench
from checks.core import references

REFS = references.load_references()["references"]
RECORDED = sorted((ROOT / "docs" / "bench" / "models").glob("*.json"))
COMMIT_URL = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/blob/[0-9a-f]{40}/\S+$")

# --- the published references ---------------------------------------------------------------------------


@pytest.mark.parametrize("ref", REFS, ids=lambda r: r["id"])
def test_every_reference_is_complete_and_pinned_to_a_commit(ref):
    """A figure without its source, the line it was read from and a pinned version is not a reference."""
    assert COMMIT_URL.match(ref["source"]), ref["source"]  # a commit, not a branch that moves
    assert ref["images_per_s"] > 0 and ref["quote"]
    assert references.precision_class(ref["precision"]) in ("fp32", "mixed")
    assert ref["data"] in ("synthetic", "real") and ref["kind"] in ("datacentre", "consumer", "apple")
    assert ref["batch_size"] is None or ref["batch_size"] > 0
    re.compile(ref["match"])


@pytest.mark.parametrize("ref", REFS, ids=lambda r: r["id"])
def test_every_figure_is_in_its_quote_or_derived_from_it(ref):
    """The number is the quote's (to its rounding), or the stated arithmetic on the quote's numbers."""
    derived = ref.get("derived")
    if not derived:
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", ref["quote"])]
        assert any(abs(n - ref["images_per_s"]) <= 0.05 for n in numbers), ref["quote"]
        return
    pattern = r"(\d+) training images / ([\d.]+) s average epoch = ([\d.]+)"
    images, seconds, result = re.match(pattern, derived).groups()
    assert float(result) == ref["images_per_s"]
    assert int(images) / float(seconds) == pytest.approx(ref["images_per_s"], abs=0.05)
    recorded = [float(n) for n in re.findall(r"\d+\.\d+", ref["quote"])]  # the CSV's epoch time, rounded
    assert any(abs(n - float(seconds)) <= 0.005 for n in recorded), ref["quote"]


def test_the_t4_figure_is_the_one_found_and_matches_colabs_gpu():
    """One T4 figure was found with a source (AI Matrix, float32): it is listed, and it is the row that
    torch's name for Colab's GPU ("Tesla T4") finds; no mixed-precision T4 figure is invented."""
    t4 = [r for r in REFS if re.search(r"\bT4\b", r["device"])]
    assert [(r["id"], r["precision"]) for r in t4] == [("t4-aimatrix-tf-fp32", "float32")]
    assert [r["id"] for r in REFS if references.same_device(r, "Tesla T4")] == ["t4-aimatrix-tf-fp32"]
    assert "T4" in references.load_references()["about"]


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("NVIDIA H100 80GB HBM3", {"h100-sxm-lambda-amp", "h100-sxm-lambda-tf32"}),  # torch's name: SXM
        ("NVIDIA A100-SXM4-80GB", {"a100-sxm-lambda-amp", "a100-sxm-lambda-tf32", "a100-80gb-nvidia-dle-amp",
                                   "a100-80gb-nvidia-dle-tf32"}),
        ("Apple M1 Max", {"m1-max-tlkh-tf-fp32"}),
        ("Apple M1", set()),
        ("NVIDIA H100 PCIe", set()),
        ("Tesla T4", {"t4-aimatrix-tf-fp32"}),
        ("NVIDIA GeForce RTX 4090", set()),
    ],
)  # fmt: skip
def test_device_names_find_their_own_references(name, ids):
    assert {r["id"] for r in REFS if references.same_device(r, name)} == ids


def test_precisions_compare_only_within_their_class():
    assert references.precision_class("bfloat16") == references.precision_class("mixed-fp16") == "mixed"
    assert references.precision_class("float32") == references.precision_class("tf32") == "fp32"
    assert references.precision_class("int8") is None
    fp32 = references.compare(1000.0, "float32", REFS)
    assert fp32 and all(references.precision_class(c["precision"]) == "fp32" for c in fp32)
    mixed = {c["id"]: c["ratio"] for c in references.compare(5585.8, "bfloat16", REFS)}
    assert mixed["h100-sxm-lambda-amp"] == pytest.approx(2.0, abs=1e-3)  # 5585.8 / 2792.9


# --- the one-line answer -----------------------------------------------------------------------------------


def test_answer_names_the_published_t4_when_there_is_one():
    # Hand-written input: a mixed-precision T4 row of the reference file's shape (the real file has a
    # float32 T4 figure only, left out here so that the mixed row is the only T4).
    refs = [r for r in REFS if "T4" not in r["device"]]
    url = "https://github.com/someone/bench/blob/" + "0123456789" * 4 + "/t4.md"
    t4 = {"id": "t4", "device": "NVIDIA T4", "match": r"\bT4\b", "precision": "mixed-fp16"}
    t4 |= {"images_per_s": 250, "source": url}
    best = {"images_per_s": 500.0, "precision": "float16", "batch": 128}
    line = references.answer("Apple M3 Max", "mps", best, [*refs, t4])
    assert line.startswith(
        "this GPU (Apple M3 Max) trains ResNet-50 2.0x as fast as a T4 (published: someone/"
    )
    assert "mixed-fp16" in line
    # float32 measured: the mixed-precision T4 row is not comparable, so no T4 claim is made
    fp32 = references.answer("Apple M3 Max", "mps", {**best, "precision": "float32"}, [*refs, t4])
    assert "no published T4" in fp32 and f"{500 / 117.8:.2f}x" in fp32  # vs the M3 Max's own 117.8 (float32)


def test_answer_uses_the_published_float32_t4_for_a_float32_point():
    # The H100 recorded runs' real figures: 2595.3 float32 channels-last, 4968.7 float16 (docs/models.md).
    fp32 = {"images_per_s": 2595.3, "precision": "float32", "batch": 512}
    line = references.answer("NVIDIA H100 80GB HBM3", "cuda", fp32, REFS)
    assert line == (
        f"this GPU (NVIDIA H100 80GB HBM3) trains ResNet-50 {2595.3 / 120.8:.1f}x as fast as a T4 "
        "(published: alibaba/ai-matrix, float32; measured 2595 images/s, float32, batch 512)"
    )
    # fastest in float16, with a float32 point too: the T4 is set against the float32 point only
    fp16 = {"images_per_s": 4968.7, "precision": "float16", "batch": 512}
    both = references.answer("NVIDIA H100 80GB HBM3", "cuda", fp16, REFS, [fp16, fp32])
    assert both == line + "; its fastest point, 4969 images/s in float16, has no T4 figure"


def test_answer_without_a_t4_of_its_class_says_so_and_uses_the_devices_own_figure():
    best = {"images_per_s": 2752.5, "precision": "float16", "batch": 512}
    line = references.answer("NVIDIA H100 80GB HBM3", "cuda", best, REFS)
    assert "no published T4 ResNet-50 training figure of its precision class (the T4's: float32)" in line
    no_t4 = [r for r in REFS if "T4" not in r["device"]]
    assert "no published T4 ResNet-50 training figure was found" in references.answer(
        "NVIDIA H100 80GB HBM3", "cuda", best, no_t4
    )
    assert "0.99x the best published figure for this device (2792.9 images/s, lambdal/deeplearning-" in line
    cpu = references.answer("AMD EPYC", "cpu", {**best, "images_per_s": 3.0, "precision": "float32"}, REFS)
    assert cpu.startswith("this CPU (AMD EPYC)") and "best published figure" not in cpu


# --- arguments ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch-sizes", "0,16"], "argument --batch-sizes: expected comma-separated positive batch sizes"),
        (["--batch-sizes", "x"], "argument --batch-sizes: expected comma-separated positive batch sizes"),
        (["--precisions", "fp8"], "argument --precisions: expected comma-separated precisions from float32"),
        (["--models", "vgg16"], "argument --models: expected comma-separated models from resnet50"),
        (["--image-size", "16"], "argument --image-size: expected >= 32"),
        (["--min-time", "-1"], "argument --min-time: expected seconds >= 0"),
        (["--cpu-only", "--no-cpu"], "expected at most one of --cpu-only and --no-cpu"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        modelbench.parse_args(["--framework", "torch", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err and "Traceback" not in err


def test_output_paths_are_checked_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        modelbench.parse_args(["--framework", "torch", "--json", str(tmp_path)])
    assert exc.value.code == 2 and "expected a file path, got a directory" in capsys.readouterr().err


def test_best_turns_on_channels_last_and_compile_and_quick_is_small():
    args = modelbench.parse_args(["--framework", "torch", "--best"])
    assert args.channels_last and args.compile and args.image_size == 224
    quick = modelbench.parse_args(["--framework", "tensorflow", "--quick"])
    sizes = (quick.image_size, quick.batch_sizes, quick.cpu_batch_sizes, quick.repeats)
    assert sizes == (32, [2, 4], [2, 4], 2)
    assert modelbench.transformer_shape(quick) == modelbench.TINY_TRANSFORMER


def test_the_frameworks_declare_their_model_bench():
    """Read from the sources: torch and TensorFlow have one, MLX none (docs/models.md says why)."""
    for name in ("torch", "tensorflow"):
        module = frameworks.declared(name)["MODEL_BENCH"]
        assert frameworks.source(module).is_file()  # find_spec would import the framework (its __init__)
    assert "MODEL_BENCH" not in frameworks.declared("mlx")


# --- the committed H100 results ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_recorded_runs_are_complete_and_consistent(path):
    report = json.loads(path.read_text())
    assert report["kind"] == "modelbench" and report["schema_version"] == 1
    (device,) = report["devices"]
    assert device["name"] == "NVIDIA H100 80GB HBM3"
    for model, entry in device["models"].items():
        for precision, res in entry["precisions"].items():
            assert res["points"], (model, precision)
            for p in res["points"]:
                assert p["finite_loss"]
                items = p["batch"] * (report["settings"]["seq_len"] if model == "transformer" else 1)
                assert p["items_per_s"] == pytest.approx(items / (p["ms_per_step"] / 1e3))
                layout = model == "resnet50" and report["settings"]["channels_last"]
                assert ("channels_last" in p["how"]) == layout
                assert ("torch.compile (Inductor)" in p["how"]) == report["settings"]["compile"]
            best = report["summary"]["devices"]["cuda"][model]["precisions"][precision]
            assert best["items_per_s"] == max(p["items_per_s"] for p in res["points"])


def test_the_h100_meets_its_targets():
    """docs/models.md's claims, from the committed JSON: like-for-like with the best public H100 figures
    (NCHW, eager) within 10%, and the best settings (channels_last + torch.compile, bf16) above them."""

    def best(name, precision):
        report = json.loads((ROOT / "docs" / "bench" / "models" / name).read_text())
        return report["summary"]["devices"]["cuda"]["resnet50"]["precisions"][precision]["items_per_s"]

    published = {r["id"]: r["images_per_s"] for r in REFS}
    lambda_amp, lambda_tf32 = published["h100-sxm-lambda-amp"], published["h100-sxm-lambda-tf32"]
    assert best("h100-resnet50-eager-nchw.json", "float16") >= 0.9 * lambda_amp
    assert best("h100-resnet50-eager-nchw.json", "float32") >= 0.9 * lambda_tf32
    assert best("h100-resnet50-best.json", "bfloat16") >= lambda_amp
    assert best("h100-resnet50-best-float32.json", "float32") >= lambda_tf32


def test_committed_model_tables_are_what_benchplot_makes_of_the_committed_json(monkeypatch):
    benchplot = importlib.import_module("tools.plots.benchplot")
    modelplot = importlib.import_module("tools.plots.modelplot")
    monkeypatch.chdir(ROOT)
    committed = (ROOT / "docs" / "bench" / "models" / "models.md").read_text()
    sources = re.findall(r"^Source: `([^`]+)`", committed, re.M)
    assert sorted(sources) == [p.relative_to(ROOT).as_posix() for p in RECORDED]
    assert modelplot.markdown(benchplot.load([Path(s) for s in sources])) == committed


def test_benchplot_writes_model_tables_beside_nothing_else(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    benchplot = importlib.import_module("tools.plots.benchplot")
    monkeypatch.chdir(ROOT)
    assert benchplot.main([str(RECORDED[0]), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.md", "models.png"]
    assert (tmp_path / "models.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        "Published ResNet-50 training figures (not measured by this repository)"
        in (tmp_path / "models.md").read_text()
    )
