"""TensorFlow inside the environment: the import, NumPy 2, Apple's Metal plugin, the GPU it registers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checks.doctor.rule import Finding, first_line, on_apple_silicon, on_mac, rule, version

# TF (major, minor) -> the tensorflow-metal to pair it with, from the data file `nox -s pair` uses too (its
# sources are in the file): Apple's table, then the binaries' rows where they differ from it or Apple is
# silent (written by `nox -s pair -- --matrix` from the real wheels: docs/tensorflow-metal-matrix.md).
# None: no tensorflow-metal release loads into that TensorFlow.
_PAIRS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "tensorflow-metal-pairs.json").read_text()
)


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.split("."))


APPLE_METAL_FOR_TF = {
    _minor_key(minor): row["metal"] for row in _PAIRS["pairs"] for minor in row["tensorflow"]
}
BINARIES_METAL_FOR_TF = {_minor_key(row["tensorflow"]): row["metal"] for row in _PAIRS.get("binaries", [])}
METAL_FOR_TF = {**APPLE_METAL_FOR_TF, **BINARIES_METAL_FOR_TF}
NEWEST_PAIR = _PAIRS.get("newest_pair") or {}
MATRIX_DOC = "docs/tensorflow-metal-matrix.md"
# TensorFlow builds against NumPy 2 from 2.18 on; every earlier release dies at import under NumPy 2.
TF_FIRST_NUMPY2 = (2, 18)
PAIR_HINT = "`nox -s pair -- tensorflow-macos==2.9.2 tensorflow-metal==0.7.0` lists the missing symbols"


# tensorflow-metal 1.2.0 (January 2025) is the last release; its wheels are cp39-cp312 (PyPI's files).
LAST_METAL_PYTHON = (3, 12)
NO_METAL_WHEEL = "No matching distribution found for tensorflow-metal"
# Keras 3 is tf.keras from TF 2.16 on; Keras 2 code needs tf-keras and TF_USE_LEGACY_KERAS=1.
TF_FIRST_KERAS3 = (2, 16)
KERAS3_SAVEDMODEL = (
    "File format not supported: filepath=... Keras 3 only supports V3 `.keras` files and legacy H5 format "
    "files (`.h5` extension)"
)


def installed_tf(f: dict[str, Any]) -> str | None:
    d = f["distributions"]
    found = d.get("tensorflow-macos") or d.get("tensorflow") or d.get("tensorflow-cpu")
    return str(found) if found else None


@rule(
    "tf-import",
    symptom="`import tensorflow` fails",
    cause="`Symbol not found … libmetal_plugin.dylib` (a tensorflow-metal that does not pair with this TF), "
    "NumPy 2, or other text, shown verbatim",
    fix="`tensorflow-metal==0.5.0` for TF 2.9 (`nox -s pair` shows the missing symbols); `numpy<2`",
)
def tf_import(f: dict[str, Any]) -> Finding | None:
    t = f.get("tensorflow")
    if t is None:
        return None
    error = t["import_error"]
    if not error:
        return Finding("tf-import", "ok", f"tensorflow {t['version']} imports")
    tf_version, metal = installed_tf(f), f["distributions"].get("tensorflow-metal")
    if "libmetal_plugin" in error or ("Symbol not found" in error and metal):
        key = version(tf_version)[:2]
        want = METAL_FOR_TF.get(key, "the version Apple's table pairs")
        symbol = re.search(r"Symbol not found: (\S+)", error)
        fix = (
            f"install the pair {_pair_source(key)} gives: tensorflow-metal=={want} for TensorFlow "
            f"{tf_version} (the lock does: `nox -s verify`); {PAIR_HINT}"
            if want
            else f"no tensorflow-metal loads into TensorFlow {tf_version}: {_newest_pair_fix()}; {PAIR_HINT}"
        )
        return Finding(
            "tf-import",
            "fail",
            f"`import tensorflow` failed loading the Metal plugin: {first_line(error)}",
            f"tensorflow-metal {metal} does not pair with TensorFlow {tf_version}: the plugin needs "
            f"{symbol.group(1) if symbol else 'a symbol'} that this TensorFlow does not export where the "
            "plugin binds it, and TF loads every plugin at import, so the whole import dies",
            fix,
        )
    # The exception itself rarely names NumPy (TF 2.9.3 under NumPy 2.0.2 raises "TypeError: Unable to
    # convert function return value to a Python type!"; NumPy's own warning goes to stderr), so the
    # installed versions decide, and the text only where they are unknown.
    if numpy_conflict(f) or "_ARRAY_API" in error or "compiled using NumPy 1.x" in error:
        return Finding(
            "tf-import",
            "fail",
            f"`import tensorflow` failed under NumPy {f['distributions'].get('numpy')}: {first_line(error)}",
            f"TensorFlow {tf_version} is compiled against NumPy 1.x, so NumPy 2 breaks its import "
            "(see rule numpy-tf)",
            '`pip install "numpy<2"` (the lock pins 1.26.4: `nox -s verify`)',
        )
    return Finding(
        "tf-import",
        "fail",
        f"`import tensorflow` failed: {first_line(error)}",
        "no TensorFlow device at all can be used",
        "rebuild the environment from the lock (`nox -s verify`); if it persists, report the text above",
    )


def numpy_conflict(f: dict[str, Any]) -> bool:
    tf_version, numpy = installed_tf(f), f["distributions"].get("numpy")
    return bool(tf_version and numpy) and (
        version(numpy)[:1] >= (2,) and version(tf_version)[:2] < TF_FIRST_NUMPY2
    )


@rule(
    "numpy-tf",
    symptom="TF 2.9 import dies (`TypeError: Unable to convert function return value…`)",
    cause="NumPy 2 with TF below 2.18",
    fix='`pip install "numpy<2"`',
)
def numpy_tf(f: dict[str, Any]) -> Finding | None:
    tf_version, numpy = installed_tf(f), f["distributions"].get("numpy")
    if not tf_version or not numpy:
        return None
    if numpy_conflict(f):
        return Finding(
            "numpy-tf",
            "fail",
            f"NumPy {numpy} with TensorFlow {tf_version}",
            "TensorFlow before 2.18 is compiled against NumPy 1.x; NumPy 2 breaks `import tensorflow` "
            "('A module that was compiled using NumPy 1.x cannot be run in NumPy 2')",
            '`pip install "numpy<2"` (requirements/tf.in pins it; the lock has 1.26.4)',
        )
    return Finding("numpy-tf", "ok", f"NumPy {numpy} suits TensorFlow {tf_version}")


@rule(
    "tf-metal-pair",
    symptom="no Metal GPU, or the plugin fails to load",
    cause="tensorflow-metal missing, or not the version Apple's table pairs (the binaries' pair where they "
    "differ: docs/tensorflow-metal-matrix.md)",
    fix="the paired version (the lock has it)",
)
def tf_metal_pair(f: dict[str, Any]) -> Finding | None:
    tf_version = installed_tf(f)
    if not on_apple_silicon(f) or not tf_version:
        return None
    metal = f["distributions"].get("tensorflow-metal")
    key = version(tf_version)[:2]
    want = METAL_FOR_TF.get(key)
    if key in METAL_FOR_TF and want is None:
        return Finding(
            "tf-metal-pair",
            "fail",
            f"TensorFlow {tf_version} with "
            f"{f'tensorflow-metal {metal}' if metal else 'no tensorflow-metal'}; "
            "no tensorflow-metal release loads into it",
            f"read from the wheels ({MATRIX_DOC}): every tensorflow-metal release misses symbols in "
            f"TensorFlow {'.'.join(map(str, key))}, so TF has no GPU device on a Mac (and with the plugin "
            "installed, `import tensorflow` dies)",
            _newest_pair_fix(),
        )
    if metal is None:
        return Finding(
            "tf-metal-pair",
            "fail",
            f"TensorFlow {tf_version} without tensorflow-metal",
            "without Apple's Metal plugin TensorFlow has no GPU device on a Mac",
            f"`pip install tensorflow-metal=={want or '<the version Apple pairs>'}` (the lock does)",
        )
    if want and metal != want:
        return Finding(
            "tf-metal-pair",
            "fail",
            f"tensorflow-metal {metal} with TensorFlow {tf_version}; {_pair_source(key)} pairs {want}",
            "a plugin built for another TensorFlow fails to load ('Symbol not found ... libmetal_plugin') "
            "or misbehaves",
            f"`pip install tensorflow-metal=={want}` (the lock does); {PAIR_HINT}",
        )
    return Finding("tf-metal-pair", "ok", f"tensorflow-metal {metal} pairs with TensorFlow {tf_version}")


def _pair_source(key: tuple[int, ...]) -> str:
    """Who pairs this TF minor: Apple's table, or the wheels where they say otherwise (naming Apple's)."""
    if key in BINARIES_METAL_FOR_TF:
        apple = APPLE_METAL_FOR_TF.get(key)
        return (
            f"the wheels ({MATRIX_DOC}; Apple's table says {apple})"
            if apple
            else f"the wheels ({MATRIX_DOC})"
        )
    return "Apple's table"


def _newest_pair_fix() -> str:
    tf, metal = NEWEST_PAIR.get("tensorflow"), NEWEST_PAIR.get("metal")
    if not tf:
        return f"use a TensorFlow that a tensorflow-metal release loads into ({MATRIX_DOC})"
    return f"the newest pair that loads is {tf} with tensorflow-metal=={metal} ({MATRIX_DOC})"


@rule(
    "tf-metal-python",
    symptom=f"`ERROR: {NO_METAL_WHEEL}` (Python 3.13 or newer on a Mac)",
    cause="tensorflow-metal 1.2.0, the last release, has wheels for CPython 3.9-3.12 only",
    fix="Python 3.12 (the `tf-current` environment)",
)
def tf_metal_python(f: dict[str, Any]) -> Finding | None:
    build = f.get("build_error") or ""
    python = version(f["platform"]["python"])
    has_tf = installed_tf(f) is not None
    if not on_apple_silicon(f) or not (has_tf or NO_METAL_WHEEL in build):
        return None
    if python[:2] > LAST_METAL_PYTHON:
        shown = f"pip says `{first_line(build)}`" if NO_METAL_WHEEL in build else "no tensorflow-metal wheel"
        return Finding(
            "tf-metal-python",
            "fail",
            f"Python {f['platform']['python']}: {shown}",
            "tensorflow-metal 1.2.0 (January 2025) is the last release and has wheels for CPython 3.9-3.12 "
            "only, so TensorFlow on this Python has no Metal GPU",
            "use Python 3.12: the `tf-current` environment (`nox -s \"verify(env='tf-current')\"`, or "
            "`conda env create -f environment-tf-current.yml`)",
        )
    return None  # Python 3.12 or older: tensorflow-metal has wheels; rule tf-metal-pair judges the plugin


@rule(
    "keras-3",
    symptom=f"Keras 2 code fails under TF 2.16+, e.g. `ValueError: {KERAS3_SAVEDMODEL}`",
    cause="TensorFlow 2.16+ ships Keras 3 as tf.keras; Keras 2 code (SavedModel loading, tf.keras internals) "
    "breaks",
    fix="port to Keras 3, or `pip install tf-keras` (its version matching TF's minor) and "
    "`TF_USE_LEGACY_KERAS=1` before importing TensorFlow",
)
def keras_3(f: dict[str, Any]) -> Finding | None:
    tf_version, d = installed_tf(f), f["distributions"]
    if not tf_version or version(tf_version)[:2] < TF_FIRST_KERAS3:
        return None
    keras, legacy = d.get("keras"), f["env_vars"].get("TF_USE_LEGACY_KERAS") == "1"
    minor = ".".join(map(str, version(tf_version)[:2]))
    if legacy and not d.get("tf-keras"):
        return Finding(
            "keras-3",
            "fail",
            f"TF_USE_LEGACY_KERAS=1 with TensorFlow {tf_version} but tf-keras is not installed",
            "TF_USE_LEGACY_KERAS=1 makes tf.keras the tf-keras package (Keras 2); without it `tf.keras` "
            "fails to import",
            f"`pip install tf-keras~={minor}.0` (add it to the environment's .in and `nox -s lock`), or "
            "unset "
            "TF_USE_LEGACY_KERAS to use Keras 3",
        )
    if legacy:
        return Finding(
            "keras-3", "ok", f"tf.keras is tf-keras {d.get('tf-keras')} (Keras 2, TF_USE_LEGACY_KERAS=1)"
        )
    # ok says what is there, no breakage: Keras 2 code meeting Keras 3 is this rule's symptom
    # (docs/doctor.md), explained when its error text is given, not assumed of every tf-current user.
    return Finding(
        "keras-3",
        "ok",
        f"tf.keras is Keras {keras or '?'} under TensorFlow {tf_version} "
        "(Keras 3; TF_USE_LEGACY_KERAS unset)",
    )


@rule(
    "tf-gpu",
    symptom="TF on CPU",
    cause="no Metal device registered (Mac); tensorflow-cpu by design (Linux)",
    fix="see the rules above; the torch env for NVIDIA GPUs",
)
def tf_gpu(f: dict[str, Any]) -> Finding | None:
    t = f.get("tensorflow")
    if t is None or t["import_error"]:
        return None
    if t["gpus"]:
        return Finding("tf-gpu", "ok", f"TensorFlow sees {len(t['gpus'])} GPU(s): {', '.join(t['gpus'])}")
    if on_mac(f):
        return Finding(
            "tf-gpu",
            "fail",
            "TensorFlow imports but registers no Metal GPU",
            "tensorflow-metal is missing, or loaded without finding a Metal device (a VM, a hosted runner)",
            "see rules tf-metal-pair and rosetta; run on the Mac itself",
        )
    gpus = (f.get("nvidia") or {}).get("gpus") or []
    if not t["built_with_cuda"]:
        return Finding(
            "tf-gpu",
            "warn" if gpus else "ok",
            f"TensorFlow {t['version']} is a CPU build"
            + (f" beside {len(gpus)} NVIDIA GPU(s)" if gpus else ""),
            "the tf environment is tensorflow-cpu on Linux by design (TF 2.9's CUDA build needs CUDA 11.2 "
            "and cuDNN 8.1 installed system-wide); use the torch environment for the GPUs"
            if gpus
            else "",
            "`pip install tensorflow==2.9.3` plus CUDA 11.2/cuDNN 8.1 if TF must use the GPU" if gpus else "",
        )
    return Finding(
        "tf-gpu",
        "fail" if gpus else "warn",
        "TensorFlow has CUDA but sees no GPU",
        "its CUDA libraries (cudart, cuDNN) did not load, or no driver is present",
        "run `python -c 'import tensorflow'` with TF_CPP_MIN_LOG_LEVEL=0 to see which library is missing",
    )


RULES = (tf_import, numpy_tf, tf_metal_python, tf_metal_pair, keras_3, tf_gpu)
