"""The environments: the Pythons they are built with, and whether they built at all (facts from nox)."""

from __future__ import annotations

import re
from typing import Any

from checks.doctor.rule import Finding, error_text, raised_at, rule, version

# Python's own words for an import of a package the environment lacks (ModuleNotFoundError, Python 3.6+).
MODULE_NOT_FOUND = re.compile(r"ModuleNotFoundError: No module named '(?P<module>[\w.]+)'")
# The venv nox builds an environment in: .nox/env-NAME, or .nox/env-NAME+LAYER... (tools/session/venvs.py).
NOX_VENV = re.compile(r"[/\\]\.nox[/\\]env-(?P<env>[\w.-]+?)(?:\+[\w+.-]+)?[/\\]")


def _envs(names: list[str]) -> str:
    return ", ".join(names)


def _the_environments(names: list[str]) -> str:
    return ("the environments " if len(names) > 1 else "the environment ") + _envs(names)


def _install(v: str) -> str:
    return (
        f"`pyenv install {v}`, `uv python install {v}` or `conda create -n py{v.replace('.', '')} python={v}`"
    )


@rule(
    "env-python",
    symptom="no environment builds, or some do not",
    cause="no Python of the version an environment's lock is resolved for (pythonX.Y on PATH, pyenv's or "
    "uv's)",
    fix="`pyenv install X.Y` / `uv python install X.Y` for each version the finding names",
)
def env_python(f: dict[str, Any]) -> Finding | None:
    # Only nox looks for the Pythons that build the environments: {"3.9": {"path", "environments"}, ...}.
    searched = f.get("env_python")
    if searched is None:
        return None
    wanted = sorted(searched.items(), key=lambda kv: version(kv[0]))
    missing = [(v, w["environments"]) for v, w in wanted if w["path"] is None]
    if not missing:
        built = [w["path"] + (f" ({_envs(w['environments'])})" if len(wanted) > 1 else "") for _, w in wanted]
        return Finding("env-python", "ok", f"environments are built with {', '.join(built)}")
    summary = "; ".join(
        f"no Python {v} found to build {_the_environments(envs)} (python{v} on PATH, pyenv's or uv's)"
        for v, envs in missing
    )
    if len(missing) == len(wanted):
        consequence = "no environment can be built"
    else:
        consequence = (
            f"{_envs([env for _, envs in missing for env in envs])} cannot be built (the others can)"
        )
    if len(missing) == 1:
        fix = f"{_install(missing[0][0])}, and put its bin folder on PATH (on a Mac: an arm64 build)"
    else:
        fix = "; ".join(f"Python {v}: {_install(v)}" for v, _ in missing)
        fix += ", and put each bin folder on PATH (on a Mac: arm64 builds)"
    return Finding(
        "env-python",
        "fail",
        summary,
        f"each environment's lock is resolved for one CPython version, so {consequence}",
        fix,
    )


@rule(
    "environment-build",
    symptom="the environment does not install",
    cause="hash mismatch, stale venv, or no wheel for this platform",
    fix="the line shown; `nox -s verify` for the full output",
)
def build(f: dict[str, Any]) -> Finding | None:
    if not f.get("build_error"):
        return None
    hint = (
        "this template's locks target macOS arm64 and Linux x86_64 with the CPython each environment names: "
        "on another platform no wheel fits; otherwise rerun `nox -s verify` for the installer's full output"
    )
    return Finding(
        "environment-build",
        "fail",
        f"the environment did not build: {f['build_error']}",
        "nothing inside it could be checked",
        hint,
    )


def _environment_of(f: dict[str, Any], text: str) -> str | None:
    """The environment the failing program ran in: a path in its traceback, else doctor's own Python's."""
    for place in (text, f["platform"].get("python_executable") or ""):
        found = NOX_VENV.search(place)
        if found:
            return found["env"]
    return None


@rule(
    "module-not-found",
    symptom="`ModuleNotFoundError: No module named '…'` from your own program",
    cause="the package is not in the environment's lock: environments install exactly their lock, nothing "
    "installed by hand survives a rebuild",
    fix="add it with its reason to `requirements/<env>.in` and run `nox -s lock` (README, fork step 2)",
    error=True,
)
def module_not_found(f: dict[str, Any]) -> Finding | None:
    text = error_text(f)
    found = MODULE_NOT_FOUND.search(text)
    if found is None:
        return None
    module = found["module"]
    top = module.split(".")[0]
    env = _environment_of(f, text)
    name = env or "<env>"
    run = f"`nox -s \"run(env='{name}')\" -- python -m …`"
    return Finding(
        "module-not-found",
        "fail",
        f"`{top}` is not installed in {f'the {env} environment' if env else 'this environment'}: "
        f"ModuleNotFoundError" + raised_at(text, found.start()),
        "each environment is exactly its lock (requirements/NAME.txt): a package your code imports must be "
        "in the environment's .in, or it is missing here and in every rebuild; `pip install` by hand "
        "would be undone by the next build. If `" + top + "` is your own code, run from the repository "
        "root (the run session puts it on PYTHONPATH)",
        f'`echo "{top}  # why your code needs it" >> requirements/{name}.in`, then `nox -s lock` (every lock '
        f"is re-resolved, hashed), then {run} (README, fork step 2; the PyPI name can differ from the "
        "import name, e.g. `cv2` is opencv-python, `PIL` is pillow, `sklearn` is scikit-learn)",
    )


RULES = (env_python, build, module_not_found)
