#!/usr/bin/env bash
# The embedded default: with nothing to download, train a tiny Oryx-GDN model on the
# built-in synthetic corpus (English-like prose plus key-value recall blocks, byte
# tokenizer), evaluate it per mode, and generate from it under a mixed schedule. A few
# minutes on 2 CPU cores. Everything lands in runs/out/demo (the run folder is replaced).
#   ORYX_DEMO_TOKENS   token budget (default 2.1M)
#   ORYX_DEVICE        cpu, cuda or auto (default auto)
set -euo pipefail
cd "$(dirname "$0")/.."
oryx=${ORYX_BIN:-build/oryx}
out=runs/out/demo
tokens=${ORYX_DEMO_TOKENS:-2097152}
device=${ORYX_DEVICE:-auto}
[ -x "$oryx" ] || ./runs/setup.sh

echo "== 1. prepare: 4000 synthetic documents, byte tokenizer"
"$oryx" prepare --synthetic 4000 --synthetic-pairs 6 --out "$out/data" --overwrite

echo "== 2. train: oryx-gdn-tiny, chunked mixed-mode schedule (1/4 all-A, 1/4 all-L, 1/2 mixed)"
rm -rf "$out/run"
"$oryx" train --config configs/oryx-gdn-tiny.json --data "$out/data" --out "$out/run" \
  --tokens "$tokens" --batch-size 16 --seq-len 256 --lr 3e-3 --warmup-tokens 131072 \
  --schedule-chunk 16 --eval-windows 16 --log-every 8 --device "$device" --plot

echo "== 3. evaluate: validation loss per schedule (attention fraction from 0 to 1)"
"$oryx" eval --checkpoint "$out/run/final" --task ppl --data "$out/data" --seq-len 256 --device "$device" \
  --schedules "all-L;every:4:16;every:2:16;last:64;all-A"

echo "== 4. generate: a recall prompt, prose in mode L and the question in mode A"
prompt=$'facts:\nkomi: 41\nzadu: 7\nbilo: 66\nThe small cats follow a red river.\nrecall:\nzadu?'
"$oryx" generate --checkpoint "$out/run/final" --prompt "$prompt" --schedule last:8 \
  --max-new 24 --temperature 0 --device "$device"
echo "== done: metrics in $out/run/metrics.jsonl, loss curves in $out/run/loss.png"
