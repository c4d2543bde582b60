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

# Export of a converted SNN (the spiking MLP fixture, W8A4): the file has NIR's layout (h5py), and `snnconv run F.nir
# --dt 1` on the test rows held for T steps gives the engine's predictions on every row and its logits within one
# float32 ulp (the NIR simulator adds the read-out's bias in double; tests/pipeline/test_nir_export.cpp checks
# the integer accumulators and the spikes bit for bit).
"$bin" convert "$src/examples/fixtures/spiking_mlp.onnx" --act-bits 4 --out "$tmp/mlp.snn.h5" --quiet ||
  { echo "FAIL: convert spiking_mlp"; fails=$((fails + 1)); }
expect 0 "T >= 30" -- "$bin" export "$tmp/mlp.snn.h5" --format nir --out "$tmp/mlp.nir"
expect 0 "accuracy" -- "$bin" run "$tmp/mlp.snn.h5" --engine snn --save-outputs "$tmp/mlp_snn.npz"
/usr/bin/python3 - "$tmp/mlp.nir" "$src/examples/data/breast_cancer.h5" "$tmp/mlp_in.npz" <<'PY' || { echo "FAIL: NIR layout of the exported MLP"; fails=$((fails + 1)); }
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f["node/type"][()] == b"NIRGraph", f["node/type"][()]
assert f["version"][()].decode().count(".") == 2
nodes = f["node/nodes"]
types = {n: nodes[n]["type"][()].decode() for n in nodes}
allowed = {"Input", "Output", "Affine", "Linear", "Scale", "Integrator", "Threshold"}
assert set(types.values()) <= allowed, set(types.values()) - allowed
assert list(types.values()).count("Input") == 1 and list(types.values()).count("Output") == 1
edges = f["node/edges"][()]
assert edges.ndim == 2 and edges.shape[1] == 2
for a, b in edges.tolist():
    assert a.decode() in types and b.decode() in types, (a, b)
for n, t in types.items():
    for p in nodes[n]:
        if p != "type" and t not in ("Input", "Output"):
            assert nodes[n][p].dtype == np.float32, (n, p, nodes[n][p].dtype)
    if t == "Threshold":
        thr = nodes[n]["threshold"][()]
        assert np.all(np.isfinite(thr))
x = h5py.File(sys.argv[2], "r")["test/inputs"][()]
np.savez(sys.argv[3], input=np.repeat(x[:, None, :], 30, axis=1).astype(np.float32))
PY
expect 0 "output +\[114,30,2\]" -- "$bin" run "$tmp/mlp.nir" --dt 1 --data "$tmp/mlp_in.npz" --save-outputs "$tmp/mlp_nir.npz"
/usr/bin/python3 - "$tmp/mlp_nir.npz" "$tmp/mlp_snn.npz" <<'PY' || { echo "FAIL: NIR run of the exported MLP differs from the engine"; fails=$((fails + 1)); }
import sys, numpy as np
nir = np.load(sys.argv[1])["output"][:, -1, :]
snn = np.load(sys.argv[2])["logits"].reshape(nir.shape)
ulp = np.abs(nir.view(np.int32).astype(np.int64) - snn.view(np.int32).astype(np.int64)).max()
same = (nir.argmax(1) == snn.argmax(1)).all()
print(f"exported MLP: {int((nir == snn).sum())} of {nir.size} logits bit-equal, worst {ulp} ulp, predictions equal: {same}")
sys.exit(0 if same and ulp <= 1 else 1)
PY

# --nir-subgraphs on fashion_vit: the maximal expressible subgraphs, one file each, the cuts printed and in
# OUT.cuts.json; every file re-imports (inspect) and the block-0 MLP subgraph runs on a random current.
mkdir -p "$tmp/sub"
expect 0 "cut in  current '/blocks.0/norm2/LayerNormalization_output_0' from '/blocks.0/norm2/LayerNormalization'" -- \
  "$bin" export "$tmp/vit.snn.h5" --format nir --nir-subgraphs --out "$tmp/sub/vit.nir"
grep -q "cut out spikes  '/blocks.0/fc2/Add_output_0_q' to '/blocks.0/Add_1'" "$tmp/out" ||
  { echo "FAIL: the MLP block's output cut is not named"; fails=$((fails + 1)); }
nsub=$(ls "$tmp"/sub/vit_*.nir 2>/dev/null | wc -l)
[[ $nsub -ge 20 ]] || { echo "FAIL: $nsub subgraph files"; fails=$((fails + 1)); }
for f in "$tmp"/sub/vit_*.nir; do
  "$bin" inspect "$f" >/dev/null 2>"$tmp/err" || { echo "FAIL: $f does not re-import"; cat "$tmp/err"; fails=$((fails + 1)); }
done
mlp=$(/usr/bin/python3 - "$tmp/sub/vit.cuts.json" "$nsub" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m["subgraphs"]) == int(sys.argv[2])
for s in m["subgraphs"]:
    assert s["cuts"] and all(c["direction"] in ("in", "out") and c["kind"] in ("current", "spikes") for c in s["cuts"])
    if "/blocks.0/fc1/MatMul" in s["snn_nodes"]:
        print(s["file"])
PY
)
[[ -n $mlp ]] || { echo "FAIL: no subgraph holds block 0's fc1"; fails=$((fails + 1)); }
/usr/bin/python3 -c "import numpy as np; np.savez('$tmp/cur.npz', input=np.random.default_rng(0).normal(size=(2, 8, 64, 17)).astype(np.float32))"
expect 0 "output +\[2,8,64,17\]" -- "$bin" run "$tmp/sub/$mlp" --dt 1 --data "$tmp/cur.npz"

# The same file in an independent float32 simulator (numpy, tests/tools/nir_f32_sim.py): the engine's predictions,
# logits within 1e-6 relative (measured: all 228 bit-equal, since float32 computes the read-out as the engine does).
/usr/bin/python3 "$src/tests/tools/nir_f32_sim.py" "$tmp/mlp.nir" "$tmp/mlp_in.npz" "$tmp/mlp_snn.npz" ||
  { echo "FAIL: the float32 NIR simulator differs from the engine"; fails=$((fails + 1)); }
expect 2 "applies to SNN model files" -- "$bin" export "$nir/lif_norse.nir" --format nir --nir-subgraphs --out "$tmp/x.nir"
expect 2 "needs --format nir" -- "$bin" export "$tmp/mlp.snn.h5" --nir-subgraphs --out "$tmp/x.onnx"

# Against the engine: block 0's attention projection subgraph (a token-wise Linear written as a Conv1d over
# [C, R]) driven by the engine's own input spikes (the raster of the population before Transpose/Reshape)
# fires exactly the engine's spikes of its output population, step for step (first test image).
expect 0 "steps" -- "$bin" run "$tmp/vit.snn.h5" --engine snn --limit 1 --record "$tmp/rec.h5" --record-samples 1 \
  --raster /blocks.0/attn/MatMul_1_output_0_q,/blocks.0/attn/proj/Add_output_0_q
cat >"$tmp/proj.py" <<'PY'
import json, sys, h5py, numpy as np
rec, cuts, mode, npz = sys.argv[1:5]
sub = [s for s in json.load(open(cuts))["subgraphs"] if "/blocks.0/attn/proj/MatMul" in s["snn_nodes"]][0]
f = h5py.File(rec, "r")
T = int(f["samples/0"].attrs["steps"]) + 8  # 8 more steps: nothing may fire after the engine's last
if mode == "in":  # [1, 4, 17, 16] heads -> Transpose -> Reshape [1, 17, 64] -> NIR [64, 17]
    x = np.zeros((1, T, 64, 17), np.float32)
    for s, i, d in f["samples/0/raster/0"][()]:
        x[0, s - 1, (i // (17 * 16)) * 16 + i % 16, (i // 16) % 17] += d
    np.savez(npz, input=x)
    print(sub["file"])
else:  # [1, 17, 64] -> NIR [64, 17]
    ev = f["samples/0/raster/1"][()]
    want = np.zeros((T, 64, 17), np.float32)
    for s, i, d in ev:
        want[s - 1, i % 64, i // 64] += d
    got = np.load(npz)["output"][0]
    bad = int((got != want).sum())
    print(f"proj subgraph: {len(ev)} engine events, {int(np.abs(got).sum())} NIR spikes, {bad} differ")
    sys.exit(1 if bad or len(ev) == 0 else 0)
PY
proj=$(/usr/bin/python3 "$tmp/proj.py" "$tmp/rec.h5" "$tmp/sub/vit.cuts.json" in "$tmp/proj_in.npz")
expect 0 "outputs" -- "$bin" run "$tmp/sub/$proj" --dt 1 --data "$tmp/proj_in.npz" --save-outputs "$tmp/proj_out.npz"
/usr/bin/python3 "$tmp/proj.py" "$tmp/rec.h5" "$tmp/sub/vit.cuts.json" out "$tmp/proj_out.npz" ||
  { echo "FAIL: the projection subgraph's spikes differ from the engine's"; fails=$((fails + 1)); }

[[ $fails -eq 0 ]] && echo "nir_cli: all cases pass"
exit $(( fails > 0 ))
