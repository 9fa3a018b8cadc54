#!/usr/bin/env bash
# README's "the torch lock installs into a fresh venv in X-Y s once uv's cache holds them": three runs, each
# into a new venv, from a warm uv cache on the same disk (uv links from it). Run from the repository root
# with the pinned host tools on PATH (.ci/run's .cache/ci-tools/bin) after `nox -s verify` filled the cache:
#   docs/records/uv-sync-torch.sh > docs/records/uv-sync-torch.log
set -eu
venv=.cache/i26venv
python=$(command -v python3.9 || ls -d "$(pyenv root)"/versions/3.9.*/bin/python3.9 | tail -1)
echo "# the torch lock into a fresh venv from a warm uv cache on the same disk (uv links from it), on our CI machine ($(nproc) cores, shared: load $(cut -d' ' -f1 /proc/loadavg)), $(date -u +%F); $(uv --version | cut -d' ' -f1-2)"
for i in 1 2 3; do
  rm -rf "$venv" && uv venv -q --python "$python" "$venv"
  echo "\$ VIRTUAL_ENV=$venv uv pip sync --require-hashes --only-binary :all: requirements/torch.txt   # run $i"
  start=$(date +%s.%N)
  VIRTUAL_ENV=$venv uv pip sync -q --require-hashes --only-binary :all: requirements/torch.txt
  end=$(date +%s.%N)
  python3 -c "print('%.2f s wall' % ($end - $start))"
done
rm -rf "$venv"
