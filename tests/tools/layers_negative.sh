#!/usr/bin/env bash
# Proves the layer check fails on a real bad edge: a core source including a converter header, and a
# datasets CMakeLists linking snn_core, in a scratch copy of the layer rules.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/docs" "$tmp/core/src" "$tmp/datasets"
cp "$src/docs/architecture.md" "$tmp/docs/"
printf '#include "snnconv/converter/onnx_import.hpp"\n' > "$tmp/core/src/bad.cpp"
printf 'snnconv_library(datasets PUBLIC_DEPS snnconv_core snnconv_snn_core)\n' > "$tmp/datasets/CMakeLists.txt"
set +e
out=$(/usr/bin/python3 "$src/tools/check_layers.py" "$tmp" 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || { echo "expected exit 1, got $rc"; exit 1; }
grep -q 'core/src/bad.cpp:1 includes snnconv/converter/' <<<"$out" || { echo "include edge not reported"; exit 1; }
grep -q 'datasets/CMakeLists.txt links snnconv_snn_core' <<<"$out" || { echo "link edge not reported"; exit 1; }
# And a clean copy passes.
rm "$tmp/core/src/bad.cpp"
printf 'snnconv_library(datasets PUBLIC_DEPS snnconv_core)\n' > "$tmp/datasets/CMakeLists.txt"
/usr/bin/python3 "$src/tools/check_layers.py" "$tmp"
echo "layer check detects bad edges: ok"
