#!/usr/bin/env bash
# SIGINT / SIGTERM during a long write leaves no file (temporary or final) in the output folder and exits
# non-zero. Usage: interrupt.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "dataset-fashion-mnist not installed"; exit 1; }
fails=0
# A run that exits 0 finished before the signal reached it (the import takes 1-2 s on a fast machine and its
# output is written in its last milliseconds): that attempt says nothing and is made again, up to 5 times; a
# tool that exits 0 in spite of the signal therefore still fails. Whatever the exit code, nothing may be left.
for sig in INT TERM; do
  for attempt in 1 2 3 4 5; do
    out=$(mktemp -d)
    "$bin" datasets import fashion-mnist --out "$out/fashion.h5" >/dev/null 2>&1 &
    pid=$!
    # The file is built in memory and written at the end (an unnamed O_TMPFILE until its rename): interrupt
    # while the import runs, once the process has its output open or after a time that shortens each attempt
    # (the last attempts interrupt the import's reading, well before its end).
    polls=$((20 / attempt))
    for _ in $(seq 1 "$polls"); do
      ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -- "-> $out/" && break
      sleep 0.05
    done
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    left=$(ls -A "$out")
    rm -rf "$out"
    if [[ $rc -eq 0 ]]; then  # finished: its output is legitimately there
      if [[ $attempt -eq 5 ]]; then echo "FAIL ($sig): exit 0 in 5 attempts (the signal was ignored?)"; fails=$((fails + 1)); fi
      continue
    fi
    if [[ -n "$left" ]]; then echo "FAIL ($sig): left behind: $left"; fails=$((fails + 1)); break; fi
    echo "ok: SIG$sig -> exit $rc, output folder empty (attempt $attempt)"
    break
  done
done

# The report: `snnconv MODEL.onnx --out DIR` interrupted while its files are being written (the plot script
# runs with every output still in the staging folder `.rep.tmp-PID` beside DIR) leaves nothing: no DIR, no
# staging folder.
src=$(cd "$(dirname "$0")/../.." && pwd)
for sig in INT TERM; do
  for attempt in 1 2 3 4 5; do
    out=$(mktemp -d)
    "$bin" "$src/examples/fashion_vit/fashion_vit_relu.onnx" --out "$out/rep" --samples 50 --quiet >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
      compgen -G "$out/.rep.tmp-*/report.json" >/dev/null && break
      sleep 0.01
    done
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    sleep 0.5  # a plot script still running would write now
    left=$(ls -A "$out" 2>/dev/null)
    rm -rf "$out"
    if [[ $rc -eq 0 ]]; then  # finished before the signal reached it: made again, as above
      if [[ $attempt -eq 5 ]]; then echo "FAIL (report, $sig): exit 0 in 5 attempts (the signal was ignored?)"; fails=$((fails + 1)); fi
      continue
    fi
    if [[ -n "$left" ]]; then echo "FAIL (report, $sig): left behind: $left"; fails=$((fails + 1)); break; fi
    echo "ok: report SIG$sig -> exit $rc, output folder empty (attempt $attempt)"
    break
  done
done
exit $fails
