#!/usr/bin/env bash
# Times a cold `oryx generate` on a GPU machine: process start to exit for one new token of a
# 350m model, from a checkpoint (weights read from the file, no random draws) and from a config
# (random weights), three runs each, with the phases `oryx generate --json` reports (timings_ms).
#   runs/gpu-cold-start.sh [config]     default oryx-gdn-350m
# Needs .gpudata/c16k (a prepared dataset) for the one-step training run that makes the
# checkpoint. Results: $OUT/cold-start.txt.
set -uo pipefail
source "$(dirname "$0")/gpu-env.sh"
export ORYX_NO_PROGRESS=1
cfg=${1:-oryx-gdn-350m}
ck=/tmp/oryx-cold-ck
rm -rf "$ck"
"$oryx" train --config "configs/$cfg.json" --data .gpudata/c16k --out "$ck" --tokens 2048 --seq-len 2048 \
  --batch-size 1 --device cuda --eval-windows 1 > /dev/null 2> "$out/cold-train.log" || { tail -5 "$out/cold-train.log"; exit 1; }
cat /dev/null > "$out/cold-start.txt"
for src in "--checkpoint $ck/final" "--config configs/$cfg.json"; do
  for i in 1 2 3; do
    start=$(date +%s.%N)
    json=$("$oryx" generate $src --tokens 1,2,3,4,5,6,7,8 --max-new 1 --temperature 0 --device cuda --json 2>/dev/null)
    end=$(date +%s.%N)
    phases=$(echo "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); t=j["timings_ms"]
print("first token %.0f ms after start (libraries %.0f, model load %.0f, prefill %.1f)" % (
    t["first_token_since_process_start"], t["process_start_to_command"], t["model_load"], j["prefill_ms"]))')
    secs=$(python3 -c "print('%.2f' % ($end - $start))")
    printf '%-55s run %d: %s s to exit; %s\n' "$src" "$i" "$secs" "$phases" | tee -a "$out/cold-start.txt"
  done
done
