"""Doctor: the rules on recorded and hand-written fact sets, and the fact gathering for real, here.

tests/data/facts/linux-x86_64-*.json are recorded on our CI machine with the real gathering
(`python -m checks.doctor [--framework F] --save-facts PATH`; tf-numpy2 in the tf lock with NumPy 2.0.2
installed over it; torch-numerics-failed with `--error-file` of verify's output with torch's CPU
float32 mm swapped for one off by 1e-4, as tests/env/test_numerics.py swaps it). The others are written
by hand, each reproducing one failure mode; `_source` says so.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from checks import doctor, frameworks
from checks.doctor import facts as doctor_facts
from checks.doctor.rules import tensorflow as tf_rules

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "facts"

# What an M1 with the locked torch and MPS gives before any error text is read.
MAC_TORCH = {
    "apple-silicon": "ok",
    "rosetta": "ok",
    "macos-version": "ok",
    "mps-fallback": "ok",
    "torch-import": "ok",
    "torch-mps": "ok",
}
# Every fact set, and exactly the findings (rule -> status) it must give: a rule that starts firing where
# it should not, or stops firing, fails here.
EXPECTED = {
    # GitHub's hosted Apple Silicon runner: MPS available, the first tensor fails (the device probe's error).
    "mac-m1-hosted-runner-mps-unusable": {**MAC_TORCH, "device-probe": "fail"},
    "linux-x86_64-cpu-host": {"env-python": "ok", "nvidia-driver": "warn"},
    "linux-x86_64-cpu-torch": {"nvidia-driver": "warn", "torch-import": "ok", "torch-cuda": "warn"},
    "linux-x86_64-cpu-torch-no-tqdm": {
        "nvidia-driver": "warn",
        "torch-import": "ok",
        "torch-cuda": "warn",
        "module-not-found": "fail",
    },
    # TensorFlow and MLX as locked for Linux are CPU builds: no driver is needed, and nothing says otherwise.
    "linux-x86_64-cpu-tf": {"nvidia-driver": "ok", "tf-import": "ok", "numpy-tf": "ok", "tf-gpu": "ok"},
    "linux-x86_64-tf-numpy2": {"nvidia-driver": "ok", "tf-import": "fail", "numpy-tf": "fail"},
    # Recorded on the lent 2x H200 box (its own python3 3.12 + torch 2.11.0+cu130, driver 580.159.04).
    "linux-h200x2-torch": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "ok"},
    # Recorded on the lent H100 (the same box's torch 2.11.0+cu130): its own torchvision 0.26.0 and
    # torchaudio 2.11.0, then with torchaudio 2.11.1 first on PYTHONPATH, whose libtorchaudio.so needs
    # torch_exception_get_what_without_backtrace (`import torchaudio` fails the same way there).
    "linux-h100-torch-2.11": {
        "nvidia-driver": "ok",
        "torch-import": "ok",
        "torch-cuda": "ok",
        "torch-extensions": "ok",
        "device-probe": "ok",
    },
    "linux-h100-torch-2.11-torchaudio-2.11.1": {
        "nvidia-driver": "ok",
        "torch-import": "ok",
        "torch-cuda": "ok",
        "torch-extensions": "fail",
        "device-probe": "ok",
    },
    "linux-2gpu-tf-cpu": {"nvidia-driver": "ok", "tf-import": "ok", "numpy-tf": "ok", "tf-gpu": "warn"},
    "linux-driver-too-old": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "fail"},
    "linux-driver-minor-compat": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "warn"},
    "linux-cpu-torch-on-gpus": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "fail"},
    "linux-nvidia-smi-fails": {"nvidia-driver": "fail"},
    # Recorded here (Linux x86_64, no GPU, the mlx environment: mlx 0.32.4 + mlx-cpu).
    "linux-x86_64-cpu-mlx": {"nvidia-driver": "ok", "mlx-python": "ok", "mlx-import": "ok"},
    "linux-python39-mlx": {"nvidia-driver": "ok", "mlx-python": "fail", "mlx-import": "fail"},
    "mac-m1-mlx-ok": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "mlx-python": "ok",
        "mlx-macos": "ok",
        "mlx-rosetta": "ok",
        "mlx-import": "ok",
        "mlx-metal": "ok",
        "mlx-metallib": "ok",
        "mlx-float64": "warn",
    },
    # mlx-metal's macosx_26_0 wheel (its metallib is for 26.2) on macOS 26.1: ml-explore/mlx#4525.
    "mac-m5-macos-26.1-mlx-metallib-26.2": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "mlx-python": "ok",
        "mlx-macos": "ok",
        "mlx-rosetta": "ok",
        "mlx-import": "ok",
        "mlx-metal": "ok",
        "mlx-metallib": "warn",
        "mlx-float64": "warn",
    },
    "mac-m1-mlx-no-metal": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "mlx-python": "ok",
        "mlx-macos": "ok",
        "mlx-rosetta": "ok",
        "mlx-import": "ok",
        "mlx-metal": "fail",
    },
    "mac-m1-macos-13-mlx": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "mlx-python": "ok",
        "mlx-macos": "fail",
        "mlx-rosetta": "ok",
        "mlx-import": "fail",
    },
    "mac-m1-rosetta-mlx": {
        "apple-silicon": "ok",
        "rosetta": "fail",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "mlx-python": "ok",
        "mlx-macos": "ok",
        "mlx-rosetta": "fail",
        "mlx-import": "fail",
    },
    "linux-cuda-visible-devices-empty": {
        "nvidia-driver": "ok",
        "cuda-visible-devices": "fail",
        "torch-import": "ok",
        "torch-cuda": "fail",
    },
    "linux-no-python39": {"env-python": "fail", "nvidia-driver": "ok"},
    "linux-no-python312": {"env-python": "fail", "nvidia-driver": "ok"},
    # The current stacks (issue 14); hand-written, each marked so in its _source.
    "linux-cuda13-driver-570": {"nvidia-driver": "ok", "torch-import": "ok", "torch-cuda": "fail"},
    "mac-m1-macos-13-torch-current-no-wheel": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "environment-build": "fail",
        "torch-macos-wheel": "fail",
    },
    "mac-m1-python313-no-tensorflow-metal": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "environment-build": "fail",
        "numpy-tf": "ok",
        "tf-metal-python": "fail",
        "tf-metal-pair": "fail",
        "keras-3": "ok",
    },
    "mac-m1-tf-current-legacy-keras-missing": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "ok",
        "numpy-tf": "ok",
        "tf-metal-pair": "ok",
        "keras-3": "fail",
        "tf-gpu": "ok",
    },
    "mac-m4-macos-26-as-16": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-macos-wheel": "ok",
        "torch-mps": "ok",
    },
    "mac-intel": {"apple-silicon": "fail"},
    "mac-intel-build-error": {"apple-silicon": "fail", "environment-build": "fail"},
    "mac-m1-torch-ok": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "ok",
    },
    "mac-m1-rosetta-torch": {
        "apple-silicon": "ok",
        "rosetta": "fail",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "fail",
    },
    "mac-m1-rosetta-arm64-wheel": {
        "apple-silicon": "ok",
        "rosetta": "fail",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "fail",
    },
    "mac-m1-rosetta-conda-osx64": {
        "apple-silicon": "ok",
        "rosetta": "fail",
        "conda-platform": "fail",
        "macos-version": "ok",
        "mps-fallback": "ok",
    },
    "mac-m1-macos-12.0": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "fail",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "fail",
    },
    "mac-m1-macos-compat-10.16": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "warn",
        "mps-fallback": "ok",
    },
    "mac-m1-torch-no-mps": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "torch-import": "ok",
        "torch-mps": "fail",
    },
    "mac-m1-mps-fallback": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "warn",
        "torch-import": "ok",
        "torch-mps": "ok",
    },
    "mac-m1-tf-ok": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "ok",
        "numpy-tf": "ok",
        "tf-metal-pair": "ok",
        "tf-gpu": "ok",
    },
    "mac-m1-tf-metal-0.7.0": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "fail",
        "numpy-tf": "ok",
        "tf-metal-pair": "fail",
    },
    "mac-m1-tf-2.18-metal-1.1.0": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "fail",
        "numpy-tf": "ok",
        "tf-metal-pair": "fail",
        "keras-3": "ok",
    },
    "mac-m1-tf-no-metal": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "ok",
        "numpy-tf": "ok",
        "tf-metal-pair": "fail",
        "tf-gpu": "fail",
    },
    # Errors the user's own program printed (--error-file): hand-written machines with the texts from the
    # public threads each _source names; the last one recorded here (see tests/unit/test_doctor_errors.py).
    "mac-m1-torch-mps-unsupported-op": {**MAC_TORCH, "mps-unsupported-op": "fail"},
    "mac-m1-torch-mps-fallback-after-import": {
        **MAC_TORCH,
        "mps-fallback": "warn",
        "mps-unsupported-op": "fail",
    },
    "mac-m1-torch-mps-out-of-memory": {**MAC_TORCH, "mps-out-of-memory": "fail"},
    "mac-m1-torch-mps-float64": {**MAC_TORCH, "mps-float64": "fail"},
    "linux-cuda-out-of-memory": {
        "nvidia-driver": "ok",
        "torch-import": "ok",
        "torch-cuda": "ok",
        "cuda-out-of-memory": "fail",
    },
    "linux-x86_64-cpu-torch-current-shape-error": {
        "nvidia-driver": "warn",
        "torch-import": "ok",
        "torch-cuda": "warn",
        "error-text": "warn",
    },
    "linux-x86_64-cpu-torch-numerics-failed": {
        "nvidia-driver": "warn",
        "torch-import": "ok",
        "torch-cuda": "warn",
        "numerics-case": "fail",
    },
    "mac-m1-tf-numpy2": {
        "apple-silicon": "ok",
        "rosetta": "ok",
        "macos-version": "ok",
        "mps-fallback": "ok",
        "tf-import": "fail",
        "numpy-tf": "fail",
        "tf-metal-pair": "ok",
    },
}


def load(name: str) -> dict:
    return doctor.load_facts(FACTS / f"{name}.json")


def findings(name: str) -> dict[str, doctor.Finding]:
    return {f.rule: f for f in doctor.diagnose(load(name))}


def test_every_fact_set_on_disk_has_expectations():
    assert sorted(p.stem for p in FACTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_findings_of_each_fact_set(name):
    got = {rule: f.status for rule, f in findings(name).items()}
    assert got == EXPECTED[name]
    for f in findings(name).values():  # a finding that is not ok must say why and what to do
        assert f.summary and (f.status == "ok" or (f.meaning and f.fix)), f


@pytest.mark.parametrize("rule", doctor.RULES, ids=lambda r: r.id)
def test_every_rule_warns_or_fails_on_some_fact_set(rule):
    statuses = {found.status for name in EXPECTED if (found := rule(load(name))) is not None}
    assert statuses - {"ok"}, f"no fact set makes {rule.id} warn or fail"


def test_rosetta_fix_names_an_arm64_python():
    f = findings("mac-m1-rosetta-torch")
    assert "sysctl.proc_translated=1" in f["rosetta"].summary
    assert "arm64" in f["rosetta"].fix
    assert "Rosetta" in f["torch-mps"].meaning  # the MPS failure points back to its cause


def test_metal_plugin_error_maps_to_the_pair_rule():
    f = findings("mac-m1-tf-metal-0.7.0")["tf-import"]
    assert "__ZN3tsl8internal10LogMessageC1EPKcii" in f.summary + f.meaning
    assert "tensorflow-metal==0.5.0" in f.fix and "nox -s pair" in f.fix


def test_pairing_follows_the_binaries_where_apples_table_differs():
    """Apple's table pairs TF 2.18 with tensorflow-metal 1.1.0, which cannot load into it (one two-level
    bind, tensorflow#81987): doctor asks for 1.2.0, the pair the wheels say loads, and names Apple's claim."""
    found = findings("mac-m1-tf-2.18-metal-1.1.0")
    pair, imported = found["tf-metal-pair"], found["tf-import"]
    assert "pairs 1.2.0" in pair.summary and "Apple's table says 1.1.0" in pair.summary
    assert "tensorflow-metal==1.2.0" in pair.fix and "tensorflow-metal==1.2.0" in imported.fix
    assert tf_rules.APPLE_METAL_FOR_TF[(2, 18)] == "1.1.0" and tf_rules.METAL_FOR_TF[(2, 18)] == "1.2.0"


def test_a_tensorflow_no_plugin_loads_into_is_named():
    """TF 2.20 and 2.21: no tensorflow-metal release loads (read from the wheels); doctor says so and
    names the newest pair that does."""
    facts = load("mac-m1-tf-2.18-metal-1.1.0")
    facts["distributions"].update({"tensorflow": "2.20.0", "tensorflow-metal": "1.2.0"})
    pair = tf_rules.tf_metal_pair(facts)
    assert pair.status == "fail" and "no tensorflow-metal release loads into it" in pair.summary
    newest = tf_rules.NEWEST_PAIR
    assert newest["metal"] == "1.2.0" and newest["tensorflow"] in pair.fix


def test_numpy2_is_named_even_though_tf_raises_a_type_error():
    f = findings("linux-x86_64-tf-numpy2")
    assert "TypeError" in f["tf-import"].summary  # the real exception does not mention NumPy ...
    assert "NumPy 2.0.2" in f["tf-import"].summary and "numpy<2" in f["tf-import"].fix  # ... the rule does


def test_macos_floor_and_driver_floor_name_the_version_to_reach():
    assert "13.0" in findings("mac-m1-macos-12.0")["macos-version"].fix  # torch 2.8.0's MPS floor
    old = findings("linux-driver-too-old")["torch-cuda"]
    assert ">= 525" in old.fix and "found version 11040" in old.meaning


def test_no_driver_advice_is_the_environments_own():
    """Recorded here, no driver: each environment's torch names the driver its CUDA needs; TensorFlow and MLX
    (CPU builds on Linux) need none; the machine alone names both floors."""
    torch = findings("linux-x86_64-cpu-torch")["nvidia-driver"]
    assert torch.status == "warn" and ">= 525 for this torch 2.8.0+cu128's CUDA 12.8" in torch.fix
    current = findings("linux-x86_64-cpu-torch-current-shape-error")["nvidia-driver"]
    assert current.status == "warn" and ">= 580 for this torch 2.15.0+cu132's CUDA 13.2" in current.fix
    for name in ("linux-x86_64-cpu-tf", "linux-x86_64-cpu-mlx"):
        found = findings(name)["nvidia-driver"]
        assert found.status == "ok" and "needs no driver" in found.meaning and "525" not in found.fix, name
    host = findings("linux-x86_64-cpu-host")["nvidia-driver"]
    assert host.status == "warn" and ">= 525 for CUDA 12.x, >= 580 for CUDA 13.x" in host.fix


def test_a_module_your_code_imports_is_added_to_the_environments_in():
    """Recorded here: the README's starter train.py run in the torch environment before tqdm was added."""
    found = findings("linux-x86_64-cpu-torch-no-tqdm")
    assert "error-text" not in found  # explained, not "search the issues of the library"
    f = found["module-not-found"]
    assert f.status == "fail"
    assert f.summary == (
        "`tqdm` is not installed in the torch environment: ModuleNotFoundError (raised at train.py:6 in "
        "<module>: `from tqdm import tqdm`)"
    )
    assert f.fix.startswith(
        '`echo "tqdm  # why your code needs it" >> requirements/torch.in`, then `nox -s lock`'
    )
    assert "nox -s \"run(env='torch')\" -- python -m" in f.fix


def test_an_ok_keras_3_finding_describes_no_breakage():
    found = findings("mac-m1-python313-no-tensorflow-metal")["keras-3"]
    assert found.status == "ok"
    assert (
        found.summary
        == "tf.keras is Keras 3.15.1 under TensorFlow 2.21.0 (Keras 3; TF_USE_LEGACY_KERAS unset)"
    )


def test_save_and_replay_give_the_same_report(tmp_path, capsys):
    saved = tmp_path / "facts.json"
    code = doctor.main(["--save-facts", str(saved), "--json", str(tmp_path / "r.json")])
    first = capsys.readouterr().out.splitlines()[:-2]  # without the "facts:"/"report:" lines
    assert doctor.main(["--facts", str(saved)]) == code
    assert capsys.readouterr().out.splitlines() == first
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["rule"] for f in report["findings"]] == [f.rule for f in doctor.diagnose(report["facts"])]


@pytest.mark.parametrize(("name", "code"), [("mac-m1-tf-metal-0.7.0", 1), ("mac-m1-tf-ok", 0)])
def test_exit_status_says_whether_a_finding_fails(name, code, capsys):
    assert doctor.main(["--facts", str(FACTS / f"{name}.json")]) == code
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("FAIL" if code else "no failures")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "expected a readable facts file"),
        ("{not json", "expected JSON facts"),
        ('{"schema_version": 0}', "expected facts with schema_version 2"),
        ('{"schema_version": 2, "platform": {}}', "got a partial fact set"),
        (
            '{"schema_version": 2, "platform": [], "env_vars": {}, "distributions": {}, "frameworks": []}',
            "expected platform as an object in",
        ),
        (
            '{"schema_version": 2, "platform": {}, "env_vars": {}, "distributions": "x", "frameworks": []}',
            "expected distributions as an object in",
        ),
        (
            '{"schema_version": 2, "platform": {}, "env_vars": {}, "distributions": {}, '
            '"frameworks": "torch"}',
            "expected frameworks as a list in",
        ),
        (
            '{"schema_version": 2, "platform": {}, "env_vars": {}, "distributions": {}, "frameworks": [], '
            '"nvidia": 3}',
            "expected nvidia as an object or null in",
        ),
        (
            '{"schema_version": 2, "platform": {}, "env_vars": {}, "distributions": {}, "frameworks": [], '
            '"error_text": ["TypeError"]}',
            "expected error_text as a string or null in",
        ),
    ],
)
def test_bad_facts_file_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "facts.json"
    if content is not None:
        path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "checks.doctor", "--facts", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and not done.stdout


# --- the Pythons that build the environments (schema 2: one per version) ------------------------------


def test_env_python_names_each_missing_version_and_its_environments():
    one = findings("linux-no-python312")["env-python"]
    assert one.status == "fail"
    assert "no Python 3.12 found to build the environment mlx" in one.summary and "3.9" not in one.summary
    assert "mlx cannot be built (the others can)" in one.meaning
    assert "`pyenv install 3.12`" in one.fix and "3.9" not in one.fix
    every = findings("linux-no-python39")["env-python"]
    assert "no Python 3.9 found to build the environments torch, tf" in every.summary
    assert "no environment can be built" in every.meaning and "`uv python install 3.9`" in every.fix
    found = findings("linux-x86_64-cpu-host")["env-python"]
    assert found.status == "ok" and found.summary.startswith("environments are built with /")


def test_env_python_options_become_the_fact(tmp_path, capsys):
    saved = tmp_path / "facts.json"
    args = ["--env-python", "3.9=/opt/py/bin/python3.9", "--env-python-for", "3.9=torch,tf"]
    args += ["--env-python", "3.12=", "--env-python-for", "3.12=mlx", "--save-facts", str(saved)]
    assert doctor.main(args) == 1
    assert json.loads(saved.read_text())["env_python"] == {
        "3.9": {"path": "/opt/py/bin/python3.9", "environments": ["torch", "tf"]},
        "3.12": {"path": None, "environments": ["mlx"]},
    }
    out = capsys.readouterr().out
    assert "fail  env-python: no Python 3.12 found to build the environment mlx" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--env-python", "/usr/bin/python3.9"],
            "expected VERSION=PATH (e.g. 3.9=PATH), got '/usr/bin/python3.9'",
        ),
        (["--env-python", "3.9=/usr/bin/python3.9"], "expected --env-python-for 3.9=ENV,..."),
        (["--env-python-for", "3.9=torch"], "expected --env-python 3.9=PATH"),
        (["--env-python", "3.9=", "--env-python-for", "3.9="], "expected --env-python-for 3.9=ENV,..."),
    ],
)
def test_env_python_options_must_come_in_pairs(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        doctor.cli.parse_args(args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_schema_1_facts_are_refused_with_one_line(tmp_path):
    old = json.loads((FACTS / "linux-no-python39.json").read_text())
    old.update(schema_version=1, env_python={"path": None})
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    done = subprocess.run(
        [sys.executable, "-m", "checks.doctor", "--facts", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and not done.stdout and done.stderr.count("\n") == 1
    assert "expected facts with schema_version 2" in done.stderr and "got 1" in done.stderr
    assert "record them again with --save-facts" in done.stderr


# --- the MPS floor comes from the torch framework module ----------------------------------------------


@pytest.mark.parametrize(
    ("torch_version", "macos", "status", "floor"),
    [
        ("2.4.1", "12.6", "ok", "12.3"),
        ("2.8.0", "12.6", "fail", "13.0"),
        ("2.8.0", "13.6", "ok", "13.0"),
        ("2.9.0", "13.6", "fail", "14.0"),
        ("2.12.0", "14.5", "ok", "14.0"),
        ("2.15.0", "14.5", "fail", "15.0"),
    ],
)
def test_macos_floor_follows_the_torch_version(torch_version, macos, status, floor):
    facts = load("mac-m1-torch-ok")
    facts["torch"]["version"] = facts["distributions"]["torch"] = torch_version
    facts["macos"]["sw_vers"] = macos
    facts["torch"]["mps_available"] = status == "ok"  # below its floor, torch's MPS does not come up
    found = {f.rule: f for f in doctor.diagnose(facts)}["macos-version"]
    assert found.status == status and floor in found.summary + found.fix
    floors = frameworks.declared("torch")["MPS_MACOS_FLOOR"]
    assert frameworks.by_release(floors, torch_version) == floor


def test_mps_up_below_the_declared_floor_is_a_warning():
    """torch 2.15.0 says MPS is supported on macOS 15.0+, but a Mac on 14.5 where its MPS came up anyway is
    told so (warn: unsupported, not broken), not that MPS is unavailable."""
    facts = load("mac-m1-torch-ok")
    facts["torch"]["version"] = facts["distributions"]["torch"] = "2.15.0"
    facts["macos"]["sw_vers"] = "14.5"
    found = {f.rule: f for f in doctor.diagnose(facts)}
    assert found["macos-version"].status == "warn" and "came up" in found["macos-version"].summary
    assert "15.0" in found["macos-version"].fix and found["torch-mps"].status == "ok"


# --- the rules as data, and the docs' table made from them --------------------------------------------


def test_framework_choices_come_from_the_registry():
    assert doctor.cli.parse_args(["--framework", "torch", "--framework", "tensorflow"]).framework == [
        "torch",
        "tensorflow",
    ]
    with pytest.raises(SystemExit):
        doctor.cli.parse_args(["--framework", "jax"])


def test_every_rule_says_symptom_cause_and_fix():
    ids = [r.id for r in doctor.RULES]
    assert len(ids) == len(set(ids))
    for r in doctor.RULES:
        assert r.symptom and r.cause and r.fix, r.id
    # the order the report shows them in: the machine, the Python and the build, NVIDIA, each framework
    assert ids[:10] == [
        "apple-silicon",
        "rosetta",
        "conda-platform",
        "macos-version",
        "mps-fallback",
        "env-python",
        "environment-build",
        "module-not-found",
        "nvidia-driver",
        "cuda-visible-devices",
    ]


def test_docs_rules_table_is_the_generated_one():
    committed = doctor.cli.table_in((ROOT / "docs" / "doctor.md").read_text())
    assert committed == doctor.markdown_table(), (
        "docs/doctor.md's rules table differs from the rules' own text: regenerate it with "
        "`python -m checks.doctor --rules-markdown docs/doctor.md`"
    )


def test_rules_markdown_prints_and_rewrites_between_the_markers(tmp_path, capsys):
    assert doctor.main(["--rules-markdown"]) == 0
    printed = capsys.readouterr().out
    assert printed == doctor.markdown_table() and printed.count("\n") == len(doctor.RULES) + 2
    page = tmp_path / "doctor.md"
    page.write_text(f"# Doctor\n\n{doctor.cli.TABLE_BEGIN}\nOLD TABLE\n{doctor.cli.TABLE_END}\n\ntail\n")
    assert doctor.main(["--rules-markdown", str(page)]) == 0
    text = page.read_text()
    assert "OLD TABLE" not in text and text.startswith("# Doctor\n") and text.endswith("\n\ntail\n")
    assert doctor.cli.table_in(text) == printed
    (tmp_path / "plain.md").write_text("# no markers\n")
    with pytest.raises(SystemExit) as exc:
        doctor.main(["--rules-markdown", str(tmp_path / "plain.md")])
    assert exc.value.code == 2


def test_the_current_stacks_texts():
    """What users of torch-current and tf-current see: the exact pip line, and the way out."""
    f = findings("mac-m1-macos-13-torch-current-no-wheel")["torch-macos-wheel"]
    assert "`ERROR: No matching distribution found for torch==2.15.0`" in f.summary
    assert "macosx_14_0" in f.meaning and "torch 2.8.0, macOS 13.0+" in f.fix
    f = findings("mac-m1-python313-no-tensorflow-metal")["tf-metal-python"]
    assert "Python 3.13.5" in f.summary and "3.9-3.12" in f.meaning and "tf-current" in f.fix
    f = findings("mac-m1-tf-current-legacy-keras-missing")["keras-3"]
    assert "tf-keras~=2.19.0" in f.fix
    f = findings("mac-m4-macos-26-as-16")["macos-version"]
    assert "python/cpython#135675" in f.summary and "MPS needs 15.0+" in f.summary  # torch 2.15's floor
    f = findings("linux-cuda13-driver-570")["torch-cuda"]
    assert "driver >= 580" in f.meaning


def test_mlx_metallib_for_a_newer_major_fails():
    """The macosx_26_0 wheel's library (MSL 4.0) forced onto macOS 15.7: Metal refuses it (jjang-ai/vmlx#120:
    "This library is using language version 4.0 which is not supported on this OS")."""
    facts = load("mac-m5-macos-26.1-mlx-metallib-26.2")
    facts["macos"] = {"sw_vers": "15.7"}
    found = {f.rule: f for f in doctor.diagnose(facts)}["mlx-metallib"]
    assert found.status == "fail" and "4.0" in found.meaning and "26.2" in found.fix


def test_mlx_metallib_facts_read_a_real_header(tmp_path, monkeypatch):
    """doctor's fact reads the installed library's header: the real first bytes of the 26.2 one."""
    data = (ROOT / "tests" / "data" / "metallib" / "macosx_26_0_arm64.head").read_bytes()
    library = tmp_path / "mlx" / "lib" / "mlx.metallib"
    library.parent.mkdir(parents=True)
    library.write_bytes(data)

    class Dist:
        version = "0.32.4"
        files = ("mlx/lib/mlx.metallib", "mlx/lib/libmlx.dylib")

        def locate_file(self, file):
            return tmp_path / file

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist())
    got = doctor_facts.metallibs()
    # 512 recorded bytes of a 214 MB library: the size check names it, as for a cut-short install
    assert "file size" in got["mlx-metal 0.32.4: mlx/lib/mlx.metallib"]["error"]
    fixed = bytearray(data)
    struct.pack_into("<Q", fixed, 16, len(fixed))
    library.write_bytes(bytes(fixed))
    got = doctor_facts.metallibs()["mlx-metal 0.32.4: mlx/lib/mlx.metallib"]
    assert got == {
        "target_os": "macOS",
        "os_version": "26.2",
        "file_version": "2.9",
        "language_versions": ["4.0"],
    }


def test_a_failed_numerics_case_names_the_op_and_what_to_try():
    found = findings("linux-x86_64-cpu-torch-numerics-failed")["numerics-case"]
    assert found.summary.startswith(
        "numerics: matmul square in float32 (128x128 128x128) on cpu is 10x its error bound "
        "(5.39e-05 against 5.20e-06); 5 ops over theirs: matmul after free float32,"
    )
    assert "verify(env='torch-current')" in found.fix and "results/verify-<env>.json" in found.fix


def test_a_torchaudio_built_for_a_newer_torch_names_the_missing_symbol():
    """torchaudio 2.11.1 (Requires-Dist torch>=2.11) beside torch 2.11.0 on the lent H100: its
    libtorchaudio.so needs a symbol that torch exports from 2.13.0 on
    (docs/records/torch-exports-torchaudio.log)."""
    found = findings("linux-h100-torch-2.11-torchaudio-2.11.1")["torch-extensions"]
    assert found.summary == (
        "torchaudio 2.11.1 does not load with torch 2.11.0+cu130: `import torchaudio` fails"
    )
    assert "`torch_exception_get_what_without_backtrace`" in found.meaning
    assert (
        "torchaudio/lib/libtorchaudio.so" in found.meaning and "built against another torch" in found.meaning
    )
    assert "nox -s verify" in found.fix and "torchaudio release built for torch 2.11.0+cu130" in found.fix
    ok = findings("linux-h100-torch-2.11")["torch-extensions"]
    assert ok.summary == "torchaudio 2.11.0 and torchvision 0.26.0 load with torch 2.11.0+cu130"
