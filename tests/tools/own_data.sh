#!/usr/bin/env bash
# Your own model and data (issue 15, items 1 and 4): static-batch exports (examples/static_batch, torch's default
# export without dynamic_axes or metadata) through run, convert, generate and the front door from .npz files of
# one sample per row; raw outputs saved for every engine and compared with torch; the model file read once by the
# front door; data that does not fit refused with exit 2 naming what is wrong; `datasets import npz|images|text`.
# Usage: own_data.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
sb="$src/examples/static_batch"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect CODE PATTERN -- ARGS...: runs snnconv, checks the exit code and that stderr+stdout match PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]]; then
    fail "snnconv $* -> exit $rc, expected $code"; echo "$out" | tail -5; return
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    fail "snnconv $* -> output lacks /$pattern/"; echo "$out" | tail -5; return
  fi
  echo "ok: snnconv $* -> $rc"
}

# compare_npz GOT.npz REF.npz ROWS MAX_ABS MIN_TOP1: the saved outputs against torch's (first ROWS rows).
compare_npz() {
  /usr/bin/python3 - "$@" <<'PY' || fail "outputs $1 vs $2"
import sys
import numpy as np
got, ref, rows, tol, top1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
g = np.load(got)["logits"]
r = np.load(ref)["logits"][:rows]
assert g.shape == r.shape, (g.shape, r.shape)
err = float(np.abs(g - r).max())
agree = float((g.argmax(-1) == r.argmax(-1)).mean())
print(f"  {got.rsplit('/', 1)[-1]}: max |diff| {err:.3g} (<= {tol}), top-1 agreement {agree:.4f} (>= {top1})")
assert err <= tol and agree >= top1
PY
}

# ---- static batch 1 and 2, one sample per row -----------------------------------------------------------
for b in 1 2; do
  f="$sb/fashion_vit_b$b.onnx"
  # 5 rows: with B = 2 the last group is padded and its padded output discarded.
  expect 0 "accuracy +1.0000 on 5 samples" -- run "$f" --data "$sb/fashion_test.npz" --limit 5 --save-outputs "$tmp/ann$b.npz"
  compare_npz "$tmp/ann$b.npz" "$sb/fashion_ref.npz" 5 1e-4 1.0
  expect 0 "exactness +0 output values differ" -- run "$f" --data "$sb/fashion_test.npz" --limit 5 --engine snn \
    --act-bits 4 --calib 8 --check-exact --save-outputs "$tmp/snn$b.npz"
  expect 0 "calibrated on the first 8 samples of .*fashion_test.npz" -- run "$f" --data "$sb/fashion_test.npz" \
    --limit 5 --engine qann --act-bits 8 --calib 8 --save-outputs "$tmp/qann$b.npz"
  compare_npz "$tmp/qann$b.npz" "$sb/fashion_ref.npz" 5 0.5 1.0
  expect 0 "W8A4" -- convert "$f" --data "$sb/fashion_test.npz" --act-bits 4 --calib 8 --out "$tmp/f$b.snn.h5"
  expect 0 "accuracy +1.0000 on 3 samples" -- run "$tmp/f$b.snn.h5" --data "$sb/fashion_test.npz" --limit 3 --engine snn
  m="$sb/medical_tab_b$b.onnx"
  expect 0 "calibrated on the first 16 samples of .*medical_calib.npz" -- run "$m" --data "$sb/medical_test.npz" \
    --calib-data "$sb/medical_calib.npz" --calib 16 --engine qann --act-bits 8 --save-outputs "$tmp/mq$b.npz"
  compare_npz "$tmp/mq$b.npz" "$sb/medical_ref.npz" 114 1.0 0.98
  g="$sb/code_gpt_draft_b$b.onnx"
  expect 0 "bits_per_byte 2\.17[0-9]+ on 3 windows" -- run "$g" --data "$sb/code_rows.npz" --limit 3 --save-outputs "$tmp/lm$b.npz"
  compare_npz "$tmp/lm$b.npz" "$sb/code_ref.npz" 3 1e-4 1.0
  expect 0 "W8A4" -- convert "$g" --data "$sb/code_rows.npz" --act-bits 4 --calib 2 --out "$tmp/g$b.snn.h5"
  expect 0 "the export fixes the window at 64 \(batch $b\)" -- generate "$g" --prompt "def " --max-tokens 3
  expect 0 "steps per token" -- generate "$g" --prompt "def " --max-tokens 2 --engine snn --data "$sb/code_rows.npz" --calib 2
  # The front door with data: ANN and SNN stages, the data named.
  out="$tmp/report_b$b"
  expect 0 "report" -- "$f" --data "$sb/fashion_test.npz" --samples 6 --snn-samples 4 --calib 4 --no-plots \
    --no-sensitivity --quiet --out "$out"
  grep -q "SNN (strict mode): accuracy" "$out/report.md" || fail "front door b$b: no SNN accuracy in report.md"
  grep -q "on 6 samples of .*fashion_test.npz" "$out/report.md" || fail "front door b$b: ANN not scored on the .npz"
  expect 0 "report" -- "$g" --data "$sb/code_rows.npz" --samples 2 --snn-samples 2 --calib 2 --no-plots \
    --no-sensitivity --quiet --out "$tmp/lm_report_b$b"
  grep -q "SNN (strict mode): bits_per_byte" "$tmp/lm_report_b$b/report.md" || fail "front door LM b$b: no SNN bits per byte"
done
# Static batch 1 and 2 give the same outputs (the same rows, grouped differently).
/usr/bin/python3 -c "
import sys, numpy as np
for a, b in (('ann1', 'ann2'), ('snn1', 'snn2'), ('qann1', 'qann2')):
    x, y = np.load('$tmp/%s.npz' % a)['logits'], np.load('$tmp/%s.npz' % b)['logits']
    assert x.shape == y.shape == (5, 10) and np.abs(x - y).max() <= 1e-5, (a, b, np.abs(x - y).max())
" || fail "batch 1 and batch 2 outputs differ"

# ---- cascade and export --samples from an .npz -------------------------------------------------------------
expect 0 "largest stage alone 87\.50%" -- cascade --stages "$src/examples/fashion_small/fashion_vit_tiny.onnx,$sb/fashion_vit_b1.onnx" \
  --profile systolic_int8 --data "$sb/fashion_test.npz" --calib-split rows:0:32 --eval-split rows:32:64 --out "$tmp/casc"
expect 3 "the export fixes the batch at 2" -- cascade --stages "$src/examples/fashion_small/fashion_vit_tiny.onnx,$sb/fashion_vit_b2.onnx" \
  --profile systolic_int8 --data "$sb/fashion_test.npz" --calib-split rows:0:32 --eval-split rows:32:64 --out "$tmp/casc2"
expect 0 "5 rows of .*medical_test.npz" -- export "$sb/medical_tab_b2.onnx" --out "$tmp/e.onnx" --samples "$tmp/samples" \
  --data "$sb/medical_test.npz" --limit 5
/usr/bin/python3 -c "
import numpy as np
l = np.fromfile('$tmp/samples/labels.bin', dtype=np.int64)
y = np.load('$sb/medical_test.npz')['labels'][:5]
assert l.tolist() == y.tolist() + [-1], l  # one label per row, the padded row unscored
" || fail "export --samples labels.bin of a static batch 2"

# ---- without data: synthetic calibration, said in the summary --------------------------------------------
expect 0 "report" -- "$sb/fashion_vit_b2.onnx" --snn-samples 4 --calib 4 --no-plots --no-sensitivity --quiet --out "$tmp/syn"
grep -q "synthetic calibration inputs" "$tmp/syn/report.md" || fail "no-data report does not say synthetic calibration"
/usr/bin/python3 -c "
import json, sys
s = json.load(open('$tmp/syn/report.json'))['snn']
assert s['calibration']['source'] == 'synthetic' and s['calibration']['samples'] == 4, s['calibration']
" || fail "report.json: snn.calibration is not synthetic with 4 samples"

# ---- the front door reads the model file once -------------------------------------------------------------
if command -v strace >/dev/null; then
  strace -f -e trace=openat -o "$tmp/trace.txt" "$bin" "$sb/fashion_vit_b2.onnx" --data "$sb/fashion_test.npz" \
    --samples 4 --snn-samples 4 --calib 4 --no-plots --no-sensitivity --quiet --out "$tmp/once" >/dev/null 2>&1
  opens=$(grep -c 'fashion_vit_b2.onnx"' "$tmp/trace.txt")
  if [[ $opens -ne 1 ]]; then fail "the front door opened the model $opens times, expected 1"; else echo "ok: model opened once"; fi
else
  echo "skipped the read count: no strace"
fi

# ---- task: inferred, overridden, refused -----------------------------------------------------------------
expect 0 "task classification" -- run "$sb/medical_tab_b1.onnx" --data "$sb/medical_test.npz" --limit 4
expect 0 "task language_model" -- run "$sb/code_gpt_draft_b1.onnx" --data "$sb/code_rows.npz" --limit 1
expect 2 "--task language_model needs an integer token input" -- run "$sb/medical_tab_b1.onnx" --task language_model
expect 2 "--task must be" -- run "$sb/medical_tab_b1.onnx" --task regression

# ---- data that does not fit: exit 2 naming the fault ----------------------------------------------------
/usr/bin/python3 - "$tmp" <<'PY'
import sys
import numpy as np
t = sys.argv[1]
np.savez(t + "/keys.npz", image=np.zeros((2, 1, 28, 28), np.float32), labels=np.zeros(2, np.int64))
np.savez(t + "/shape.npz", input=np.zeros((2, 1, 27, 28), np.float32))
x = np.zeros((3, 1, 28, 28), np.float32); x[2, 0, 5, 7] = np.nan
np.savez(t + "/nan.npz", input=x)
x = np.zeros((3, 30), np.float32); x[1, 4] = np.inf
np.savez(t + "/inf.npz", input=x)
np.savez(t + "/tok.npz", tokens=np.full((2, 64), 300, np.int64))
PY
keys="no array for input 'input'; array 'image' matches no input\. The model's inputs: input f32\[2,1,28,28\]; the file's arrays: image f32\[2,1,28,28\], labels i64\[2\]"
expect 2 "$keys" -- run "$sb/fashion_vit_b2.onnx" --data "$tmp/keys.npz"
expect 2 "$keys" -- convert "$sb/fashion_vit_b2.onnx" --data "$sb/fashion_test.npz" --calib-data "$tmp/keys.npz" --act-bits 4 --out "$tmp/no.snn.h5"
expect 2 "$keys" -- "$sb/fashion_vit_b2.onnx" --data "$tmp/keys.npz" --quiet --out "$tmp/no_report"
shape="input 'input': the data's samples of shape \[1,27,28\] .* it takes \[1,28,28\] per sample"
expect 2 "$shape" -- run "$sb/fashion_vit_b1.onnx" --data "$tmp/shape.npz"
expect 2 "$shape" -- run "$sb/fashion_vit_b1.onnx" --data "$tmp/shape.npz" --engine snn
expect 2 "array 'input' holds NaN at sample 2, element 147" -- run "$sb/fashion_vit_b2.onnx" --data "$tmp/nan.npz"
expect 2 "array 'input' holds NaN at sample 2, element 147" -- "$sb/fashion_vit_b2.onnx" --data "$tmp/nan.npz" --quiet --out "$tmp/no_report"
expect 2 "array 'input' holds \+Inf at sample 1, element 4" -- run "$sb/medical_tab_b2.onnx" --data "$tmp/inf.npz" --engine qann
expect 2 "token 300 is outside the embedding's 256 rows" -- generate "$sb/code_gpt_draft_b1.onnx" --prompt "x" --engine qann --data "$tmp/tok.npz"
[[ -e "$tmp/no.snn.h5" || -e "$tmp/no_report" ]] && fail "a refused run left output behind"

# ---- datasets import: your files in the HDF5 layout, then used like any dataset ----------------------------
expect 0 "test +64 samples" -- datasets import npz "$sb/fashion_test.npz" --out "$tmp/f.h5"
expect 0 "accuracy +1.0000 on 8 samples" -- run "$sb/fashion_vit_b2.onnx" --data "$tmp/f.h5" --limit 8
expect 0 "train +5 samples" -- datasets import images "$src/tests/data/images/folder" --out "$tmp/i.h5" --split train
expect 0 "1 documents" -- datasets import text "$src/README.md" --out "$tmp/t.h5"
expect 0 "bits_per_byte" -- run "$sb/code_gpt_draft_b1.onnx" --data "$tmp/t.h5" --limit 2
expect 2 "takes no input path" -- datasets import fashion-mnist extra --out "$tmp/x.h5"
expect 2 "give the input folder" -- datasets import images --out "$tmp/x.h5"
mkdir -p "$tmp/photos/cat" && cp "$src/tests/data/images/refused/photo.jpg" "$tmp/photos/cat/"
expect 3 "'\.jpg' files are not read .*photo.jpg" -- datasets import images "$tmp/photos" --out "$tmp/x.h5"
[[ -e "$tmp/x.h5" ]] && fail "a refused import left its output"

if [[ $fails -ne 0 ]]; then echo "$fails failure(s)"; exit 1; fi
echo "all passed"
