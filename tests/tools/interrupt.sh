#!/usr/bin/env bash
# SIGINT / SIGTERM during a long write leaves no file (temporary or final) in the output folder and exits
# non-zero. Usage: interrupt.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "dataset-fashion-mnist not installed"; exit 1; }
fails=0
for sig in INT TERM; do
  out=$(mktemp -d)
  "$bin" datasets import fashion-mnist --out "$out/fashion.h5" >/dev/null 2>&1 &
  pid=$!
  # The file is built in memory and written at the end (an unnamed O_TMPFILE until its rename): interrupt
  # while the import runs (it takes several seconds), once the process has its output open or 1 s passed.
  for _ in $(seq 1 20); do
    ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -- "-> $out/" && break
    sleep 0.05
  done
  kill -s "$sig" "$pid"
  wait "$pid"
  rc=$?
  left=$(ls -A "$out")
  if [[ $rc -eq 0 ]]; then echo "FAIL ($sig): exit 0 (the import finished before the signal?)"; fails=$((fails + 1)); fi
  if [[ -n "$left" ]]; then echo "FAIL ($sig): left behind: $left"; fails=$((fails + 1)); fi
  [[ $rc -ne 0 && -z "$left" ]] && echo "ok: SIG$sig -> exit $rc, output folder empty"
  rm -rf "$out"
done

# The report: `snnconv MODEL.onnx --out DIR` interrupted while its files are being written (the plot script
# runs with every output still in the staging folder `.rep.tmp-PID` beside DIR) leaves nothing: no DIR, no
# staging folder.
src=$(cd "$(dirname "$0")/../.." && pwd)
for sig in INT TERM; do
  out=$(mktemp -d)
  "$bin" "$src/examples/fashion_vit/fashion_vit_relu.onnx" --out "$out/rep" --samples 50 --quiet >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    compgen -G "$out/.rep.tmp-*/report.json" >/dev/null && break
    sleep 0.05
  done
  kill -s "$sig" "$pid"
  wait "$pid"
  rc=$?
  sleep 0.5  # a plot script still running would write now
  left=$(ls -A "$out" 2>/dev/null)
  if [[ $rc -eq 0 ]]; then echo "FAIL (report, $sig): exit 0 (finished before the signal?)"; fails=$((fails + 1)); fi
  if [[ -n "$left" ]]; then echo "FAIL (report, $sig): left behind: $left"; fails=$((fails + 1)); fi
  [[ $rc -ne 0 && -z "$left" ]] && echo "ok: report SIG$sig -> exit $rc, output folder empty"
  rm -rf "$out"
done
exit $fails
