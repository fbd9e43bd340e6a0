#!/usr/bin/env bash
# Checks and times the linear-mixer CUDA kernels on a Hopper GPU machine.
#   runs/gpu-kernels.sh [test|bench|all|breakdown|all+breakdown|ncu] [bench --filter strings]
# Uses prebuilt binaries from .devbin/ when present (built elsewhere with -DORYX_CUDA=ON and
# copied there: the device tool carries them, saving the build), otherwise builds build-dev/.
# Logs go to $OUT (or /tmp/oryx-gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
shift || true
out=${OUT:-/tmp/oryx-gpu-out}
mkdir -p "$out"
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH="$torch_dir/lib:$PWD/.deps/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader

if [ -x .devbin/oryx_gpu_tests ] && [ -x .devbin/oryx ]; then
  bin=.devbin
else
  prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)');$PWD/.deps"
  cmake -S . -B build-dev -G Ninja -DORYX_CUDA=ON -DORYX_TESTS=ON -DCMAKE_PREFIX_PATH="$prefix" \
    > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  ninja -C build-dev -j16 oryx_gpu_tests oryx > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  mkdir -p build-dev/bin && cp build-dev/tests/gpu/oryx_gpu_tests build-dev/oryx build-dev/bin/
  bin=build-dev/bin
fi

rc=0
if [ "$mode" = test ] || [ "$mode" = all ] || [ "$mode" = all+breakdown ]; then
  "$bin/oryx_gpu_tests" 2>&1 | tee "$out/gpu_tests.log"
  rc=${PIPESTATUS[0]}
fi
if [ "$mode" = bench ] || [ "$mode" = all ] || [ "$mode" = all+breakdown ]; then
  "$bin/oryx" bench kernels 2>&1 | tee "$out/bench.txt"
fi
if [ "$mode" = breakdown ] || [ "$mode" = all+breakdown ]; then
  # Per-kernel device time of one forward+backward (or step) per selected row, via ncu.
  for f in "${@:-gdn fwd+bwd 8,2048}"; do
    echo "== $f"
    ncu --kernel-name regex:'fwd_|bwd_|step_' --launch-count 4 --metrics gpu__time_duration.sum \
        "$bin/oryx" bench kernels --repeats 50 --warmup 1 --filter "$f" 2>&1 \
      | grep -E "^  [a-z_]+.*\(|gpu__time_duration" | sed -E 's/\(int, int, int\)x\(int, int, int\).*//; s/oryx::kernels:://g'
  done 2>&1 | tee "$out/breakdown.txt"
fi
if [ "$mode" = ncu ]; then
  # One profile of each kernel of the rows selected by --filter (pass it after `ncu`).
  ncu --kernel-name regex:'fwd_|bwd_|step_' --launch-skip 0 --launch-count ${NCU_COUNT:-6} \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      --section ComputeWorkloadAnalysis --section WarpStateStats \
      "$bin/oryx" bench kernels --repeats 50 --warmup 1 "$@" > "$out/ncu.txt" 2>&1
  grep -E "^  [a-z_]+.*\(|Duration|Memory Throughput|Compute \(SM\) Throughput|DRAM Throughput|Registers Per|Achieved Occupancy|Executed Ipc A|Stall" "$out/ncu.txt" | head -120
fi
exit $rc
