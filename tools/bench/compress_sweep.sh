#!/usr/bin/env bash
# Mixed precision vs uniform weight bits at the same budget (docs/compression.md, "Mixed precision: measured").
# Usage: tools/bench/compress_sweep.sh SNNCONV MODEL "EXTRA FLAGS" [BITS...]
#   e.g. tools/bench/compress_sweep.sh build/tools/snnconv examples/fashion_vit/fashion_vit_relu.onnx \
#          "--eval 1000 --sensitivity-samples 16" 3 4 5 6
# Prints one Markdown row per budget: uniform W<b>A8 and mixed --budget-wbits <b> (activations A8), with the
# weight bytes of each and the metric of the float model and both compressed QANNs on the same test samples.
set -euo pipefail
snnconv=$1 model=$2 extra=$3
shift 3
bits=("${@:-3 4 5 6}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { /usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
echo "| bits | uniform bytes | uniform | mixed bytes | mixed | mixed - uniform | float |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for b in ${bits[@]}; do
  # shellcheck disable=SC2086
  "$snnconv" compress "$model" --out "$tmp/u.snn.h5" --report "$tmp/u" --weight-bits "$b" --act-bits 8 $extra >/dev/null
  # shellcheck disable=SC2086
  "$snnconv" compress "$model" --out "$tmp/m.snn.h5" --report "$tmp/m" --budget-wbits "$b" --act-bits 8 $extra >/dev/null
  ub=$(field "$tmp/u/compression.json" "j['weight_bytes']")
  mb=$(field "$tmp/m/compression.json" "j['weight_bytes']")
  uv=$(field "$tmp/u/compression.json" "j['accuracy']['compressed_qann']")
  mv=$(field "$tmp/m/compression.json" "j['accuracy']['compressed_qann']")
  fv=$(field "$tmp/m/compression.json" "j['accuracy']['float']")
  printf '| %s | %.0f | %.4f | %.0f | %.4f | %+.4f | %.4f |\n' "$b" "$ub" "$uv" "$mb" "$mv" "$(echo "$mv - $uv" | bc -l)" "$fv"
done
