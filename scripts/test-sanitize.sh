#!/usr/bin/env bash
# The sanitizer pass of CI (docs/reliability.md, "Sanitizer build"): configures build-asan with
# -DSNNCONV_SANITIZE=ON (ASan + UBSan, -O1 -g), builds only the fast test executables of core, datasets,
# neuromorphic_hw and converter plus the fuzz regression replay, and runs their `unit` tests. Any
# sanitizer report fails the test that caused it (UBSan does not recover; LeakSanitizer is on).
# Extra arguments go to cmake's configure step. SANITIZE_EXTRA_TARGETS="test_ann_baseline ..." adds test
# executables (CI leaves it empty to stay within its time budget; docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
targets=(test_core test_datasets test_neuromorphic_hw test_converter fuzz_replay ${SANITIZE_EXTRA_TARGETS:-})
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DSNNCONV_SANITIZE=ON "$@" >/dev/null
cmake --build build-asan -j"$(nproc)" --target "${targets[@]}"
built=$(date +%s)
cd build-asan
# Only the built executables' unit tests: not the placeholders of unbuilt ones, nor the tests that need the
# snnconv executable or python (they do not exercise sanitized code).
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  ctest -L unit -E '_NOT_BUILT|^cli_errors$|^layers$|^layers_detects_bad_edges$' --output-on-failure \
  -j"$(nproc)" --timeout 900
echo "sanitizer pass: build $((built - started)) s, tests $(($(date +%s) - built)) s"
