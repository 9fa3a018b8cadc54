"""The macOS arm64 half of every lock, proven from the real wheels (cached once in ~/.cache/gpuenv/wheels).

Tag and floor logic runs on real PyPI wheel filenames; everything else downloads the real wheels with pip
and reads their Mach-O binaries with macholib (load commands) and LIEF (symbols and binds). The Linux
x86_64 half (torch's ~3 GB of CUDA wheels) is
`nox -s wheels`' job in CI, not the test suite's.
"""

from __future__ import annotations

import json

import pytest

# The dev layer has these; a bare interpreter (the lent GPU box's python3) skips this module, not errors.
pytest.importorskip("macholib", reason="macholib (dev layer) is not installed")
pytest.importorskip("cxxfilt", reason="cxxfilt (dev layer) is not installed")
pytest.importorskip("lief", reason="lief (dev layer) is not installed")


from tools.envs import envspec
from tools.mac import macho, tfmatrix, tfpair, wheelcache, wheels

ROOT = envspec.ROOT


# ---- tag and floor logic on real wheel filenames (from PyPI) ----------------------------------------------


@pytest.mark.parametrize(
    ("filename", "target", "floor", "fits"),
    [
        ("torch-2.8.0-cp39-none-macosx_11_0_arm64.whl", "macos-arm64", "12.3", True),
        ("tensorflow_metal-0.7.0-cp39-cp39-macosx_12_0_arm64.whl", "macos-arm64", "12.1", True),
        ("tensorflow_metal-0.7.0-cp39-cp39-macosx_12_0_arm64.whl", "macos-arm64", "11.0", False),
        ("numpy-2.0.2-cp39-cp39-macosx_14_0_arm64.whl", "macos-arm64", "12.3", False),
        ("numpy-2.0.2-cp39-cp39-macosx_10_9_x86_64.whl", "macos-arm64", "12.3", False),
        ("filelock-3.19.1-py3-none-any.whl", "macos-arm64", "12.3", True),
        ("torch-2.8.0-cp310-none-macosx_11_0_arm64.whl", "macos-arm64", "12.3", False),
        ("torch-2.8.0-cp39-cp39-manylinux_2_28_x86_64.whl", "linux-x86_64", "2.28", True),
        ("torch-2.8.0-cp39-cp39-manylinux_2_28_x86_64.whl", "linux-x86_64", "2.17", False),
        (
            "tensorflow_cpu-2.9.3-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "linux-x86_64",
            "2.28",
            True,
        ),
        ("torch-2.8.0-cp39-cp39-manylinux_2_28_aarch64.whl", "linux-x86_64", "2.28", False),
    ],
)
def test_tag_fits_the_floor(filename, target, floor, fits):
    problem = wheelcache.tag_problem(filename, target, floor, (3, 9))
    assert (problem is None) == fits, problem
    if not fits:
        assert problem.startswith(f"{filename}: expected a CPython 3.9 wheel for ")


def test_source_distribution_is_refused():
    problem = wheelcache.tag_problem("torch-2.8.0.tar.gz", "macos-arm64", "12.3", (3, 9))
    assert problem == (
        "torch-2.8.0.tar.gz: expected a binary wheel, got a source distribution (it would build on install)"
    )


def test_platform_minimum_and_pip_preference():
    assert wheels.platform_minimum("tensorflow_metal-0.7.0-cp39-cp39-macosx_12_0_arm64.whl") == "12.0"
    better = "numpy-2.0.2-cp39-cp39-macosx_12_0_arm64.whl"
    older = "numpy-2.0.2-cp39-cp39-macosx_11_0_arm64.whl"
    assert wheelcache.tag_rank(better, "macos-arm64", "12.3", (3, 9)) < wheelcache.tag_rank(
        older, "macos-arm64", "12.3", (3, 9)
    )


def test_demangle_and_group_a_real_symbol():
    name = macho.demangle("__ZN3tsl8internal10LogMessageC1EPKcii")
    assert name == "tsl::internal::LogMessage::LogMessage(char const*, int, int)"
    assert macho.owner(name) == "tsl::internal::LogMessage"
    assert macho.owner("std::map<int, a::b>::find(a::b const&)") == "std::map<int, a::b>"
    assert macho.demangle("_objc_msgSend") == "objc_msgSend"  # C: only Mach-O's underscore goes
    assert macho.version_string(0x000B0000) == "11.0" and macho.version_string(0x000C0301) == "12.3.1"


def test_apple_table_lookup():
    assert tfpair.documented("2.9.2", "0.5.0")["macos"] == "12.1"
    assert tfpair.documented("2.9.2", "0.7.0") is None
    assert tfpair.documented("2.16.1", "1.1.0") is not None
    assert tfpair.first_tensorflow("tsl::internal::LogMessage::~LogMessage()") == "2.11"


@pytest.mark.parametrize(
    ("raw", "tensorflows"),
    [
        # Real imports of tensorflow-metal plugins (1.1.0/1.2.0 libmetal_plugin.dylib), by who provides them.
        ("__ZN3tsl8internal10LogMessageC1EPKcii", True),
        ("_TF_AllocateOutput", True),
        ("_TFE_NewContext", True),
        ("__ZN6google8protobuf11MessageLite14ParseFromArrayEPKvi", True),
        ("__ZTIN10tensorflow6StatusE", True),  # typeinfo for tensorflow::Status
        ("_objc_msgSend", False),  # libobjc: flat in tensorflow-metal 1.2.0
        ("_OBJC_CLASS_$_NSObject", False),
        ("__ZNKSt3__112basic_stringIcNS_11char_traitsIcEENS_9allocatorIcEEE4findEPKcmm", False),  # libc++
        ("__Znwm", False),  # operator new(unsigned long)
        ("__ZTVN10__cxxabiv117__class_type_infoE", False),  # vtable for __cxxabiv1::__class_type_info
        ("_PyErr_Occurred", False),  # the interpreter's
        ("_dispatch_async", False),  # libSystem
    ],
)
def test_which_flat_symbols_are_tensorflows_to_provide(raw, tensorflows):
    assert tfpair.tensorflow_symbol(raw) is tensorflows


def test_wheel_data_members_land_in_site_packages():
    member = "tensorflow_metal-0.7.0.data/purelib/tensorflow-plugins/libmetal_plugin.dylib"
    assert wheelcache.installed_path(member) == "tensorflow-plugins/libmetal_plugin.dylib"
    assert wheelcache.installed_path("tensorflow/python/x.so") == "tensorflow/python/x.so"


@pytest.mark.parametrize(
    "pins",
    [
        [],
        ["tensorflow-macos==2.9.2"],
        ["tensorflow-macos>=2.9", "tensorflow-metal==0.5.0"],
        ["torch==2.8.0", "x"],
        ["--python", "3.x", "tensorflow==2.18.0", "tensorflow-metal==1.2.0"],
        ["--python", "2.7", "tensorflow==2.18.0", "tensorflow-metal==1.2.0"],
        ["--matrix", "tensorflow==2.18.0"],
        ["--no-such-option"],
    ],
)
def test_bad_pair_arguments_exit_2_with_one_line(pins, capsys):
    assert tfpair.main(pins) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: expected ")


def test_torch_kernel_registrations_read_from_symbol_names():
    """Mangled names recorded with `strings` from torchvision 0.23.0's _C.so, torch 2.8.0's libtorch_cpu
    and torchvision 0.29.2's stable-ABI _C_stable.so (macOS arm64 wheels), joined as a symbol table is."""
    table = b"\0".join(
        [
            b"__ZN6vision3opsL41TORCH_LIBRARY_IMPL_init_torchvision_MPS_2ERN5torch7LibraryE",
            b"__ZN6vision3opsL48TORCH_LIBRARY_IMPL_static_init_torchvision_MPS_2E",
            b"__ZN2at6native12_GLOBAL__N_140TORCH_LIBRARY_IMPL_init__quantized_CPU_5ERN5torch7LibraryE",
            b"__ZN2at6native12_GLOBAL__N_149TORCH_LIBRARY_IMPL_init__quantized_QuantizedCPU_3ERN5torch7LibraryE",
            b"__ZN2atL31TORCH_LIBRARY_IMPL_init___MPS_2ERN5torch7LibraryE",
            b"__ZN6visionL77STABLE_TORCH_LIBRARY_IMPL_static_init_torchvision_CompositeExplicitAutograd_1E",
            b"__ZN6vision3opsL55STABLE_TORCH_LIBRARY_FRAGMENT_static_init_torchvision_0E",  # a definition
        ]
    )
    assert macho.torch_kernels(table) == {
        "_": ["MPS"],
        "_quantized": ["CPU", "QuantizedCPU"],
        "torchvision": ["CompositeExplicitAutograd", "MPS"],
    }
    source = (
        b"kernel void nms(constant T * dev_boxes [[buffer(0)]],\0kernel void roi_align<DTYPE, INT_DTYPE>("
    )
    assert macho.metal_kernels(source) == ["nms", "roi_align"]  # as torchvision's _C.so carries them


def _site(*paths: str, install_names: dict[str, str] | None = None) -> wheels.SitePackages:
    """Hand-written: installed paths as the torch and torchvision 0.23.0 wheels ship them."""
    site = wheels.SitePackages()
    torch = wheels.WheelCheck("torch", "macos-arm64", "torch", "2.8.0")
    site.files = dict.fromkeys(paths, torch)
    site.install_names = {name: (torch, path) for name, path in (install_names or {}).items()}
    return site


def test_how_dyld_finds_a_link():
    site = _site(
        "torch/lib/libtorch_cpu.dylib",
        "torch/lib/libomp.dylib",
        "torchvision/.dylibs/libpng16.16.dylib",
        "torchvision/.dylibs/libz.1.2.13.dylib",
        install_names={"@rpath/libtorch_cpu.dylib": "torch/lib/libtorch_cpu.dylib"},
    )
    resolve = wheels.resolve
    assert resolve("/usr/lib/libSystem.B.dylib", "torchvision/_C.so", [], site) == ("system", None)
    assert resolve("@loader_path/.dylibs/libpng16.16.dylib", "torchvision/image.so", [], site) == (
        "loader_path",
        "torchvision/.dylibs/libpng16.16.dylib",
    )
    # libpng's own rpath is "@loader_path/" (trailing slash), as delocate writes it
    found = resolve(
        "@rpath/libz.1.2.13.dylib", "torchvision/.dylibs/libpng16.16.dylib", ["@loader_path/"], site
    )
    assert found == ("rpath", "torchvision/.dylibs/libz.1.2.13.dylib")
    assert resolve("@rpath/libomp.dylib", "torch/lib/libtorch_cpu.dylib", ["@loader_path"], site) == (
        "rpath",
        "torch/lib/libomp.dylib",
    )
    build_machine = ["/Users/ec2-user/runner/_work/_temp/conda_environment_16469656620/lib"]
    assert resolve("@rpath/libtorch_cpu.dylib", "torchvision/_C.so", build_machine, site) == (
        "install_name",
        "torch/lib/libtorch_cpu.dylib",
    )
    assert resolve("@rpath/libsox.dylib", "torchaudio/lib/libtorchaudio_sox.so", [], site) == (
        "missing",
        None,
    )
    assert resolve("/opt/homebrew/lib/libjpeg.8.dylib", "x/y.so", [], site) == ("missing", None)


def test_libraries_outside_the_lock_are_declared_with_a_reason():
    assert wheels.outside_the_lock("@rpath/libavutil.56.dylib").startswith("FFmpeg")
    assert wheels.outside_the_lock("@rpath/libsox.dylib").startswith("SoX")
    assert wheels.outside_the_lock("@rpath/libtorch_cpu.dylib") is None
    assert wheels.outside_the_lock("/opt/homebrew/lib/libavutil.dylib") is None  # no version: not FFmpeg's


# ---- the real wheels -------------------------------------------------------------------------------------


# ---- binds: two-level to a named TF library, or flat (tensorflow-metal >= 1.1.0 uses both) ---------------


# ---- the committed matrix is what the command writes -----------------------------------------------------


def test_matrix_docs_and_pairs_file_come_from_the_matrix_json(tmp_path):
    """docs/tensorflow-metal-matrix.md and the pairs file's binaries rows are what `nox -s pair -- --matrix`
    renders from docs/tensorflow-metal-matrix.json: nobody edited them by hand."""
    matrix = json.loads((ROOT / "docs" / "tensorflow-metal-matrix.json").read_text())
    assert (ROOT / "docs" / "tensorflow-metal-matrix.md").read_text() == tfmatrix.markdown(matrix)
    copy = tmp_path / "pairs.json"
    copy.write_text(tfpair.TABLE.read_text())
    tfmatrix.update_pairs_file(matrix, copy)
    assert copy.read_text() == tfpair.TABLE.read_text()
    assert tfmatrix.summarize(matrix) == matrix["summary"]


def test_matrix_summary_follows_the_binaries_where_apple_differs():
    matrix = json.loads((ROOT / "docs" / "tensorflow-metal-matrix.json").read_text())
    minors = matrix["summary"]["minors"]
    assert minors["2.18"]["apple"] == ["1.1.0"] and minors["2.18"]["binaries_pair"] == "1.2.0"
    assert "LogMessage(char const*, int, int)" in minors["2.18"]["why_not_apple"]
    assert minors["2.19"]["binaries_pair"] == "1.2.0"
    assert minors["2.20"]["binaries_pair"] is None and minors["2.21"]["binaries_pair"] is None
    assert minors["2.9"]["binaries_pair"] == "0.5.0" and minors["2.9"]["agrees_with_apple"]
    assert matrix["cells"]["tensorflow==2.18.0"]["1.1.0"]["verdict"] == "fails"
    assert matrix["cells"]["tensorflow==2.18.0"]["1.2.0"]["verdict"] == "loads"
    assert matrix["cells"]["tensorflow==2.20.0"]["1.2.0"]["verdict"] == "fails"
    assert matrix["summary"]["newest_metal"] == "1.2.0"
