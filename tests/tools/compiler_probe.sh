#!/usr/bin/env bash
# The constant-vector probe (cmake/probe_constant_vectors.cpp) catches g++ 12.2's AVX-512 miscompile: built with
# -O2 -march=x86-64-v4 it must report the wrong answer (exit 3) with that compiler on an AVX-512 CPU, and built
# with the project's flags (baseline and AVX-512 kernel files) the right one. ctest's skip code 77 on CPUs
# without AVX-512, where the miscompiled code cannot run. Usage: compiler_probe.sh CXX SOURCE_DIR
set -uo pipefail
cxx=$1 src=$2/cmake/probe_constant_vectors.cpp
grep -q avx512f /proc/cpuinfo || { echo "no AVX-512 on this CPU: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run() { "$cxx" -O2 "$@" "$src" -o "$tmp/p" || exit 1; "$tmp/p"; echo $?; }
fail=0
base=$(run -march=x86-64-v3)
kern=$(run -march=x86-64-v3 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -fno-tree-slp-vectorize)
v4=$(run -march=x86-64-v4)
echo "probe: baseline x86-64-v3 -> $base, AVX-512 kernel flags -> $kern, -march=x86-64-v4 -> $v4 (0 right, 3 miscompiled)"
[[ $base == 0 ]] || { echo "FAIL: the baseline build miscompiles"; fail=1; }
[[ $kern == 0 ]] || { echo "FAIL: the AVX-512 kernel flags miscompile"; fail=1; }
if [[ $("$cxx" -dumpfullversion) == 12.2.* ]]; then
  [[ $v4 == 3 ]] || { echo "FAIL: g++ 12.2 at x86-64-v4 should miscompile the probe; the probe no longer sees it"; fail=1; }
fi
exit $fail
