#!/usr/bin/env bash
# verify's cost (docs/verify.md): nox sessions, then direct runs with and without the torchvision/torchaudio
# check. Run from the repository root: docs/records/verify-cost.sh > docs/records/verify-cost.log
set -u
py=${PYTHON:-.nox/env-torch/bin/python}  # the torch environment nox -s verify builds
echo "# verify's cost on our CI machine (Linux x86_64, 2 cores shared with other jobs), $(date -u '+%F %H:%M') UTC"
for args in "" "-- --no-extra"; do
  echo "\$ uptime"; uptime
  echo "\$ time nox -s \"verify(env='torch')\"${args:+ $args}"
  /usr/bin/time -f "%e s wall" nox -s "verify(env='torch')" $args 2>&1 | grep -E "s wall|^PASS|^FAIL|successful|failed"
done
for extra in extra no-extra; do
  for i in 1 2 3; do
    flag=""; [ $extra = no-extra ] && flag="--no-extra"
    echo "\$ uptime"; uptime
    echo "\$ time python -m checks.verify --framework torch --no-distributed $flag --json docs/records/verify-torch-$extra-$i.json   # $extra run $i"
    PYTHONPATH=$PWD /usr/bin/time -f "%e s wall" $py -m checks.verify --framework torch --no-distributed $flag --json docs/records/verify-torch-$extra-$i.json 2>&1 | grep -E "s wall|^PASS|^FAIL|torchvision"
  done
done
