#!/usr/bin/env bash
# The same short training run twice on a GPU machine, through the fast paths and with
# ORYX_FORCE_REFERENCE=1 (every fused kernel off: the reference path), to compare loss curves
# (the numerics check of docs/perf.md). Needs a dataset folder (default .gpudata/c16k, made
# here by `oryx prepare` and carried) and .devbin/oryx as runs/gpu-train-bench.sh does.
#   runs/gpu-train-ab.sh [config] [steps] [batch] [seq_len]
# Writes $OUT/ab-fast.jsonl and $OUT/ab-reference.jsonl (metrics.jsonl of each run).
set -uo pipefail
source "$(dirname "$0")/gpu-env.sh"
export ORYX_NO_PROGRESS=1
oryx=${ORYX_BIN:-$oryx}
config=${1:-oryx-gdn-125m} steps=${2:-300} batch=${3:-8} seq=${4:-1024}
data=${ORYX_DATA:-.gpudata/c16k}
for path in fast reference; do
  run=/tmp/oryx-ab-$path
  rm -rf "$run"
  t0=$(date +%s)
  if [ $path = reference ]; then export ORYX_FORCE_REFERENCE=1; else unset ORYX_FORCE_REFERENCE; fi
  "$oryx" train --config "configs/$config.json" --data "$data" --out "$run" --device cuda \
    --tokens $(( steps * batch * seq )) --batch-size "$batch" --seq-len "$seq" --lr 6e-4 \
    --warmup-tokens $(( 30 * batch * seq )) --log-every 10 --eval-every 100 --eval-windows 16 \
    > "$out/ab-$path.log" 2>&1
  echo "$path: exit $?, $(( $(date +%s) - t0 )) s"
  cp "$run/metrics.jsonl" "$out/ab-$path.jsonl"
done
unset ORYX_FORCE_REFERENCE
python3 - "$out/ab-fast.jsonl" "$out/ab-reference.jsonl" <<'PY'
import json, sys
def curve(p):
    return {r["step"]: r["loss"] for r in map(json.loads, open(p)) if r["kind"] == "train"}
a, b = curve(sys.argv[1]), curve(sys.argv[2])
steps = sorted(set(a) & set(b))
gap = max(abs(a[s] - b[s]) for s in steps)
worst = max(steps, key=lambda s: abs(a[s] - b[s]))
print(f"{len(steps)} logged steps; final loss fast {a[steps[-1]]:.4f} reference {b[steps[-1]]:.4f}; "
      f"largest gap {gap:.4f} at step {worst}")
PY
