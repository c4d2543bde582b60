#!/usr/bin/env bash
# Bring-your-own-model fixtures (examples/byom) through the executable, as docs/your-model.md drives them:
#  - `run --engine snn --check-exact` reports 0 output mismatches at activation bits 2, 4 and 8, strict and burst
#    (1 sample per run; the library test test_byom runs the same matrix on 3 samples, bert_padding and llava too);
#  - a QDQ file with a zero or negative step is refused with exit 3 naming the node;
#  - the front door on every fixture with its .npz gives a report with the ANN and SNN stages done on the file's
#    rows; without data (a copy that records none) the report runs on synthetic inputs and says so.
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

# The front door: `snnconv MODEL.onnx --data MODEL.npz` (each .npz holds 3 rows), then two copies that record no
# dataset: a calibrated model (synthetic calibration) and the QAT file (its own steps, no calibration). Without
# data the ANN is priced on one static inference and not scored.
check_report() {  # check_report DIR ANN_SAMPLES SNN_SAMPLES WANT_NOTE WANT_CALIBRATION
  /usr/bin/python3 - "$@" <<'PY'
import json, re, sys
d, ann_samples, snn_samples, note, calib = sys.argv[1:]
r = json.load(open(d + "/report.json"))
status = {s["name"]: s["status"] for s in r["stages"]}
bad = [f"{k}={v}" for k, v in status.items() if k in ("ann", "convert", "snn") and v != "done"]
if bad: sys.exit(f"stages not done: {bad}")
if r["ann"]["samples"] != int(ann_samples) or r["snn"]["samples"] != int(snn_samples):
    sys.exit(f"samples: ann {r['ann']['samples']}, snn {r['snn']['samples']}, want {ann_samples} and {snn_samples}")
if note and not any(re.search(note, n) for n in r["notes"]): sys.exit(f"no note /{note}/ in {r['notes']}")
desc = r["snn"]["calibration"]["description"]
if not re.search(calib, desc): sys.exit(f"calibration '{desc}' lacks /{calib}/")
PY
}
for name in encoder_mean encoder_cls vit_tv_op17 vit_tv_op14 lm_encoder_causal nanogpt llama bert_padding llava qat4 qat8; do
  calib="^all 3 samples of .*$name.npz"
  [[ $name == qat* ]] && calib="^no calibration: the file's own steps"
  if out=$("$bin" "$byom/$name.onnx" --data "$byom/$name.npz" --no-plots --quiet --out "$tmp/rep_$name" 2>&1) &&
    why=$(check_report "$tmp/rep_$name" 3 3 "" "$calib" 2>&1); then
    echo "ok: report of $name with its .npz: ANN and SNN on its 3 rows"
  else
    echo "FAIL: report of $name with its .npz: ${why:-$out}" | head -4; fails=$((fails + 1))
  fi
done
/usr/bin/python3 - "$byom" "$tmp" <<'PY'
import sys
import onnx
for name in ("bert_padding", "qat4"):
    m = onnx.load(f"{sys.argv[1]}/{name}.onnx")
    keep = [p for p in m.metadata_props if p.key != "snnconv.data"]
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    onnx.save(m, f"{sys.argv[2]}/{name}_nodata.onnx")
PY
for name in bert_padding qat4; do
  calib="^8 synthetic inputs"
  [[ $name == qat4 ]] && calib="^no calibration: the file's own steps"
  if out=$("$bin" "$tmp/${name}_nodata.onnx" --samples 8 --calib 8 --no-plots --quiet --out "$tmp/syn_$name" 2>&1) &&
    why=$(check_report "$tmp/syn_$name" 1 8 "^no data: the SNN was (calibrated and )?run on synthetic inputs" "$calib" 2>&1); then
    echo "ok: report of $name without data: synthetic inputs, said so"
  else
    echo "FAIL: report of $name without data: ${why:-$out}" | head -4; fails=$((fails + 1))
  fi
done

[[ $fails -eq 0 ]] && echo "all passed" || echo "$fails failed"
exit $((fails > 0))
