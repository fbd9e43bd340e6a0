#!/usr/bin/env bash
# The test command of the README (and of CI): set up, build, run the CPU test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./runs/setup.sh
build_dir=${ORYX_BUILD_DIR:-build}
# One torch thread per test process: ctest runs one process per core.
OMP_NUM_THREADS=1 ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure --timeout 900
