"""The MPS audit run for real inside each torch environment: real models' training steps recorded on the CPU,
each verdict checked against what torch's macOS wheel of the same release really compiled (its
`wrapper_MPS_*` kernels, read with LIEF) and against public reports (tests/data/audit/), and every bad input
refused in one line."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the audit is for torch environments")

from checks import audit  # noqa: E402
from checks.core import mps_ops  # noqa: E402
from tools.mac import mps_binary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = json.loads((ROOT / "tests" / "data" / "audit" / "mps-public-evidence.json").read_text())["rows"]
RELEASE = torch.__version__.split("+")[0]
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@pytest.fixture(scope="module")
def table() -> dict[str, mps_ops.OpFacts]:
    return mps_ops.table_for(mps_ops.installed_torchgen())[0]


@pytest.fixture(scope="module")
def macos_wheel() -> Path:
    return mps_binary.macos_wheel(RELEASE, PYTHON, "14.0" if _version(RELEASE) >= (2, 12) else "12.3")


def run_audit(tmp_path: Path, *argv: str) -> dict:
    assert audit.main([*argv, "--out-dir", str(tmp_path), "--env", "test", "--macos-floor", "13.0"]) == 0
    return json.loads((tmp_path / "audit-test.json").read_text())


MODELS = {
    "resnet50": ["--model", "torchvision.models:resnet50", "--input", "2,3,64,64"],
    "vit_b_16": ["--model", "examples.audit_models:vit_b_16", "--input", "2,3,32,32"],
    "transformer": ["--model", "examples.audit_models:transformer", "--input", "2,16:int64"],
    "lstm": ["--model", "examples.audit_models:lstm", "--input", "2,8,16"],
    "numerics": ["--step", "examples.audit_models:numerics_step"],
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, dict]:
    pytest.importorskip("torchvision", reason="the torch environments install torchvision")
    return {name: run_audit(tmp_path_factory.mktemp(name), *argv) for name, argv in MODELS.items()}


@pytest.mark.network
def test_the_yaml_is_the_same_in_the_linux_and_the_macos_wheel(table, macos_wheel):
    """The installed (Linux) wheel's yaml, its RECORD's hash and the macOS wheel's yaml are the same bytes."""
    native, _tags = mps_ops.yaml_files(mps_ops.installed_torchgen())
    record = importlib.metadata.distribution("torch").read_text("RECORD") or ""
    installed = mps_ops.sha256(native)
    assert installed == mps_binary.record_sha256(record) == mps_binary.member_sha256(macos_wheel)


@pytest.mark.network
def test_every_kernel_verdict_is_a_wrapper_compiled_into_the_macos_binary(table, macos_wheel):
    """The yaml's MPS kernels (with structured delegates) are exactly the wrappers in libtorch_cpu.dylib."""
    compiled = set(mps_binary.mps_wrappers(macos_wheel))
    judged = {f.wrapper for f in table.values() if f.mps == mps_ops.KERNEL and not f.via}
    assert len(compiled) > 800  # 813 in 2.8.0, 928 in 2.15.0
    assert judged == compiled


@pytest.mark.network
def test_each_models_verdicts_match_the_binary(reports, table, macos_wheel):
    compiled = set(mps_binary.mps_wrappers(macos_wheel))
    for name, report in reports.items():
        assert report["ops"], name
        for row in report["ops"]:
            facts = mps_ops.verdict(table, row["op"])
            assert facts is not None and row["mps"] == facts.mps
            if facts.via:  # a CPU-only choice: judged by the ops MPS runs instead
                kernels = [table[op].wrapper in compiled for op in facts.via]
                assert all(kernels) == (row["mps"] == mps_ops.KERNEL), (name, row)
            else:
                assert (facts.wrapper in compiled) == (row["mps"] == mps_ops.KERNEL), (name, row)


def test_models_record_their_training_ops(reports):
    ops = {name: {row["op"] for row in r["ops"]} for name, r in reports.items()}
    assert {"aten::convolution", "aten::convolution_backward", "aten::native_batch_norm"} <= ops["resnet50"]
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in ops["vit_b_16"]  # judged as what MPS runs
    assert "aten::embedding" in ops["transformer"] or "aten::index_select" in ops["transformer"]
    assert "aten::mkldnn_rnn_layer" in ops["lstm"]  # judged as _lstm_mps, what MPS runs
    for r in reports.values():
        assert r["torch_release"] == RELEASE and r["missing"] == sorted(
            o["op"] for o in r["ops"] if o["mps"] == "missing"
        )
        assert abs(sum(o["cpu_share"] for o in r["ops"]) - 1) < 0.01


def test_numerics_step_finds_what_the_release_lacks(reports):
    """torch 2.8.0 lacks linalg_qr, eigh, 3-D pooling and grid_sampler_3d on MPS; torch 2.15.0 has them."""
    missing = set(reports["numerics"]["missing"])
    lacked_by_28 = {
        "aten::linalg_qr",
        "aten::_linalg_eigh",
        "aten::max_pool3d_with_indices",
        "aten::grid_sampler_3d",
    }
    if _version(RELEASE) < (2, 9):
        assert lacked_by_28 <= missing
    if _version(RELEASE) >= (2, 14):
        assert not lacked_by_28 & missing


@pytest.mark.parametrize("row", EVIDENCE, ids=lambda r: f"{r['op']}@{r['torch']}:{r['status']}")
def test_the_audit_agrees_with_public_evidence(table, row):
    """A kernel reported at or before this release is here; an op reported missing at or after it is
    missing here."""
    facts = mps_ops.verdict(table, row["op"])
    assert facts is not None, row["op"]
    if row["status"] == "kernel" and _version(row["torch"]) <= _version(RELEASE):
        assert facts.mps == mps_ops.KERNEL, row["source"]
    elif row["status"] == "missing" and _version(row["torch"]) >= _version(RELEASE):
        assert facts.mps == mps_ops.MISSING, row["source"]
    else:
        pytest.skip(f"the row speaks for torch {row['torch']}, not for {RELEASE}")


def test_strict_fails_on_a_refused_dtype(tmp_path):
    argv = ["--step", "tests.env.audit_steps:float64_step", "--out-dir", str(tmp_path), "--env", "t"]
    assert audit.main(argv) == 0
    assert audit.main([*argv, "--strict"]) == 1
    report = json.loads((tmp_path / "audit-t.json").read_text())
    assert any(n["dtype"] == "float64" and n["refused"] and n["shape"] == [3, 4] for n in report["dtypes"])


@pytest.mark.parametrize("step", ["bfloat16_step", "complex_step"])
def test_bfloat16_and_complex_are_refused_below_macos_14_only(tmp_path, step):
    """torch 2.8.0's libtorch_cpu.dylib: "MPS bfloat16 type is supported on MacOS 14.0 or newer.", "MPS
    complex types are only supported on MacOS 14.0 or newer." """
    argv = ["--step", f"tests.env.audit_steps:{step}", "--out-dir", str(tmp_path), "--env", "t"]
    assert audit.main([*argv, "--macos-floor", "14.0", "--strict"]) == 0
    assert audit.main([*argv, "--macos-floor", "13.0", "--strict"]) == 1


BAD = {
    "module": (["--step", "no_such_module_xyz:step"], "expected module 'no_such_module_xyz' to import"),
    "raises": (["--step", "tests.env.audit_steps:raising_step"], "got ValueError: the step's own error"),
    "not-a-model": (
        ["--model", "tests.env.audit_steps:not_a_model", "--input", "2,3"],
        "to return a torch.nn.Module, got a int",
    ),
    "shape": (["--model", "torchvision.models:resnet50", "--input", "8x3x224"], "expected --input as comma"),
    "dtype": (
        ["--model", "torchvision.models:resnet50", "--input", "8,3:float128"],
        "expected --input's dtype",
    ),
    "cuda": (["--step", "tests.env.audit_steps:cuda_step"], "to run on the CPU, got one that uses CUDA"),
    "no-colon": (["--step", "tests.env.audit_steps"], "expected --step as MODULE:NAME"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the user's modules import from the repository root
    argv, expected = BAD[case]
    assert audit.main([*argv, "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("audit: error: expected") and expected in lines[0], lines[0]
    assert not list(tmp_path.glob("audit-*.json"))  # nothing half-written


def test_the_command_line_refuses_in_one_line_too(tmp_path):
    """`python -m checks.audit` itself: exit 2, one line, no traceback (argparse's own errors: exit 2 too)."""
    for argv in (["--step", "tests.env.audit_steps:raising_step"], ["--input", "2,3"]):
        done = subprocess.run([sys.executable, "-m", "checks.audit", *argv, "--out-dir", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "error:" in done.stderr.strip().splitlines()[-1]


def test_without_pyyaml_the_audit_says_what_to_install(tmp_path):
    """The conda route may lack PyYAML, which torchgen needs: one line naming it (with no cached table)."""
    code = (
        "import sys; sys.modules['yaml'] = None; from checks import audit; "
        "sys.exit(audit.main(['--step', 'tests.env.audit_steps:float64_step', '--out-dir', sys.argv[1]]))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    argv = [sys.executable, "-c", code, str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "expected torchgen and PyYAML" in done.stderr and "pip install pyyaml" in done.stderr
