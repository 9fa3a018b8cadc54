"""torchvision and torchaudio where an environment has them (torch and torch-current: both).

Their compiled ops must run with this torch: a torchvision built for another torch fails at the first
compiled op ("operator torchvision::nms does not exist" or an undefined symbol), not at import. torch-current
pairs torch 2.15.0 with torchvision 0.29.2, the release for torch 2.14 (requirements/torch-current.in).
verify's extra check (checks/frameworks/torch/extras.py) runs a ResNet step, nms and a MelSpectrogram on the
device against the CPU; these tests hold it to that on the real packages: it passes here, a perturbed result
fails it, a missing kernel is a named failure, and a package the lock does not install is reported absent.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

torch = pytest.importorskip("torch", reason="torch is not in this environment")
torchvision = pytest.importorskip("torchvision", reason="torchvision is not in this environment")

from checks import verify  # noqa: E402
from checks.device import best_device  # noqa: E402
from checks.frameworks.torch import extras as torch_extras  # noqa: E402
from tools.envs import envspec  # noqa: E402

UNDER_TEST = os.environ.get("GPUENV_UNDER_TEST")  # set by `nox -s tests`: the environment's name


def _locked() -> frozenset[str] | None:
    """What this environment's lock installs here, as `nox -s verify` passes it (None outside nox)."""
    envs = envspec.environments()
    return frozenset(envspec.locked_here(envs[UNDER_TEST])) if UNDER_TEST in envs else None


def _has_torchaudio() -> bool:
    try:
        import torchaudio  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


@pytest.mark.parametrize("where", ["best", "cpu"])
def test_compiled_ops_and_a_conv_net_run_with_this_torch(where):
    device = best_device() if where == "best" else torch.device("cpu")
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32, device=device
    )
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    kept = torchvision.ops.nms(boxes, scores, 0.5)
    assert kept.device.type == device.type and kept.tolist() == [0, 2]  # the second box overlaps the first

    net = torchvision.models.resnet18(num_classes=3).to(device).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64, device=device))
    assert out.shape == (2, 3) and out.device.type == device.type and torch.isfinite(out).all()


def test_the_pair_is_the_locked_one():
    """The versions the .in explains: a torchvision release no older than its torch's minor - 1."""
    torch_minor = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    vision_minor = int(torchvision.__version__.split(".")[1])
    # torchvision 0.N pairs with torch 2.(N - 15): 0.23 <-> 2.8, 0.29 <-> 2.14.
    assert torch_minor[1] - (vision_minor - 15) in (0, 1), (torch.__version__, torchvision.__version__)


def test_doctor_loads_their_libraries_as_their_imports_do():
    """doctor's fact (checks.frameworks.torch.extension_facts) loads the libraries the two imports load,
    beside this torch: here every one loads, as the imports do, and the rule says so with the installed
    versions. Its failure path is a real one recorded on the lent H100 (tests/unit/test_doctor.py)."""
    import importlib
    from importlib import metadata

    from checks.doctor.rules import torch as torch_rules
    from checks.frameworks.torch import extension_facts

    facts = extension_facts()
    assert set(facts) == {"torchvision", "torchaudio"} and facts["torchvision"] is not None
    for name, found in facts.items():
        if found is None:
            with pytest.raises(ModuleNotFoundError):
                importlib.import_module(name)
            continue
        assert found == {"version": metadata.version(name), "load_error": None, "library": None}
        importlib.import_module(name)
    finding = torch_rules.torch_extensions(
        {"torch": {"import_error": None, "version": torch.__version__, "extensions": facts}}
    )
    assert finding.status == "ok" and f"torchvision {metadata.version('torchvision')}" in finding.summary


# ---- verify's extra check, on the real packages ---------------------------------------------------------


@pytest.fixture(scope="module")
def report():
    return torch_extras.run(str(best_device()), locked=_locked())


def test_the_check_passes_on_the_best_device(report):
    assert report["passed"], report["failures"]
    assert report["packages"]["torchvision"]["status"] == "present"
    expected = {"resnet18", "nms"} | ({"melspectrogram"} if _has_torchaudio() else set())
    assert set(report["parts"]) == expected
    step = report["parts"]["resnet18"]["compared"]
    assert set(step["each"]) == {"loss", "logits", "gradients", "updates"}
    # Measured on x86_64 CPUs: ~1e-5 against float64 (docs/verify.md); the bounds are 1e-3 and 5e-2.
    assert step["each"]["logits"]["rel"] < 1e-4 and step["each"]["gradients"]["rel"] < 1e-3
    assert report["parts"]["nms"]["identical"] and report["parts"]["nms"]["kept"] > 0
    device_kind = best_device().type
    assert report["parts"]["nms"]["on"].startswith(device_kind)
    assert report["parts"]["resnet18"]["parameters_on"][0].startswith(device_kind)
    assert torch_extras.summary_line(report).endswith("  ok")


def test_torchaudio_is_absent_only_where_the_lock_does_not_install_it(report):
    locked = _locked()
    audio = report["packages"]["torchaudio"]
    line = torch_extras.summary_line(report)
    assert f"with torch {torch.__version__} on " in line  # torchaudio's version need not be torch's
    if _has_torchaudio():
        assert audio["status"] == "present" and report["parts"]["melspectrogram"]["compared"]["rel"] < 1e-5
        assert f"torchaudio {audio['version']}" in line.split(" on ")[0] and "not run" not in line
    else:
        assert locked is None or "torchaudio" not in locked
        assert audio["status"] == "absent" and audio["why"] == "not in this environment"
        assert "not run: melspectrogram (torchaudio not in this environment)" in line
        assert "torchaudio" not in line.split(" on ")[0]  # it did not run, so the line does not start with it


def test_a_package_the_lock_installs_but_is_missing_is_a_failure():
    """A real import of a module that does not exist (the name is made up for this test): absent when the
    lock does not name it, a failure when it does."""
    name = "gpuenv_test_package_that_is_not_installed"
    assert torch_extras.load(name, frozenset())[1]["status"] == "absent"
    assert torch_extras.load(name, None)[1]["status"] == "absent"
    module, status = torch_extras.load(name, frozenset({name}))
    assert module is None and status["status"] == "failed"
    assert status["why"].startswith(f"the environment's lock installs {name} here, but it is not installed")


def _step(dtype):
    torch.manual_seed(torch_extras.SEED)
    model = torchvision.models.resnet18(weights=None, num_classes=torch_extras.CLASSES)
    x = torch.randn(*torch_extras.BATCH)
    y = torch.randint(0, torch_extras.CLASSES, (torch_extras.BATCH[0],))
    compared, _grads = torch_extras._sgd_step(copy.deepcopy(model).to(dtype), x.to(dtype), y)
    return compared


def test_a_perturbed_step_is_caught():
    """The comparison on real tensors: float32 against float64 passes; the same float32 step with one
    tensor off by 10% fails, naming it; so does a nan."""
    got, want = _step(torch.float32), _step(torch.float64)
    bounds = dict.fromkeys(torch_extras.BACKWARD, torch_extras.BACKWARD_RTOL)
    assert torch_extras.compare(got, want, bounds)["over"] == []
    for name in ("logits", "gradients"):
        bad = dict(got)
        bad[name] = got[name].clone()
        bad[name][: bad[name].numel() // 4] *= 1.1  # a quarter of it 10% off: a wrong kernel's error
        result = torch_extras.compare(bad, want, bounds)
        assert result["over"] == [name], result
    broken = dict(got, loss=torch.tensor(float("nan")))
    assert torch_extras.compare(broken, want, bounds)["over"] == ["loss"]


def test_another_spectrogram_is_caught():
    torchaudio = pytest.importorskip("torchaudio", reason="torchaudio is not in this environment")
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=torch_extras.SAMPLE_RATE, n_fft=torch_extras.N_FFT, n_mels=torch_extras.N_MELS
    )
    wave = torch_extras.chirp(torch.float32)
    want = transform(torch_extras.chirp(torch.float64).float())
    assert torch_extras.compare({"m": transform(wave)}, {"m": want})["over"] == []
    late = torch.roll(wave, 80)  # 5 ms late: a kernel reading from the wrong offset
    assert torch_extras.compare({"m": transform(late)}, {"m": want})["over"] == ["m"]


def test_an_op_without_a_kernel_is_a_named_failure():
    """Real NotImplementedErrors torch raises here: an op with no CPU kernel (the dispatcher's words, as for
    a torchvision op without an MPS kernel) and one with no Meta kernel."""
    with pytest.raises(NotImplementedError) as no_cpu:
        torch.ops.aten.q_scale(torch.zeros(2))
    assert torch_extras.not_implemented(no_cpu.value) == ("aten::q_scale", "CPU")
    line = torch_extras.failure("nms", "cpu", no_cpu.value)
    assert line.startswith("nms on cpu: aten::q_scale is not implemented for CPU (")
    assert "`nox -s doctor`" in line and "docs/doctor.md" in line

    with pytest.raises(NotImplementedError) as no_meta:
        torch.unique(torch.rand(3, device="meta"))
    assert torch_extras.not_implemented(no_meta.value) == ("aten::_unique2", "Meta")


def test_the_mps_message_names_the_op_and_the_fallback():
    """The MPS backend's own message, recorded from pytorch/pytorch#77764 (a user's torch 2.4 on a Mac):
    the same text torch 2.8's MPSFallback builds (its pieces are strings in the macOS libtorch_cpu)."""
    recorded = NotImplementedError(
        "The operator 'aten::__rshift__.Scalar' is not currently implemented for the MPS device. If you want "
        "this op to be added in priority during the prototype phase of this feature, please comment on "
        "https://github.com/pytorch/pytorch/issues/77764. As a temporary fix, you can set the environment "
        "variable `PYTORCH_ENABLE_MPS_FALLBACK=1` to use the CPU as a fallback for this op. WARNING: this "
        "will be slower than running natively on MPS."
    )
    line = torch_extras.failure("resnet18", "mps", recorded)
    assert line.startswith("resnet18 on mps: aten::__rshift__.Scalar is not implemented for MPS (")
    assert "PYTORCH_ENABLE_MPS_FALLBACK=1" in line
    assert torch_extras.failure("nms", "cpu", RuntimeError("x\ny")) == "nms on cpu: raised RuntimeError: x"


def test_a_device_that_cannot_run_the_parts_fails_by_name_without_a_crash():
    """The meta device has no data: every part fails (nms: torchvision's data-dependent-shape error), each
    named, and the check still returns its report."""
    report = torch_extras.run("meta", locked=_locked())
    assert not report["passed"]
    assert all(part.get("crashed") for part in report["parts"].values())
    assert [f.split(" on meta: ")[0] for f in report["failures"]] == list(report["parts"])
    assert torch_extras.summary_line(report).endswith("FAILED")


def test_verify_reports_the_check_in_its_json(tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["--framework", "torch", "--json", str(out), "--allow-cpu", "--no-distributed"]
    assert verify.main([*args, "--locked", "torch,torchvision"]) == 0
    extra = json.loads(out.read_text())["extra"]["torch_extras"]
    assert extra["passed"] and {"resnet18", "nms"} <= set(extra["parts"])
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"  torchvision {torchvision.__version__.split('+')[0]}") for line in printed)
