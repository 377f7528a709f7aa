#!/usr/bin/env bash
# Incremental developer build: compiles the extension into build/dev and links it into
# python/fastconv/ so that `PYTHONPATH=python python -m pytest` uses it. Serialised with flock so
# that several shells can call it at once.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/fastconv_dev_build.lock
flock 9
PYBIND11_DIR=$(python -c "import pybind11; print(pybind11.get_cmake_dir())")
# ccache, where installed, shares object files between clones and git worktrees of the repository
# (paths under CCACHE_BASEDIR are hashed relative to it).
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f build/dev/build.ninja ]; then
  cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -Dpybind11_DIR="$PYBIND11_DIR" \
    -DFASTCONV_CUDA="${FASTCONV_CUDA:-OFF}" -DSKBUILD_PROJECT_VERSION=dev "${launcher[@]}" >/dev/null
fi
cmake --build build/dev -j2
so=$(ls build/dev/_C*.so)
cp "$so" "python/fastconv/.$(basename "$so").tmp"
mv "python/fastconv/.$(basename "$so").tmp" "python/fastconv/$(basename "$so")"
