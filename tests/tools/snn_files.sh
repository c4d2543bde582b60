#!/usr/bin/env bash
# The SNN model file and the spike recording through the binary:
#   convert -> model.snn.h5 (twice: byte-identical files) -> run (reloaded) gives the same accuracy and 0 mismatches against its QANN;
#   a truncated model file is refused with exit 1 and no crash;
#   --record writes per-step spikes whose sum equals the run's spikes per inference (h5py reads it).
# Usage: snn_files.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
model=$src/examples/medical_tab/medical_tab.onnx

"$bin" convert "$model" --act-bits 3 --calib 16 --out "$tmp/m.snn.h5" >"$tmp/convert.txt" 2>&1 || fail "convert: $(cat "$tmp/convert.txt")"
[[ -s $tmp/m.snn.h5 ]] && ok "model file written" || fail "no model file"
[[ -z $(find "$tmp" -name '.*tmp-*') ]] && ok "no temporary left" || fail "temporary left"
"$bin" convert "$model" --act-bits 3 --calib 16 --out "$tmp/m2.snn.h5" >/dev/null 2>&1 || fail "second convert"
cmp -s "$tmp/m.snn.h5" "$tmp/m2.snn.h5" && ok "two conversions write byte-identical model files" \
  || fail "two conversions of the same model and data differ in bytes"
direct=$("$bin" run "$model" --engine snn --act-bits 3 --calib 16 --limit 12 --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["metric"]["value"])')
reloaded=$("$bin" run "$tmp/m.snn.h5" --engine snn --limit 12 --check-exact --json >"$tmp/run.json" && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["output_mismatches_vs_qann"] == 0, d; print(d["metric"]["value"])' "$tmp/run.json")
[[ -n $reloaded && $direct == "$reloaded" ]] && ok "reloaded model scores $reloaded like the direct run ($direct), 0 mismatches" \
  || fail "direct $direct vs reloaded '$reloaded'"
head -c 4000 "$tmp/m.snn.h5" >"$tmp/trunc.snn.h5"
"$bin" run "$tmp/trunc.snn.h5" --engine snn --limit 2 >"$tmp/trunc.txt" 2>&1
rc=$?
[[ $rc -eq 1 ]] && grep -q "trunc.snn.h5" "$tmp/trunc.txt" && ok "truncated model file refused (exit 1, file named)" \
  || fail "truncated model file: exit $rc: $(cat "$tmp/trunc.txt")"
"$bin" run "$tmp/m.snn.h5" --engine snn --limit 3 --record "$tmp/rec.h5" --record-samples 3 \
  --raster "/blocks.0/norm1/LayerNormalization_output_0_q" --json >"$tmp/rec.json" || fail "record run"
/usr/bin/python3 - "$tmp/rec.h5" "$tmp/rec.json" <<'PY' && ok "recording: per-step spikes sum to the run's spikes; raster readable" || fail "recording check"
import sys, json, h5py
f = h5py.File(sys.argv[1], "r"); run = json.load(open(sys.argv[2]))
total = sum(int(f[f"samples/{k}/spikes_pos"][()].sum() + f[f"samples/{k}/spikes_neg"][()].sum()) for k in range(3))
assert abs(total / 3 - run["spikes_per_inference"]) < 1e-6, (total / 3, run["spikes_per_inference"])
r = f["samples/0/raster/0"][()]
assert r.shape[1] == 3 and r.shape[0] > 0 and set(r[:, 2]) <= {-1, 1}, r[:5]
assert f["samples/0"].attrs["steps"] == f["samples/0/spikes_pos"].shape[0]
PY
"$bin" run "$model" --engine snn --limit 1 --raster x >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "--raster without --record is a usage error" || fail "--raster without --record"
"$bin" run "$model" --engine snn --limit 1 --max-steps 0 >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "--max-steps 0 is a usage error" || fail "--max-steps 0"
"$bin" convert "$model" --act-bits 3 --calib 4 --out "$tmp/x.snn.h5" --weight-bits 1 >/dev/null 2>&1
[[ $? -eq 2 && ! -e $tmp/x.snn.h5 ]] && ok "--weight-bits 1 refused, no file" || fail "--weight-bits 1"
[[ $fails -eq 0 ]] || exit 1
