#!/usr/bin/env bash
# Configures and builds snnconv (Release) into build/, through ccache when it is installed
# (scripts/compiler-cache.sh; SNNCONV_NO_CCACHE=1 turns it off). Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/compiler-cache.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${compiler_cache[@]}" "$@" >/dev/null
cmake --build build -j"$(nproc)"
