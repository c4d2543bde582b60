#!/usr/bin/env bash
# Fault injection: every writing command against a full file system (docs/reliability.md, "Fault injection").
# Each command first runs into a normal folder (its outputs' total size T), then twice against a disk that
# fills up: a real tmpfs of T/2 (in a private mount namespace: `unshare -rm`, which needs no root where user
# namespaces are allowed), and SHIM.so (tests/tools/enospc_shim.c, LD_PRELOAD) failing writes and fsync with
# ENOSPC after T-1 bytes, the very last byte (for the report, whose size varies by a few bytes of timings
# between runs, after 99% of T). Where no tmpfs can be mounted the shim runs at T/2 too. Each failing run must
# exit non-zero and below 128 (no crash), say "No space left on device", print one error line and no libhdf5
# noise, and leave nothing in the output folder.
#
# Usage: full_disk.sh SNNCONV SHIM.so [COMMAND...]
#   COMMAND: convert compress export export_samples import record front_door (default: all)
set -uo pipefail
bin=$(realpath "$1")
shim=$(realpath "$2")
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
tab="$src/examples/medical_tab/medical_tab.onnx"
[[ -f "$tab" ]] || { echo "FAIL: $tab is missing"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
runs=0

have_tmpfs=1
mkdir -p "$work/probe"
if ! unshare -rm sh -c "mount -t tmpfs -o size=4k tmpfs '$work/probe'" 2>/dev/null; then
  have_tmpfs=0
  echo "note: no tmpfs can be mounted here (unshare -rm + mount failed): the shim fills the disk in both runs"
fi

# The command line of a case, with D the output folder.
args_of() {
  local name=$1 D=$2
  case $name in
    convert) echo "convert $tab --act-bits 4 --calib 4 --out $D/m.snn.h5 --onnx-out $D/m.onnx" ;;
    compress) echo "compress $tab --calib 4 --out $D/c.snn.h5 --report $D/crep --onnx-out $D/c.onnx" ;;
    export) echo "export $tab --out $D/e.onnx" ;;
    export_samples) echo "export $tab --out $D/e.onnx --samples $D/s --limit 8" ;;
    import) echo "datasets import python-code --out $D/pc.h5" ;;
    record) echo "run $tab --engine snn --limit 2 --calib 4 --act-bits 4 --record $D/rec.h5 --record-samples 2" ;;
    front_door) echo "$tab --out $D/rep --samples 20 --snn-samples 4 --calib 4 --no-plots --quiet" ;;
    *) echo "unknown case $name" >&2; return 1 ;;
  esac
}

# run_full NAME MODE BYTES: the command against a disk (MODE tmpfs or shim) holding BYTES; sets rc, out
# (stdout+stderr), left.
run_full() {
  local name=$1 mode=$2 bytes=$3 D="$work/disk"
  rm -rf "$D"
  mkdir -p "$D"
  local cmd
  cmd=$(args_of "$name" "$D") || return 1
  if [[ $mode == tmpfs ]]; then
    # tmpfs sizes are in pages (BYTES is a page count x 4096 here); a size of 0 would mean "no limit".
    local pages=$(((bytes + 4095) / 4096))
    ((pages < 1)) && pages=1
    unshare -rm sh -c 'mount -t tmpfs -o size=$1k tmpfs "$2" || exit 125; shift 2; "$@"; rc=$?; ls -A "'"$D"'" > "'"$work"'/left"; exit $rc' \
      sh $((pages * 4)) "$D" "$bin" $cmd >"$work/out" 2>&1
    rc=$?
  else
    SNNCONV_ENOSPC_PREFIX="$D" SNNCONV_ENOSPC_BYTES=$bytes LD_PRELOAD="$shim" "$bin" $cmd >"$work/out" 2>&1
    rc=$?
    ls -A "$D" >"$work/left"
  fi
  out=$(cat "$work/out")
  left=$(cat "$work/left")
}

cases=("$@")
[[ ${#cases[@]} -eq 0 ]] && cases=(convert compress export export_samples import record front_door)
for name in "${cases[@]}"; do
  # The outputs' total size on a disk with room.
  D="$work/room"
  rm -rf "$D"
  mkdir -p "$D"
  cmd=$(args_of "$name" "$D") || exit 1
  if ! "$bin" $cmd >"$work/out" 2>&1; then
    echo "FAIL: $name does not succeed on a disk with room:"; head -5 "$work/out"; fails=$((fails + 1)); continue
  fi
  total=$(find "$D" -type f -printf "%s\n" | awk '{b += $1} END {print b}')
  # What the files take in 4 KiB pages on a tmpfs (folders take none there).
  pages=$(find "$D" -type f -printf "%s\n" | awk '{p += int(($1 + 4095) / 4096)} END {print p}')
  last=$((total - 1))
  [[ $name == front_door ]] && last=$((total * 99 / 100))
  if ((have_tmpfs)); then plan="tmpfs:$((pages / 2 * 4096)) shim:$last"; else plan="shim:$((total / 2)) shim:$last"; fi
  for step in $plan; do
    mode=${step%%:*}
    bytes=${step#*:}
    run_full "$name" "$mode" "$bytes"
    runs=$((runs + 1))
    what="$name on a disk full after $bytes of $total bytes ($mode)"
    if [[ $rc -eq 125 ]]; then echo "FAIL: $what: could not mount the tmpfs"; fails=$((fails + 1)); continue; fi
    problems=()
    [[ $rc -eq 0 ]] && problems+=("exit 0")
    [[ $rc -ge 128 ]] && problems+=("exit $rc (a crash)")
    grep -qi "no space left on device" <<<"$out" || problems+=("no 'No space left on device' in the output")
    [[ $(grep -c "snnconv: error:" <<<"$out") -eq 1 ]] || problems+=("not exactly one error line")
    grep -qE "H5[A-Za-z]*close failed|HDF5-DIAG|~H5File|~DataSet" <<<"$out" && problems+=("libhdf5 noise")
    [[ -n "$left" ]] && problems+=("left behind: $(tr '\n' ' ' <<<"$left")")
    if [[ ${#problems[@]} -gt 0 ]]; then
      echo "FAIL: $what -> exit $rc: ${problems[*]}"
      grep -v "^$" <<<"$out" | head -4 | sed 's/^/    /'
      fails=$((fails + 1))
    else
      echo "ok: $what -> exit $rc: $(grep 'snnconv: error:' <<<"$out" | cut -c1-150)"
    fi
  done
done
echo "$runs full-disk runs, $fails failures"
exit $((fails > 0 ? 1 : 0))
