#!/usr/bin/env bash
# Grouped weight steps vs per-channel steps at the same weight bits (docs/compression.md, "Grouped weights").
# Usage: tools/bench/group_sweep.sh SNNCONV MODEL "EXTRA FLAGS" "BITS..." "GROUPS..."
#   e.g. tools/bench/group_sweep.sh build/tools/snnconv examples/fashion_vit/fashion_vit_relu.onnx "--eval 1000" \
#          "4 3" "0 32 16"
# Prints one Markdown row per (bits, group): weight bytes (levels at b bits), f32 step bytes, their sum, and
# the metric of the compressed QANN (activations A8) on the first --eval test samples; group 0 = per channel.
set -euo pipefail
snnconv=$1 model=$2 extra=$3 bits=$4 groups=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { /usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
echo "| weights | steps | level bytes | step bytes | total bytes | QANN metric | float |"
echo "|---|---|---:|---:|---:|---:|---:|"
for b in $bits; do
  for g in $groups; do
    # shellcheck disable=SC2086
    "$snnconv" compress "$model" --out "$tmp/g.snn.h5" --report "$tmp/g" --weight-bits "$b" --weight-group "$g" \
      --act-bits 8 $extra >/dev/null
    wb=$(field "$tmp/g/compression.json" "j['weight_bytes']")
    sb=$(field "$tmp/g/compression.json" "j['step_bytes']")
    v=$(field "$tmp/g/compression.json" "j['accuracy']['compressed_qann']")
    fv=$(field "$tmp/g/compression.json" "j['accuracy']['float']")
    name=$([[ $g == 0 ]] && echo "per channel" || echo "groups of $g")
    printf '| W%sA8 | %s | %.0f | %.0f | %.0f | %.4f | %.4f |\n' "$b" "$name" "$wb" "$sb" "$(echo "$wb + $sb" | bc -l)" \
      "$v" "$fv"
  done
done
