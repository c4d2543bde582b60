#!/usr/bin/env bash
# The install rules (docs/python.md, "Installing"): `cmake --install BUILD --prefix P` into a temporary prefix,
# then, in a private mount namespace where the source tree and the build tree are hidden under empty tmpfs
# mounts and from another directory with a bare environment, the installed binary inspects a model and writes an
# energy report (hardware profiles and the plot script found beside it), and the installed Python module imports,
# runs the model and finds the profiles too.
# Usage: install_rules.sh BUILD_DIR SOURCE_DIR     (exit 77: no private mount namespace on this machine)
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in bin/snnconv share/snnconv/plot_report.py share/snnconv/profiles/loihi.json \
         lib/python3/dist-packages/snnconv/__init__.py; do
  [[ -e "$prefix/$f" ]] || { echo "FAIL: $f not installed"; cat "$work/install.log"; exit 1; }
done
ls "$prefix"/lib/python3/dist-packages/snnconv/_snnconv*.so >/dev/null || { echo "FAIL: extension not installed"; exit 1; }
# The model and its data, as a user would have them: the model's snnconv.data says ../data/breast_cancer.h5.
mkdir -p "$work/user/medical_tab" "$work/user/data"
cp "$src/examples/medical_tab/medical_tab.onnx" "$work/user/medical_tab/"
cp "$src/examples/data/breast_cancer.h5" "$work/user/data/"
if ! unshare -rm sh -c "mount -t tmpfs tmpfs '$src'" 2>/dev/null; then
  echo "skipped: no private mount namespace (unshare -rm) to hide the source tree"
  exit 77
fi
cat >"$work/inside.sh" <<INNER
set -eu
mount -t tmpfs tmpfs '$src'
case '$build' in '$src'/*) ;; *) mount -t tmpfs tmpfs '$build' ;; esac
[ ! -e '$src/CMakeLists.txt' ] || { echo "FAIL: the source tree is still visible"; exit 1; }
cd '$work/user'
export PATH=/usr/bin:/bin HOME='$work/user' PYTHONPATH='$prefix/lib/python3/dist-packages'
unset SNNCONV_PROFILES_DIR SNNCONV_PLOT_SCRIPT
'$prefix/bin/snnconv' --version
'$prefix/bin/snnconv' inspect medical_tab/medical_tab.onnx --json > inspect.json
'$prefix/bin/snnconv' medical_tab/medical_tab.onnx --out report --samples 16 --quiet --profile loihi,systolic_int8 \
  --no-sensitivity > report.txt
/usr/bin/python3 - <<'PY'
import json, os
import numpy as np
import h5py
import snnconv
assert snnconv.__file__.startswith(os.environ["PYTHONPATH"]), snnconv.__file__
r = json.load(open("report/report.json"))
text = json.dumps(r)
assert "loihi" in text and "systolic_int8" in text, "the report was not priced on the installed profiles"
pngs = [f for f in os.listdir("report") if f.endswith(".png")]
assert pngs, "no plots: the installed plot script was not found (" + str(sorted(os.listdir("report"))) + ")"
m = snnconv.load("medical_tab/medical_tab.onnx")
assert m.inspect() == json.load(open("inspect.json"))
with h5py.File("data/breast_cancer.h5") as f:
    x = f["test/inputs"][:8]
out, res = m.run(x, engine="snn")
assert out["logits"].shape == (8, 2) and res["samples"] == 8
print("installed module ok:", snnconv.__file__, len(pngs), "plots")
PY
INNER
unshare -rm sh "$work/inside.sh"
echo "install rules ok"
