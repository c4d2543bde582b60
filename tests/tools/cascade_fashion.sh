#!/usr/bin/env bash
# Issue 8, acceptance 4 (fashion_vit half): the small -> large cascade fashion_vit_tiny -> fashion_vit_relu
# (dense engine, priced on systolic_int8, max-probability self-test, calibrated with --z 1.645) on the
# bundled test split, calibrated on rows 0..499 and evaluated on the held-out rows 500..999, then with the
# halves swapped. Asserts, on the held-out rows: saving >= 30% of the large model's energy and accuracy at
# most 0.5 points below the large model alone. About 5 s.
# Usage: cascade_fashion.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
T=$src/examples/fashion_small/fashion_vit_tiny.onnx
F=$src/examples/fashion_vit/fashion_vit_relu.onnx
D=$src/examples/data/fashion_mnist_small.h5
for f in "$T" "$F" "$D"; do
  [[ -f $f ]] || { echo "FAIL: $f is committed but missing"; exit 1; }
done

check() {  # NAME CALIB EVAL
  local name=$1 calib=$2 eval=$3
  "$bin" cascade --stages "$T,$F" --self-test max_prob --z 1.645 --profile systolic_int8 --data "$D" \
    --calib-split "$calib" --eval-split "$eval" --out "$tmp/$name" --quiet >"$tmp/$name.log" 2>&1
  local rc=$?
  if [[ $rc -ne 0 ]]; then echo "FAIL: $name: cascade exit $rc"; cat "$tmp/$name.log"; fails=$((fails + 1)); return; fi
  /usr/bin/python3 - "$tmp/$name/cascade.json" "$name" <<'PY' || fails=$((fails + 1))
import json, sys
j = json.load(open(sys.argv[1]))
name = sys.argv[2]
assert j["evaluation_samples"] == 500 and j["calibration_samples"] == 500, j
ev = j["chosen"]["evaluation"]
acc, big = ev["accuracy"], j["largest"]["accuracy"]
print(f"{name}: cascade accuracy {acc:.4f} vs large alone {big:.4f} ({100 * (acc - big):+.1f} points), "
      f"saving {100 * j['saving']:.1f}%, escalated {100 * ev['escalated'][0]:.1f}%")
assert j["stages"][0]["cost_pj"] < 0.2 * j["stages"][1]["cost_pj"], "the tiny model must be the cheap stage"
assert j["z"] == 1.645, j["z"]
assert j["saving"] >= 0.30, f"saving {j['saving']:.3f} < 0.30"
assert acc >= big - 0.005 - 1e-9, f"accuracy {acc:.4f} more than 0.5 points below {big:.4f}"
PY
}
check first_half test:0:500 test:500:1000
check second_half test:500:1000 test:0:500

if [[ $fails -gt 0 ]]; then echo "$fails failure(s)"; exit 1; fi
echo "all fashion cascade checks passed"
