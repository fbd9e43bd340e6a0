#!/usr/bin/env bash
# Times the whole training step of the 350m configs on a GPU machine (`oryx bench train`,
# B8 x T2048, bf16 autocast), each with one profiled step, and the Python peer (HF Llama
# 374M, ../shared/peers/bench_llama_stack.py, copied into .peers/) in the same run.
#   runs/gpu-train-bench.sh [model ...]      default: the five 350m configs
# Env: ORYX_SCHEDULES (extra fixed schedules for the Oryx models, default "every:10:64"),
#      ORYX_STEPS (timed steps, default 20), ORYX_PEER=0 to skip the peer.
# Binaries: .devbin/oryx (built here with -DORYX_CUDA=ON, carried with the sentencepiece
# libraries beside it), else build-dev/ is built. Results go to $OUT:
#   train.jsonl (one `bench train --json` record per line), profiles.jsonl (one profiled step
#   per line), peer.txt, log.txt.
set -uo pipefail
source "$(dirname "$0")/gpu-env.sh"
export ORYX_NO_PROGRESS=1
exec > >(tee -a "$out/log.txt") 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(transformer-350m gdn-350m mamba2-350m oryx-gdn-350m oryx-mamba2-350m)
steps=${ORYX_STEPS:-20}
bench() {  # config, schedule
  local tmp=$out/profile.tmp.json
  "$oryx" bench train --config "configs/$1.json" --device cuda --batch-size 8 --seq-len 2048 \
    --steps "$steps" --warmup 3 --schedule "$2" --json --profile "$tmp" >> "$out/train.jsonl" || return
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$tmp" >> "$out/profiles.jsonl"
  rm -f "$tmp"
  tail -1 "$out/train.jsonl" | python3 -c "import json, sys; r = json.loads(sys.stdin.read()); print('%18s %24s %8.1f ms %9.0f tok/s MFU %5.1f%% mem %6.1f GB' % (r['name'], r['schedule'][:24], r['step_ms'], r['tokens_per_s'], 100 * r['mfu'], r['peak_mem_gb']))"
}
for m in "${models[@]}"; do
  bench "$m" sampler
  case $m in oryx-*) for s in ${ORYX_SCHEDULES:-every:10:64}; do bench "$m" "$s"; done ;; esac
done
if [ "${ORYX_PEER:-1}" != 0 ] && [ -f .peers/bench_llama_stack.py ]; then
  # The peer's training half, and its peak memory (torch.cuda.max_memory_allocated).
  python3 - <<'PY' 2>&1 | grep -v Warning | tee "$out/peer.txt"
src = open(".peers/bench_llama_stack.py").read().split("# batch-1")[0]
exec(src)
import torch
print(f"hf_llama_peak_mem_gb={torch.cuda.max_memory_allocated() / 1e9:.2f}", flush=True)
PY
fi
