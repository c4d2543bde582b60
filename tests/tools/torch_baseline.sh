#!/usr/bin/env bash
# The PyTorch time-stepped baseline (tools/bench/torch_timestepped.py, docs/benchmarks.md) against the engine on
# 4 test images: fashion_vit_relu W8A4 strict and burst, fashion_vit_gelu W8A3 strict (the QANN's rational-erf
# GELU folded into neurons), and on 3 rows of the BYOM fixtures llama, bert_padding, encoder_mean: every output
# value bit-identical to `snnconv run --engine snn --save-outputs` and
# the same quiescence steps (max, mean) as its --json; an engine output changed in one bit is reported as a
# mismatch (exit 1); a file that is not a model file is refused with exit 1.
# SKIPPED (exit 77) without PyTorch: scripts/install-deps.sh installs python3-torch only with --python.
# Usage: torch_baseline.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
# Cheap first check (no import): the skip costs nothing when torch is absent.
if ! $py -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("torch") and u.find_spec("h5py") else 1)' 2>/dev/null; then
  echo "SKIPPED: PyTorch or h5py is not installed for $py (scripts/install-deps.sh --python installs python3-torch)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
cd "$src" || exit 1

# The engine's side: model files and reference outputs (4 test images, 1 thread).
engine() {  # model act_bits mode
  local f=$tmp/$1_a$2.snn.h5
  [[ -s $f ]] || "$bin" convert "examples/fashion_vit/$1.onnx" --act-bits "$2" --calib 16 --out "$f" --quiet \
    || { fail "convert $1 A$2"; return; }
  "$bin" run "$f" --engine snn --mode "$3" --limit 4 --threads 1 --json --quiet \
    --save-outputs "$tmp/e_$1_$3.npz" >"$tmp/e_$1_$3.json" 2>/dev/null || fail "engine run $1 $3"
}
engine fashion_vit_relu 4 strict
engine fashion_vit_relu 4 burst
engine fashion_vit_gelu 3 strict
# BYOM fixtures exported from stock torch modules (3 rows each, their own .npz): llama (RMSNorm, rotary, SwiGLU's
# folded silu and element products, causal), bert_padding (padding-mask softmax, folded tanh pooler),
# encoder_mean (prologue Linear, mean pooling as a synapse).
for m in llama bert_padding encoder_mean; do
  f=$tmp/$m.snn.h5
  "$bin" convert "examples/byom/$m.onnx" --act-bits 4 --data "examples/byom/$m.npz" --calib 3 --out "$f" --quiet \
    || { fail "convert $m"; continue; }
  "$bin" run "$f" --engine snn --data "examples/byom/$m.npz" --limit 3 --threads 1 --json --quiet \
    --save-outputs "$tmp/e_$m.npz" >"$tmp/e_$m.json" 2>/dev/null || fail "engine run $m"
done

# The baseline's side, in one interpreter (importing torch costs ~2 s of CPU).
$py - "$src/tools/bench" "$tmp" <<'PY'
import contextlib, io, sys
sys.path.insert(0, sys.argv[1])
tmp = sys.argv[2]
try:
    import torch, h5py  # noqa: F401
except ImportError:
    print("SKIPPED: PyTorch or h5py is not installed for /usr/bin/python3 "
          "(scripts/install-deps.sh --python installs python3-torch)")
    sys.exit(77)
import numpy as np
import torch_timestepped as tt

fails = 0
def run(args, want_rc, want_text, what):
    global fails
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = tt.main(args)
        except SystemExit as e:
            rc = e.code
    text = out.getvalue().replace("\n", " ")
    good = rc == want_rc and all(w in text for w in want_text)
    fails += not good
    print(f"{'ok' if good else 'FAIL'}: {what}: exit {rc}: {text}")

for name, bits, mode, steps in (("fashion_vit_relu", 4, "strict", 26), ("fashion_vit_relu", 4, "burst", 1),
                                ("fashion_vit_gelu", 3, "strict", 17)):
    e = f"{tmp}/e_{name}_{mode}"
    run([f"{tmp}/{name}_a{bits}.snn.h5", "--mode", mode, "--limit", "4", "--batch", "4", "--engine-outputs",
         e + ".npz", "--engine-json", e + ".json"], 0,
        ["0 of 40 values differ in samples 0 of 4, max |diff| 0", f"quiescent after max {steps}", "steps: equal"],
        f"{name} W8A{bits} {mode}, 4 images")

for name in ("llama", "bert_padding", "encoder_mean"):
    e = f"{tmp}/e_{name}"
    run([f"{tmp}/{name}.snn.h5", "--data", f"examples/byom/{name}.npz", "--limit", "3", "--engine-outputs",
         e + ".npz", "--engine-json", e + ".json"], 0, [" values differ in samples 0 of 3, max |diff| 0", "steps: equal"],
        f"byom {name} W8A4 strict, 3 rows")

# The comparison is live: one bit of one engine logit flipped is reported as one differing value.
z = dict(np.load(f"{tmp}/e_fashion_vit_relu_strict.npz"))
z["logits"].view(np.uint32)[2, 3] ^= 1
np.savez(f"{tmp}/tampered.npz", **z)
run([f"{tmp}/fashion_vit_relu_a4.snn.h5", "--limit", "4", "--batch", "4", "--steps", "26", "--engine-outputs",
     f"{tmp}/tampered.npz"], 1, ["1 of 40 values differ in samples 1 of 4"], "one flipped bit")
# Not a model file: exit 1 naming it.
run(["examples/data/digits.h5", "--limit", "1"], 1, ["digits.h5: not an snnconv model file"], "a dataset as model")
sys.exit(1 if fails else 0)
PY
rc=$?
[[ $rc == 77 ]] && exit 77
[[ $rc == 0 ]] || fail "baseline checks"
[[ $fails == 0 ]] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
