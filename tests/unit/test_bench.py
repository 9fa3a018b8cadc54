"""The bench's methodology (sync, warm-up, medians), its arithmetic, the peaks table, and real runs."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

from checks import bench
from checks.core import peaks

# --- methodology ---------------------------------------------------------------------------------------


def test_every_clock_reading_follows_a_sync():
    log: list[str] = []
    timing = bench.measure(
        lambda: log.append("fn"), sync=lambda: log.append("sync"), warmup=2, repeats=3, min_time=0.0
    )
    assert log[:2] == ["fn", "fn"]  # warm-up first, untimed
    timed = log[2:]
    # min_time 0 -> one call per repeat; the probe plus 3 repeats, each drained before and after
    assert timed == ["sync", "fn", "sync"] * 4
    assert timing.number == 1 and timing.repeats == 3


def test_the_result_is_the_median_of_the_repeats_not_the_mean():
    seconds = iter([1.0, 5.0, 1.0, 3.0, 2.0, 40.0])  # probe, then five repeats with one outlier

    def block(fn, number, sync):
        return next(seconds) * number

    t = bench.measure(lambda: None, sync=lambda: None, warmup=0, repeats=5, min_time=0.5, block=block)
    assert t.number == 1
    assert t.median_s == 3.0 and t.min_s == 1.0  # the mean would be 10.2
    assert t.iqr_s > 0


def test_calls_per_repeat_scale_to_min_time():
    t = bench.measure(lambda: sum(range(100)), sync=lambda: None, warmup=1, repeats=2, min_time=0.01)
    assert t.number > 1 and t.median_s < 0.01


# --- arithmetic ----------------------------------------------------------------------------------------


def test_roofline_math():
    assert bench.fit_min_bytes(20_000_000) == 160_000_000  # x and y, float32, read once
    # 160 MB in 100 us is 1.6 TB/s, which is 48% of an H100 SXM's 3.35 TB/s
    bw = bench.gbs(bench.fit_min_bytes(20_000_000), 100e-6)
    assert bw == pytest.approx(1600.0)
    assert bench.fraction(bw, peaks.match("NVIDIA H100 80GB HBM3").bandwidth_gbs) == pytest.approx(
        0.4776, 1e-3
    )
    assert bench.copy_bytes(2**30) == 2**31  # read + write
    assert bench.matmul_flops(8192) == 2 * 8192**3
    assert bench.tflops(bench.matmul_flops(8192), 1.4e-3) == pytest.approx(785.4, 1e-3)
    assert bench.fraction(3.0, None) is None


def test_learning_rate_scales_to_keep_the_fit_stable():
    assert bench.fit_lr(2000) == 1e-6
    assert bench.fit_lr(20_000_000) == pytest.approx(1e-10)


def test_crossover_on_recorded_numbers():
    # The committed H100 run's faithful loop (docs/bench/bench-h100-cuda.json): its CPU is faster up to
    # N=2e4 (111.7 against 229.7 us), the GPU from 6e4 on (227.8 against 229.9 us) at every larger N.
    report = json.loads((ROOT / "docs" / "bench" / "bench-h100-cuda.json").read_text())
    us = {
        d["kind"]: {r["n"]: r["us_per_step"] for r in d["fit"]["forms"]["faithful"]}
        for d in report["devices"]
    }
    assert bench.crossover(us["cpu"], us["cuda"]) == {"gpu_wins_from": 60000, "cpu_wins_at": 20000}
    # A GPU that wins once in the middle but loses at the top has no crossover
    assert bench.crossover({1: 2.0, 2: 2.0, 3: 1.0}, {1: 3.0, 2: 1.0, 3: 2.0})["gpu_wins_from"] is None
    assert bench.crossover({1: 5.0, 2: 5.0}, {1: 1.0, 2: 1.0}) == {"gpu_wins_from": 1, "cpu_wins_at": None}


# --- peaks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM"),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
        ("NVIDIA H200", "NVIDIA H200 (SXM)"),
        ("Tesla T4", "NVIDIA T4"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 SXM4 80GB"),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 40GB"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe"),
        ("Apple M1", "Apple M1 (8-core GPU)"),
        ("Apple M1 Pro", "Apple M1 Pro (16-core GPU)"),
        ("Apple M3 Max", "Apple M3 Max (40-core GPU)"),
        ("NVIDIA GeForce RTX 4090", None),
        ("AMD EPYC 9654 96-Core Processor", None),
        (None, None),
    ],
)
def test_device_names_match_one_known_peak(name, expected):
    peak = peaks.match(name)
    assert (peak.name if peak else None) == expected


def test_known_peaks_agree_with_the_published_figures():
    h100 = peaks.match("NVIDIA H100 80GB HBM3")
    assert (h100.tflops["float32"], h100.tflops["bfloat16"], h100.bandwidth_gbs) == (67, 989, 3350)
    assert peaks.match("NVIDIA H200").bandwidth_gbs == 4800
    # Apple: cores x 128 ALUs x 2 x clock reproduces the published 2.6 / 5.3 / 10.6 TFLOPS of the M1 family
    m1 = [peaks.match(f"Apple M1{s}").tflops["float32"] for s in ("", " Pro", " Max")]
    assert m1 == pytest.approx([2.6, 5.3, 10.6], rel=0.02)
    assert peaks.match("Apple M1 Pro", gpu_cores=14).tflops["float32"] == pytest.approx(4.58, abs=0.01)
    assert all(p.sources for p in peaks.KNOWN)


# --- real runs -----------------------------------------------------------------------------------------


def test_benchplot_no_longer_writes_into_another_file(tmp_path):
    """The README copy of the tables is gone: the option that wrote it is refused, not silently ignored."""
    benchplot = importlib.import_module("tools.plots.benchplot")
    with pytest.raises(SystemExit) as exc:
        benchplot.main([str(tmp_path / "bench.json"), "--readme", str(tmp_path / "README.md")])
    assert exc.value.code == 2


def test_committed_bench_tables_are_what_benchplot_makes_of_the_committed_json(monkeypatch):
    """docs/bench/bench.md is generated, and it is the only copy: every committed bench JSON is rendered in
    it, regenerating gives it byte for byte, and no other page of the repository carries the tables."""
    benchplot = importlib.import_module("tools.plots.benchplot")
    monkeypatch.chdir(ROOT)  # benchplot names each source relative to the current folder
    committed = (ROOT / "docs" / "bench" / "bench.md").read_text()
    sources = re.findall(r"^Source: `([^`]+)`", committed, re.M)
    assert sorted(sources) == sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/bench/*.json"))
    assert benchplot.markdown(benchplot.load([Path(s) for s in sources])) == committed
    pages = [ROOT / "README.md", *ROOT.glob("docs/**/*.md")]
    copies = [
        p.relative_to(ROOT).as_posix() for p in pages if "Generated by `nox -s benchplot`" in p.read_text()
    ]
    assert copies == ["docs/bench/bench.md", "docs/bench/models/models.md"]  # models.md: checks.modelbench's


def test_benchplot_refuses_other_json(tmp_path):
    benchplot = importlib.import_module("tools.plots.benchplot")
    bad = tmp_path / "verify-torch.json"
    bad.write_text('{"schema_version": 1, "runs": []}')
    with pytest.raises(SystemExit, match=r"expected a checks\.bench JSON result"):
        benchplot.main([str(bad), "--out", str(tmp_path)])
    assert not (tmp_path / "bench.md").exists()


@pytest.mark.parametrize(
    "bad", [["--sizes", "x"], ["--sizes", "0"], ["--repeats", "0"], ["--cpu-only", "--no-cpu"]]
)
def test_bad_arguments_exit_2(bad):
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--framework", "torch", *bad])
    assert exc.value.code == 2
