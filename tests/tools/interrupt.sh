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
  # Wait until the temporary file exists, then interrupt.
  for _ in $(seq 1 200); do
    compgen -G "$out/.fashion.h5.tmp-*" >/dev/null && break
    sleep 0.05
  done
  sleep 0.3
  kill -s "$sig" "$pid"
  wait "$pid"
  rc=$?
  left=$(ls -A "$out")
  if [[ $rc -eq 0 ]]; then echo "FAIL ($sig): exit 0 (the import finished before the signal?)"; fails=$((fails + 1)); fi
  if [[ -n "$left" ]]; then echo "FAIL ($sig): left behind: $left"; fails=$((fails + 1)); fi
  [[ $rc -ne 0 && -z "$left" ]] && echo "ok: SIG$sig -> exit $rc, output folder empty"
  rm -rf "$out"
done
exit $fails
