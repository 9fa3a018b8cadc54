"""The macOS arm64 half of every lock, proven from the real wheels (cached once in ~/.cache/gpuenv/wheels).

Tag and floor logic runs on real PyPI wheel filenames; everything else downloads the real wheels with pip
and reads their Mach-O binaries with macholib (load commands) and LIEF (symbols and binds). The Linux
x86_64 half (torch's ~3 GB of CUDA wheels) is
`nox -s wheels`' job in CI, not the test suite's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile

import pytest

# The dev layer has these; a bare interpreter (the lent GPU box's python3) skips this module, not errors.
pytest.importorskip("macholib", reason="macholib (dev layer) is not installed")
pytest.importorskip("cxxfilt", reason="cxxfilt (dev layer) is not installed")
pytest.importorskip("lief", reason="lief (dev layer) is not installed")

import lief

from tools.envs import envspec
from tools.mac import macho, metallibs, tfpair, wheelcache, wheels

# One worker downloads into the shared wheel cache (nox -s tests runs e2e tests side by side).
pytestmark = pytest.mark.xdist_group("wheel-cache")

ENVS = envspec.environments()
ROOT = envspec.ROOT

# The nine symbols tensorflow-metal 0.7.0's libmetal_plugin.dylib imports and tensorflow-macos 2.9.2 lacks
# (recorded with `nox -s pair -- tensorflow-macos==2.9.2 tensorflow-metal==0.7.0`, matching facts.md's
# llvm-nm reading).
NINE = {
    "tsl::internal::CheckOpMessageBuilder::CheckOpMessageBuilder(char const*)",
    "tsl::internal::CheckOpMessageBuilder::~CheckOpMessageBuilder()",
    "tsl::internal::CheckOpMessageBuilder::ForVar2()",
    "tsl::internal::CheckOpMessageBuilder::NewString()",
    "tsl::internal::LogMessage::LogMessage(char const*, int, int)",
    "tsl::internal::LogMessage::~LogMessage()",
    "tsl::internal::LogMessage::VmoduleActivated(char const*, int)",
    "tsl::internal::LogMessageFatal::LogMessageFatal(char const*, int)",
    "tsl::internal::LogMessageFatal::~LogMessageFatal()",
}


# ---- tag and floor logic on real wheel filenames (from PyPI) ----------------------------------------------


# ---- the real wheels -------------------------------------------------------------------------------------


@pytest.mark.network
def test_apple_table_is_the_one_in_tensorflow_metal_metadata():
    """Our data file carries Apple's table row for row as the tensorflow-metal 1.2.0 wheel's description."""
    got = wheelcache.fetch([("tensorflow-metal", "1.2.0")], "macos-arm64", "12.1", "3.9.18")[
        ("tensorflow-metal", "1.2.0")
    ]
    with zipfile.ZipFile(got) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    rows = [ln.strip() for ln in meta.splitlines() if ln.startswith("|v")]
    assert rows == [r["row"] for r in tfpair.apple_table()["pairs"]]
    for row in tfpair.apple_table()["pairs"]:  # the parsed columns agree with the verbatim row
        cells = [c.strip() for c in row["row"].strip("|").split("|")]
        assert cells[1] == f"v{row['metal']}" and cells[2] == f"{row['macos']}+"
        assert cells[0].split("-")[0] == f"v{row['tensorflow'][0]}"


@pytest.mark.network
def test_shipped_pair_links_and_is_documented():
    result = tfpair.check_pins(["tensorflow-macos==2.9.2", "tensorflow-metal==0.5.0"])
    assert result.links and not result.missing and not result.problems
    assert result.imports > 9  # the plugin does import TensorFlow symbols, and every one resolves
    assert result.apple and result.apple["metal"] == "0.5.0"


@pytest.mark.network
def test_seed_pair_is_refused_with_the_nine_tsl_symbols():
    result = tfpair.check_pins(["tensorflow-macos==2.9.2", "tensorflow-metal==0.7.0"])
    assert not result.links and result.apple is None
    assert {macho.demangle(s) for s in result.missing} == NINE
    assert set(result.groups) == {
        "tsl::internal::CheckOpMessageBuilder",
        "tsl::internal::LogMessage",
        "tsl::internal::LogMessageFatal",
    }
    assert all(g["hint"] == "2.11" for g in result.groups.values())
    assert "needs tsl::internal::LogMessage — built for TF ≥ 2.11" in result.problems[0]


def _pair_cli(*pins: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.mac.tfpair", *pins],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.network
def test_pair_cli_exit_status_and_reason():
    bad = _pair_cli("tensorflow-macos==2.9.2", "tensorflow-metal==0.7.0")
    assert bad.returncode == 1
    assert "needs tsl::internal::LogMessageFatal — built for TF ≥ 2.11 (2):" in bad.stdout
    assert bad.stdout.strip().splitlines()[-1] == "FAILED"
    good = _pair_cli("tensorflow-metal==0.5.0", "tensorflow-macos==2.9.2")  # either order
    assert good.returncode == 0 and good.stdout.strip().splitlines()[-1] == "PASS", good.stdout + good.stderr


@pytest.mark.network
def test_a_pair_whose_wheel_does_not_exist_is_one_clear_line():
    done = _pair_cli("tensorflow-macos==2.9.2", "tensorflow-metal==0.0.42")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "error: tensorflow-metal==0.0.42: expected a wheel for CPython 3.9.18 on macOS 12.1 arm64, "
        "got none from the package index (No matching distribution found for tensorflow-metal==0.0.42)"
    ]


@pytest.mark.network
@pytest.mark.parametrize("name", list(ENVS))
def test_macos_half_of_every_lock(name):
    """Every wheel the lock installs on a Mac: binary, hashed in the lock, at or below the floor."""
    checks = wheels.check_lock(ENVS[name], "macos-arm64")
    assert checks and all(c.file and c.file.endswith(".whl") for c in checks)
    assert [p for c in checks for p in c.problems] == []
    pairs = tfpair.locked_pairs(ENVS[name], checks, wheelcache.CACHE)
    assert all(p.links and not p.problems for p in pairs)
    assert bool(pairs) == (ENVS[name].framework == "tensorflow")
    if name == "tf":
        assert all(p.apple for p in pairs)  # the seed's pair is Apple's; tf-current's is the binaries' row


@pytest.mark.network
def test_mlx_macos_wheels_are_arm64_metal_builds_for_macos_14():
    """mlx-metal ships the compiled Metal kernels and a libmlx linking Metal; every binary is arm64 and
    declares at most the row's floor, macOS 14.0 (a wrong slice or a newer minimum is a problem)."""
    checks = {c.name: c for c in wheels.check_lock(ENVS["mlx"], "macos-arm64")}
    assert {"mlx", "mlx-metal"} <= set(checks) and not any(c.problems for c in checks.values())
    metal = checks["mlx-metal"].facts["mlx_metal"]
    assert metal["binaries_linking_metal"] == ["mlx/lib/libmlx.dylib"]
    assert metal["metallibs"]["mlx/lib/mlx.metallib"] > 2**20
    floor = ENVS["mlx"].floor("macos-arm64")
    assert wheels.platform_minimum(checks["mlx-metal"].file) == floor == "14.0"
    assert macho.version_tuple(checks["mlx-metal"].minos) <= macho.version_tuple(floor)
    # Its disk cost (README's figures): the download is the cached file; installed, the metallib alone
    # is more than the whole compressed wheel.
    size = checks["mlx-metal"].facts["bytes"]
    cached = next(wheelcache.CACHE.rglob(checks["mlx-metal"].file))
    assert size["download"] == cached.stat().st_size
    assert size["installed"] > metal["metallibs"]["mlx/lib/mlx.metallib"] > size["download"]
    # Each of the release's three macOS wheels (all hashed in the lock) read at its own tag: the 26_0 one's
    # library is for 26.2, the named exception (tools/mac/metallibs.py KNOWN), a warning and no problem.
    rows = {r["wheel"].split("-")[-1]: r for r in checks["mlx-metal"].facts["metallibs"]}
    assert {tag: (r["needs"], r["verdict"]) for tag, r in rows.items()} == {
        "macosx_14_0_arm64.whl": ("14.0", "ok"),
        "macosx_15_0_arm64.whl": ("15.0", "ok"),
        "macosx_26_0_arm64.whl": ("26.2", "known"),
    }
    assert [w for w in checks["mlx-metal"].warnings if "26.2" in w] and "mlx#4525" in checks[
        "mlx-metal"
    ].warnings[0]


@pytest.mark.network
def test_torch_macos_wheel_is_the_mps_build():
    checks = {c.name: c for c in wheels.check_lock(ENVS["torch"], "macos-arm64")}
    mps = checks["torch"].facts["mps"]
    libtorch = mps["binaries"]["torch/lib/libtorch_cpu.dylib"]
    assert set(libtorch) == set(wheels.MPS_FRAMEWORKS)
    assert set(libtorch.values()) <= {"load", "weak"}
    assert mps["mps_floor"] == "13.0" == ENVS["torch"].floor("macos-arm64") == mps["declared_floor"]
    assert mps["wheel_tag_minimum"] == wheels.platform_minimum(checks["torch"].file) == "11.0"
    # Measured: torch 2.8.0's bundled libomp.dylib declares macOS 14.0 (LC_BUILD_VERSION), above its wheel
    # tag (pytorch/pytorch#173666); every other binary declares 11.0. Reported as a warning, not a failure.
    assert mps["binaries_minimum"] == "14.0"
    warned = [w.split(" in ")[0] for w in checks["torch"].warnings]
    assert warned == ["torch/lib/libomp.dylib"]
    # Its libtorch_cpu.dylib carries Metal libraries for macOS 13.0 and 14.0: one for the floor 13.0.
    (metal,) = checks["torch"].facts["metallibs"]
    assert (metal["targets"], metal["lowest"], metal["verdict"]) == (["13.0", "14.0"], "13.0", "ok")
    assert not checks["torch"].problems
    # At MPS's first floor, 12.3, the binary would have no Metal library to load: that fails.
    below = metallibs.judge_embedded(checks["torch"].file, metal["member"], metal["headers"], "12.3")
    assert below["verdict"] == "fail" and "none for 12.3" in below["why"]
    # The MPS messages doctor's rules match are its libtorch_cpu's own literals; one it lacks is named.
    texts = checks["torch"].facts["doctor_texts"]
    assert texts["found"] == texts["of"] >= 10
    wheel = wheelcache.CACHE / "macos-arm64" / checks["torch"].file
    member = "torch/lib/libtorch_cpu.dylib"
    assert wheelcache.strings_missing(wheel, member, ["The operator '", "MPS has no such message"]) == [
        "MPS has no such message"
    ]


@pytest.fixture(scope="module")
def torch_checks():
    """The torch lock's macOS wheels, checked once for the tests below (downloads on a cold cache)."""
    return {c.name: c for c in wheels.check_lock(ENVS["torch"], "macos-arm64")}


@pytest.mark.network
def test_torchvision_and_torchaudio_link_torch_from_the_lock(torch_checks):
    """Their extensions link torch's libraries as @rpath/lib*.dylib with no LC_RPATH that finds them on a
    user's Mac (torchvision's is the build machine's folder, torchaudio's none): dyld finds them by install
    name among the images `import torch` loaded. Every symbol they bind two-level is exported there, and
    every binary declares a minimum macOS within the floor."""
    floor = ENVS["torch"].floor("macos-arm64")
    for name, extension in (
        ("torchvision", "torchvision/_C.so"),
        ("torchaudio", "torchaudio/lib/libtorchaudio.so"),
    ):
        check = torch_checks[name]
        assert not check.problems, check.problems
        assert macho.version_tuple(check.minos) <= macho.version_tuple(floor) == (13, 0)
        assert wheels.platform_minimum(check.file) == "11.0"
        linked = check.facts["links"]["from_other_wheels"][extension]
        assert linked["@rpath/libtorch_cpu.dylib"] == {
            "wheel": "torch", "path": "torch/lib/libtorch_cpu.dylib", "how": "install_name"
        }  # fmt: skip
        assert {v["wheel"] for v in linked.values()} == {"torch"}
        bound = check.facts["bindings"][f"{extension} -> torch/lib/libtorch_cpu.dylib"]
        assert bound["symbols"] > 100 and bound["missing"] == 0
    rpaths = wheelcache.dyld_facts(wheelcache.CACHE / "macos-arm64" / torch_checks["torchvision"].file)
    assert all(r.startswith("/Users/") for r in rpaths["torchvision/_C.so"]["rpaths"])  # the build machine's


@pytest.mark.network
def test_torchaudio_on_demand_libraries_are_named_not_failed(torch_checks):
    """torchaudio's FFmpeg (torio) and SoX extensions link libraries no wheel ships: a warning naming why
    each is allowed (OUTSIDE_THE_LOCK), and nothing else of the lock links outside it."""
    outside = torch_checks["torchaudio"].facts["links"]["outside_the_lock"]
    assert set(outside) == {
        *(f"torio/lib/{stem}{v}.so" for stem in ("libtorio_ffmpeg", "_torio_ffmpeg") for v in (4, 5, 6)),
        "torchaudio/lib/libtorchaudio_sox.so",
        "torchaudio/lib/_torchaudio_sox.so",
    }
    assert "@rpath/libsox.dylib" in outside["torchaudio/lib/libtorchaudio_sox.so"]
    assert [w for w in torch_checks["torchaudio"].warnings if "no wheel of the lock ships" in w]
    others = {n: c.facts["links"]["outside_the_lock"] for n, c in torch_checks.items() if n != "torchaudio"}
    assert not any(others.values()), others


@pytest.mark.network
def test_torchvision_ships_mps_kernels(torch_checks):
    """torchvision's _C.so registers its ops for the MPS dispatch key and carries their Metal source (it
    compiles it at run time through torch's MetalShaderLibrary), without linking Metal itself; torchaudio
    registers CPU kernels only (its transforms are torch ops)."""
    vision = torch_checks["torchvision"].facts["torch_kernels"]["torchvision/_C.so"]
    assert {"CPU", "MPS"} <= set(vision["torch_kernels"]["torchvision"])
    assert {"nms", "roi_align", "roi_align_backward"} <= set(vision["metal_kernels"])
    binaries = wheelcache.binaries(wheelcache.CACHE / "macos-arm64" / torch_checks["torchvision"].file)
    assert next(b for b in binaries if b.path == "torchvision/_C.so").frameworks() == {}
    audio = torch_checks["torchaudio"].facts["torch_kernels"]["torchaudio/lib/libtorchaudio.so"]
    assert "MPS" not in audio["torch_kernels"]["torchaudio"] and "CPU" in audio["torch_kernels"]["torchaudio"]
    current = {c.name: c for c in wheels.check_lock(ENVS["torch-current"], "macos-arm64")}
    stable = current["torchvision"].facts["torch_kernels"]["torchvision/_C_stable.so"]  # the stable ABI
    assert "MPS" in stable["torch_kernels"]["torchvision"] and "nms" in stable["metal_kernels"]


def _lock_of(tmp_path, name: str, python: str, floor: str, lines: list[str]) -> envspec.Environment:
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")  # the targets
    return envspec.Environment(
        name, "torch", name, root=tmp_path, python=python, floors={"macos-arm64": floor}
    )


def _locked_block(env: str, name: str) -> str:
    """The lock's entry for `name` (its pin and hashes), without its marker."""
    entry = next(e for e in envspec.read_lock(ENVS[env].lock) if e.name == name)
    return f"{name}=={entry.version} " + " ".join(f"--hash={h}" for h in entry.hashes)


@pytest.mark.network
@pytest.mark.parametrize(
    ("env", "floor", "declared"), [("torch", "12.3", "13.0"), ("torch-current", "14.0", "15.0")]
)
def test_a_floor_below_what_torch_declares_for_mps_fails(env, floor, declared):
    """The real locks with their macOS floor set below what their torch's own binary declares for MPS (the
    floors these environments had before): the torch check fails, naming both versions."""
    real = ENVS[env]
    low = envspec.Environment(
        env, real.framework, real.display, root=ROOT, python=real.python, python_floor=real.python_floor,
        floors={**real.floors, "macos-arm64": floor},
    )  # fmt: skip
    (torch,) = [c for c in wheels.check_lock(low, "macos-arm64") if c.name == "torch"]
    assert [
        p
        for p in torch.problems
        if f"expected a macOS floor at or above {declared}" in p and f"got {floor}" in p
    ]


@pytest.mark.network
def test_a_torchvision_without_its_torch_is_caught(tmp_path):
    """The torch lock's torchvision alone: its extensions' @rpath links to torch's libraries find nothing."""
    env = _lock_of(tmp_path, "vision", "3.9", "12.3", [_locked_block("torch", "torchvision")])
    (check,) = wheels.check_lock(env, "macos-arm64")
    assert any(
        p.startswith("torchvision/_C.so in torchvision-0.23.0-")
        and "links @rpath/libtorch_cpu.dylib, which no wheel of the lock ships" in p
        for p in check.problems
    ), check.problems


@pytest.mark.network
def test_a_torchvision_built_for_another_torch_is_caught(tmp_path):
    """torchvision 0.23.0 (built for torch 2.8) with torch 2.15.0, both CPython 3.12 wheels: its libraries
    are found, but symbols it binds two-level to libtorch_cpu are gone from torch 2.15's (dyld: Symbol not
    found at import). The torch entry is torch-current's lock's; torchvision's hash is its wheel's own."""
    vision = wheelcache.fetch([("torchvision", "0.23.0")], "macos-arm64", "14.0", "3.12.18")[
        ("torchvision", "0.23.0")
    ]
    lines = [
        _locked_block("torch-current", "torch"),
        f"torchvision==0.23.0 --hash=sha256:{wheelcache.sha256(vision)}",
    ]
    env = _lock_of(tmp_path, "mismatch", "3.12", ENVS["torch-current"].floor("macos-arm64"), lines)
    checks = {c.name: c for c in wheels.check_lock(env, "macos-arm64")}
    assert not checks["torch"].problems
    problems = [p for p in checks["torchvision"].problems if "does not export" in p]
    assert problems and problems[0].startswith("torchvision/")
    assert "torch's torch/lib/libtorch_cpu.dylib does not export (dyld: Symbol not found)" in problems[0]
    assert problems[0].endswith("a torchvision built for another torch")


@pytest.mark.network
def test_a_hash_the_lock_does_not_carry_is_caught(tmp_path):
    """A lock whose hashes for six were changed: the real wheel's sha256 is then none of the lock's."""
    (tmp_path / "requirements").mkdir()
    text = ENVS["tf"].lock.read_text()
    start = text.index("\nsix==")
    block = text[start : text.index("# via", start)]
    (tmp_path / "requirements" / "tf.txt").write_text(
        text.replace(block, re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, block))
    )
    shutil.copy(ENVS["tf"].requirements_in, tmp_path / "requirements" / "tf.in")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")  # the targets
    env = envspec.Environment("tf", "tensorflow", "TF", root=tmp_path, floors={"macos-arm64": "12.1"})
    problems = [p for c in wheels.check_lock(env, "macos-arm64") for p in c.problems]
    assert len(problems) == 1
    assert problems[0].startswith("six-1.15.0-py2.py3-none-any.whl: sha256 ")
    assert "is none of the lock's" in problems[0]


# ---- binds: two-level to a named TF library, or flat (tensorflow-metal >= 1.1.0 uses both) ---------------

PYWRAP = "@rpath/_pywrap_tensorflow_internal.so"
PYWRAP_MEMBER = "tensorflow/python/_pywrap_tensorflow_internal.so"
# The one symbol tensorflow-metal 1.1.0 binds to _pywrap_tensorflow_internal.so that TF 2.18.0's does not
# export (TF 2.18 changed the constructor to take an absl::LogSeverity): tensorflow/tensorflow#81987.
LOG_MESSAGE = "__ZN3tsl8internal10LogMessageC1EPKcii"


def _member_binary(wheel, member, tmp_path):
    with zipfile.ZipFile(wheel) as zf:
        return lief.MachO.parse(zf.extract(member, tmp_path)).at(0)


@pytest.mark.network
def test_both_bind_encodings_are_read(tmp_path):
    """tensorflow-metal 0.5.0 binds through chained fixups, 1.2.0 through bind opcodes: both are read."""
    for version, chained in (("0.5.0", True), ("1.2.0", False)):
        wheel = wheelcache.fetch([("tensorflow-metal", version)], "macos-arm64", "12.1", "3.9.18")[
            ("tensorflow-metal", version)
        ]
        binary = _member_binary(wheel, "tensorflow-plugins/libmetal_plugin.dylib", tmp_path / version)
        assert binary.has_dyld_chained_fixups is chained and binary.has_dyld_info is not chained
        found = wheelcache.imports(wheel)["tensorflow-plugins/libmetal_plugin.dylib"]
        assert any(s.startswith("_TF_") for s in found["flat"])
        assert "/usr/lib/libc++.1.dylib" in found["libraries"]
        assert (PYWRAP in found["libraries"]) is (version == "1.2.0")


@pytest.mark.network
def test_pair_that_links_through_two_level_binds_to_re_exports(tmp_path):
    """TF 2.18.0 + tensorflow-metal 1.2.0 links: its 27 two-level binds all resolve in
    _pywrap_tensorflow_internal.so, which only re-exports them (indirect symbols, from libtensorflow_cc)."""
    result = tfpair.check_pins(["tensorflow==2.18.0", "tensorflow-metal==1.2.0"], python="3.9")
    assert result.links and not result.missing and not result.problems, result.problems
    assert result.python == "3.9" and result.tensorflow_file.startswith("tensorflow-2.18.0-cp39-")
    assert result.two_level == {PYWRAP: {"binary": PYWRAP_MEMBER, "symbols": 27}}
    plugin = wheelcache.fetch([("tensorflow-metal", "1.2.0")], "macos-arm64", "12.1", "3.9.18")[
        ("tensorflow-metal", "1.2.0")
    ]
    bound = wheelcache.imports(plugin)["tensorflow-plugins/libmetal_plugin.dylib"]["libraries"][PYWRAP]
    tf_wheel = wheelcache.CACHE / "macos-arm64" / result.tensorflow_file
    pywrap = _member_binary(tf_wheel, PYWRAP_MEMBER, tmp_path)
    re_exported = {
        e.symbol.name for e in pywrap.dyld_info.exports if e.flags & int(lief.MachO.ExportInfo.FLAGS.REEXPORT)
    }
    assert set(bound) <= re_exported  # links only because re-exports count


@pytest.mark.network
def test_pair_that_fails_only_through_a_two_level_bind():
    """TF 2.18.0 + tensorflow-metal 1.1.0: every flat symbol resolves; one two-level bind does not. A check
    of flat imports alone said it links; users get
    `Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii`."""
    result = tfpair.check_pins(["tensorflow==2.18.0", "tensorflow-metal==1.1.0"], python="3.9")
    assert not result.links
    assert result.missing == [LOG_MESSAGE]
    assert result.expected_in == {LOG_MESSAGE: f"{PYWRAP} ({PYWRAP_MEMBER})"}
    assert result.groups["tsl::internal::LogMessage"]["symbols"] == [
        "tsl::internal::LogMessage::LogMessage(char const*, int, int)"
    ]
    assert result.groups["tsl::internal::LogMessage"]["hint"] is None  # TF 2.18 has tsl::, just not this
    assert "_pywrap_tensorflow_internal.so" in result.problems[0]
    assert result.apple and result.apple["metal"] == "1.1.0"  # Apple's table claims this pair


@pytest.mark.network
def test_flat_system_symbol_is_never_counted():
    """tensorflow-metal 1.2.0 leaves objc_msgSend (libobjc's) to flat lookup: no TF binary exports it, and
    it is left to the system, not missing."""
    result = tfpair.check_pins(["tensorflow==2.18.0", "tensorflow-metal==1.2.0"], python="3.9")
    assert result.left_to_system == ["_objc_msgSend"]
    assert "_objc_msgSend" not in result.missing
    tf_wheel = wheelcache.CACHE / "macos-arm64" / result.tensorflow_file
    assert not any("_objc_msgSend" in rec["symbols"] for rec in wheelcache.exports(tf_wheel).values())


@pytest.mark.network
def test_pair_python_is_the_newest_both_have():
    assert tfpair.choose_python(("tensorflow", "2.18.0"), ("tensorflow-metal", "1.1.0"), "12.1") == (3, 11)
    assert tfpair.choose_python(("tensorflow", "2.21.0"), ("tensorflow-metal", "1.2.0"), "12.1") == (3, 12)
    assert tfpair.choose_python(("tensorflow-macos", "2.9.2"), ("tensorflow-metal", "0.5.0"), "12.1") == (
        3,
        10,
    )
    with pytest.raises(wheelcache.WheelError, match="cannot be installed together"):
        tfpair.choose_python(("tensorflow", "2.21.0"), ("tensorflow-metal", "0.4.0"), "12.1")


@pytest.mark.network
def test_tensorflow_under_the_other_name_is_one_line_with_the_right_name():
    done = _pair_cli("tensorflow==2.12.0", "tensorflow-metal==0.8.0")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: tensorflow==2.12.0: expected a wheel for CPython 3.9"
    )
    assert lines[0].endswith("; tensorflow-macos==2.12.0 has macOS arm64 wheels")


# ---- the committed matrix is what the command writes -----------------------------------------------------
