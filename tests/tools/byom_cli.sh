#!/usr/bin/env bash
# Bring-your-own-model fixtures (examples/byom) through the executable, as docs/your-model.md drives them:
#  - `run --engine snn --check-exact` reports 0 output mismatches at activation bits 2, 4 and 8, strict and burst
#    (1 sample per run; the library test test_byom runs the same matrix on 3 samples, bert_padding and llava too);
#  - a QDQ file with a zero or negative step is refused with exit 3 naming the node.
# Usage: byom_cli.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
byom=$src/examples/byom
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# Fixtures whose dataset comes from their metadata (bert_padding and llava have only their .npz).
for name in encoder_mean encoder_cls vit_tv_op17 vit_tv_op14 lm_encoder_causal nanogpt llama qat4 qat8; do
  bit_list=(2 4 8)
  [[ $name == qat* ]] && bit_list=(file)  # the file's own steps: no bit options, no calibration
  for bits in "${bit_list[@]}"; do
    for mode in strict burst; do
      extra=(--act-bits "$bits" --calib 4)
      [[ $bits == file ]] && extra=()
      out=$("$bin" run "$byom/$name.onnx" --engine snn --mode "$mode" --check-exact --limit 1 --json "${extra[@]}" 2>&1)
      rc=$?
      mism=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["output_mismatches_vs_qann"])' <<<"$out" 2>/dev/null)
      if [[ $rc -ne 0 || $mism != 0 ]]; then
        echo "FAIL: $name A$bits $mode: exit $rc, mismatches '$mism'"; echo "$out" | tail -3; fails=$((fails + 1))
      else
        echo "ok: $name A$bits $mode: 0 output mismatches"
      fi
    done
  done
done

# A QDQ step of zero or below: exit 3, the node named.
for step in 0 -0.5; do
  /usr/bin/python3 - "$byom/qat8.onnx" "$tmp/bad.onnx" "$step" <<'PY'
import sys

import numpy as np
import onnx
from onnx import numpy_helper

m = onnx.load(sys.argv[1])
consts = {t.name: t for t in m.graph.initializer}
for n in m.graph.node:
    if n.op_type == "Constant":
        consts[n.output[0]] = n.attribute[0].t
for n in m.graph.node:  # the first activation DequantizeLinear: its step -> the given value
    if n.op_type == "DequantizeLinear" and n.name.startswith("/x_in"):
        t = consts[n.input[1]]
        t.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(t).shape, float(sys.argv[3]), np.float32), t.name))
        print(n.name)
        break
onnx.save(m, sys.argv[2])
PY
  out=$("$bin" inspect "$tmp/bad.onnx" --fused 2>&1)
  rc=$?
  if [[ $rc -eq 3 ]] && grep -qE "quantization step -?0\.[05]0* is not a positive finite number.*node '/x_in/(Quantize|Dequantize)Linear'" <<<"$out"; then
    echo "ok: QDQ step $step -> exit 3 naming the node"
  else
    echo "FAIL: QDQ step $step -> exit $rc"; echo "$out" | head -3; fails=$((fails + 1))
  fi
done

[[ $fails -eq 0 ]] && echo "all passed" || echo "$fails failed"
exit $((fails > 0))
