# Sourced by the runs/gpu-*.sh scripts on a GPU machine: works from the repository root, makes
# $out (from $OUT, default /tmp/oryx-gpu-out), puts libtorch and the carried libraries on the
# library path, and sets $oryx: .devbin/oryx when it was carried (built elsewhere with
# -DORYX_CUDA=ON, the sentencepiece libraries beside it), else build-dev/ is built here.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-/tmp/oryx-gpu-out}
mkdir -p "$out"
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH="$torch_dir/lib:$PWD/.devbin:$PWD/.deps/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
if [ -x .devbin/oryx ]; then
  oryx=.devbin/oryx
else
  prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)');$PWD/.deps"
  cmake -S . -B build-dev -G Ninja -DORYX_CUDA=ON -DORYX_TESTS=OFF -DCMAKE_PREFIX_PATH="$prefix" > /dev/null || exit 1
  ninja -C build-dev -j16 oryx > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  oryx=build-dev/oryx
fi
