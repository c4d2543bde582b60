#!/usr/bin/env bash
# Data-parallel `snnconv report` (the front door) under mpirun (docs/scaling.md): report.json identical to the
# single-process report but for the wall-clock fields (every key naming seconds, a rate per second or a speed-up):
# the ANN scores, the QANN and SNN runs with their ledgers, steps, per-layer spikes and accuracy-vs-step curve, the
# early-read cascade, the baselines, every price, the sensitivity and the findings. fashion_vit on 2 and 4 ranks
# (4 oversubscribed), code_gpt (a language model, bits per byte) on 2, medical_tab (two classes) on 3, a fixture
# with only an .npz of 3 rows on 2 (one rank with one sample). Other commands than run and report are refused.
# Usage: mpi_report.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
source "$(dirname "$0")/mpi_lib.sh"
strip() { /usr/bin/python3 "$src/tests/tools/json_without_timings.py" "$1"; }

check() {  # name "ranks" model args...
  local name=$1 ranks=$2; shift 2
  "$bin" report "$@" --threads 1 --quiet --no-plots --out "$tmp/$name.1p" >/dev/null 2>"$tmp/err" \
    || { fail "$name single process: $(cat "$tmp/err")"; return; }
  strip "$tmp/$name.1p/report.json" >"$tmp/$name.1p.txt"
  for k in $ranks; do
    mpi -n "$k" "$bin" report "$@" --threads 1 --quiet --no-plots --out "$tmp/$name.$k" >"$tmp/out" 2>"$tmp/err" \
      || { fail "$name on $k ranks: $(cat "$tmp/err")"; continue; }
    strip "$tmp/$name.$k/report.json" >"$tmp/$name.$k.txt"
    if cmp -s "$tmp/$name.1p.txt" "$tmp/$name.$k.txt"; then
      ok "$name: report.json of $k ranks equals the single process's (timings aside)"
    else
      fail "$name: report.json of $k ranks differs"
      diff "$tmp/$name.1p.txt" "$tmp/$name.$k.txt" | head -20
    fi
    # One report, written by rank 0 alone: one summary on stdout, not one per rank.
    [[ $(grep -c '^report ' "$tmp/out") == 1 ]] && ok "$name: $k ranks print one summary" \
      || fail "$name: $k ranks printed $(grep -c '^report ' "$tmp/out") summaries"
  done
}

vit=$src/examples/fashion_vit/fashion_vit_relu.onnx
check vit "2 4" "$vit" --samples 20 --snn-samples 12 --calib 16
/usr/bin/python3 - "$tmp/vit.4/report.json" <<'PY' && ok "vit report: SNN, cascade and baselines present" || fail "vit report content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ann"]["samples"] == 20 and d["snn"]["samples"] == 12, (d["ann"]["samples"], d["snn"]["samples"])
assert d["cascade"]["result"], "no early-read cascade"
assert len(d["baselines"]) == 3 and all(s["status"] == "done" for s in d["stages"]), d["stages"]
PY
check gpt "2" "$src/examples/code_gpt/code_gpt.onnx" --samples 4 --snn-samples 2 --seq 64 --calib 4
check tab "3" "$src/examples/medical_tab/medical_tab.onnx" --samples 30 --snn-samples 10 --calib 16
check npz "2" "$src/examples/byom/encoder_mean.onnx" --data "$src/examples/byom/encoder_mean.npz"

mpi -n 2 "$bin" compress "$vit" --act-bits 4 --out "$tmp/c.snn.h5" >"$tmp/out" 2>"$tmp/err"
rc=$?
[[ $rc == 2 ]] && [[ $(grep -c "only \`snnconv run\`, \`snnconv report\`" "$tmp/err") == 1 ]] && [[ ! -e "$tmp/c.snn.h5" ]] \
  && ok "compress under 2 ranks refused once (exit 2), no output" || fail "compress under mpirun: exit $rc, $(cat "$tmp/err")"

summary
