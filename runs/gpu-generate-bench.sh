#!/usr/bin/env bash
# Times generation on a GPU machine (`oryx bench generate --json`: prefill and decode through
# generate(), greedy, random prompts, bf16, cache bytes and peak memory) for the 350m configs
# at batch 1, 16, 64 and contexts 1024, 8192, 32768, and the Python peer's generate half
# (HF Llama 374M, ../shared/peers/bench_llama_stack.py, copied into .peers/) in the same run.
#   runs/gpu-generate-bench.sh [model ...]   default: oryx-gdn-350m oryx-mamba2-350m transformer-350m
# Env (to shrink a run): ORYX_BATCH_SIZES (default 1,16,64), ORYX_CONTEXTS (1024,8192,32768),
#      ORYX_NEW_TOKENS (128), ORYX_WARMUP (1), ORYX_SCHEDULES (Oryx models, ';'-separated,
#      default "all-L;all-A;last:64,gen=L"; single-mode models run their own), ORYX_PEER=0 to
#      skip the peer, ORYX_PROFILE=1 to profile one prefill per schedule (the first batch size
#      and context) into prefill-<model>.json.
# Binaries: .devbin/oryx (built here with -DORYX_CUDA=ON, carried with the sentencepiece
# libraries beside it), else build-dev/ is built. Results go to $OUT:
#   generate.jsonl (one `bench generate --json` object per model, per line), peer.txt, log.txt.
set -uo pipefail
source "$(dirname "$0")/gpu-env.sh"
exec > >(tee -a "$out/log.txt") 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(oryx-gdn-350m oryx-mamba2-350m transformer-350m)
bench() {  # config
  local schedules=()
  case $1 in oryx-*) schedules=(--schedules "${ORYX_SCHEDULES:-all-L;all-A;last:64,gen=L}") ;; esac
  local tmp=$out/generate.tmp.json profile=()
  [ "${ORYX_PROFILE:-0}" = 1 ] && profile=(--profile "$out/prefill-$1.json")
  "$oryx" bench generate --config "configs/$1.json" --device cuda --precision bf16 \
    --batch-sizes "${ORYX_BATCH_SIZES:-1,16,64}" --contexts "${ORYX_CONTEXTS:-1024,8192,32768}" \
    --new-tokens "${ORYX_NEW_TOKENS:-128}" --warmup "${ORYX_WARMUP:-1}" "${schedules[@]}" "${profile[@]}" --json > "$tmp" || return
  python3 - "$tmp" >> "$out/generate.jsonl" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(json.dumps(j))
for r in j["rows"]:
    head = "%18s %16s B%-3d T%-6d" % (r["model"], r["schedule"][:16], r["batch"], r["context"])
    if r["out_of_memory"]:
        print(head, "out of memory", file=sys.stderr)
    else:
        peak = "-" if r["peak_mem_gb"] is None else "%.1f" % r["peak_mem_gb"]
        print(head, "prefill %9.1f ms %9.0f tok/s  decode %7.3f ms/step %8.0f tok/s (graph set-up %.0f ms)  cache %6.2f GB  peak %s GB" % (
            r["prefill_ms"], r["prefill_tokens_per_s"], r["decode_ms_per_token"], r["decode_tokens_per_s"], r["decode_setup_ms"],
            r["cache_bytes"] / 1e9, peak), file=sys.stderr)
PY
  rm -f "$tmp"
}
for m in "${models[@]}"; do bench "$m"; done
if [ "${ORYX_PROFILE:-0}" = 1 ]; then
  python3 - "$out"/prefill-*.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    for c in json.load(open(path)):
        p = c["prefill_profile"]
        groups = ", ".join("%s %.2f" % (g, ms) for g, ms in sorted(p["by_group_ms"].items(), key=lambda x: -x[1]))
        print("prefill profile %s %s B%d T%d: %.2f ms wall (profiled), %.2f ms of kernels in %d launches: %s" % (
            c["model"], c["schedule"], c["batch"], c["context"], p["step_ms"], p["kernel_ms"], p["kernels"], groups))
PY
fi
if [ "${ORYX_PEER:-1}" != 0 ] && [ -f .peers/bench_llama_stack.py ]; then
  # The peer's generate half (batch 1, its 1792-token prompt, 256 new tokens, bf16 autocast):
  # its model and settings, not its training steps; and its peak memory over the generate.
  python3 - <<'PY' 2>&1 | grep -v Warning | tee "$out/peer.txt"
src = open(".peers/bench_llama_stack.py").read()
setup, generate_half = src.split("def step():")[0], "# batch-1" + src.split("# batch-1")[1]
exec(setup)
import torch
torch.cuda.reset_peak_memory_stats()
exec(generate_half)
print(f"hf_llama_generate_peak_mem_gb={torch.cuda.max_memory_allocated() / 1e9:.2f}", flush=True)
PY
fi
