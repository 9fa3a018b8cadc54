"""The environments: the Pythons they are built with, and whether they built at all (facts from nox)."""

from __future__ import annotations

from checks.doctor.rule import Finding, rule, version


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
def env_python(f: dict) -> Finding | None:
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
def build(f: dict) -> Finding | None:
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


RULES = (env_python, build)
