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
# run --json keeps its fields; --threads 0 (every core) and 1 give the same figures.
"$bin" run "$tmp/m.snn.h5" --engine snn --limit 12 --threads 0 --check-exact --json >"$tmp/run0.json" || fail "threads 0 run"
"$bin" run "$tmp/m.snn.h5" --engine snn --limit 12 --threads 1 --batch 5 --check-exact --json >"$tmp/run1.json" || fail "threads 1 run"
/usr/bin/python3 - "$tmp/run1.json" "$tmp/run0.json" "$tmp/run.json" <<'PY' && ok "--json fields seconds samples synaptic_ops_per_inference output_mismatches_vs_qann; threads 0 == 1 == 2" || fail "--json fields"
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
for d in (a, b, c):
    assert d["samples"] == 12, d["samples"]
    assert isinstance(d["seconds"], float) and d["seconds"] > 0, d["seconds"]
    assert d["synaptic_ops_per_inference"] > 0, d["synaptic_ops_per_inference"]
    assert d["output_mismatches_vs_qann"] == 0, d["output_mismatches_vs_qann"]
    assert d["steps"]["not_quiescent"] == 0, d["steps"]
assert a["threads"] == 1 and b["threads"] >= 1 and c["threads"] == b["threads"], (a["threads"], b["threads"], c["threads"])
for k in ("metric", "synaptic_ops_per_inference", "spikes_per_inference", "steps", "total", "layers"):
    assert a[k] == b[k] == c[k], k
PY
# A sample stopped at --max-steps is reported as not quiescent (exit 0, counted), not an error.
"$bin" run "$tmp/m.snn.h5" --engine snn --limit 12 --max-steps 2 --json >"$tmp/cut.json" 2>"$tmp/cut.err"
rc=$?
/usr/bin/python3 - "$tmp/cut.json" "$tmp/run.json" <<'PY' && [[ $rc -eq 0 ]] && ok "--max-steps 2: samples counted not quiescent, exit 0" || fail "--max-steps 2: exit $rc $(cat "$tmp/cut.err")"
import json, sys
cut, full = (json.load(open(p)) for p in sys.argv[1:3])
assert full["steps"]["max"] > 2, full["steps"]
assert 0 < cut["steps"]["not_quiescent"] <= 12, cut["steps"]
assert cut["steps"]["max"] == 2, cut["steps"]
PY
"$bin" run "$tmp/m.snn.h5" --engine snn --limit 12 --max-steps 2 >"$tmp/cut.txt" 2>&1
grep -Eq "\([1-9][0-9]* not quiescent by --max-steps 2\)" "$tmp/cut.txt" && ok "text output names the not-quiescent samples" \
  || fail "text output: $(cat "$tmp/cut.txt")"
# --max-memory: SNN state that does not fit is refused before the run, with the figure.
"$bin" run "$tmp/m.snn.h5" --engine snn --limit 4 --max-memory 2K >"$tmp/mem.txt" 2>&1
rc=$?
[[ $rc -eq 1 ]] && grep -Eq "SNN engine: the simulation needs [0-9.]+ [KM]iB \(parameters .* per sample\), above the memory limit of 2.0 KiB" "$tmp/mem.txt" \
  && ok "--max-memory 2K refused with the figure (exit 1)" || fail "--max-memory 2K: exit $rc: $(cat "$tmp/mem.txt")"
"$bin" run "$tmp/m.snn.h5" --engine snn --limit 4 --max-memory 1G >/dev/null 2>&1 && ok "--max-memory 1G runs" || fail "--max-memory 1G"
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
