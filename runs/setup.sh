#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine and builds it.
#   Debian packages: compilers, CMake/Ninja and the C++ libraries (sentencepiece, zstd, zlib,
#                    nlohmann-json, CLI11, toml++, GoogleTest, gloo's headers for torch's
#                    Gloo process group), gnuplot for plots.
#   PyPI:            torch==2.11.0, which ships libtorch (the same version as on the GPU machines);
#                    transformers, safetensors, sentencepiece and lm_eval for the Python
#                    package's tests.
# Builds into build/ (or $ORYX_BUILD_DIR). CUDA kernels are built when nvcc is on the PATH or
# in /usr/local/cuda (ORYX_CUDA=ON|OFF overrides). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ORYX_BUILD_DIR:-build}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(build-essential cmake ninja-build pkg-config python3 python3-pip zstd
          libsentencepiece-dev libzstd-dev zlib1g-dev nlohmann-json3-dev libcli11-dev
          libtomlplusplus-dev libgtest-dev gnuplot-nox libgloo-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.11.0') else 1)" 2>/dev/null; then
  echo "setup: installing torch==2.11.0 from PyPI"
  # Debian's own python refuses global pip installs (PEP 668); a pyenv or venv python does not.
  python3 -m pip install -q torch==2.11.0 2>/dev/null ||
    python3 -m pip install -q --break-system-packages torch==2.11.0
fi
# The Python package's tests (python/tests): transformers and safetensors load checkpoints and
# exports, sentencepiece their SentencePiece tokenizers, lm_eval (with accelerate, which its
# Hugging Face model needs) runs the harness on them.
if ! python3 -c "import transformers, safetensors, sentencepiece, lm_eval, accelerate" 2>/dev/null; then
  echo "setup: installing transformers, safetensors, sentencepiece, lm_eval and accelerate from PyPI"
  python3 -m pip install -q transformers safetensors sentencepiece lm_eval accelerate 2>/dev/null ||
    python3 -m pip install -q --break-system-packages transformers safetensors sentencepiece lm_eval accelerate
fi
torch_prefix=$(python3 -c "import torch; print(torch.utils.cmake_prefix_path)" 2>/dev/null)

cuda=${ORYX_CUDA:-}
if [ -z "$cuda" ]; then
  if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then cuda=ON; else cuda=OFF; fi
fi
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DORYX_CUDA="$cuda" \
      -DCMAKE_PREFIX_PATH="$torch_prefix" >/dev/null
echo "setup: building in $build_dir (CUDA kernels: $cuda)"
cmake --build "$build_dir" -j "$(nproc)"
