#!/usr/bin/env bash
# Data-parallel `snnconv run` under mpirun (docs/scaling.md): --save-outputs files byte-identical and --json
# (metric, curve, steps, spikes, synaptic ops, ledger totals, per-layer spikes or ledger; all but the timings)
# identical to the single-process run: fashion_vit snn on 1 and 2 ranks and ann on 2 and 4 (10 images), a model
# file with --check-exact on 4 ranks for 3 images (empty shards), code_gpt snn, qann and ann on 2 ranks (5
# windows of 64 bytes), medical_tab ann on 3 ranks (ROC AUC). 3 and 4 ranks are oversubscribed here. Commands
# that do not shard yet are refused with exit 2 instead of running K times.
# Usage: mpi_data_parallel.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
source "$(dirname "$0")/mpi_lib.sh"
# The JSON without the wall-clock fields.
strip() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k, None) for k in ("seconds","snn_seconds","samples_per_s")]; print(json.dumps(d, sort_keys=True))' "$1"; }

check() {  # name model args... : single process, then 1, 2, 4 ranks
  local name=$1 ranks=$2; shift 2
  "$bin" run "$@" --threads 1 --quiet --json --save-outputs "$tmp/$name.1p.npz" >"$tmp/$name.1p.json" 2>"$tmp/err" \
    || { fail "$name single process: $(cat "$tmp/err")"; return; }
  for k in $ranks; do
    mpi -n "$k" "$bin" run "$@" --threads 1 --quiet --json --save-outputs "$tmp/$name.$k.npz" >"$tmp/$name.$k.json" 2>"$tmp/err" \
      || { fail "$name on $k ranks: $(cat "$tmp/err")"; continue; }
    cmp -s "$tmp/$name.1p.npz" "$tmp/$name.$k.npz" && ok "$name: $k ranks write the single process's outputs byte for byte" \
      || fail "$name: outputs of $k ranks differ from one process"
    [[ "$(strip "$tmp/$name.1p.json")" == "$(strip "$tmp/$name.$k.json")" ]] \
      && ok "$name: $k ranks give the single process's metric, steps, spikes and ledger" \
      || { fail "$name: --json of $k ranks differs"; diff <(strip "$tmp/$name.1p.json" | tr ',' '\n') <(strip "$tmp/$name.$k.json" | tr ',' '\n') | head; }
  done
}

vit=$src/examples/fashion_vit/fashion_vit_relu.onnx
gpt=$src/examples/code_gpt/code_gpt.onnx
check vit_snn "1 2" "$vit" --engine snn --limit 10 --calib 16 --curve
# A model file read by every rank, --check-exact on rank 0, and more ranks than samples (empty shards).
"$bin" convert "$vit" --act-bits 4 --calib 16 --out "$tmp/vit.snn.h5" >/dev/null 2>&1 || fail "convert"
check vit_file "4" "$tmp/vit.snn.h5" --engine snn --limit 3 --check-exact
check gpt_snn "2" "$gpt" --engine snn --limit 5 --seq 64 --calib 8
check gpt_qann "2" "$gpt" --engine qann --limit 5 --seq 64 --calib 8
# The dense engine shards its forward passes (groups of --batch rows): 10 images in batches of 3 (groups of
# 3, 3, 3 and a last one of 1 on its own binding) over 2 and 4 ranks; code_gpt's bits per byte over 5 windows.
check vit_ann "2 4" "$vit" --engine ann --limit 10 --batch 3
check gpt_ann "2" "$gpt" --engine ann --limit 5 --seq 64 --batch 2
# Two classes: the ROC AUC from every rank's probabilities in row order (30 rows in passes of 4 over 3 ranks).
check tab_ann "3" "$src/examples/medical_tab/medical_tab.onnx" --engine ann --limit 30 --batch 4
# The ranks really split the work: two ranks each simulate half the images (the JSON is rank 0's, the sum).
/usr/bin/python3 - "$tmp/vit_snn.2.json" <<'PY' && ok "2-rank run scored 10 images" || fail "2-rank sample count"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["samples"] == 10 and d["metric"]["name"] == "accuracy", d
PY

mpi -n 2 "$bin" inspect "$vit" >"$tmp/out" 2>"$tmp/err"
rc=$?
[[ $rc == 2 ]] && [[ $(grep -c "only \`snnconv run" "$tmp/err") == 1 ]] && ok "inspect under 2 ranks refused once (exit 2)" \
  || fail "inspect under mpirun: exit $rc, $(cat "$tmp/err")"

summary
