#!/usr/bin/env bash
# NIR files at the command line (docs/nir.md): run, inspect and the report on the NIR paper's files, and the
# exit code and message of each bad file (tests/data/nir/make_bad_nir.py): 1 for a missing node, a shape that
# does not fit, a truncated file, a NaN parameter; 3 for a node type the simulator does not have; 2 for bad usage.
# Usage: nir_cli.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
nir="$src/tests/data/nir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

expect() {  # expect CODE PATTERN -- command...
  local code=$1 pattern=$2
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc -ne $code ]]; then
    echo "FAIL (exit $rc, expected $code): $*"; cat "$tmp/err"; fails=$((fails + 1))
  elif ! grep -qE "$pattern" "$tmp/out" "$tmp/err"; then
    echo "FAIL (no '$pattern'): $*"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1))
  fi
}

/usr/bin/python3 - "$nir/lif_exact.csv" "$tmp/lif_in.npz" <<'PY'
import sys, numpy as np
e = np.loadtxt(sys.argv[1], delimiter=",")
np.savez(sys.argv[2], input=e[:, 0:1].astype(np.float32))
PY

# run: the output spikes of lif_norse.nir driven by the paper's input are Norse's steps.
expect 0 "4 spikes" -- "$bin" run "$nir/lif_norse.nir" --data "$tmp/lif_in.npz" --save-outputs "$tmp/out.npz"
steps=$(/usr/bin/python3 -c "import numpy as np; print(list(np.nonzero(np.load('$tmp/out.npz')['output'][:, 0])[0]))")
[[ $steps == "[460, 510, 710, 760]" ]] || { echo "FAIL: output spike steps $steps"; fails=$((fails + 1)); }
expect 0 '"spikes": 4' -- "$bin" run "$nir/lif_norse.nir" --data "$tmp/lif_in.npz" --json
expect 0 "parameters  2519" -- "$bin" inspect "$nir/braille_noDelay_bias_zero.nir"
expect 0 '"parameters": 57830' -- "$bin" inspect "$nir/cnn_sinabs.nir" --json
# The report (front door): every profile priced, report.json written.
expect 0 "loihi" -- "$bin" "$nir/braille_noDelay_bias_zero.nir" --samples 2 --steps 20 --out "$tmp/rep"
[[ -f $tmp/rep/report.json ]] || { echo "FAIL: no report.json"; fails=$((fails + 1)); }

# Bad files and usage.
for cmd in run inspect report; do
  extra=()
  [[ $cmd == run ]] && extra=(--data "$tmp/lif_in.npz")
  [[ $cmd == report ]] && extra=(--out "$tmp/never")
  expect 1 "names node '1', which the file does not hold" -- "$bin" $cmd "$nir/bad_missing_node.nir" "${extra[@]}"
  expect 3 "Izhikevich" -- "$bin" $cmd "$nir/bad_unknown_type.nir" "${extra[@]}"
  expect 1 "expects 3 inputs, its input has 1" -- "$bin" $cmd "$nir/bad_shape_mismatch.nir" "${extra[@]}"
  expect 1 "truncated or damaged" -- "$bin" $cmd "$nir/bad_truncated.nir" "${extra[@]}"
  expect 1 "'tau' holds NaN" -- "$bin" $cmd "$nir/bad_nan_tau.nir" "${extra[@]}"
done
[[ -e $tmp/never ]] && { echo "FAIL: a failed report left a folder"; fails=$((fails + 1)); }
expect 2 "give the input spikes with --data" -- "$bin" run "$nir/lif_norse.nir"
expect 2 "euler or exact" -- "$bin" run "$nir/lif_norse.nir" --data "$tmp/lif_in.npz" --nir-method rk4
expect 2 "positive number of seconds" -- "$bin" run "$nir/lif_norse.nir" --data "$tmp/lif_in.npz" --dt 0
/usr/bin/python3 -c "import numpy as np; np.savez('$tmp/wrong.npz', input=np.zeros((10, 3), np.float32))"
expect 1 "expected \[T, 1\]" -- "$bin" run "$nir/lif_norse.nir" --data "$tmp/wrong.npz"

# Export: a NIR file written back keeps every dataset (type, shape, values) and every edge; an SNN model file of
# fashion_vit is refused (exit 3) with the nodes NIR cannot express.
for f in cnn_sinabs braille_noDelay_bias_zero lif_norse; do
  expect 0 "parameters" -- "$bin" export "$nir/$f.nir" --format nir --out "$tmp/$f.nir"
  /usr/bin/python3 - "$nir/$f.nir" "$tmp/$f.nir" <<'PY' || { echo "FAIL: round trip of $f"; fails=$((fails + 1)); }
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
bad = []
def visit(name, o):
    if not isinstance(o, h5py.Dataset) or name == "node/edges":
        return
    p = b.get(name)
    if p is None or p.dtype != o.dtype or p.shape != o.shape or not np.array_equal(p[()], o[()]):
        bad.append(name)
a.visititems(visit)
if sorted(map(tuple, a["node/edges"][()].tolist())) != sorted(map(tuple, b["node/edges"][()].tolist())):
    bad.append("edges")
if bad:
    print("differ:", bad)
sys.exit(1 if bad else 0)
PY
done
"$bin" convert "$src/examples/fashion_vit/fashion_vit_relu.onnx" --act-bits 4 --calib 4 --out "$tmp/vit.snn.h5" >/dev/null 2>&1 ||
  { echo "FAIL: convert fashion_vit"; fails=$((fails + 1)); }
expect 3 "SpikeMatMul: product of two spiking operands" -- "$bin" export "$tmp/vit.snn.h5" --format nir --out "$tmp/vit.nir"
grep -q "DiffUnit: differential unit" "$tmp/err" || { echo "FAIL: DiffUnit not listed"; fails=$((fails + 1)); }
[[ -e $tmp/vit.nir ]] && { echo "FAIL: a refused export left a file"; fails=$((fails + 1)); }

[[ $fails -eq 0 ]] && echo "nir_cli: all cases pass"
exit $(( fails > 0 ))
