#!/usr/bin/env bash
# Our kernels as torch operators on a Hopper GPU machine: python/tests/test_ops.py (the CUDA
# kernels through the operators against the package's fp32 reference, opcheck, torch.compile,
# OryxForCausalLM's kernel path), then python/benchmarks/bench_ops.py beside fla (same process).
#   runs/gpu-torch-ops.sh          (logs and torch-ops-h200.json under $OUT)
# Needs liboryx_ops.so in .devbin/ (built here with -DORYX_CUDA=ON) and fla's Python sources in
# .peers/ (../shared/peers/README.md); ORYX_COMMIT names the code in the JSON.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/oryx-gpu-out}
mkdir -p "$out"
export ORYX_OPS_LIBRARY=$PWD/.devbin/liboryx_ops.so PYTHONPATH="$PWD/python:$PWD/.peers"
python3 python/tests/test_ops.py 2>&1 | tee "$out/test_ops.log"
rc=${PIPESTATUS[0]}
if [ "$rc" = 0 ]; then
  python3 python/benchmarks/bench_ops.py --json "$out/torch-ops-h200.json" 2>&1 | tee "$out/bench_ops.txt"
fi
exit $rc
