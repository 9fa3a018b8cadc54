#!/usr/bin/env bash
# conda's pip step and `nox -s kernel`'s life cycle for every environment (docs/ci.md): the end-to-end tests
# CI runs for some environments only, here for all, each test's time from pytest's --durations. Run from the
# repository root, the machine otherwise idle:
#   docs/records/e2e-conda-kernel-all.sh > docs/records/e2e-conda-kernel-all.log 2>&1
set -u
echo "# GPUENV_CONDA_ALL=1 GPUENV_KERNEL_ALL=1, our CI machine (Linux x86_64, 2 shared cores), $(date -u '+%F %H:%M') UTC"
echo "# pip's cache before: $(du -sh "${XDG_CACHE_HOME:-$HOME/.cache}/pip" 2>/dev/null | cut -f1 || echo none)"
uptime
GPUENV_CONDA_ALL=1 GPUENV_KERNEL_ALL=1 nox -s "tests(env='e2e')" -- \
  -k "test_conda_pip_step_installs_exactly_the_lock or test_kernel_registers_idempotently" --durations=0 2>&1 \
  | grep -vE "^(Using Python|Resolved|Checked|Prepared|Installed|Uninstalled|Audited| [+-] )" | sed "s/[ \t]*$//"
uptime
