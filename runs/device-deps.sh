#!/usr/bin/env bash
# Packs the Debian-packaged C++ dependencies (headers and libraries) into .deps/ so that the
# GPU machines, which cannot install packages, can build the project: name .deps in the
# device tool's `carry` and configure with -DCMAKE_PREFIX_PATH="$torch_prefix;$PWD/.deps".
set -euo pipefail
cd "$(dirname "$0")/.."
out=.deps
rm -rf "$out" && mkdir -p "$out/include" "$out/lib" "$out/share/cmake"
arch_lib=/usr/lib/x86_64-linux-gnu
cp -r /usr/include/nlohmann /usr/include/CLI /usr/include/toml++ /usr/include/gtest "$out/include/"
cp /usr/include/sentencepiece_processor.h /usr/include/sentencepiece_trainer.h \
   /usr/include/zstd.h /usr/include/zstd_errors.h /usr/include/zdict.h \
   /usr/include/zlib.h /usr/include/zconf.h "$out/include/"
cp -a "$arch_lib"/libsentencepiece.so* "$arch_lib"/libsentencepiece_train.so* "$out/lib/"
cp "$arch_lib/libzstd.a" "$arch_lib/libz.a" "$out/lib/"
# GoogleTest's CMake package locates itself four folders up, as in Debian's layout.
mkdir -p "$out/lib/x86_64-linux-gnu/cmake"
cp "$arch_lib"/libgtest*.a "$arch_lib"/libgmock*.a "$out/lib/x86_64-linux-gnu/"
cp -r "$arch_lib/cmake/GTest" "$out/lib/x86_64-linux-gnu/cmake/"
cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$out/share/cmake/"
mkdir -p .git/info; grep -qx '/.deps/' .git/info/exclude 2>/dev/null || echo '/.deps/' >> .git/info/exclude
du -sh "$out"
