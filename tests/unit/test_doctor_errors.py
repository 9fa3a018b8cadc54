"""Doctor explains the error a user's program printed (`--error`, `--error-file`): the error_text fact.

The fact sets (tests/data/facts/, each replayed in test_doctor.py with exactly its findings) carry texts
copied from the public threads their `_source` names. linux-x86_64-cpu-torch-current-shape-error.json is
recorded here, in the torch-current environment (torch 2.15.0, CPU):

    python -c 'import torch; torch.nn.Linear(20, 1)(torch.randn(64, 10))' 2> err.txt   # as a script
    python -m checks.doctor --framework torch --error-file err.txt --save-facts <that file>

The other texts below are copied by hand from the threads named beside each, or assembled from the string
literals torch builds its messages from (checks/doctor/rules/torch.py, LITERALS: read from the torch 2.8.0
and 2.15.0 binaries, and found again in the installed torch by tests/env/test_doctor.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checks import doctor
from checks.doctor import facts as facts_
from checks.doctor.rules import torch as torch_rules

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "facts"
ERROR_RULES = [r.id for r in doctor.RULES if r.error]


def load(name: str) -> dict:
    return doctor.load_facts(FACTS / f"{name}.json")


def explained(text: str, base: str = "mac-m1-torch-ok") -> dict[str, doctor.Finding]:
    """The findings of a recorded machine given this error text."""
    facts = load(base)
    facts["error_text"] = text
    return {f.rule: f for f in doctor.diagnose(facts)}


def finding(name: str, rule: str) -> doctor.Finding:
    return {f.rule: f for f in doctor.diagnose(load(name))}[rule]


# --- each fact set: the finding names what its text holds ----------------------------------------------


def test_missing_op_names_the_op_where_it_was_raised_and_the_variable():
    f = finding("mac-m1-torch-mps-unsupported-op", "mps-unsupported-op")
    assert "`aten::_amp_foreach_non_finite_check_and_unscale_`" in f.summary
    assert "grad_scaler.py:283 in _unscale_grads_" in f.summary
    assert "`PYTORCH_ENABLE_MPS_FALLBACK=1 python train.py`" in f.fix
    assert "above the first `import torch`" in f.fix
    assert "copies its input tensors from the GPU to the CPU and its results back" in f.meaning
    assert "set where doctor ran" not in f.meaning  # not set in that shell: nothing to say about it


def test_fallback_set_where_doctor_ran_yet_the_error_shows_means_set_after_import():
    f = finding("mac-m1-torch-mps-fallback-after-import", "mps-unsupported-op")
    assert "`aten::grid_sampler_2d_backward`" in f.summary  # the format before torch 2.6 (#77764)
    assert "PYTORCH_ENABLE_MPS_FALLBACK=1 is set where doctor ran, yet your program raised this" in f.meaning
    assert "os.environ after the import" in f.meaning


def test_mps_out_of_memory_names_the_sizes_and_the_limit():
    f = finding("mac-m1-torch-mps-out-of-memory", "mps-out-of-memory")
    assert "asking for 129.21 MB (private pool)" in f.summary
    assert "hold 7.43 GB" in f.summary and "the process 24.46 GB" in f.summary
    assert "limit (max allowed) 32.00 GB" in f.summary
    assert "default 1.7" in f.meaning and "recommendedMaxWorkingSetSize" in f.meaning
    assert "smaller batches" in f.fix and "`torch.mps.empty_cache()`" in f.fix
    assert "`PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0`" in f.fix and "freeze" in f.fix


def test_float64_names_the_line_that_made_it_and_the_casts():
    f = finding("mac-m1-torch-mps-float64", "mps-float64")
    assert "grad_scaler.py:335 in unscale_: `inv_scale = self._scale.double().reciprocal().float()`" in (
        f.summary
    )
    assert "TypeError: Cannot convert a MPS Tensor to float64 dtype" in f.summary
    assert "`torch.from_numpy(a.astype(np.float32))`" in f.fix and "`t.float().to('mps')`" in f.fix
    assert "`torch.set_default_dtype(torch.float32)`" in f.fix and "NumPy" in f.meaning


def test_cuda_out_of_memory_is_its_own_rule_not_an_mps_one():
    found = {f.rule for f in doctor.diagnose(load("linux-cuda-out-of-memory"))}
    assert "cuda-out-of-memory" in found and not {r for r in found if r.startswith("mps-")}
    f = finding("linux-cuda-out-of-memory", "cuda-out-of-memory")
    assert "asking for 22.00 MiB on GPU 0: 11.06 MiB free of 23.65 GiB" in f.summary
    assert "194.87 MiB is reserved by torch but unallocated" in f.meaning
    assert "`PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`" in f.fix


def test_an_unrelated_torch_error_gives_no_mps_or_cuda_finding():
    """Recorded here: a real torch 2.15.0 shape error; doctor says no rule knows it, and quotes it."""
    found = {f.rule: f for f in doctor.diagnose(load("linux-x86_64-cpu-torch-current-shape-error"))}
    assert not set(found) & set(ERROR_RULES)
    assert found["error-text"].status == "warn"
    assert (
        "`RuntimeError: addmm: mat1 and mat2 shapes cannot be multiplied (64x10 and 20x1)`"
        in found["error-text"].summary
    )


def test_no_error_text_no_error_findings():
    assert not {f.rule for f in doctor.diagnose(load("mac-m1-torch-ok"))} & {*ERROR_RULES, "error-text"}
    assert "error-text" not in explained(" \n")  # hand-edited facts with a blank text: nothing to explain


# --- more texts users posted (copied by hand from the threads named) ------------------------------------


@pytest.mark.parametrize(
    ("text", "rule", "status", "words"),
    [
        (  # pytorch/pytorch#105839 (gernophil, torchaudio 2.1.0 on an 8 GB Mac)
            "MPS backend out of memory (MPS allocated: 1.45 GB, other allocations: 7.42 GB, max allowed: "
            "9.07 GB). Tried to allocate 563.62 MB on private pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 "
            "to disable upper limit for memory allocations (may cause system failure).",
            "mps-out-of-memory",
            "fail",
            ["563.62 MB", "1.45 GB", "7.42 GB", "9.07 GB"],
        ),
        (  # Comfy-Org/ComfyUI#7440 (2025): newer releases print GiB/MiB
            "MPS backend out of memory (MPS allocated: 9.57 GiB, other allocations: 17.35 GiB, max allowed: "
            "27.20 GiB). Tried to allocate 292.50 MiB on private pool. Use "
            "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations (may cause "
            "system failure).",
            "mps-out-of-memory",
            "fail",
            ["292.50 MiB", "9.57 GiB", "27.20 GiB"],
        ),
        (  # lululxvi/deepxde#1973: a hosted macOS CI runner, nothing allocated; wrapped over lines
            "RuntimeError: MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, "
            "max allowed: 7.93 GB).\nTried to allocate 256 bytes on shared pool.\nUse "
            "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations (may cause "
            "system failure).",
            "mps-out-of-memory",
            "fail",
            ["256 bytes (shared pool)", "hosted CI runner"],
        ),
        (  # invoke-ai/InvokeAI#262 (torch 1.12: "not current implemented"), after a fallback warning
            ".../stable-diffusion/ldm/modules/embedding_manager.py:152: UserWarning: The operator "
            "'aten::nonzero' is not currently supported on the MPS backend and will fall back to run on the "
            "CPU. This may have performance implications. (Triggered internally at  /Users/runner/miniforge3/"
            "conda-bld/pytorch-recipe_1660136240338/work/aten/src/ATen/mps/MPSFallback.mm:11.)\n"
            '  File ".../stable-diffusion/ldm/modules/embedding_manager.py", line 155, in forward\n'
            "    embedded_text[placeholder_idx] = placeholder_embedding\n"
            "NotImplementedError: The operator 'aten::_index_put_impl_' is not current implemented for the "
            "MPS device. If you want this op to be added in priority during the prototype phase of this "
            "feature, please comment on https://github.com/pytorch/pytorch/issues/77764. As a temporary fix, "
            "you can set the environment variable `PYTORCH_ENABLE_MPS_FALLBACK=1` to use the CPU as a "
            "fallback for this op. WARNING: this will be slower than running natively on MPS.",
            "mps-unsupported-op",
            "fail",
            ["`aten::_index_put_impl_`", "embedding_manager.py:155 in forward"],
        ),
        (  # pytorch/pytorch#80278 (mdciri, torch 1.13): the fallback's warning alone
            "/Users/marco/miniforge3/envs/torch/lib/python3.9/site-packages/torch/_tensor_str.py:103: "
            "UserWarning: The operator 'aten::bitwise_and.Tensor_out' is not currently supported on the MPS "
            "backend and will fall back to run on the CPU. This may have performance implications. "
            "(Triggered internally at /Users/runner/work/pytorch/pytorch/pytorch/aten/src/ATen/mps/"
            "MPSFallback.mm:11.)\n"
            "  nonzero_finite_vals = torch.masked_select(tensor_view, torch.isfinite(tensor_view) & "
            "tensor_view.ne(0))",
            "mps-unsupported-op",
            "warn",
            ["`aten::bitwise_and.Tensor_out` runs on the CPU", "warned at _tensor_str.py:103"],
        ),
        (  # pytorch/pytorch#59778 (2021): the older CUDA format
            "CUDA out of memory. Tried to allocate 2.26 GiB (GPU 0; 6.00 GiB total capacity; 781.59 MiB "
            "already allocated; 3.03 GiB free; 1.24 GiB reserved in total by PyTorch)",
            "cuda-out-of-memory",
            "fail",
            ["2.26 GiB on GPU 0: 3.03 GiB free of 6.00 GiB"],
        ),
        (  # carolchenyx/MGFN.#35 (2023): "capacty", as some releases printed it
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.70 GiB. GPU 0 has a total "
            "capacty of 6.00 GiB of which 0 bytes is free. Of the allocated memory 2.93 GiB is allocated by "
            "PyTorch, and 2.30 GiB is reserved by PyTorch but unallocated.",
            "cuda-out-of-memory",
            "fail",
            ["1.70 GiB on GPU 0: 0 bytes free of 6.00 GiB", "2.30 GiB is reserved"],
        ),
    ],
)
def test_texts_users_posted(text, rule, status, words):
    found = explained(text)
    assert set(found) & {*ERROR_RULES, "error-text"} == {rule}  # one rule, and not the catch-all
    got = found[rule]
    assert got.status == status
    for word in words:
        assert word in got.summary + got.meaning, word


def test_without_a_limit_the_mac_itself_is_out_of_memory():
    """Hand-written in torch's second format (MPSAllocator.mm, PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0)."""
    text = (
        "MPS backend out of memory (MPS allocated: 30.10 GB, other allocations: 1.20 GB). Tried to allocate "
        "2.00 GB on private pool."
    )
    f = explained(text)["mps-out-of-memory"]
    assert "no limit set" in f.summary and "already lifted torch's limit" in f.meaning
    assert "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0`" not in f.fix  # not advised again


# --- the messages as torch assembles them from its literals ----------------------------------------------


def _assembled() -> list[tuple[str, str]]:
    """(rule, message) for each message, joined from torch's literals with the values torch inserts."""
    mps = {rule: parts for rule, (_, parts) in torch_rules.LITERALS.items()}
    op, fallback = "aten::_linalg_eigvals", mps["mps-unsupported-op"]
    raised = f"{fallback[0]}{op}{fallback[1]}{fallback[2]}please comment on ..."
    warned = f"{fallback[0]}{op}{fallback[3]}{fallback[4]}{fallback[5]}"
    o = mps["mps-out-of-memory"]
    oom = f"{o[0]}18.04 GB{o[1]}2.28 MB{o[2]}18.13 GB{o[3]}256 bytes on shared{o[4]}"
    c = mps["cuda-out-of-memory"]
    cuda = f"{c[0]}20.00 MiB. GPU 0{c[1]}79.11 GiB{c[2]}1.56 MiB{c[3]}... and 383.17 MiB{c[4]}"
    return [
        ("mps-unsupported-op", raised),
        ("mps-unsupported-op", warned),
        ("mps-out-of-memory", oom),
        *(("mps-float64", text) for text in mps["mps-float64"]),
        ("cuda-out-of-memory", cuda),
    ]


@pytest.mark.parametrize(("rule", "text"), _assembled(), ids=lambda v: v[:40])
def test_messages_assembled_from_torchs_literals_meet_their_rule(rule, text):
    found = explained(text)
    assert set(found) & {*ERROR_RULES, "error-text"} == {rule}


def test_every_error_rule_has_torchs_literals():
    assert sorted(torch_rules.LITERALS) == sorted(r.id for r in torch_rules.RULES if r.error)
    # the error rules that are not torch's read other texts, each replayed in tests/unit/test_doctor.py:
    # module-not-found a ModuleNotFoundError from the user's code, numerics-case verify's own line
    assert sorted(set(ERROR_RULES) - set(torch_rules.LITERALS)) == ["module-not-found", "numerics-case"]


# --- the command: --error, --error-file, stdin, replay, bad input --------------------------------------


def _doctor(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "checks.doctor", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_error_file_is_explained_by_the_real_command(tmp_path):
    """The command as a user runs it: this machine's facts gathered for real, plus the log given."""
    log = tmp_path / "train.log"
    log.write_bytes(b"epoch 3 \xff\xfe\n" + load("mac-m1-torch-mps-out-of-memory")["error_text"].encode())
    report = tmp_path / "report.json"
    done = _doctor("--error-file", str(log), "--json", str(report))
    assert done.returncode == 1, done.stderr  # the program's error is a failure
    assert "fail  mps-out-of-memory: MPS ran out of memory asking for 129.21 MB" in done.stdout
    saved = json.loads(report.read_text())
    assert saved["facts"]["error_text"].endswith("(may cause system failure).\n")
    assert "mps-out-of-memory" in [f["rule"] for f in saved["findings"]]


def test_stdin_and_replay_give_the_same_findings(tmp_path):
    text = load("mac-m1-torch-mps-float64")["error_text"]
    saved = tmp_path / "facts.json"
    done = _doctor("--error-file", "-", "--save-facts", str(saved), stdin=text)
    assert done.returncode == 1 and "fail  mps-float64:" in done.stdout
    assert json.loads(saved.read_text())["error_text"] == text
    replay = _doctor("--facts", str(saved))
    assert replay.returncode == 1
    assert replay.stdout.splitlines() == done.stdout.splitlines()[:-1]  # all but the "facts:" line


def test_error_on_recorded_facts_replaces_the_recorded_text(capsys):
    cuda = load("linux-cuda-out-of-memory")["error_text"]
    path = str(FACTS / "mac-m1-torch-mps-float64.json")
    assert doctor.main(["--facts", path, "--error", cuda]) == 1
    out = capsys.readouterr().out
    assert "fail  cuda-out-of-memory:" in out and "mps-float64" not in out


def test_a_long_log_keeps_its_end():
    text = "x" * (facts_.ERROR_TEXT_MAX_CHARS + 10) + "\nTypeError: the end"
    kept = facts_.error_tail(text)
    assert len(kept) == facts_.ERROR_TEXT_MAX_CHARS and kept.endswith("TypeError: the end")


def test_fact_sets_recorded_before_error_texts_read_as_none():
    assert "error_text" not in json.loads((FACTS / "mac-m1-torch-ok.json").read_text())
    assert load("mac-m1-torch-ok")["error_text"] is None


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--error-file", "{tmp}/missing.log"], None,
         "expected a readable error file, got {tmp}/missing.log: No such file or directory"),
        (["--error-file", "{tmp}"], None, "expected a readable error file, got {tmp}: Is a directory"),
        (["--error-file", "{tmp}/empty.log"], None, "expected the error text your program printed in "
         "{tmp}/empty.log, got nothing"),
        (["--error-file", "-"], "\n",
         "expected the error text your program printed on stdin (--error-file -), got nothing"),
        (["--error", " "], None, "expected the error text your program printed after --error, got nothing"),
    ],
)  # fmt: skip
def test_bad_error_input_is_one_line_and_exit_2_before_any_gathering(tmp_path, args, stdin, message):
    (tmp_path / "empty.log").write_text("")
    saved = tmp_path / "facts.json"
    done = _doctor(*[a.format(tmp=tmp_path) for a in args], "--save-facts", str(saved), stdin=stdin)
    assert done.returncode == 2 and not done.stdout
    assert done.stderr == f"doctor: {message.format(tmp=tmp_path)}\n"
    assert not saved.exists()  # nothing gathered, nothing written


def test_error_and_error_file_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        doctor.cli.parse_args(["--error", "x", "--error-file", "y"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
