#!/usr/bin/env bash
# Data-parallel `snnconv cascade` under mpirun (docs/scaling.md): cascade.json equal to the single-process one
# but for timings (every key naming seconds), for an SNN cascade (per-row own ledgers and prices, reads at half
# the steps) on 3 ranks and a dense cascade (the tiny ViT, then the W8A8 QANN of fashion_vit) on 2 ranks.
# Usage: mpi_cascade.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
source "$(dirname "$0")/mpi_lib.sh"
strip() { /usr/bin/python3 "$src/tests/tools/json_without_timings.py" "$1"; }
check() {  # name ranks args...
  local name=$1 ranks=$2; shift 2
  "$bin" cascade "$@" --quiet --out "$tmp/$name.1p" >/dev/null 2>"$tmp/err" || { fail "$name single process: $(cat "$tmp/err")"; return; }
  strip "$tmp/$name.1p/cascade.json" >"$tmp/$name.1p.txt"
  for k in $ranks; do
    mpi -n "$k" "$bin" cascade "$@" --quiet --out "$tmp/$name.$k" >/dev/null 2>"$tmp/err" \
      || { fail "$name on $k ranks: $(cat "$tmp/err")"; continue; }
    strip "$tmp/$name.$k/cascade.json" >"$tmp/$name.$k.txt"
    cmp -s "$tmp/$name.1p.txt" "$tmp/$name.$k.txt" && ok "$name: cascade.json of $k ranks equals one process's (timings aside)" \
      || { fail "$name: cascade.json of $k ranks differs"; diff "$tmp/$name.1p.txt" "$tmp/$name.$k.txt" | head -20; }
  done
}
F=$src/examples/fashion_vit/fashion_vit_relu.onnx
T=$src/examples/fashion_small/fashion_vit_tiny.onnx
check snn "3" --stages "$F:engine=snn:act=4:steps=8,$F:engine=snn:act=4" --self-test temporal \
  --calib-split test:0:10 --eval-split test:10:21 --calib 16
check dense "2" --stages "$T,$F:engine=qann:act=8" --self-test max_prob --profile systolic_int8 \
  --calib-split test:0:20 --eval-split test:20:40 --calib 16
/usr/bin/python3 - "$tmp/snn.3/cascade.json" <<'PY' && ok "snn cascade: 10 + 11 rows, two stages" || fail "snn cascade content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["calibration_samples"] == 10 and d["evaluation_samples"] == 11, (d["calibration_samples"], d["evaluation_samples"])
assert len(d["stages"]) == 2
PY
# Program synthesis does not shard yet: refused once, exit 2, no output.
S=$src/examples/synth_code
mpi -n 2 "$bin" cascade --stages "$S/synth_code_small.onnx:k=4,$S/synth_code_large.onnx" --self-test execution \
  --calib-split val:0:4 --eval-split test:0:4 --out "$tmp/ps" >/dev/null 2>"$tmp/err"
rc=$?
[[ $rc == 2 ]] && grep -q "program-synthesis cascade runs in one process" "$tmp/err" && [[ ! -e "$tmp/ps" ]] \
  && ok "program-synthesis cascade under 2 ranks refused (exit 2), no output" || fail "synth cascade under mpirun: exit $rc, $(cat "$tmp/err")"
summary
