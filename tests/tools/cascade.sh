#!/usr/bin/env bash
# `snnconv cascade` end to end: the synth_code cascade (small model, 4 candidates, execution self-test, then
# the large model) on 200 validation tasks for calibration and 200 test tasks for evaluation; asserts the
# output files, a saving against the large model alone, pass@1 within 1 point of it, and the usage errors.
# Usage: cascade.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
S=$src/examples/synth_code
F=$src/examples/fashion_vit/fashion_vit_relu.onnx

for f in "$S/synth_code_small.onnx" "$S/synth_code_large.onnx" "$src/examples/data/synth_code.h5"; do
  [[ -f $f ]] || { echo "FAIL: $f is committed but missing"; exit 1; }
done

"$bin" cascade --stages "$S/synth_code_small.onnx:k=4,$S/synth_code_large.onnx" --self-test execution \
  --profile systolic_int8 --calib-split val:0:200 --eval-split test:0:200 --out "$tmp/out" --quiet >"$tmp/stdout" 2>&1
rc=$?
if [[ $rc -ne 0 ]]; then echo "FAIL: cascade exit $rc"; cat "$tmp/stdout"; exit 1; fi
for f in cascade.json cascade.md; do
  [[ -f $tmp/out/$f ]] || { echo "FAIL: $f missing"; fails=$((fails + 1)); }
done
ls -a "$tmp/out" | grep -q '\.tmp-' && { echo "FAIL: a temporary file was left"; fails=$((fails + 1)); }
# One number style: energies with SI prefixes, never an exponent (cascade.md and the terminal).
if grep -nE '[0-9]e\+[0-9]' "$tmp/out/cascade.md" "$tmp/stdout"; then
  echo "FAIL: an exponent in cascade.md or on the terminal"; fails=$((fails + 1))
fi
/usr/bin/python3 - "$tmp/out/cascade.json" <<'PY' || fails=$((fails + 1))
import json, sys
j = json.load(open(sys.argv[1]))
assert j["metric"] == "pass@1" and j["evaluation_samples"] == 200 and j["calibration_samples"] == 200, j
ev = j["chosen"]["evaluation"]
print(f"cascade pass@1 {ev['accuracy']:.3f} vs large {j['largest']['accuracy']:.3f}, saving {j['saving']:.3f}")
assert j["saving"] > 0.0, "the cascade must cost less than the large model alone"
assert ev["accuracy"] >= j["largest"]["accuracy"] - 0.01, "pass@1 must be within 1 point of the large model's"
assert abs(ev["answered"][0] + ev["answered"][1] - 1.0) < 1e-9
assert ev["escalated"][0] == ev["reached"][1], (ev["escalated"], ev["reached"])
front = j["front"]
assert all(front[i]["calibration"]["cost_pj"] <= front[i + 1]["calibration"]["cost_pj"] for i in range(len(front) - 1))
assert j["stages"][0]["cost_pj"] < j["stages"][1]["cost_pj"]
print("ok: cascade.json")
PY

expect() {  # CODE PATTERN ARGS...
  local code=$1 pattern=$2
  shift 2
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: snnconv $* -> exit $rc, expected $code and /$pattern/"; echo "$out" | head -3; fails=$((fails + 1)); return
  fi
  echo "ok: exit $rc /$pattern/"
}
expect 2 "at least two stages" cascade --stages "$S/synth_code_small.onnx" --self-test execution --out "$tmp/e1"
expect 2 "does not fit a classifier" cascade --stages "$F,$F:engine=snn" --self-test execution --calib-split test:0:5 --eval-split test:5:10 --out "$tmp/e2"
expect 2 "needs an SNN" cascade --stages "$F,$F:engine=snn" --self-test temporal --calib-split test:0:5 --eval-split test:5:10 --out "$tmp/e3"
expect 2 "outside the range \[0, 1\]" cascade --stages "$S/synth_code_small.onnx,$S/synth_code_large.onnx" --self-test execution --thresholds 1.2 --out "$tmp/e4"
expect 2 "stage costs must ascend" cascade --stages "$S/synth_code_large.onnx,$S/synth_code_small.onnx" --self-test execution --profile systolic_int8 --calib-split val:0:2 --eval-split test:0:2 --out "$tmp/e5"
expect 2 "unknown key" cascade --stages "$S/synth_code_small.onnx:size=9,$S/synth_code_large.onnx" --self-test execution --out "$tmp/e6"
[[ -e $tmp/e1 || -e $tmp/e4 || -e $tmp/e5 ]] && { echo "FAIL: an output folder was made by a refused run"; fails=$((fails + 1)); }

if [[ $fails -gt 0 ]]; then echo "$fails failure(s)"; exit 1; fi
echo "all cascade checks passed"
