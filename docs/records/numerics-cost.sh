#!/usr/bin/env bash
# The numerics suite's cost in verify (docs/verify.md): whole `nox -R -s "verify(env=X)"` runs with the suite
# (the default, --numerics quick) and without it (--numerics off), alternated A B A B per environment, then
# torch's --numerics full on the CPU. Each run's wall and CPU time and peak memory (GNU time: the largest
# process, verify's Python) and, with the suite, its own seconds (numerics.0.seconds of the run's --json,
# kept in docs/records/numerics-cost/). Run from the repository root after `nox -s verify` built the venvs:
#   docs/records/numerics-cost.sh > docs/records/numerics-cost.log
set -u
out=docs/records/numerics-cost
mkdir -p "$out"
seconds() { python3 -c 'import json,sys; n=json.load(open(sys.argv[1])).get("numerics") or [{}]; print("%.1f s" % n[0]["seconds"] if "seconds" in n[0] else "none")' "$1" 2>/dev/null || echo "none"; }
echo "# the numerics suite's cost on our CI machine (Linux x86_64, 2 shared cores), $(date -u '+%F %H:%M') UTC"
for env in torch tf torch-current tf-current mlx; do
  for i in 1 2; do
    for mode in quick off; do
      json="$out/verify-$env-$mode-$i.json"
      echo "\$ uptime"; uptime
      /usr/bin/time -o /tmp/numerics-cost.time -f "%e %U %S %M" nox -R -s "verify(env='$env')" -- --numerics "$mode" --json "$PWD/$json" >/tmp/numerics-cost.out 2>&1
      rc=$?
      read -r wall user sys rss < <(tail -1 /tmp/numerics-cost.time)
      suite=$([ "$mode" = quick ] && seconds "$json" || echo "off")
      printf '%s %s run %s: %s s wall, %.1f s CPU, %d MiB peak, suite %s, exit %s\n' \
        "$env" "$mode" "$i" "$wall" "$(echo "$user + $sys" | bc)" "$((rss / 1024))" "$suite" "$rc"
      [ "$mode" = off ] && rm -f "$json"
    done
  done
done
json="$out/verify-torch-full-cpu.json"
echo "\$ uptime"; uptime
echo "\$ python -m checks.verify --framework torch --no-extra --no-distributed --numerics full --json $json"
PYTHONPATH=$PWD /usr/bin/time -o /tmp/numerics-cost.time -f "%e %U %S %M" .nox/env-torch/bin/python -m checks.verify \
  --framework torch --no-extra --no-distributed --numerics full --json "$json" >/tmp/numerics-cost.out 2>&1
rc=$?
read -r wall user sys rss < <(tail -1 /tmp/numerics-cost.time)
printf 'torch full cpu: %s s wall, %d MiB peak, suite %s, exit %s\n' "$wall" "$((rss / 1024))" "$(seconds "$json")" "$rc"
grep -E "^PASS|^FAIL|numerics" /tmp/numerics-cost.out | head -5
