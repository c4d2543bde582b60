#!/usr/bin/env bash
# kill -9 at random points of a command that writes (docs/reliability.md, "Fault injection"): after each kill
# the output is absent or complete (a convert's model file byte-identical to an uninterrupted run's, a
# report folder with all its files, its report.json whole JSON), nothing else is visible in the folder but
# hidden temporaries of the killed process, and a re-run succeeds and removes those.
#
# Odd trials kill anywhere in a normal run. Even trials run on a slow disk (SHIM.so, tests/tools/enospc_shim.c,
# delays every write and fsync in the folder by 40 ms) and kill at a random point of the writing, found by
# polling for its first sign (an entry in the folder, or an open file of the process in it: an unnamed
# O_TMPFILE shows in /proc/PID/fd).
#
# Usage: kill9.sh SNNCONV SHIM.so CASE TRIALS [SEED]     CASE: convert | front_door
set -uo pipefail
bin=$(realpath "$1")
shim=$(realpath "$2")
case_name=$3
trials=$4
RANDOM=${5:-18}
src=$(cd "$(dirname "$0")/../.." && pwd)
tab="$src/examples/medical_tab/medical_tab.onnx"
[[ -f "$tab" ]] || { echo "FAIL: $tab is missing"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

case $case_name in
  convert)
    target=m.snn.h5
    cmd=(convert "$tab" --act-bits 4 --calib 4 --out) ;;
  front_door)
    target=rep
    cmd=("$tab" --samples 20 --snn-samples 4 --calib 4 --no-plots --quiet --out) ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac

# complete DIR: the target in DIR is a whole output (for convert: identical to the reference run's).
complete() {
  local d=$1
  if [[ $case_name == convert ]]; then
    cmp -s "$d/$target" "$work/ref/$target"
  else
    [[ -f "$d/$target/report.json" && -f "$d/$target/report.md" && -f "$d/$target/report.html" ]] &&
      /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/$target/report.json" 2>/dev/null &&
      [[ $(ls -A "$d/$target" | wc -l) -eq 3 ]]
  fi
}

# The uninterrupted run: the reference output and the duration the kill points are drawn from.
mkdir -p "$work/ref"
start=$(date +%s%N)
"$bin" "${cmd[@]}" "$work/ref/$target" >/dev/null 2>&1 || { echo "FAIL: the uninterrupted run fails"; exit 1; }
duration_ms=$((($(date +%s%N) - start) / 1000000))
complete "$work/ref" || { echo "FAIL: the uninterrupted run's output is not complete"; exit 1; }

absent=0 whole=0 stale=0
for trial in $(seq 1 "$trials"); do
  d="$work/t$trial"
  mkdir -p "$d"
  if ((trial % 2)); then
    "$bin" "${cmd[@]}" "$d/$target" >/dev/null 2>&1 &
    pid=$!
    ms=$((RANDOM % (duration_ms * 11 / 10 + 1)))
    at="anywhere, at $ms ms"
    sleep "$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
  else
    SNNCONV_ENOSPC_PREFIX="$d" SNNCONV_SLOW_IO_MS=40 LD_PRELOAD="$shim" "$bin" "${cmd[@]}" "$d/$target" >/dev/null 2>&1 &
    pid=$!
    writing=0
    for _ in $(seq 1 $((duration_ms))); do
      if [[ -n $(ls -A "$d") ]] || ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -- "-> $d/"; then writing=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.002
    done
    ms=$((RANDOM % 160))
    sleep "$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    at="$([[ $writing == 1 ]] && echo "while writing (slow disk), +$ms ms" || echo "after the run ended (writing not seen)")"
  fi
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rc=$?
  visible=$(ls "$d")  # without hidden entries
  hidden=$(ls -A "$d" | grep -v "^$target\$" | tr '\n' ' ')
  what="trial $trial (kill $at, run ${duration_ms} ms, exit $rc)"
  if [[ -e "$d/$target" ]]; then
    if complete "$d"; then whole=$((whole + 1)); else
      echo "FAIL: $what: $target is there but not complete"; fails=$((fails + 1)); continue; fi
  else
    absent=$((absent + 1))
  fi
  if [[ -n "$visible" && "$visible" != "$target" ]]; then
    echo "FAIL: $what: visible partial output: $visible"; fails=$((fails + 1)); continue
  fi
  if [[ -n "$hidden" ]]; then
    stale=$((stale + 1))
    [[ "$hidden" =~ ^\.$target\.tmp-[0-9]+\ $ ]] || { echo "FAIL: $what: unexpected entries: $hidden"; fails=$((fails + 1)); continue; }
  fi
  # The re-run succeeds, its output is complete, and the killed run's temporaries are gone.
  if ! "$bin" "${cmd[@]}" "$d/$target" >"$work/rerun" 2>&1; then
    echo "FAIL: $what: the re-run fails:"; head -3 "$work/rerun"; fails=$((fails + 1)); continue
  fi
  if ! complete "$d" || [[ $(ls -A "$d") != "$target" ]]; then
    echo "FAIL: $what: after the re-run: $(ls -A "$d" | tr '\n' ' ')"; fails=$((fails + 1)); continue
  fi
  echo "ok: $what: output $([[ -n "$hidden" ]] && echo "absent, stale temporary $hidden" || echo "${visible:-absent}"); re-run complete"
  rm -rf "$d"
done
echo "$case_name: $trials kill -9 trials: $absent without output, $whole with a complete output, $stale left a hidden temporary (removed by the re-run); $fails failures"
exit $((fails > 0 ? 1 : 0))
