#!/usr/bin/env bash
# Device check of the core and training issues, for the GPU machines (device tool):
#   1. builds the project there (dependencies carried in .deps: runs/device-deps.sh);
#   2. runs the reference path on CUDA: the contract tests of the CPU suite on CUDA tensors,
#      and the validation loss of one tiny model on CUDA against the CPU (same weights);
#   3. trains each 125M config briefly on the corpus subset in .gpudata (bf16 autocast)
#      and reports tokens/s and the loss reached.
# Logs and metrics go to $OUT. Usage (device tool, carry [".deps", ".gpudata"]):
#   ORYX_CUDA=OFF ORYX_STEPS=60 runs/gpu-core.sh
set -uo pipefail
out=${OUT:-/tmp/oryx-gpu}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/.deps/lib:${LD_LIBRARY_PATH:-}" ORYX_NO_PROGRESS=1
prefix="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)');$PWD/.deps"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
t0=$(date +%s)
cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DORYX_CUDA="${ORYX_CUDA:-OFF}" -DCMAKE_PREFIX_PATH="$prefix" > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
ninja -C build-dev -j16 oryx oryx_tests > "$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
oryx=build-dev/oryx
data=.gpudata/corpus16k

echo "== reference path on CUDA: the CPU suite's contract tests with ORYX_TEST_DEVICE=cuda"
ORYX_TEST_DEVICE=cuda build-dev/tests/oryx_tests --gtest_brief=1 \
  --gtest_filter='Contract1*:Contract2*:ModeSelection*:ModelForms*:TrainAdamW*' > "$out/contracts-cuda.log" 2>&1
echo "  contract tests on cuda: exit $? ($(grep -E '^\[  PASSED|^\[  FAILED' "$out/contracts-cuda.log" | tr '\n' ' '))"
echo "== the same tiny model on CPU and CUDA (fp32): validation loss per schedule"
$oryx prepare --synthetic 300 --out build-dev/synthetic --overwrite > /dev/null 2>&1
for cfg in configs/oryx-gdn-tiny.json configs/oryx-mamba2-tiny.json; do
  for dev in cpu cuda; do
    $oryx eval --config $cfg --task ppl --data build-dev/synthetic --max-examples 8 --seq-len 512 --device $dev \
      --schedules "all-A;all-L;every:2:16" --json > "$out/ppl-$dev.json" 2>/dev/null
  done
  python3 - "$out/ppl-cpu.json" "$out/ppl-cuda.json" "$cfg" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
rows = lambda j: j["rows"] if isinstance(j, dict) and "rows" in j else j
for ra, rb in zip(rows(a), rows(b)):
    la, lb = ra["loss"], rb["loss"]
    print(f"  ppl {sys.argv[3].split('/')[-1]:>22} {ra['schedule']:>11}: cpu {la:.6f} cuda {lb:.6f} rel.diff {abs(la-lb)/la:.2e}")
PY
done

echo "== 125M configs, short bf16 runs on $data"
steps=${ORYX_STEPS:-60}
for name in ${ORYX_MODELS:-oryx-gdn-125m oryx-mamba2-125m transformer-125m gdn-125m mamba2-125m}; do
  rm -rf "build-dev/run-$name"
  t1=$(date +%s)
  $oryx train --config configs/$name.json --data $data --out "build-dev/run-$name" --device cuda \
    --tokens $(( steps * 8 * 2048 )) --batch-size 8 --seq-len 2048 --lr 6e-4 --warmup-tokens 327680 \
    --eval-every $steps --eval-windows 16 --log-every 10 --json > "$out/train-$name.json" 2> "$out/train-$name.err"
  rc=$?
  cp "build-dev/run-$name/metrics.jsonl" "$out/metrics-$name.jsonl" 2>/dev/null
  python3 - "$out/metrics-$name.jsonl" "$name" "$rc" "$(( $(date +%s) - t1 ))" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])] if sys.argv[3] == "0" else []
tr = [r for r in recs if r["kind"] == "train"]
ev = [r for r in recs if r["kind"] == "eval"]
if not tr:
    print(f"  {sys.argv[2]}: FAILED (rc {sys.argv[3]})"); sys.exit()
tps = sorted(r["tokens_per_s"] for r in tr[1:]) or [0]
e = ev[-1]["eval"] if ev else {}
f = lambda x: "nan" if x is None else f"{x:.3f}"
print(f"  {sys.argv[2]:>17}: {tr[-1]['tokens']/1e6:.2f}M tokens in {sys.argv[4]} s, median {tps[len(tps)//2]/1e3:.1f}k tok/s, "
      f"train loss {f(tr[0]['loss'])} -> {f(tr[-1]['loss'])}; val " + ", ".join(f"{k} {f(v['loss'])}" for k, v in e.items()))
PY
  tail -2 "$out/train-$name.err" | grep -i error
done
