#!/usr/bin/env bash
# Runs a study plan on a GPU machine (device tool) and copies its results, without the
# checkpoints, to $OUT. Uses the prebuilt `oryx` in .devbin/ when present (built here with
# -DORYX_CUDA=ON: runs/setup.sh, then `cp build/oryx .devbin/`), else builds it.
#   runs/gpu-study.sh runs/study-125m.toml [seconds]
# The study gets `seconds` (default 540) and is then stopped with SIGTERM: training jobs
# save a checkpoint, the report is rewritten from what finished, and a later call resumes.
set -uo pipefail
cd "$(dirname "$0")/.."
plan=${1:?usage: runs/gpu-study.sh PLAN [seconds]}
seconds=${2:-540}
out=${OUT:-/tmp/oryx-study-out}
mkdir -p "$out"
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH="$torch_dir/lib:$PWD/.deps/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader | tee "$out/gpus.txt"
if [ -x .devbin/oryx ]; then
  oryx=.devbin/oryx
else
  prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)');$PWD/.deps"
  cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DORYX_CUDA=ON -DCMAKE_PREFIX_PATH="$prefix" \
    > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  ninja -C build-dev -j"$(nproc)" oryx > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  oryx=build-dev/oryx
fi
results=$(python3 -c "import tomllib,sys; print(tomllib.load(open(sys.argv[1],'rb'))['out'])" "$plan")
t0=$(date +%s)
timeout -s TERM -k 60 "$seconds" "$oryx" study --plan "$plan" 2>&1 | tr '\r' '\n' | grep -v "^study \[" | tee "$out/study.log"
echo "study: exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s"
"$oryx" study --plan "$plan" --report-only > /dev/null 2>&1
# Everything but the checkpoints, as one archive (the device tool returns few files);
# `oryx study --plan PLAN --out DIR --report-only` redraws the plots where gnuplot exists.
name=$(basename "$plan" .toml)
(cd "$results" && find . -path '*/ckpt' -prune -o -path '*/final' -prune -o -type f -print |
  tar -czf "$out/$name.tar.gz" -T -)
cat "$results/results.md"
