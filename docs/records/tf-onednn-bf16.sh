#!/usr/bin/env bash
# Whether TF's bfloat16 CPU kernels are oneDNN's on this machine (checks/frameworks/tensorflow/numerics.py,
# onednn_runs_bfloat16): the CPU, its AVX-512 flags, TF's own oneDNN switch in each TF environment (default,
# then forced on and off with TF_ENABLE_ONEDNN_OPTS), and the numerics suite's bfloat16 cases judged without
# the Eigen declarations (SUMS_IN_HALF_CPU_WITHOUT_ONEDNN_BF16 emptied), and those reported as known bugs
# (with what they raised). Run from the repository root after `nox -s verify` built the venvs:
#   docs/records/tf-onednn-bf16.sh > docs/records/tf-onednn-bf16.log
set -u
echo "# $(date -u '+%F %H:%M') UTC"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
flags=$(grep -o 'avx512[a-z0-9_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "avx512 flags: ${flags:-none}"
for env in tf tf-current; do
  py=$(ls -d .nox/env-"$env"{,+*}/bin/python 2>/dev/null | head -1)
  for opts in default 1 0; do
    if [ "$opts" = default ]; then set_opts=(); else set_opts=(TF_ENABLE_ONEDNN_OPTS="$opts"); fi
    env "${set_opts[@]}" PYTHONPATH=. "$py" - "$env" "$opts" 2>/dev/null <<'PY'
import sys
import tensorflow as tf
from checks.core import numerics
from checks.frameworks.tensorflow import numerics as ops
on = ops.onednn_runs_bfloat16()
ops.SUMS_IN_HALF_CPU_WITHOUT_ONEDNN_BF16 = {}
cases = numerics.run(ops, ops.CPU)["cases"]
over = [f"{c['op']} {c['error'] / c['bound']:.2f}x" for c in cases if c["dtype"] == "bfloat16" and c["status"] == "FAILED"]
known = [f"{c['op']} ({c.get('raised') or 'wrong numbers'})" for c in cases if c["dtype"] == "bfloat16" and c["status"] == "known"]
y = tf.nn.conv2d(tf.ones([1, 8, 8, 2], tf.bfloat16), tf.ones([3, 3, 2, 4], tf.bfloat16), 1, "SAME")
known.append(f"tf.nn.conv2d of a 1x8x8x2 bfloat16 input gives shape {tuple(y.shape)} {y.dtype.name}")
print(f"{sys.argv[1]} (TF {tf.__version__}), TF_ENABLE_ONEDNN_OPTS={sys.argv[2]}: oneDNN runs bfloat16: {on}; "
      f"over the float32-accumulation bound without the Eigen declarations: {', '.join(over) or 'none'}; "
      f"known bugs: {'; '.join(known) or 'none'}")
PY
  done
done
