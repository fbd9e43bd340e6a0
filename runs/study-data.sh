#!/usr/bin/env bash
# Makes the data folder of the GPU runs (.gpudata, carried to the device machines; never
# committed) from a corpus in the format of ../shared/corpus (zstd text, documents separated
# by a 0x1E line) and OLMo in-loop task files:
#   .gpudata/corpus16k    the first ~52 MB of train text (about 12.4M tokens, small enough to
#                         carry) and the whole val split, with a 16k BPE tokenizer trained on it
#   .gpudata/val.txt.zst  the val text, as the NIAH haystack
#   .gpudata/olmo         the zero-shot task files
# Usage: runs/study-data.sh [CORPUS_DIR] [OLMO_DIR]   (defaults: ../shared/corpus, ../shared/eval/olmo)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/corpus}
olmo=${2:-../shared/eval/olmo}
oryx=${ORYX_BIN:-build/oryx}
bytes=${ORYX_STUDY_BYTES:-52000000}
mkdir -p .gpudata
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Cut at a document separator so that no document is truncated.
# (zstd stops with SIGPIPE when head has enough: not an error here)
{ zstd -dc "$corpus/train.txt.zst" || true; } | head -c "$bytes" > "$tmp/part.txt"
python3 - "$tmp/part.txt" <<'PY'
import sys
p = sys.argv[1]
data = open(p, 'rb').read()
cut = data.rfind(b'\n\x1e\n')
open(p, 'wb').write(data[:cut + 1] if cut > 0 else data)
PY
"$oryx" prepare "$tmp/part.txt" --val "$corpus/val.txt.zst" --train-tokenizer --vocab-size 16384 \
  --tokenizer-sample-bytes 20000000 --out .gpudata/corpus16k --overwrite
cp "$corpus/val.txt.zst" .gpudata/val.txt.zst
rm -rf .gpudata/olmo && mkdir -p .gpudata/olmo
(cd "$olmo" && find . -name '*.jsonl*' -o -name config.json | tar -cf - -T -) | tar -xf - -C .gpudata/olmo
du -sh .gpudata
