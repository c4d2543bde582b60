#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, own build dir) and runs one of them.
# Usage: tools/fuzz/run.sh NAME SECONDS [extra libFuzzer flags...]
#   NAME: onnx | h5 | h5_layout | profile | idx | snn_model | metrics   (docs/reliability.md)
# Seeds come from the repository's real files; the working corpus grows in build-fuzz/corpus/NAME and
# crashing inputs land in build-fuzz/artifacts/NAME/. A crash becomes a regression input: copy it to
# tests/data/fuzz/NAME/ (replayed by the ctest test fuzz_regressions), then fix the bug.
# Environment: BUILD_DIR (default build-fuzz); FORK=1 for fork mode (goes on past crashes; see below).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
name=${1:?usage: tools/fuzz/run.sh NAME SECONDS}
seconds=${2:?usage: tools/fuzz/run.sh NAME SECONDS}
shift 2
build=${BUILD_DIR:-build-fuzz}
case "$name" in
  onnx | h5 | h5_layout | profile | idx | snn_model | metrics) ;;
  *) echo "unknown harness '$name' (onnx, h5, h5_layout, profile, idx, snn_model, metrics)" >&2; exit 2 ;;
esac

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DSNNCONV_FUZZ=ON -DSNNCONV_TESTS=OFF "${launcher[@]}" >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target "fuzz_$name"

seeds="$build/seeds/$name"
rm -rf "$seeds"
mkdir -p "$seeds" "$build/corpus/$name" "$build/artifacts/$name"
case "$name" in
  onnx)  # every example and test model up to 1 MB, and ONNX's node test models
    find examples tests/data -name '*.onnx' -size -1024k | while read -r f; do
      cp "$f" "$seeds/$(echo "${f%.onnx}" | tr '/' '_').onnx"
    done ;;
  h5) cp examples/data/*.h5 "$seeds/" ;;
  h5_layout)  # choice bytes, not files: a few fixed patterns (the builder reads zeros past the end)
    for b in 07 09 19 63 ff; do head -c 512 /dev/zero | tr '\0' "\\$(printf '%03o' 0x$b)" > "$seeds/fill_$b"; done
    /usr/bin/python3 -c "import random,sys; r=random.Random(1); [open(sys.argv[1]+f'/random_{i}','wb').write(bytes(r.randrange(256) for _ in range(1024))) for i in range(4)]" "$seeds" ;;
  profile) cp neuromorphic_hw/profiles/*.json "$seeds/" ;;
  idx) /usr/bin/python3 tools/fuzz/make_idx_seeds.py "$seeds" >/dev/null ;;
  metrics)  # choice bytes: a few fixed patterns and random bytes (the reader reads zeros past the end)
    for b in 00 02 07 40 ff; do head -c 256 /dev/zero | tr '\0' "\\$(printf '%03o' 0x$b)" > "$seeds/fill_$b"; done
    /usr/bin/python3 -c "import random,sys; r=random.Random(2); [open(sys.argv[1]+f'/random_{i}','wb').write(bytes(r.randrange(256) for _ in range(600))) for i in range(6)]" "$seeds" ;;
  snn_model)  # a real model file from the regular build (scripts/build.sh) as the seed
    build/tools/snnconv convert examples/medical_tab/medical_tab.onnx --act-bits 2 --calib 4 --out "$seeds/medical_a2.snn.h5" >/dev/null ;;
esac
if [[ -d "tests/data/fuzz/$name" ]]; then  # past findings stay in the corpus
  find "tests/data/fuzz/$name" -type f ! -name README.md -exec cp {} "$seeds/" \;
fi

workdir="$build/run-$name"
mkdir -p "$workdir"
cd "$workdir"
rm -f fuzz-*.log fork.log
touch .started  # artifacts newer than this are this run's
echo "fuzz_$name: ${seconds}s, seeds: $(ls "$root/$seeds" | wc -l) files in $seeds"
# FORK=1: libFuzzer's fork mode going on past crashes, OOMs and timeouts (each one still lands in
# artifacts/): for a target whose library crashes faster than the fuzzer gets anywhere (raw h5, libhdf5).
mode=(-jobs=1 -workers=1)
[[ "${FORK:-0}" == 1 ]] && mode=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
set +e
if [[ "${FORK:-0}" == 1 ]]; then exec 3>fork.log; else exec 3>/dev/null; fi
# The HDF5 probe (docs/reliability.md) kills libhdf5 after 3 s instead of 10: below libFuzzer's 10 s
# slow-unit report and its 30 s timeout, and hanging inputs cost less fuzzing time.
SNNCONV_HDF5_PROBE_SECONDS=${SNNCONV_HDF5_PROBE_SECONDS:-3} \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "$root/$build/tools/fuzz/fuzz_$name" "${mode[@]}" -max_total_time="$seconds" -timeout=30 \
  -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$root/$build/artifacts/$name/" "$@" \
  "$root/$build/corpus/$name" "$root/$seeds" >&3 2>&1
rc=$?
exec 3>&-
set -e
if [[ "${FORK:-0}" == 1 ]]; then
  grep -E '^#[0-9]+:' fork.log | tail -1
  runs=$(grep -oE '^#[0-9]+:' fork.log | tail -1 | tr -dc 0-9)
  echo "fuzz_$name (fork mode): ${runs:-0} executions in ${seconds}s = $(( ${runs:-0} / seconds )) exec/s;" \
       "$(find "$root/$build/artifacts/$name" -type f -newer .started | wc -l) new artifacts (tools/fuzz/triage.sh $name)"
  exit 0
fi
log=$(ls -t fuzz-*.log 2>/dev/null | head -1)
tail -n 25 "$log"
runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' || true)
if [[ -n "$runs" && -n "$secs" && "$secs" -gt 0 ]]; then
  echo "fuzz_$name: $runs executions in ${secs}s = $((runs / secs)) exec/s"
fi
artifacts=$(find "$root/$build/artifacts/$name" -type f -newer .started | wc -l)
if grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: ' "$log" || [[ $artifacts -gt 0 ]]; then
  echo "fuzz_$name: FINDINGS ($artifacts new artifacts in $build/artifacts/$name; log $workdir/$log)"
  exit 1
fi
echo "fuzz_$name: no crash, leak or sanitizer report (exit $rc)"
